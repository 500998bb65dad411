"""data_prep/track_video.py: video -> person boxes -> ByteTrack tracks -> crops, on videos made here.

End to end through the command (``main(argv)`` and one subprocess): a detections file derived from
the drawn boxes, tiny ONNX "detectors" with a fixed YOLO-shaped output, and OpenCV's HOG; every bad
input the command must refuse in one line, leaving nothing behind.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from parser_fixtures import COLOURS_BGR, make_video
from reid.data import load_dataset
from reid.data.footage.detection import DetectorError, HogDetector, build_detector
from reid.data.footage.onnx_detector import OnnxYoloDetector, letterbox
from reid.errors import DatasetError

REPO = Path(__file__).resolve().parents[1]
SIZE = (240, 180)  # width, height
FRAMES = 30
# person -> frame -> (x, y, w, h): three walk across the whole video, 4 is seen for 5 frames only
PEOPLE = {
    1: {f: (10 + 2 * f, 30, 30, 80) for f in range(1, FRAMES + 1)},
    2: {f: (200 - 2 * f, 80, 26, 70) for f in range(1, FRAMES + 1)},
    3: {f: (100, 5 + f, 24, 64) for f in range(1, FRAMES + 1)},
    4: {f: (120, 100, 20, 40) for f in range(10, 15)},
}


def _spec() -> object:
    spec = importlib.util.spec_from_file_location("track_video_script", REPO / "data_prep" / "track_video.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCRIPT = _spec()


def _video(path: Path, people: dict = PEOPLE, frames: int = FRAMES) -> Path:
    drawn: dict[int, dict] = {}
    for person, boxes in people.items():
        for frame, box in boxes.items():
            drawn.setdefault(frame, {})[person] = box
    return make_video(path, drawn, frames, size=SIZE)


def _detections(path: Path, people: dict = PEOPLE, extra: tuple[str, ...] = ()) -> Path:
    lines = ["# frame,id,x,y,w,h,conf"]
    lines += [f"{f},-1,{x},{y},{w},{h},1" for boxes in people.values() for f, (x, y, w, h) in boxes.items()]
    path.write_text("\n".join(lines + list(extra)) + "\n")
    return path


def _refused(argv: list[str], out: Path) -> str:
    """Run the command expecting a refusal; check nothing was left in out's parent; return the message."""
    before = set(out.parent.iterdir())
    with pytest.raises(SystemExit) as info:
        SCRIPT.main(argv)
    message = str(info.value.code)
    assert message.startswith("error: ") and "\n" not in message
    assert set(out.parent.iterdir()) == before  # no ROOT, no staging folder
    return message


@pytest.fixture()
def cam0(tmp_path: Path) -> tuple[Path, Path]:
    return _video(tmp_path / "cam0.avi"), _detections(tmp_path / "det0.txt")


