"""MARS parser on a tiny generated dataset: counts, relabelling, protocol, and every bad input."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from mars_fixtures import build_tiny, copy_dataset, load_var, meta, read_csv, reference_parse, save_var
from reid.data import load_dataset
from reid.data.datasets.mars import load_mars, load_synthetic
from reid.errors import DatasetError


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def broken(tiny: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny dataset for a test to corrupt."""
    return copy_dataset(tiny, tmp_path)


def test_counts_equal_what_the_generator_wrote(tiny: Path) -> None:
    counts = meta(tiny)["counts"]
    ds = load_mars(tiny)
    assert ds.name == "mars"
    assert ds.num_train_pids == counts["train_ids"]
    assert len(ds.train) == counts["train_tracklets"]
    assert sum(len(t) for t in ds.train) == counts["train_frames"]
    assert len(ds.query) == counts["queries"]
    assert len(ds.gallery) == counts["gallery_tracklets"]
    assert ds.skipped == {"junk_train": 0, "junk_query": 0, "junk_gallery": counts["junk_tracklets"]}
    assert sum(t.pid == 0 for t in ds.gallery) == counts["distractor_tracklets"]
    assert sum(len(t) for t in ds.gallery if t.pid == 0) == counts["distractor_frames"]
    test_frames = sum(len(t) for t in ds.query + ds.gallery)
    assert test_frames == counts["test_frames"] - counts["junk_frames"]
    assert len({t.pid for t in ds.query + ds.gallery if t.pid > 0}) == counts["test_ids"]


def test_matches_literal_reference_parser(tiny: Path) -> None:
    ds = load_mars(tiny)
    ref = reference_parse(tiny)
    for split in ("train", "query", "gallery"):
        got = [(t.frames, t.pid, t.camid) for t in getattr(ds, split)]
        assert got == ref[split], split


def test_relabelling_and_camids(tiny: Path) -> None:
    ds = load_mars(tiny)
    originals = sorted({int(t.name[:4]) for t in ds.train})
    assert sorted({t.pid for t in ds.train}) == list(range(len(originals)))
    for t in ds.train:
        assert t.pid == originals.index(int(t.name[:4]))
        assert all(Path(f).name.startswith(t.name) and os.path.isabs(f) for f in t.frames)
    num_cams = meta(tiny)["params"]["num_cameras"]
    for t in ds.train + ds.query + ds.gallery:
        assert 0 <= t.camid < num_cams
        assert t.camid == int(t.name[5]) - 1
    assert all(t.pid == int(t.name[:4]) for t in ds.query + ds.gallery)  # test pids keep their value


def test_query_gallery_disjoint_and_matchable(tiny: Path) -> None:
    ds = load_mars(tiny)
    assert not {t.name for t in ds.query} & {t.name for t in ds.gallery}
    assert all(t.pid > 0 for t in ds.query)
    gallery = {(t.pid, t.camid) for t in ds.gallery}
    for q in ds.query:
        assert any(pid == q.pid and cam != q.camid for pid, cam in gallery), q.name


def test_wrong_labels_are_what_the_parser_sees(tiny: Path) -> None:
    ds = load_mars(tiny)
    rows = read_csv(tiny / "wrong_labels.csv")
    assert len(rows) == meta(tiny)["counts"]["wrong_labels"] > 0
    originals = sorted({int(t.name[:4]) for t in ds.train})
    for row in rows:
        t = ds.train[int(row["row"])]
        assert t.name == row["name"]
        assert int(row["written_pid"]) != int(row["true_pid"])
        assert t.pid == originals.index(int(row["written_pid"]))


def test_root_forms_and_registry(tiny: Path) -> None:
    a = load_dataset("mars", tiny.parent)
    b = load_dataset("synthetic", tiny)
    assert b.name == "synthetic"
    assert [t.frames for t in a.gallery] == [t.frames for t in b.gallery]
    assert load_synthetic(tiny.parent, check_files=False).skipped == a.skipped


def test_split_id_other_than_zero(tiny: Path) -> None:
    with pytest.raises(DatasetError, match="split_id=1"):
        load_mars(tiny, split_id=1)


def test_synthetic_requires_meta(broken: Path) -> None:
    (broken / "synthetic_meta.json").unlink()
    with pytest.raises(DatasetError, match="synthetic_meta.json"):
        load_synthetic(broken)
    assert load_mars(broken).name == "mars"


def test_not_a_mars_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="info"):
        load_mars(tmp_path)


@pytest.mark.parametrize("filename", ["tracks_train_info.mat", "tracks_test_info.mat", "query_IDX.mat",
                                      "train_name.txt", "test_name.txt"])
def test_missing_info_file(broken: Path, filename: str) -> None:
    (broken / "info" / filename).unlink()
    with pytest.raises(DatasetError, match=filename):
        load_mars(broken)


@pytest.mark.parametrize("filename", ["tracks_train_info.mat", "tracks_test_info.mat", "query_IDX.mat"])
def test_truncated_mat(broken: Path, filename: str) -> None:
    path = broken / "info" / filename
    path.write_bytes(path.read_bytes()[:150])
    with pytest.raises(DatasetError, match=filename):
        load_mars(broken)


def test_wrong_variable_name(broken: Path) -> None:
    path = broken / "info" / "tracks_train_info.mat"
    save_var(path, "track_info", load_var(path, "track_train_info"))
    with pytest.raises(DatasetError, match=r"tracks_train_info\.mat.*'track_train_info' not found.*track_info"):
        load_mars(broken)


