"""Own-footage layout (load_dataset("folder")) and the tracklet cropping tool, on a video made here."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from parser_fixtures import COLOURS_BGR, make_video, write_image
from reid.data import load_dataset
from reid.data.datasets.folder import load_folder, natural_key
from reid.data.footage.crop import clip_box, crop_tracklets, read_mot_tracks
from reid.errors import DatasetError

NUM_FRAMES = 20
# track -> {frame: (x, y, w, h)}; 1 and 2 move; 4 is partly outside (x < 0); 3 is short;
# 5 runs past the end of the video (frames 18..25 of 20).
TRACKS = {
    1: {f: (2 + 2 * f, 5, 12, 20) for f in range(1, 13)},
    2: {f: (60, 2 + 2 * f, 14, 18) for f in range(3, 15)},
    3: {f: (40, 40, 10, 10) for f in range(5, 8)},
    4: {f: (-6, 50, 16, 15) for f in range(1, 11)},
    5: {f: (80, 50, 10, 10) for f in range(18, 26)},
}


def _write_tracks(path: Path) -> Path:
    lines = ["# frame,id,x,y,w,h,conf,x,y,z", ""]
    for track, boxes in TRACKS.items():
        lines += [f"{f},{track},{x},{y},{w},{h},0.9,-1,-1,-1" for f, (x, y, w, h) in boxes.items()]
    lines.append("15,2,200,10,14,18,0.9,-1,-1,-1")  # entirely outside the 96 x 72 frame
    lines.append("2,1,6,5,12,20,0.8,-1,-1,-1")  # duplicate (frame 2, track 1)
    lines.append("3,-1,10,10,5,5,0.5,-1,-1,-1")  # a detection without track id
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture()
def footage(tmp_path: Path) -> tuple[Path, Path]:
    drawn: dict[int, dict[int, tuple]] = {}
    for track, boxes in TRACKS.items():
        for frame, box in boxes.items():
            drawn.setdefault(frame, {})[track] = box
    video = make_video(tmp_path / "cam.avi", drawn, NUM_FRAMES)
    return video, _write_tracks(tmp_path / "tracks.txt")


def test_crop_counts_content_and_layout(footage: tuple[Path, Path], tmp_path: Path) -> None:
    video, tracks = footage
    out = tmp_path / "own"
    summary = crop_tracklets(video, tracks, camid=2, out=out, min_length=4)
    assert (summary.tracks_written, summary.frames_written, summary.frames_read) == (3, 12 + 12 + 10, NUM_FRAMES)
    assert summary.skipped == {
        "boxes outside the frame or empty": 1,
        "duplicate boxes": 1,
        "boxes without track id": 1,
        "tracks shorter than min length": 2,  # track 3 (3 boxes) and track 5 (3 frames before the end)
        "boxes after the end of the video": 5,
    }
    assert sorted(p.name for p in (out / "train").iterdir()) == ["1", "2", "4"]
    for track in (1, 2, 4):
        folder = out / "train" / str(track) / f"2_{track:04d}"
        files = sorted(folder.iterdir())
        assert [int(p.stem) for p in files] == sorted(TRACKS[track])
        for path in files:
            crop = cv2.imread(str(path))
            x, y, w, h = TRACKS[track][int(path.stem)]
            x1, y1, x2, y2 = clip_box(x, y, w, h, 96, 72)
            assert crop.shape == (y2 - y1, x2 - x1, 3)
            assert np.abs(crop.reshape(-1, 3).mean(0) - COLOURS_BGR[track]).max() < 40, path
    assert (out / "train" / "4" / "2_0004" / "000001.jpg").exists()
    assert cv2.imread(str(out / "train" / "4" / "2_0004" / "000001.jpg")).shape[:2] == (15, 10)

    ds = load_dataset("folder", out, cache_dir=tmp_path / "cache")
    assert load_dataset("folder", out, cache_dir=tmp_path / "cache") == ds  # through the index cache
    assert [(t.name, t.pid, t.camid, len(t)) for t in ds.train] == [
        ("train/1/2_0001", 0, 2, 12), ("train/2/2_0002", 1, 2, 12), ("train/4/2_0004", 2, 2, 10)]
    assert ds.query == [] and ds.gallery == []


def test_second_video_with_offset_and_split_then_collision(footage: tuple[Path, Path], tmp_path: Path) -> None:
    video, tracks = footage
    out = tmp_path / "own"
    crop_tracklets(video, tracks, camid=0, out=out, min_length=4, split="gallery")
    crop_tracklets(video, tracks, camid=1, out=out, min_length=11, split="query", pid_offset=100)
    ds = load_folder(out)
    assert [(t.pid, t.camid) for t in ds.query] == [(101, 1), (102, 1)]  # track 4 (10 crops) < 11
    assert [(t.pid, t.camid) for t in ds.gallery] == [(1, 0), (2, 0), (4, 0)]
    with pytest.raises(DatasetError, match=r"0_0001 already exists; use another --out or a --pid-offset"):
        crop_tracklets(video, tracks, camid=0, out=out, min_length=4, split="gallery")


def test_cli_prints_summary(footage: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture) -> None:
    from reid.cli import crop as cli

    video, tracks = footage
    cli.main(["--video", str(video), "--tracks", str(tracks), "--camid", "0", "--out", str(tmp_path / "o"),
              "--min-length", "12"])
    text = capsys.readouterr().out
    assert f"wrote 2 tracklets, 24 crops to {tmp_path / 'o'}" in text
    assert "skipped tracks shorter than min length: 3" in text
    with pytest.raises(SystemExit, match=r"error: .*0_0001 already exists"):
        cli.main(["--video", str(video), "--tracks", str(tracks), "--camid", "0", "--out", str(tmp_path / "o")])


@pytest.mark.parametrize(
    ("line", "message"),
    [("1,2,3,4,5", r"tracks.txt:2: 5 comma-separated fields"), ("1,a,3,4,5,6", r"tracks.txt:2: id 'a' is not a number"),
     ("1,2,nan,4,5,6", r"x 'nan' is not a number"), ("0,1,3,4,5,6", "expected integers, frame >= 1"), ("1.5,1,3,4,5,6", "expected integers")],
)
def test_malformed_tracks_file(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "tracks.txt"
    path.write_text(f"1,1,0,0,5,5,1\n{line}\n")
    with pytest.raises(DatasetError, match=message):
        read_mot_tracks(path, skipped=__import__("collections").Counter())


def test_unreadable_video_and_bad_arguments(footage: tuple[Path, Path], tmp_path: Path) -> None:
    _, tracks = footage
    (tmp_path / "broken.avi").write_bytes(b"not a video")
    with pytest.raises(DatasetError, match="cannot read video .*broken.avi"):
        crop_tracklets(tmp_path / "broken.avi", tracks, camid=0, out=tmp_path / "o")
    with pytest.raises(DatasetError, match="split 'test' is not one of"):
        crop_tracklets(tmp_path / "broken.avi", tracks, camid=0, out=tmp_path / "o", split="test")
    with pytest.raises(DatasetError, match="tracks file .*missing.txt not found"):
        crop_tracklets(tmp_path / "broken.avi", tmp_path / "missing.txt", camid=0, out=tmp_path / "o")


def test_clip_box() -> None:
    assert clip_box(-6, 50, 16, 15, 96, 72) == (0, 50, 10, 65)
    assert clip_box(90, 70, 20, 20, 96, 72) == (90, 70, 96, 72)
    assert clip_box(96, 0, 5, 5, 96, 72) is None
    assert clip_box(10, 10, 0, 5, 96, 72) is None


def test_natural_key_orders_numbers() -> None:
    names = ["f100.jpg", "f9.jpg", "f10.jpg", "f2.jpg", "a.jpg"]
    assert sorted(names, key=natural_key) == ["a.jpg", "f2.jpg", "f9.jpg", "f10.jpg", "f100.jpg"]
    assert sorted(["x2_10", "x10_1", "x2_9"], key=natural_key) == ["x2_9", "x2_10", "x10_1"]


def test_folder_without_splits_numeric_order_and_skips(tmp_path: Path) -> None:
    for n in (100, 9, 10, 1):
        write_image(tmp_path / "7" / "0_0001" / f"{n}.jpg")
    write_image(tmp_path / "3" / "1_0002" / "frame_0005.png")
    (tmp_path / "3" / "1_0003").mkdir()
    (tmp_path / "3" / "1_0002" / "notes.txt").write_text("x")
    ds = load_folder(tmp_path)
    assert [(t.name, t.pid, t.camid) for t in ds.train] == [("train/3/1_0002", 0, 1), ("train/7/0_0001", 1, 0)]
    assert [Path(f).name for f in ds.train[1].frames] == ["1.jpg", "9.jpg", "10.jpg", "100.jpg"]
    assert ds.skipped == {"empty tracklet folders": 1, "non-image files": 1}


def test_folder_with_splits_keeps_test_pids(tmp_path: Path) -> None:
    for split, pid, tdir in (("train", 40, "0_1"), ("train", 20, "1_1"), ("query", 5, "0_1"), ("gallery", 5, "1_1"),
                             ("gallery", 6, "1_2")):
        write_image(tmp_path / split / str(pid) / tdir / "1.jpg")
    ds = load_dataset("folder", tmp_path, cache=False)
    assert [(t.pid, t.camid) for t in ds.train] == [(0, 1), (1, 0)]
    assert [(t.pid, t.camid) for t in ds.query] == [(5, 0)]
    assert [(t.pid, t.camid) for t in ds.gallery] == [(5, 1), (6, 1)]


@pytest.mark.parametrize(
    ("folders", "message"),
    [(["train/1/0_1", "2/0_1"], "found split folders .* and other folders"),
     (["1/cam0"], "tracklet folder name 'cam0' does not parse"),
     (["p1/0_1"], "folder name 'p1' is not a person id")],
)
def test_folder_bad_layouts(tmp_path: Path, folders: list[str], message: str) -> None:
    for folder in folders:
        write_image(tmp_path / folder / "1.jpg")
    with pytest.raises(DatasetError, match=message):
        load_folder(tmp_path)


def test_folder_empty_root_and_split_id(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no tracklet found under"):
        load_folder(tmp_path)
    with pytest.raises(DatasetError, match=r"split_id=1 is out of range \(0\.\.0\)"):
        load_folder(tmp_path, split_id=1)
    with pytest.raises(DatasetError, match="does not exist"):
        load_folder(tmp_path / "nope")