def test_detections_file_end_to_end(cam0: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    video, dets = cam0
    out = tmp_path / "root"
    SCRIPT.main(["--video", str(video), "--camid", "0", "--detections", str(dets), "--out", str(out),
                 "--no-progress"])
    text = capsys.readouterr().out
    assert "30 frames" in text and "95 boxes, 4 tracks" in text
    assert "wrote 3 tracklets" in text and "dropped tracks shorter than 8 crops: 1" in text  # person 4
    rows = [line.split(",") for line in (out / "tracks_cam0.txt").read_text().splitlines()]
    assert all(len(r) == 10 and r[7:] == ["-1", "-1", "-1"] for r in rows)
    assert min(int(r[0]) for r in rows) >= 1 and max(int(r[0]) for r in rows) <= FRAMES
    # each track follows one person with that person's exact box (ByteTrack returns the detections)
    by_track: dict[int, set[int]] = {}
    for frame, track, x, y, w, h in ((int(r[0]), int(r[1]), *map(float, r[2:6])) for r in rows):
        person = [p for p, boxes in PEOPLE.items() if boxes.get(frame) == (x, y, w, h)]
        assert len(person) == 1
        by_track.setdefault(track, set()).add(person[0])
    assert sorted(map(len, by_track.values())) == [1, 1, 1, 1] and len(by_track) == 4
    # the crops: one folder per long track, every frame of it, in the drawn person's colour
    dataset = load_dataset("folder", out)
    assert len(dataset.train) == 3
    for tracklet in dataset.train:
        assert len(tracklet.frames) >= FRAMES - 1  # ByteTrack confirms a track on its second box
        colour = cv2.imread(str(tracklet.frames[0])).reshape(-1, 3).mean(axis=0)
        person = min(COLOURS_BGR, key=lambda p: np.abs(colour - COLOURS_BGR[p]).sum())
        track = int(Path(tracklet.frames[0]).parent.name.split("_")[1])
        assert by_track[track] == {person}
    manifest = json.loads((out / "footage.json").read_text())
    (record,) = manifest["cameras"]
    assert record["video"] == {"name": "cam0.avi", "size": video.stat().st_size, "frames": FRAMES}
    assert record["tracklets"] == 3 and record["pid_offset"] == 0


def test_several_videos_and_a_later_camera_get_their_own_pids(cam0: tuple[Path, Path], tmp_path: Path) -> None:
    video, dets = cam0
    out = tmp_path / "root"
    SCRIPT.main(["--video", str(video), "--camid", "0", "--video", str(video), "--camid", "1",
                 "--detections", str(dets), "--detections", str(dets), "--split", "query", "--split", "gallery",
                 "--out", str(out), "--no-progress"])
    SCRIPT.main(["--video", str(video), "--camid", "5", "--detections", str(dets), "--out", str(out),
                 "--no-progress"])
    pids = {split: sorted(int(p.name) for p in (out / split).iterdir()) for split in ("query", "gallery", "train")}
    assert [min(pids["query"]), min(pids["gallery"]), min(pids["train"])] == [1, 1001, 2001]
    assert sorted(p.name for p in out.glob("tracks_*")) == ["tracks_cam0.txt", "tracks_cam1.txt", "tracks_cam5.txt"]
    assert {r["camid"] for r in json.loads((out / "footage.json").read_text())["cameras"]} == {0, 1, 5}
    dataset = load_dataset("folder", out)
    assert (len(dataset.query), len(dataset.gallery), len(dataset.train)) == (3, 3, 3)


def test_hog_runs_and_counts_what_it_found(cam0: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    video, _ = cam0
    out = tmp_path / "root"
    SCRIPT.main(["--video", str(video), "--camid", "0", "--out", str(out), "--no-progress",
                 "--hog-min-height", "64"])
    text = capsys.readouterr().out
    assert "hog (min height 64 px" in text and "30 frames" in text and "tracklets" in text
    assert (out / "tracks_cam0.txt").is_file() and (out / "footage.json").is_file()


def test_hog_box_correction_and_resize(monkeypatch: pytest.MonkeyPatch) -> None:
    detector = HogDetector(min_height=64)  # frame upscaled 2x
    seen = {}

    def fake(image, **kwargs):
        seen["shape"] = image.shape
        return np.array([[20, 40, 64, 128]]), np.array([1.5])

    monkeypatch.setattr(detector, "hog", type("H", (), {"detectMultiScale": staticmethod(fake)})())
    found = detector(np.zeros((50, 60, 3), np.uint8))
    assert seen["shape"][:2] == (100, 120)
    # the sample's correction: 15 % of the width, 5 % of the height off each side, then back to video pixels
    np.testing.assert_allclose(found.boxes, [[(20 + 9.6) / 2, (40 + 6.4) / 2, (84 - 9.6) / 2, (168 - 6.4) / 2]])
    assert found.scores.tolist() == [1.5] and not found.probabilities


# ---- ONNX detectors: a graph whose output is a constant YOLO tensor (+ 0 x the input's mean) ----

def _onnx_model(path: Path, output: np.ndarray, *, names: dict | None = None, size: int = 64) -> Path:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
             helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
             helper.make_node("Add", ["table", "nothing"], ["output0"])]
    graph = helper.make_graph(
        nodes, "fixed", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output.shape))],
        initializer=[numpy_helper.from_array(output.astype(np.float32), "table"),
                     numpy_helper.from_array(np.zeros((), np.float32), "zero")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if names is not None:
        helper.set_model_props(model, {"names": str(names)})
    onnx.save(model, str(path))
    return path


# candidates in letterbox pixels of a 64 x 64 input: cx, cy, w, h
CANDIDATES = np.array([[20, 32, 8, 20], [21, 32, 8, 20], [44, 30, 10, 24], [44, 30, 10, 24]], np.float32)
CLASSES = np.array([[0.9, 0.1], [0.8, 0.1], [0.2, 0.7], [0.1, 0.05]], np.float32)  # person, other


def _expected_boxes(frame_w: int, frame_h: int) -> np.ndarray:
    _, ratio, left, top = letterbox(np.zeros((frame_h, frame_w, 3), np.uint8), 64, 64)
    cx, cy, w, h = CANDIDATES[0]
    return (np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]) - (left, top, left, top)) / ratio