def test_wrong_shape(broken: Path) -> None:
    path = broken / "info" / "tracks_test_info.mat"
    save_var(path, "track_test_info", load_var(path, "track_test_info")[:, :3])
    with pytest.raises(DatasetError, match=r"tracks_test_info\.mat.*expected \(N, 4\)"):
        load_mars(broken)


@pytest.mark.parametrize("column,value,message", [(1, 10**6, "start <= end <="), (0, 0, "1 <= start"),
                                                  (3, 0, "camid 0 out of range")])
def test_row_out_of_range(broken: Path, column: int, value: int, message: str) -> None:
    path = broken / "info" / "tracks_train_info.mat"
    rows = load_var(path, "track_train_info")
    rows[2, column] = value
    save_var(path, "track_train_info", rows)
    with pytest.raises(DatasetError, match=rf"tracks_train_info\.mat: row 3 .*{message}"):
        load_mars(broken)


def test_start_after_end(broken: Path) -> None:
    path = broken / "info" / "tracks_test_info.mat"
    rows = load_var(path, "track_test_info")
    rows[1, 0] = rows[1, 1] + 1
    save_var(path, "track_test_info", rows)
    with pytest.raises(DatasetError, match=r"tracks_test_info\.mat: row 2 .*start <= end"):
        load_mars(broken)


def test_row_pid_disagrees_with_frame_names(broken: Path) -> None:
    path = broken / "info" / "tracks_train_info.mat"
    rows = load_var(path, "track_train_info")
    rows[0, 2] = rows[-1, 2]  # another identity's pid
    save_var(path, "track_train_info", rows)
    with pytest.raises(DatasetError, match=r"tracks_train_info\.mat: row 1 .*does not match pid"):
        load_mars(broken)


def test_row_spanning_two_cameras(broken: Path) -> None:
    path = broken / "info" / "tracks_test_info.mat"
    rows = load_var(path, "track_test_info")
    rows[0, 1] = rows[-1, 1]  # the first row now covers every test frame
    save_var(path, "track_test_info", rows)
    with pytest.raises(DatasetError, match=r"tracks_test_info\.mat: row 1 .*does not match"):
        load_mars(broken)


@pytest.mark.parametrize("bad,message", [("0001C1T0001F01.jpg", "does not parse"),
                                         ("0001_c1s1_000151_01.jpg", "does not parse"),
                                         ("../../etc/passwd", "contains '..'"),
                                         ("/etc/passwd", "absolute")])
def test_bad_frame_names(broken: Path, bad: str, message: str) -> None:
    path = broken / "info" / "test_name.txt"
    names = path.read_text().splitlines()
    names[4] = bad
    path.write_text("\n".join(names) + "\n")
    with pytest.raises(DatasetError, match=rf"test_name\.txt: line 5.*{message}"):
        load_mars(broken)


def test_missing_frame_on_disk(broken: Path) -> None:
    name = (broken / "info" / "train_name.txt").read_text().splitlines()[7]
    (broken / "bbox_train" / name[:4] / name).unlink()
    with pytest.raises(DatasetError, match=rf"train_name\.txt lists {name} but .* does not exist"):
        load_mars(broken)
    assert len(load_mars(broken, check_files=False).train) == meta(broken)["counts"]["train_tracklets"]


def test_missing_pid_folder(broken: Path) -> None:
    name = (broken / "info" / "test_name.txt").read_text().splitlines()[-1]
    for f in (broken / "bbox_test" / name[:4]).iterdir():
        f.unlink()
    (broken / "bbox_test" / name[:4]).rmdir()
    with pytest.raises(DatasetError, match=rf"test_name\.txt lists .* folder .*{name[:4]} cannot be read"):
        load_mars(broken)


@pytest.mark.parametrize("value", [0, 10**5])
def test_query_idx_out_of_range(broken: Path, value: int) -> None:
    path = broken / "info" / "query_IDX.mat"
    idx = load_var(path, "query_IDX")
    assert idx.shape[0] == 1 and idx.dtype == np.int32  # as the real file
    idx[0, -1] = value
    save_var(path, "query_IDX", idx)
    with pytest.raises(DatasetError, match=rf"query_IDX\.mat: query_IDX value {value} out of range"):
        load_mars(broken)


def test_query_idx_not_integer(broken: Path) -> None:
    path = broken / "info" / "query_IDX.mat"
    save_var(path, "query_IDX", load_var(path, "query_IDX") + 0.5)
    with pytest.raises(DatasetError, match=r"query_IDX\.mat: query_IDX must hold integers"):
        load_mars(broken)


def test_junk_query_is_dropped_and_counted(broken: Path) -> None:
    rows = load_var(broken / "info" / "tracks_test_info.mat", "track_test_info")
    junk_row = int(np.flatnonzero(rows[:, 2] == -1)[0]) + 1
    path = broken / "info" / "query_IDX.mat"
    idx = load_var(path, "query_IDX")
    save_var(path, "query_IDX", np.sort(np.append(idx, junk_row))[None, :])
    ds = load_mars(broken)
    counts = meta(broken)["counts"]
    assert ds.skipped["junk_query"] == 1
    assert ds.skipped["junk_gallery"] == counts["junk_tracklets"] - 1
    assert len(ds.query) == counts["queries"]
