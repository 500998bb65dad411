"""iLIDS-VID parser: splits from ls_set, numeric frame order, pids, camids and bad inputs."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from parser_fixtures import UNPADDED_FRAMES, make_ilidsvid, write_image
from reid.data import load_dataset
from reid.data.datasets.ilidsvid import load_ilidsvid
from reid.errors import DatasetError


@pytest.fixture()
def ilids(tmp_path: Path) -> dict:
    return make_ilidsvid(tmp_path)


def _frame_number(path: str) -> int:
    return int(re.search(r"_(\d+)\.png$", path).group(1))


@pytest.mark.parametrize("split_id", [0, 1, 2])
def test_split_membership_pids_and_camids(ilids: dict, split_id: int) -> None:
    ds = load_ilidsvid(ilids["data_dir"].parent, split_id=split_id)
    folders, row = ilids["folders"], ilids["ls_set"][split_id]
    half = len(folders) // 2
    test_folders = sorted(folders[i - 1] for i in row[:half])
    train_folders = sorted(folders[i - 1] for i in row[half:])
    # literal expectation: train = both cameras of each train person, relabelled in sorted order
    expected_train = []
    for label, folder in enumerate(train_folders):
        for camid in (0, 1):
            expected_train.append((f"cam{camid + 1}_{folder}", label, camid))
    assert [(t.name, t.pid, t.camid) for t in ds.train] == expected_train
    expected_query = [(f"cam1_{f}", int(f[6:]), 0) for f in test_folders]
    expected_gallery = [(f"cam2_{f}", int(f[6:]), 1) for f in test_folders]
    assert [(t.name, t.pid, t.camid) for t in ds.query] == expected_query
    assert [(t.name, t.pid, t.camid) for t in ds.gallery] == expected_gallery
    assert ds.num_train_pids == 4 and len(ds.train) == 8 and len(ds.query) == len(ds.gallery) == 4
    assert ds.skipped == {}


def test_frames_sorted_numerically_and_complete(ilids: dict) -> None:
    ds = load_ilidsvid(ilids["data_dir"], split_id=0)
    for t in ds.train + ds.query + ds.gallery:
        cam, folder = t.name.split("_", 1)
        assert [_frame_number(f) for f in t.frames] == sorted(ilids["frames"][(cam, folder)])
        assert all(Path(f).is_file() and Path(f).parent.name == folder for f in t.frames)
    first = ilids["folders"][0]
    tracklet = next(t for t in ds.train + ds.query if t.name == f"cam1_{first}")
    names = [Path(f).name for f in tracklet.frames]
    assert names == [f"cam1_{first}_{n}.png" for n in (2, 9, 10, 11, 100)]
    assert names != sorted(f"cam1_{first}_{n}.png" for n in UNPADDED_FRAMES)  # lexicographic differs


def test_load_dataset_entry_point_and_non_frame_files_counted(ilids: dict) -> None:
    seq = ilids["data_dir"] / "i-LIDS-VID" / "sequences"
    (seq / "cam1" / ilids["folders"][0] / "Thumbs.db").write_bytes(b"x")
    (seq / "cam2" / ilids["folders"][1] / "notes.txt").write_text("x")
    ds = load_dataset("ilidsvid", ilids["data_dir"].parent, split_id=1, cache=False)
    assert ds.name == "ilidsvid"
    assert ds.skipped == {"non-image files": 2}


@pytest.mark.parametrize("split_id", [3, -1, 10])
def test_split_id_out_of_range(ilids: dict, split_id: int) -> None:
    with pytest.raises(DatasetError, match=r"split_id=.* out of range .* 3 splits"):
        load_ilidsvid(ilids["data_dir"], split_id=split_id)


def test_missing_mat(ilids: dict) -> None:
    ilids["mat"].unlink()
    with pytest.raises(DatasetError, match="train_test_splits_ilidsvid.mat not found"):
        load_ilidsvid(ilids["data_dir"])


def test_truncated_mat(ilids: dict) -> None:
    data = ilids["mat"].read_bytes()
    ilids["mat"].write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match="cannot read .*train_test_splits_ilidsvid.mat"):
        load_ilidsvid(ilids["data_dir"])


def test_garbage_mat(ilids: dict) -> None:
    ilids["mat"].write_bytes(b"not a mat file at all")
    with pytest.raises(DatasetError, match="cannot read"):
        load_ilidsvid(ilids["data_dir"])


def test_wrong_variable_name(ilids: dict) -> None:
    scipy.io.savemat(str(ilids["mat"]), {"splits": ilids["ls_set"]})
    with pytest.raises(DatasetError, match=r"variable 'ls_set' not found \(found \['splits'\]\)"):
        load_ilidsvid(ilids["data_dir"])


@pytest.mark.parametrize("bad_value", [0, 9, 100])
def test_index_out_of_range(ilids: dict, bad_value: int) -> None:
    ls_set = ilids["ls_set"].astype(float)
    ls_set[1, 5] = bad_value
    scipy.io.savemat(str(ilids["mat"]), {"ls_set": ls_set})
    with pytest.raises(DatasetError, match=rf"row 1 has index {bad_value} out of range; expected 1..8"):
        load_ilidsvid(ilids["data_dir"])


def test_repeated_index_and_wrong_width(ilids: dict) -> None:
    ls_set = ilids["ls_set"].astype(float)
    ls_set[0, 1] = ls_set[0, 0]
    scipy.io.savemat(str(ilids["mat"]), {"ls_set": ls_set})
    with pytest.raises(DatasetError, match="row 0 repeats a person index"):
        load_ilidsvid(ilids["data_dir"])
    scipy.io.savemat(str(ilids["mat"]), {"ls_set": np.arange(1, 8, dtype=float)[None]})
    with pytest.raises(DatasetError, match=r"shape \(1, 7\).*\(num_splits, 8\)"):
        load_ilidsvid(ilids["data_dir"])


def test_frame_name_that_does_not_parse(ilids: dict) -> None:
    folder = ilids["folders"][2]
    write_image(ilids["data_dir"] / "i-LIDS-VID" / "sequences" / "cam2" / folder / f"cam2_{folder}_x7.png")
    with pytest.raises(DatasetError, match=rf"cam2_{folder}_x7.png: frame name does not parse"):
        load_ilidsvid(ilids["data_dir"])


def test_person_folder_that_does_not_parse(ilids: dict) -> None:
    seq = ilids["data_dir"] / "i-LIDS-VID" / "sequences"
    for cam in ("cam1", "cam2"):
        (seq / cam / "person_extra").mkdir()
    with pytest.raises(DatasetError, match="person_extra: folder name does not parse; expected 'personNNN'"):
        load_ilidsvid(ilids["data_dir"])


def test_empty_camera_folder(ilids: dict) -> None:
    cam2 = ilids["data_dir"] / "i-LIDS-VID" / "sequences" / "cam2"
    shutil.rmtree(cam2)
    cam2.mkdir()
    with pytest.raises(DatasetError, match=r"camera folder .*cam2 is empty"):
        load_ilidsvid(ilids["data_dir"])


def test_empty_sequence_and_camera_mismatch(ilids: dict) -> None:
    seq = ilids["data_dir"] / "i-LIDS-VID" / "sequences"
    folder = ilids["folders"][3]
    for f in (seq / "cam1" / folder).iterdir():
        f.unlink()
    with pytest.raises(DatasetError, match=rf"{folder} holds no frame"):
        load_ilidsvid(ilids["data_dir"], split_id=2)  # every person is in train or test
    shutil.rmtree(seq / "cam1" / folder)
    with pytest.raises(DatasetError, match=rf"cam1 and cam2 hold different people, e.g. \['{folder}'\]"):
        load_ilidsvid(ilids["data_dir"])


def test_missing_dataset_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no ilids-vid dataset under"):
        load_ilidsvid(tmp_path)