@pytest.mark.parametrize("layout", ["v8", "v5"])
def test_onnx_yolo_layouts(tmp_path: Path, layout: str) -> None:
    if layout == "v8":  # (1, 4 + nc, N)
        output = np.concatenate([CANDIDATES, CLASSES], axis=1).T[None]
    else:  # (1, N, 5 + nc): objectness x class score
        output = np.concatenate([CANDIDATES, np.full((4, 1), 0.5), CLASSES * 2], axis=1)[None]
    detector = build_detector(_onnx_model(tmp_path / "m.onnx", output, names={0: "person", 1: "car"}), conf=0.3)
    assert isinstance(detector, OnnxYoloDetector) and detector.layout == layout
    found = detector(np.zeros((120, 160, 3), np.uint8))
    # candidate 1 duplicates 0 (removed by NMS), 2 is class 1, 3 scores below conf
    np.testing.assert_allclose(found.boxes, [_expected_boxes(160, 120)], atol=1e-3)
    np.testing.assert_allclose(found.scores, [0.9], atol=1e-6)
    assert found.probabilities


def test_onnx_detector_end_to_end(tmp_path: Path, cam0: tuple[Path, Path], capsys) -> None:
    output = np.zeros((1, 6, 16), np.float32)  # 16 candidates, the first 4 ours, the others score 0
    output[0, :, :4] = np.concatenate([CANDIDATES, CLASSES], axis=1).T
    model = _onnx_model(tmp_path / "yolo.onnx", output)  # no names: the layout from the axes' lengths
    out = tmp_path / "root"
    SCRIPT.main(["--video", str(cam0[0]), "--camid", "3", "--detector", str(model), "--out", str(out),
                 "--no-progress"])
    assert "YOLOv8/11 layout" in capsys.readouterr().out
    (tracklet,) = load_dataset("folder", out).train
    assert len(tracklet.frames) == FRAMES - 1 and tracklet.camid == 3


def test_onnx_files_that_are_not_yolo_detectors_are_refused(tmp_path: Path, cam0: tuple[Path, Path]) -> None:
    out = tmp_path / "root"
    argv = ["--video", str(cam0[0]), "--camid", "0", "--out", str(out), "--detector"]
    classifier = _onnx_model(tmp_path / "classifier.onnx", np.zeros((1, 10)))
    assert "classifier.onnx: output of shape (1, 10) is not a YOLO" in _refused(argv + [str(classifier)], out)
    text = tmp_path / "notes.onnx"
    text.write_text("not a model\n")
    assert "notes.onnx is not an ONNX model onnxruntime can load" in _refused(argv + [str(text)], out)
    cars = _onnx_model(tmp_path / "cars.onnx", np.zeros((1, 6, 100)), names={0: "car", 1: "bus"})
    assert "cars.onnx: class 0 is 'car'" in _refused(argv + [str(cars)], out)
    wrong_nc = _onnx_model(tmp_path / "nc.onnx", np.zeros((1, 300, 6)), names={i: "person" for i in range(80)})
    assert "nc.onnx: output of shape (1, 300, 6)" in _refused(argv + [str(wrong_nc)], out)


def test_library_detectors_need_an_existing_file_and_the_library(tmp_path: Path, cam0: tuple[Path, Path]) -> None:
    out = tmp_path / "root"
    argv = ["--video", str(cam0[0]), "--camid", "0", "--out", str(out), "--detector"]
    assert "yolov8n.pt: no such file" in _refused(argv + ["yolov8n.pt"], out)  # never downloaded
    if importlib.util.find_spec("ultralytics") is None:
        weights = tmp_path / "yolov8n.pt"
        weights.write_bytes(b"\0" * 16)
        assert "needs the ultralytics package, which is not installed" in _refused(argv + [str(weights)], out)
    with pytest.raises(DetectorError, match="min_height=0"):
        build_detector("hog", hog_min_height=0)


# ---- bad footage: one line naming the file, nothing written ----

def _corrupt(video: Path, start: float, end: float | None = None) -> Path:
    data = bytearray(video.read_bytes())
    a, b = int(len(data) * start), int(len(data) * end) if end else len(data)
    if end is None:
        del data[a:]  # truncated
    else:
        data[a:b] = np.random.default_rng(0).integers(0, 256, b - a, dtype=np.uint8).tobytes()
    video.write_bytes(bytes(data))
    return video


