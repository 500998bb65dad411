"""PRID-2011 parser and split maker: eligibility, seeded splits, split files, order and bad inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from parser_fixtures import make_prid2011, write_image, write_split_file
from reid.data import load_dataset
from reid.data.datasets.prid2011 import load_prid2011
from reid.data.datasets.prid_splits import eligible_people, make_splits, write_prid_splits
from reid.errors import DatasetError

# person -> frames. 1..8 in both cameras (like the real first 200); 3 and 4 have < 27 in one camera.
CAM_A = {1: 30, 2: 27, 3: 26, 4: 40, 5: 28, 6: 30, 7: 29, 8: 31, 9: 5}
CAM_B = {1: 27, 2: 30, 3: 30, 4: 26, 5: 31, 6: 27, 7: 35, 8: 27, 10: 30, 11: 40}


@pytest.fixture(scope="module")
def prid_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    parent = tmp_path_factory.mktemp("prid")
    make_prid2011(parent, CAM_A, CAM_B, unpadded=1)
    return parent


@pytest.fixture()
def prid(prid_master: Path, tmp_path: Path) -> Path:
    """A fresh copy (tests corrupt it) of the fixture; returns the parent of ``prid2011``."""
    shutil.copytree(prid_master, tmp_path / "copy")
    return tmp_path / "copy"


def _expected_eligible() -> list[str]:
    eligible = []
    for person in sorted(set(CAM_A) & set(CAM_B)):
        if CAM_A[person] >= 27 and CAM_B[person] >= 27:
            eligible.append(f"person_{person:04d}")
    return eligible


def test_eligible_people_and_seeded_splits(prid: Path) -> None:
    eligible = eligible_people(prid / "prid2011")
    assert eligible == _expected_eligible() == [f"person_{p:04d}" for p in (1, 2, 5, 6, 7, 8)]
    path = write_prid_splits(prid, seed=0)
    assert path == prid / "prid2011" / "splits_prid2011.json"
    splits = json.loads(path.read_text())
    assert len(splits) == 10
    for split in splits:
        assert set(split) == {"train", "test"}
        assert len(split["train"]) == len(split["test"]) == 3
        assert sorted(split["train"] + split["test"]) == eligible
        assert split["train"] == sorted(split["train"]) and split["test"] == sorted(split["test"])
    assert len({tuple(s["test"]) for s in splits}) > 1  # the 10 splits are not all the same
    assert splits == make_splits(eligible, seed=0)
    assert make_splits(eligible, seed=1) != splits


def test_make_splits_odd_count_and_too_few() -> None:
    splits = make_splits(["a", "b", "c", "d", "e"], num_splits=4, seed=3)
    assert [(len(s["train"]), len(s["test"])) for s in splits] == [(2, 3)] * 4
    with pytest.raises(DatasetError, match="cannot split 1 PRID-2011 people"):
        make_splits(["a"])


def test_split_file_is_made_once_and_cli(prid: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from reid.cli import prid_splits as make_prid_splits

    make_prid_splits.main([str(prid), "--seed", "0"])
    path = prid / "prid2011" / "splits_prid2011.json"
    assert json.loads(path.read_text()) == make_splits(_expected_eligible(), seed=0)
    with pytest.raises(SystemExit, match="error: split file .* already exists; splits are made once"):
        make_prid_splits.main([str(prid), "--seed", "1"])
    make_prid_splits.main([str(prid / "prid2011"), "--seed", "1", "--overwrite", "--num-splits", "2"])
    assert json.loads(path.read_text()) == make_splits(_expected_eligible(), num_splits=2, seed=1)


@pytest.mark.parametrize("split_id", [0, 7])
def test_load_split_pids_camids_and_skipped(prid: Path, split_id: int) -> None:
    write_prid_splits(prid, seed=0)
    split = make_splits(_expected_eligible(), seed=0)[split_id]
    ds = load_dataset("prid2011", prid, split_id=split_id, cache=False)
    expected_train = [(f"{cam}_{p}", label, camid)
                      for label, p in enumerate(split["train"]) for camid, cam in enumerate(("cam_a", "cam_b"))]
    assert [(t.name, t.pid, t.camid) for t in ds.train] == expected_train
    assert [(t.name, t.pid, t.camid) for t in ds.query] == [(f"cam_a_{p}", int(p[7:]), 0) for p in split["test"]]
    assert [(t.name, t.pid, t.camid) for t in ds.gallery] == [(f"cam_b_{p}", int(p[7:]), 1) for p in split["test"]]
    for t in ds.train + ds.query + ds.gallery:
        cam, person = t.name[:5], t.name[6:]
        number = int(person[7:])
        assert len(t) == (CAM_A if cam == "cam_a" else CAM_B)[number]
    assert ds.skipped == {"people not in the split": 11 - 6}


def test_frames_sorted_numerically(prid: Path) -> None:
    path = write_split_file(prid / "mine.json", [{"train": ["person_0002"], "test": ["person_0001", "person_0003"]}])
    ds = load_prid2011(prid / "prid2011", split_file=path)
    query = ds.query[0]
    assert query.name == "cam_a_person_0001"
    assert [Path(f).name for f in query.frames] == [f"{n}.png" for n in range(1, 31)]
    assert [Path(f).name for f in ds.gallery[1].frames] == [f"{n:04d}.png" for n in range(1, 31)]
    assert all(Path(f).is_file() for t in ds.train for f in t.frames)
    assert [t.pid for t in ds.train] == [0, 0] and [t.pid for t in ds.query] == [1, 3]


def test_no_split_file_tells_user_to_run_the_tool(prid: Path) -> None:
    message = r"splits_prid2011.json not found; create it once with .*make_prid_splits.py"
    with pytest.raises(DatasetError, match=message):
        load_prid2011(prid)


@pytest.mark.parametrize("person", ["person_0009", "person_0099", "person_0010"])
def test_split_file_naming_unknown_person(prid: Path, person: str) -> None:
    path = write_split_file(prid / "s.json", [{"train": ["person_0001"], "test": ["person_0002", person]}])
    with pytest.raises(DatasetError, match=rf"names person '{person}', which has no folder in .*cam_"):
        load_prid2011(prid, split_file=path)


@pytest.mark.parametrize("name", ["../cam_b/person_0001", "/etc/person_0001"])
def test_split_file_escaping_path_rejected(prid: Path, name: str) -> None:
    path = write_split_file(prid / "s.json", [{"train": [name], "test": ["person_0002"]}])
    with pytest.raises(DatasetError, match=r"is absolute or contains '\.\.'"):
        load_prid2011(prid, split_file=path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "cannot read split file"),
        ('{"train": [], "test": []}', "expected a non-empty JSON list"),
        ('[{"train": ["person_0001"]}]', r"split 0 is not \{'train'"),
        ('[{"train": ["person_0001"], "test": ["person_0001"]}]', "both in train and test"),
    ],
)
def test_malformed_split_file(prid: Path, content: str, message: str) -> None:
    (prid / "s.json").write_text(content)
    with pytest.raises(DatasetError, match=message):
        load_prid2011(prid, split_file=prid / "s.json")


@pytest.mark.parametrize("split_id", [10, -1])
def test_split_id_out_of_range(prid: Path, split_id: int) -> None:
    write_prid_splits(prid, seed=0)
    with pytest.raises(DatasetError, match=rf"split_id={split_id} is out of range .* 10 splits"):
        load_prid2011(prid, split_id=split_id)


def test_empty_camera_folder(prid: Path) -> None:
    cam_b = prid / "prid2011" / "prid_2011" / "multi_shot" / "cam_b"
    shutil.rmtree(cam_b)
    cam_b.mkdir()
    with pytest.raises(DatasetError, match="cam_b is empty; expected person_NNNN folders"):
        write_prid_splits(prid)


def test_names_that_do_not_parse(prid: Path) -> None:
    cams = prid / "prid2011" / "prid_2011" / "multi_shot"
    write_image(cams / "cam_a" / "person_0005" / "frame_x.png")
    with pytest.raises(DatasetError, match="frame_x.png: frame name does not parse; expected 'NNNN.png'"):
        write_prid_splits(prid)
    (cams / "cam_a" / "person_0005" / "frame_x.png").unlink()
    (cams / "cam_b" / "person12").mkdir()
    with pytest.raises(DatasetError, match="person12: folder name does not parse"):
        write_prid_splits(prid)


def test_empty_person_folder(prid: Path) -> None:
    folder = prid / "prid2011" / "prid_2011" / "multi_shot" / "cam_b" / "person_0002"
    shutil.rmtree(folder)
    folder.mkdir()
    path = write_split_file(prid / "s.json", [{"train": ["person_0001"], "test": ["person_0002"]}])
    with pytest.raises(DatasetError, match="person_0002 holds no frame"):
        load_prid2011(prid, split_file=path)
