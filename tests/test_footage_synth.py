"""reid/data/synthetic/footage*.py: the ground truth matches the rendered pixels, the footage has
what linking needs (re-entries, several cameras, occlusions), it is deterministic, and errors are one line."""

from collections import defaultdict
from dataclasses import replace

import cv2
import numpy as np
import pytest

from reid.data.synthetic.footage import FootageConfig, render_footage, sequence_dir
from reid.data.synthetic.footage_detections import simulate_detections
from reid.data.synthetic.footage_plan import PARTS, build_plan
from reid.errors import ConfigError, DatasetError

# fps 4: people cross a 192 px view in ~30 frames, so 100 frames hold several walks each
SMALL = FootageConfig(seed=3, width=192, height=144, fps=4, train_frames=60, test_frames=100, train_people=4,
                      test_people=6, revisit=0.5, gap=(2, 6))


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    return render_footage(tmp_path_factory.mktemp("footage") / "out", SMALL)


def _gt(root, part, cam):
    return np.loadtxt(sequence_dir(root, part, cam) / "gt" / "gt.txt", delimiter=",", ndmin=2)


def test_layout_and_boxes_inside_frames(footage):
    ids = {}
    for part in PARTS:
        ids[part] = set()
        for cam in range(SMALL.num_cameras):
            gt = _gt(footage, part, cam)
            assert gt.shape[1] == 9 and (gt[:, 6:8] == 1).all()
            f, x, y, w, h, vis = gt[:, 0], gt[:, 2], gt[:, 3], gt[:, 4], gt[:, 5], gt[:, 8]
            assert f.min() >= 1 and f.max() <= SMALL.frames(part)
            assert (x >= 0).all() and (y >= 0).all() and (w > 0).all() and (h > 0).all()
            assert (x + w <= SMALL.width).all() and (y + h <= SMALL.height).all()
            assert ((vis >= 0) & (vis <= 1)).all()
            pairs = list(zip(gt[:, 0].astype(int), gt[:, 1].astype(int)))
            assert len(pairs) == len(set(pairs))  # one box per person and frame
            ids[part] |= set(gt[:, 1].astype(int).tolist())
            capture = cv2.VideoCapture(str(sequence_dir(footage, part, cam) / "video.avi"))
            assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == SMALL.frames(part)
            assert capture.get(cv2.CAP_PROP_FRAME_WIDTH) == SMALL.width
    assert ids["train"] and ids["test"] and not ids["train"] & ids["test"]  # disjoint people
    assert (footage / "footage_meta.json").is_file()


def test_reentries_cameras_and_occlusions_exist(footage):
    runs = defaultdict(list)  # (person, camera) -> frame runs
    seen = defaultdict(set)  # (person, frame) -> cameras
    occluded = 0
    for cam in range(SMALL.num_cameras):
        gt = _gt(footage, "test", cam)
        occluded += int((gt[:, 8] < 0.5).sum())
        for pid in np.unique(gt[:, 1]).astype(int):
            frames = np.sort(gt[gt[:, 1] == pid, 0].astype(int))
            runs[(pid, cam)].append(1 + int((np.diff(frames) > 1).sum()))
            for f in frames:
                seen[(pid, int(f))].add(cam)
    assert any(r[0] >= 2 for r in runs.values())  # someone leaves a camera and comes back
    assert any(sum(1 for (p, _) in runs if p == pid) >= 2 for pid, _ in runs)  # someone seen by 2+ cameras
    assert all(len(c) == 1 for c in seen.values())  # nobody in two cameras at once
    assert occluded > 0


def test_gt_boxes_hold_the_drawn_people(footage):
    """Pixels that differ from the empty scene lie inside gt boxes; visible people change their box."""
    plan = build_plan(SMALL)
    for cam in range(SMALL.num_cameras):
        scene = plan.scenes[cam]
        empty = scene.camera.background.copy()
        empty[:, scene.pillar[0]:scene.pillar[1]] = scene.pillar_colour
        empty = cv2.LUT(empty, scene.camera.lut).astype(int)
        gt = _gt(footage, "test", cam)
        capture = cv2.VideoCapture(str(sequence_dir(footage, "test", cam) / "video.avi"))
        outside = total = 0
        for f in range(1, SMALL.test_frames + 1):
            ok, frame = capture.read()
            assert ok
            diff = np.abs(frame.astype(int) - empty).max(axis=2)
            changed = cv2.erode((diff > 60).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)  # no JPEG edges
            inside = np.zeros_like(changed)
            for _, _, x, y, w, h, *_ in gt[gt[:, 0] == f]:
                x, y, w, h = int(x), int(y), int(w), int(h)
                inside[max(0, y - 2):y + h + 2, max(0, x - 2):x + w + 2] = True
            for _, _, x, y, w, h, _, _, vis in gt[(gt[:, 0] == f) & (gt[:, 8] > 0.8)]:
                assert (diff[int(y):int(y + h), int(x):int(x + w)] > 25).mean() > 0.1  # a visible person is drawn
            core = np.s_[:, 30:-30]  # people less than 30% inside the frame are not annotated
            outside += int((changed[core] & ~inside[core]).sum())
            total += int(changed[core].sum())
        assert total > 0 and outside / total < 0.01


def test_deterministic_for_a_seed(tmp_path):
    cfg = replace(SMALL, train_frames=5, test_frames=12)
    a, b = render_footage(tmp_path / "a", cfg), render_footage(tmp_path / "b", cfg)
    c = render_footage(tmp_path / "c", replace(cfg, seed=4))
    gt = lambda root: (sequence_dir(root, "test", 0) / "gt" / "gt.txt").read_text()  # noqa: E731
    assert gt(a) == gt(b)
    assert build_plan(cfg).walks != build_plan(replace(cfg, seed=4)).walks
    assert (a / "footage_meta.json").read_text() == (b / "footage_meta.json").read_text() != \
        (c / "footage_meta.json").read_text()


def test_simulated_detections(footage, tmp_path):
    gt_path = sequence_dir(footage, "test", 0) / "gt" / "gt.txt"
    gt = _gt(footage, "test", 0)
    n = simulate_detections(gt_path, tmp_path / "det.txt", width=SMALL.width, height=SMALL.height, seed=0,
                            miss=0.0, false_positives=0.0, jitter=0.0, min_visibility=0.5)
    det = np.loadtxt(tmp_path / "det.txt", delimiter=",", ndmin=2)
    assert n == len(det) == int((gt[:, 8] >= 0.5).sum()) and (det[:, 1] == -1).all()
    noisy = simulate_detections(gt_path, tmp_path / "det2.txt", width=SMALL.width, height=SMALL.height, seed=0,
                                miss=0.5, false_positives=0.0)
    assert noisy < n
    with pytest.raises(ConfigError, match="miss=1.5"):
        simulate_detections(gt_path, tmp_path / "d.txt", width=10, height=10, seed=0, miss=1.5)
    with pytest.raises(DatasetError, match="not found"):
        simulate_detections(tmp_path / "none.txt", tmp_path / "d.txt", width=10, height=10, seed=0)


def test_bad_config_and_existing_output(footage):
    with pytest.raises(ConfigError, match="footage config: fps=0") as err:
        render_footage(footage.parent / "x", replace(SMALL, fps=0))
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="not empty"):
        render_footage(footage, SMALL)
