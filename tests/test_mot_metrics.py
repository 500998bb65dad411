"""reid/eval/mot_metrics.py: the trackers-library wrapper against hand-computed tiny cases, and bad inputs."""

import pytest

from reid.errors import ConfigError, DatasetError
from reid.eval.mot_metrics import evaluate_tracking

GT = "".join(f"{f},1,0,0,10,10,1,1,1\n" for f in range(1, 5))  # one person, frames 1-4, same box
# the tracker cuts it into ids 1 (frames 1-2) and 2 (frames 3-4) and adds a false box in frame 1
PRED = ("1,1,0,0,10,10,1,-1,-1,-1\n2,1,0,0,10,10,1,-1,-1,-1\n3,2,0,0,10,10,1,-1,-1,-1\n"
        "4,2,0,0,10,10,1,-1,-1,-1\n1,3,50,50,10,10,1,-1,-1,-1\n")


def _files(tmp_path, **texts):
    paths = {}
    for name, text in texts.items():
        paths[name] = tmp_path / f"{name}.txt"
        paths[name].write_text(text)
    return paths


def test_fragmented_track_by_hand(tmp_path):
    p = _files(tmp_path, gt=GT, pred=PRED)
    s = evaluate_tracking([(p["gt"], p["pred"])])
    # 4 gt boxes all matched, 5 predicted: recall 1, precision 4/5
    assert (s.det_recall, s.det_precision, s.gt_boxes, s.pred_boxes) == (1.0, 0.8, 4, 5)
    # MOTA = 1 - (FN 0 + FP 1 + IDSW 1) / 4
    assert s.id_switches == 1 and s.mota == pytest.approx(0.5)
    # IDF1: gt 1 <-> pred 1 share 2 frames: IDTP 2, IDFN 2, IDFP 3 -> 4 / 9
    assert s.idf1 == pytest.approx(4 / 9) and s.idp == pytest.approx(0.4) and s.idr == pytest.approx(0.5)
    # HOTA: IoU 1 everywhere so DetA = 4 / (4 + 1); each true positive's AssA = 2 / (2 + 2 + 0)
    assert s.deta == pytest.approx(0.8) and s.assa == pytest.approx(0.5)
    assert s.hota == pytest.approx((0.8 * 0.5) ** 0.5)


def test_perfect_and_empty_prediction(tmp_path):
    p = _files(tmp_path, gt=GT, pred=GT.replace(",1,1,1\n", ",1,-1,-1,-1\n"), empty="")
    perfect = evaluate_tracking([(p["gt"], p["pred"])])
    assert (perfect.idf1, perfect.hota, perfect.mota, perfect.id_switches) == (1.0, 1.0, 1.0, 0)
    none = evaluate_tracking([(p["gt"], p["empty"])])
    assert (none.det_recall, none.idf1, none.mota, none.pred_boxes) == (0.0, 0.0, 0.0, 0)


def test_cross_camera_needs_one_id_per_person(tmp_path):
    # person 1 is seen by two cameras; the tracker gives id 1 in camera 0 and id 2 in camera 1
    p = _files(tmp_path, gt=GT, pred_a=GT, pred_b=GT.replace(",1,0,0,", ",2,0,0,"))
    pairs = [(p["gt"], p["pred_a"]), (p["gt"], p["pred_b"])]
    assert evaluate_tracking(pairs).idf1 == pytest.approx(1.0)  # each camera on its own is perfect
    pooled = evaluate_tracking(pairs, cross_camera=True)
    assert pooled.idf1 == pytest.approx(0.5)  # 8 gt boxes, the best single id covers 4
    assert pooled.gt_boxes == 8 and pooled.det_recall == 1.0


@pytest.mark.parametrize("text, message", [
    ("1,1,0,0,10\n", "expected 'frame,id,x,y,w,h,...'"),
    ("1,a,0,0,10,10\n", "expected 'frame,id,x,y,w,h,...'"),
    ("0,1,0,0,10,10\n", "frame >= 1"),
    ("1.5,1,0,0,10,10\n", "expected integers"),
])
def test_bad_rows_give_one_line(tmp_path, text, message):
    p = _files(tmp_path, gt=GT, bad=text)
    with pytest.raises(DatasetError, match=message) as err:
        evaluate_tracking([(p["gt"], p["bad"])])
    assert "\n" not in str(err.value) and "bad.txt:1" in str(err.value)


def test_bad_arguments(tmp_path):
    p = _files(tmp_path, gt=GT)
    with pytest.raises(DatasetError, match="not found"):
        evaluate_tracking([(p["gt"], tmp_path / "missing.txt")])
    with pytest.raises(ConfigError, match="no .* pairs"):
        evaluate_tracking([])
    with pytest.raises(ConfigError, match="iou"):
        evaluate_tracking([(p["gt"], p["gt"])], iou=1.5)
