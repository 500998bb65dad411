"""A YOLO person detector exported to ONNX, run with onnxruntime on the CPU.

Accepted: one image input ``(1, 3, H, W)`` (RGB in [0, 1]; a dynamic H or W runs at 640) and a
first output in one of the two layouts ultralytics' and YOLOv5's ``export format=onnx`` write:

- ``(1, 4 + nc, N)``: YOLOv8 / YOLO11 -- per candidate ``cx, cy, w, h`` and nc class scores;
- ``(1, N, 5 + nc)``: YOLOv5 -- ``cx, cy, w, h``, objectness, nc class scores (score = objectness
  x class score).

Boxes are in pixels of the letterboxed input. The class of a candidate is its best-scoring class;
person is class 0 (COCO). When the model carries ultralytics' ``names`` metadata, nc comes from it
and class 0 must be ``person``; without it the layout is told by which axis is longer (N is the
number of candidates, hundreds or more). NMS-free exports (YOLOv10, ``nms=True``: ``(1, N, 6)``
boxes already decided) are refused, as is any other output.
"""

from __future__ import annotations

import ast
from pathlib import Path

import cv2
import numpy as np

from reid.data.footage.detection import DetectorError, Detections

DEFAULT_SIZE = 640
PAD_VALUE = 114  # ultralytics' letterbox grey


def yolo_layout(shape: tuple, num_classes: int | None) -> str | None:
    """``"v8"`` for ``(1, 4+nc, N)``, ``"v5"`` for ``(1, N, 5+nc)``, None for anything else."""
    if len(shape) != 3 or shape[0] != 1:
        return None
    a, b = int(shape[1]), int(shape[2])
    if num_classes is not None:
        return "v8" if a == 4 + num_classes else "v5" if b == 5 + num_classes else None
    if 5 <= a < b:
        return "v8"
    if 6 <= b < a:
        return "v5"
    return None


def letterbox(frame: np.ndarray, height: int, width: int) -> tuple[np.ndarray, float, float, float]:
    """Resize keeping the aspect ratio and pad to height x width, as ultralytics does.

    Returns:
        (1, 3, height, width) float32 RGB in [0, 1], the scale, the left and the top padding.
    """
    h, w = frame.shape[:2]
    ratio = min(height / h, width / w)
    new_w, new_h = round(w * ratio), round(h * ratio)
    image = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR) if (new_w, new_h) != (w, h) else frame
    left, top = round((width - new_w) / 2 - 0.1), round((height - new_h) / 2 - 0.1)
    image = cv2.copyMakeBorder(image, top, height - new_h - top, left, width - new_w - left,
                               cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    blob = image[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    return np.ascontiguousarray(blob), ratio, left, top


def decode_persons(output: np.ndarray, layout: str, conf: float) -> tuple[np.ndarray, np.ndarray]:
    """Person candidates of one YOLO output: (M, 4) cx, cy, w, h and (M,) scores >= conf."""
    rows = output[0].T if layout == "v8" else output[0]  # (N, 4 + nc) or (N, 5 + nc)
    rows = rows.astype(np.float32)
    classes = rows[:, 4:] if layout == "v8" else rows[:, 5:] * rows[:, 4:5]
    best, score = classes.argmax(axis=1), classes.max(axis=1)
    keep = (best == 0) & (score >= conf)
    return rows[keep, :4], score[keep]


class OnnxYoloDetector:
    """Persons found by a YOLO ONNX model (module docstring: the layouts accepted).

    Args:
        path: the .onnx file.
        conf: minimum person score.
        iou: NMS IoU threshold (cv2.dnn.NMSBoxes).

    Raises:
        DetectorError: onnxruntime missing, a file it cannot load, or inputs / outputs of
            another layout (checked by running the model once on a grey image).
    """

    def __init__(self, path: Path, *, conf: float = 0.25, iou: float = 0.7) -> None:
        try:
            import onnxruntime
        except ImportError:
            raise DetectorError(f"detector {path}: .onnx models need onnxruntime, which is not installed "
                                "(pip install onnxruntime)") from None
        try:
            self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
            raise DetectorError(f"detector {path} is not an ONNX model onnxruntime can load ({reason}); "
                                "expected a YOLO person detector exported to ONNX") from None
        inputs = self.session.get_inputs()
        shape = inputs[0].shape if inputs else []
        if len(inputs) != 1 or len(shape) != 4 or shape[1] != 3 and isinstance(shape[1], int):
            raise DetectorError(f"detector {path}: inputs {[(i.name, i.shape) for i in inputs]}; "
                                "expected one image input (1, 3, H, W)")
        self.input_name = inputs[0].name
        self.dtype = np.float16 if "float16" in inputs[0].type else np.float32
        self.height, self.width = (d if isinstance(d, int) else DEFAULT_SIZE for d in shape[2:])
        names = _class_names(self.session.get_modelmeta().custom_metadata_map)
        if names is not None and names.get(0) != "person":
            raise DetectorError(f"detector {path}: class 0 is {names.get(0)!r}; expected a COCO-style "
                                "detector whose class 0 is 'person'")
        grey = np.full((1, 3, self.height, self.width), PAD_VALUE / 255.0, self.dtype)
        output = self.session.run(None, {self.input_name: grey})[0]
        self.layout = yolo_layout(output.shape, None if names is None else len(names))
        if self.layout is None:
            raise DetectorError(
                f"detector {path}: output of shape {tuple(output.shape)} is not a YOLO detection layout; "
                "expected (1, 4+nc, N) as YOLOv8/11 export it or (1, N, 5+nc) as YOLOv5 does")
        self.conf, self.iou = conf, iou
        self.name = f"onnx {path.name} ({'YOLOv8/11' if self.layout == 'v8' else 'YOLOv5'} layout, "\
                    f"{self.width}x{self.height})"

    def __call__(self, frame: np.ndarray) -> Detections:
        blob, ratio, left, top = letterbox(frame, self.height, self.width)
        output = self.session.run(None, {self.input_name: blob.astype(self.dtype)})[0]
        cxcywh, scores = decode_persons(output, self.layout, self.conf)
        if len(scores) == 0:
            return Detections.empty(probabilities=True)
        xywh = np.concatenate([cxcywh[:, :2] - cxcywh[:, 2:] / 2, cxcywh[:, 2:]], axis=1)
        kept = np.asarray(cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), self.conf, self.iou), int).reshape(-1)
        x1y1 = (xywh[kept, :2] - (left, top)) / ratio
        x2y2 = x1y1 + xywh[kept, 2:] / ratio
        h, w = frame.shape[:2]
        boxes = np.clip(np.concatenate([x1y1, x2y2], axis=1), 0, (w, h, w, h)).astype(np.float32)
        return Detections(boxes, scores[kept].astype(np.float32), True)


def _class_names(metadata: dict[str, str]) -> dict[int, str] | None:
    """Class id -> name from ultralytics' / YOLOv5's ``names`` metadata, None without it."""
    try:
        names = ast.literal_eval(metadata["names"])
    except (KeyError, ValueError, SyntaxError):
        return None
    if isinstance(names, list):
        names = dict(enumerate(names))
    return {int(k): str(v) for k, v in names.items()} if isinstance(names, dict) else None
