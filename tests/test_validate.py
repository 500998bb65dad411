"""data_prep/validate.py: counts on the mini MARS fixture, non-zero exit on an unreadable frame."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reid.cli import validate as validate_cli
from reid.data import DATASETS, load_dataset
from reid.data.tracklet import Tracklet, VideoReIDDataset
from reid.data.validation import compare_published, split_stats, validate_dataset
from tests.reference.mini_mars import MINI_ENTRY, write_mini_mars


@pytest.fixture()
def root(tmp_path, monkeypatch):
    monkeypatch.setitem(DATASETS, "mini", MINI_ENTRY)
    return write_mini_mars(tmp_path / "data")


def _run(root: Path, tmp_path: Path, *extra: str) -> tuple[int, dict]:
    out = tmp_path / "report.json"
    code = validate_cli.main(["mini", str(root), "--no-cache", "--workers", "2", "--report", str(out), *extra])
    return code, json.loads(out.read_text())


def test_report_counts(root, tmp_path, capsys):
    code, report = _run(root, tmp_path)
    assert code == 0 and report["errors"] == []
    # train pids are relabelled 0..K-1, so train "pid0" counts a real identity (2 tracklets)
    assert report["splits"]["train"] == {"ids": 2, "tracklets": 4, "frames": 15, "cameras": 3, "len_min": 3,
                                         "len_median": 3.5, "len_max": 5, "pid0": 2, "pid_minus1": 0}
    assert report["splits"]["query"] == {"ids": 2, "tracklets": 2, "frames": 7, "cameras": 1, "len_min": 3,
                                         "len_median": 3.5, "len_max": 4, "pid0": 0, "pid_minus1": 0}
    assert report["splits"]["gallery"] == {"ids": 3, "tracklets": 3, "frames": 10, "cameras": 2, "len_min": 2,
                                           "len_median": 3, "len_max": 5, "pid0": 1, "pid_minus1": 0}
    assert report["skipped"] == {"junk_tracklets": 1}
    assert report["published"]["compared"] is False
    table = capsys.readouterr().out
    assert "gallery" in table and "0 error(s)" in table


def test_truncated_jpeg_fails(root, tmp_path):
    victim = root / "bbox_test" / "0004" / "0004C2T0004F002.jpg"
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    code, report = _run(root, tmp_path)
    assert code == 1
    assert [u["path"] for u in report["unreadable"]] == [str(victim)]
    assert "truncated" in report["unreadable"][0]["error"].lower()


def test_packed_video_checked(root, tmp_path):
    from reid.data.storage.packing import pack_dataset

    pack_dataset("mini", root, tmp_path / "packed", cache=False)
    code, report = _run(tmp_path / "packed", tmp_path, "--packed")
    assert code == 0 and report["splits"]["train"]["frames"] == 15
    victim = next((tmp_path / "packed" / "videos" / "train").iterdir())
    victim.write_bytes(victim.read_bytes()[:300])
    code, report = _run(tmp_path / "packed", tmp_path, "--packed")
    assert code == 1 and report["unreadable"][0]["path"] == str(victim)


def test_published_comparison():
    stats = {"train": {"ids": 625, "tracklets": 8298, "frames": 509914},
             "query": {"tracklets": 1980}, "gallery": {"tracklets": 9330, "pid0": 3247}}
    result = compare_published("mars", stats, None)
    assert result["compared"] and result["mismatches"] == ["gallery.pid0: expected 3248, found 3247"]
    stats["train"]["ids"] = 10
    assert compare_published("mars", stats, None)["compared"] is False
    assert len(compare_published("mars", stats, True)["mismatches"]) == 2
    assert compare_published("folder", stats, True)["compared"] is False


def test_full_flag_and_empty_split(root):
    ds = load_dataset("mini", root, cache=False)
    report = validate_dataset(ds, name="mars", full=True, decode=False)
    assert "train.ids: expected 625, found 2" in report["errors"]
    empty = VideoReIDDataset(name="e", train=[Tracklet(frames=("a",), pid=0, camid=0)], query=[], gallery=[])
    assert validate_dataset(empty, name="e", decode=False)["errors"] == ["query has no tracklets",
                                                                        "gallery has no tracklets"]
    assert split_stats([])["len_median"] == 0


def test_own_footage_folders_may_lack_splits(tmp_path, capsys, monkeypatch):
    t = Tracklet(frames=("a",), pid=0, camid=0)
    only_test = VideoReIDDataset(name="folder", train=[], query=[t], gallery=[t])
    report = validate_dataset(only_test, name="folder", decode=False)
    assert report["errors"] == [] and report["warnings"][0].startswith("train has no tracklets")
    only_train = VideoReIDDataset(name="folder", train=[t], query=[], gallery=[])
    report = validate_dataset(only_train, name="folder", decode=False)
    assert report["errors"] == [] and "evaluation will be skipped" in report["warnings"][0]
    gallery_only = VideoReIDDataset(name="folder", train=[], query=[], gallery=[t])
    assert "query has no tracklets" in " ".join(validate_dataset(gallery_only, name="folder", decode=False)["warnings"])
    nothing = VideoReIDDataset(name="folder", train=[], query=[], gallery=[])
    assert validate_dataset(nothing, name="folder", decode=False)["errors"] == ["no split has any tracklet"]
    # the CLI writes nothing into the working directory, and a missing root is one line
    monkeypatch.chdir(tmp_path)
    assert validate_cli.main(["folder", str(tmp_path / "missing")]) == 1
    assert capsys.readouterr().err.strip() == f"error: own-footage root {tmp_path / 'missing'} does not exist or is not a folder"
    assert list(tmp_path.iterdir()) == []
