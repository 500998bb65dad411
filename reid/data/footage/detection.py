"""Person detectors for the video -> tracks step: OpenCV's HOG (no weights), an ONNX YOLO model,
or a weights file of a detector library the user installed (ultralytics).

Every detector maps one BGR frame to ``Detections``: boxes in pixels of that frame and a score
per box. Nothing is ever downloaded: a detector that is not ``hog`` must be an existing file.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from reid.errors import ReIDError

logger = logging.getLogger(__name__)

HOG_WINDOW_HEIGHT = 128  # the default people detector scans a 64 x 128 window


class DetectorError(ReIDError):
    """A detector file or library that cannot be used; the message names the file."""


@dataclass
class Detections:
    """Person boxes of one frame.

    Attributes:
        boxes: (N, 4) float32, x1, y1, x2, y2 in pixels of the frame.
        scores: (N,) float32.
        probabilities: whether scores are probabilities in [0, 1] (a YOLO model's) or
            uncalibrated margins (HOG's SVM score, a detections file's column).
    """

    boxes: np.ndarray
    scores: np.ndarray
    probabilities: bool

    @classmethod
    def empty(cls, probabilities: bool = False) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), probabilities)

    def __len__(self) -> int:
        return len(self.boxes)


class Detector(Protocol):
    """A person detector: ``detector(frame)`` with frame a BGR image (H, W, 3) uint8."""

    name: str

    def __call__(self, frame: np.ndarray) -> Detections: ...


class HogDetector:
    """OpenCV's HOG + linear SVM people detector (Dalal and Triggs 2005), no weights file.

    The frame is resized by ``128 / min_height`` before detection: people shorter than the
    64 x 128 window are missed unless the frame is upscaled (``min_height < 128``), and larger
    ``min_height`` detects on a smaller frame, faster. Boxes are shrunk as in OpenCV's
    ``peopledetect`` sample (15 % of the width and 5 % of the height on each side).

    Args:
        min_height: shortest person box, in pixels of the video, the detector should find.
        scale_step: ratio between the pyramid levels (OpenCV's sample uses 1.05; larger is faster).
        stride: window step in pixels (a multiple of 8).
        hit_threshold: SVM margin a window needs to count as a person.
    """

    def __init__(self, *, min_height: float = 128.0, scale_step: float = 1.1, stride: int = 8,
                 hit_threshold: float = 0.0) -> None:
        if not hasattr(cv2, "HOGDescriptor"):
            raise DetectorError(
                f"this OpenCV ({cv2.__version__}) has no HOGDescriptor: OpenCV 5 keeps it in the contrib "
                "build; install opencv-contrib-python-headless instead of opencv-python-headless"
            )
        if min_height <= 0 or scale_step <= 1 or stride <= 0 or stride % 8:
            raise DetectorError(f"HOG options min_height={min_height}, scale_step={scale_step}, stride={stride}; "
                                "expected min_height > 0, scale_step > 1, stride a positive multiple of 8")
        self.resize = HOG_WINDOW_HEIGHT / min_height
        self.scale_step, self.stride, self.hit_threshold = scale_step, stride, hit_threshold
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.name = f"hog (min height {min_height:g} px, scale step {scale_step:g}, stride {stride})"

    def __call__(self, frame: np.ndarray) -> Detections:
        image = frame
        if self.resize != 1.0:
            interpolation = cv2.INTER_AREA if self.resize < 1 else cv2.INTER_LINEAR
            image = cv2.resize(frame, None, fx=self.resize, fy=self.resize, interpolation=interpolation)
        rects, weights = self.hog.detectMultiScale(
            image, hitThreshold=self.hit_threshold, winStride=(self.stride, self.stride),
            padding=(8, 8), scale=self.scale_step)
        if len(rects) == 0:
            return Detections.empty()
        x, y, w, h = np.asarray(rects, np.float32).T
        pad_w, pad_h = 0.15 * w, 0.05 * h  # the sample's "slightly larger rectangles" correction
        boxes = np.stack([x + pad_w, y + pad_h, x + w - pad_w, y + h - pad_h], axis=1) / self.resize
        return Detections(boxes.astype(np.float32), np.asarray(weights, np.float32).reshape(-1), False)


class UltralyticsDetector:
    """A YOLO weights file (``.pt``) run by the ultralytics package, persons (class 0) only."""

    def __init__(self, path: Path, *, conf: float = 0.25, iou: float = 0.7) -> None:
        try:
            from ultralytics import YOLO  # optional: only for users who installed it
        except ImportError:
            raise DetectorError(
                f"detector {path}: a {path.suffix} weights file needs the ultralytics package, which is not "
                "installed (pip install ultralytics), or export the model to ONNX and pass the .onnx file"
            ) from None
        try:
            self.model = YOLO(str(path))
        except Exception as exc:  # the library's own errors, any type
            raise DetectorError(f"detector {path}: ultralytics cannot load it ({exc})") from None
        self.conf, self.iou = conf, iou
        self.name = f"ultralytics {path.name}"

    def __call__(self, frame: np.ndarray) -> Detections:
        result = self.model.predict(frame, classes=[0], conf=self.conf, iou=self.iou, verbose=False)[0]
        boxes = result.boxes
        return Detections(boxes.xyxy.cpu().numpy().astype(np.float32),
                          boxes.conf.cpu().numpy().astype(np.float32), True)


def build_detector(spec: str | os.PathLike = "hog", *, conf: float = 0.25, iou: float = 0.7,
                   hog_min_height: float = 128.0, hog_scale_step: float = 1.1, hog_stride: int = 8,
                   hog_threshold: float = 0.0) -> Detector:
    """The detector ``spec`` names: ``hog``, a ``.onnx`` file, or another weights file (ultralytics).

    Args:
        spec: ``hog`` or the path of an existing model file.
        conf, iou: score threshold and NMS IoU of the YOLO detectors.
        hog_min_height, hog_scale_step, hog_stride, hog_threshold: HogDetector's options.

    Raises:
        DetectorError: a file that does not exist (nothing is downloaded), is not a detector of
            an accepted layout, or needs a library that is not installed.
    """
    if str(spec) == "hog":
        return HogDetector(min_height=hog_min_height, scale_step=hog_scale_step, stride=hog_stride,
                           hit_threshold=hog_threshold)
    path = Path(spec)
    if not path.is_file():
        raise DetectorError(f"detector {path}: no such file; expected 'hog', a .onnx model or a weights file "
                            "that exists (nothing is downloaded)")
    if path.suffix.lower() == ".onnx":
        from reid.data.footage.onnx_detector import OnnxYoloDetector

        return OnnxYoloDetector(path, conf=conf, iou=iou)
    return UltralyticsDetector(path, conf=conf, iou=iou)