@pytest.mark.parametrize("case, expected", [
    ("truncated", "cam0.avi is truncated or corrupt: decoded"),
    ("corrupt", "cam0.avi is truncated or corrupt: decoded"),
    ("empty file", "cam0.avi is empty (0 bytes)"),
    ("no frames", "cam0.avi holds no frames"),
    ("not a video", "cam0.avi is not a video OpenCV can decode"),
    ("missing", "cam0.avi not found"),
])
def test_bad_videos_are_refused(tmp_path: Path, case: str, expected: str) -> None:
    video, out = tmp_path / "cam0.avi", tmp_path / "root"
    if case == "truncated":
        _corrupt(_video(video), 0.5)
    elif case == "corrupt":
        _corrupt(_video(video), 0.3, 0.6)
    elif case == "empty file":
        video.write_bytes(b"")
    elif case == "no frames":
        _video(video, {}, frames=0)
    elif case == "not a video":
        video.write_text("frame,id,x,y,w,h\n" * 50)
    dets = _detections(tmp_path / "det.txt")
    message = _refused(["--video", str(video), "--camid", "0", "--detections", str(dets), "--out", str(out)], out)
    assert expected in message


@pytest.mark.parametrize("extra, expected", [
    ("7,-1,nan,30,20,40,1", "det.txt:97: x is nan"),
    ("7,-1,10,30,-20,40,1", "det.txt:97: box of width -20"),
    ("7,-1,500,30,20,40,1", "det.txt:97: box x=500 y=30 w=20 h=40 lies outside the 240x180 frame"),
    ("31,-1,10,30,20,40,1", "det.txt:97: frame 31 is past the end of video"),
    ("0,-1,10,30,20,40,1", "det.txt:97: frame 0; expected an integer >= 1"),
    ("7,-1,10,30", "det.txt:97: 4 comma-separated fields"),
])
def test_bad_detections_files_are_refused(cam0: tuple[Path, Path], tmp_path: Path, extra: str, expected: str) -> None:
    dets, out = _detections(tmp_path / "det.txt", extra=(extra,)), tmp_path / "root"
    assert expected in _refused(["--video", str(cam0[0]), "--camid", "0", "--detections", str(dets),
                                 "--out", str(out)], out)


def test_an_output_folder_of_other_footage_is_refused(cam0: tuple[Path, Path], tmp_path: Path) -> None:
    video, dets = cam0
    out = tmp_path / "root"
    argv = ["--detections", str(dets), "--out", str(out), "--no-progress"]
    SCRIPT.main(["--video", str(video), "--camid", "0"] + argv)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    other = _video(tmp_path / "other.avi", {1: PEOPLE[1]})
    message = _refused(["--video", str(other), "--camid", "0"] + argv, out)
    assert f"already holds the tracks of camera 0 from another video, cam0.avi ({video.stat().st_size} bytes, " \
           f"{FRAMES} frames), not {other}" in message
    assert "from this video" not in message
    assert "delete" in _refused(["--video", str(video), "--camid", "0"] + argv, out)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    foreign = tmp_path / "foreign"
    (foreign / "train").mkdir(parents=True)
    assert "holds files but no footage.json" in _refused(["--video", str(video), "--camid", "0"] + argv[:2] +
                                                         ["--out", str(foreign)], foreign)


def test_a_failure_on_the_second_video_writes_nothing(cam0: tuple[Path, Path], tmp_path: Path) -> None:
    video, dets = cam0
    bad = _corrupt(_video(tmp_path / "cam1.avi"), 0.5)
    out = tmp_path / "root"
    message = _refused(["--video", str(video), "--camid", "0", "--video", str(bad), "--camid", "1",
                        "--detections", str(dets), "--detections", str(dets), "--out", str(out)], out)
    assert "cam1.avi is truncated" in message


def test_the_command_prints_one_line_and_exits_non_zero(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(os.urandom(2048))
    run = subprocess.run([sys.executable, str(REPO / "data_prep" / "track_video.py"), "--video", str(video),
                          "--camid", "0", "--out", str(tmp_path / "root")], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [f"error: video {video} is not a video OpenCV can decode"]
    assert not (tmp_path / "root").exists()


def test_exactly_one_installed_distribution_provides_cv2() -> None:
    providers = set()
    for dist in importlib.metadata.distributions():
        top = (dist.read_text("top_level.txt") or "").split()
        files = [str(f) for f in (dist.files or [])]
        if "cv2" in top or any(f.startswith("cv2/") for f in files):
            providers.add(dist.metadata["Name"])
    assert len(providers) == 1, f"several distributions install cv2: {sorted(providers)}"
    assert hasattr(cv2, "HOGDescriptor"), f"{providers} has no HOG people detector"
