"""DukeMTMC-VideoReID parser: camera from the name, relabelled train, original test pids, bad inputs."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from parser_fixtures import make_dukev, write_image
from reid.data import load_dataset
from reid.data.datasets.dukev import load_dukev
from reid.errors import DatasetError

SPEC = {
    "train": {12: [(1, [1, 2, 3]), (3, [2, 3, 4, 5])], 5: [(2, [1, 2])], 700: [(8, [4, 1, 3, 2])]},
    "query": {2: [(1, [1, 2, 3])], 3: [(6, [16, 17])]},
    "gallery": {2: [(2, [1, 2, 3]), (4, [5, 6])], 3: [(5, [1, 2])], 9: [(7, [1])]},  # pid 9: distractor
}


@pytest.fixture()
def duke(tmp_path: Path) -> Path:
    return make_dukev(tmp_path, SPEC)


def _expected(split: str, relabel: bool) -> list[tuple[str, int, int, list[int]]]:
    """(name, pid, camid, frame numbers) in folder order, written literally from the layout rules."""
    pids = sorted(SPEC[split])
    rows = []
    for pid in pids:
        for t, (cam, numbers) in enumerate(SPEC[split][pid], start=1):
            label = pids.index(pid) if relabel else pid
            rows.append((f"{split}/{pid:04d}/{t:04d}", label, cam - 1, sorted(numbers)))
    return rows


def _frame_numbers(frames: tuple[str, ...]) -> list[int]:
    return [int(re.search(r"_F(\d+)_", Path(f).name).group(1)) for f in frames]


def test_splits_pids_camids_and_frames(duke: Path) -> None:
    ds = load_dukev(duke.parent)
    for split, relabel in (("train", True), ("query", False), ("gallery", False)):
        got = [(t.name, t.pid, t.camid, _frame_numbers(t.frames)) for t in getattr(ds, split)]
        assert got == _expected(split, relabel), split
    assert [t.pid for t in ds.train] == [0, 1, 1, 2]
    assert {t.pid for t in ds.gallery} - {t.pid for t in ds.query} == {9}
    assert ds.train[1].camid == 0 and ds.train[3].camid == 7
    assert all(Path(f).is_file() for t in ds.train + ds.query + ds.gallery for f in t.frames)
    assert ds.skipped == {}
    assert load_dataset("dukev", duke, cache=False).summary() == ds.summary()


def test_frames_sorted_numerically_with_unpadded_numbers(tmp_path: Path) -> None:
    spec = {s: {1: [(6, [100, 9, 10, 2])]} for s in ("train", "query", "gallery")}
    ds = load_dukev(make_dukev(tmp_path, spec, unpadded=True))
    names = [Path(f).name for f in ds.query[0].frames]
    assert names == [f"0001_C6_F{n}_X{1000 + n}.jpg" for n in (2, 9, 10, 100)]
    assert names != sorted(names)
    assert ds.query[0].camid == 5


def test_old_naming_without_underscores(duke: Path) -> None:
    folder = duke / "DukeMTMC-VideoReID" / "query" / "0003" / "0002"
    for name in ("0003C6F0099X30823.jpg", "0003C6F0098X30822.jpg"):
        write_image(folder / name)
    ds = load_dukev(duke)
    t = next(t for t in ds.query if t.name == "query/0003/0002")
    assert (t.pid, t.camid) == (3, 5)
    assert [Path(f).name for f in t.frames] == ["0003C6F0098X30822.jpg", "0003C6F0099X30823.jpg"]


def test_empty_tracklet_and_non_image_files_counted(duke: Path) -> None:
    base = duke / "DukeMTMC-VideoReID"
    (base / "gallery" / "0009" / "0002").mkdir()
    (base / "train" / "0005" / "0001" / ".DS_Store").write_bytes(b"")
    ds = load_dukev(duke)
    assert ds.skipped == {"empty tracklet folders": 1, "non-image files": 1}
    assert len(ds.gallery) == 4


def test_split_id_out_of_range(duke: Path) -> None:
    with pytest.raises(DatasetError, match=r"split_id=1 is out of range \(0\.\.0\)"):
        load_dukev(duke, split_id=1)


def test_frame_name_that_does_not_parse(duke: Path) -> None:
    write_image(duke / "DukeMTMC-VideoReID" / "train" / "0012" / "0001" / "0012_F0004.jpg")
    with pytest.raises(DatasetError, match="0012_F0004.jpg: frame name does not parse"):
        load_dukev(duke)


def test_pid_mismatch_and_two_cameras(duke: Path) -> None:
    folder = duke / "DukeMTMC-VideoReID" / "train" / "0012" / "0001"
    write_image(folder / "0013_C1_F0009_X1.jpg")
    with pytest.raises(DatasetError, match="pid 13 in the name differs from folder pid 12"):
        load_dukev(duke)
    (folder / "0013_C1_F0009_X1.jpg").unlink()
    write_image(folder / "0012_C2_F0009_X1.jpg")
    with pytest.raises(DatasetError, match=r"frames name cameras \[1, 2\]"):
        load_dukev(duke)


def test_folder_names_that_do_not_parse(duke: Path) -> None:
    (duke / "DukeMTMC-VideoReID" / "gallery" / "0002" / "extra").mkdir()
    with pytest.raises(DatasetError, match="extra: tracklet folder name does not parse"):
        load_dukev(duke)
    (duke / "DukeMTMC-VideoReID" / "gallery" / "0002" / "extra").rmdir()
    (duke / "DukeMTMC-VideoReID" / "query" / "p3").mkdir()
    with pytest.raises(DatasetError, match="p3: person folder name does not parse"):
        load_dukev(duke)


def test_missing_or_empty_split_folder(duke: Path) -> None:
    query = duke / "DukeMTMC-VideoReID" / "query"
    shutil.rmtree(query)
    with pytest.raises(DatasetError, match=r"expected a folder at .*query"):
        load_dukev(duke)
    query.mkdir()
    with pytest.raises(DatasetError, match=r"split folder .*query holds no tracklet"):
        load_dukev(duke)
