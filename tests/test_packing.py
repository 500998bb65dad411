"""Packed tracklets: decoded frames equal the JPEG-decoded frames within the reported error."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import cv2
import numpy as np
import pytest

from reid.data import DATASETS, load_dataset
from reid.data.storage import frame_io
from reid.data.storage.packing import pack_dataset, pack_tracklet
from reid.errors import ConfigError, DatasetError
from tests.reference.mini_mars import MINI_ENTRY, write_mini_mars


@pytest.fixture()
def packed(tmp_path, monkeypatch):
    """(image dataset, packed dataset, pack report, packed folder) of the mini MARS fixture."""
    monkeypatch.setitem(DATASETS, "mini", MINI_ENTRY)
    root = write_mini_mars(tmp_path / "data")
    report = pack_dataset("mini", root, tmp_path / "packed", codec="hfyu", cache=False)
    images = load_dataset("mini", root, cache=False)
    videos = load_dataset("mini", tmp_path / "packed", packed=True)
    return images, videos, report, tmp_path / "packed"


def _all(ds):
    return ds.train + ds.query + ds.gallery


def test_pack_report_and_lossless(packed):
    images, videos, report, _ = packed
    assert report["videos"] == 9 and report["frames"] == 3 + 4 + 5 + 3 + 4 + 3 + 3 + 5 + 2
    assert report["max_pixel_error"] == 0 and report["resized_frames"] == 0
    for img_t, vid_t in zip(_all(images), _all(videos), strict=True):
        assert (vid_t.pid, vid_t.camid, vid_t.name) == (img_t.pid, img_t.camid, img_t.name)
        assert vid_t.frames == tuple(Path(f).name for f in img_t.frames)
        assert Path(vid_t.video).is_file()
        idx = list(range(len(img_t)))
        for a, b in zip(frame_io.read_frames(img_t, idx), frame_io.read_frames(vid_t, idx), strict=True):
            assert a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).max() <= report["max_pixel_error"]


def test_get_batch_reads_only_requested(packed, monkeypatch):
    images, videos, _, _ = packed
    requested: list[list[int]] = []
    real = frame_io.video_reader

    class Spy:
        def __init__(self, reader):
            self.reader = reader

        def get_batch(self, indices):
            requested.append(list(indices))
            return self.reader.get_batch(indices)

        def __getitem__(self, item):  # a full read would go through here
            raise AssertionError("read_frames must not index the whole video")

    monkeypatch.setattr(frame_io, "video_reader", lambda path: Spy(real(path)))
    img_t, vid_t = images.train[2], videos.train[2]  # 5 frames
    for indices in ([4, 0, 2], [3, 3], [1]):
        got = frame_io.read_frames(vid_t, indices)
        want = frame_io.read_frames(img_t, indices)
        assert len(got) == len(indices)
        assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))
    assert requested == [[4, 0, 2], [3, 3], [1]]
    with pytest.raises(DatasetError, match="outside tracklet"):
        frame_io.read_frames(vid_t, [5])


def test_reader_lru_reuses_and_bounds(packed, monkeypatch):
    _, videos, _, _ = packed
    monkeypatch.setattr(frame_io, "MAX_OPEN_VIDEOS", 3)
    first = frame_io.video_reader(videos.train[0].video)
    assert frame_io.video_reader(videos.train[0].video) is first
    for t in _all(videos):
        frame_io.read_frames(t, [0])
    assert frame_io.open_video_count() == 3


def _child_reads(args):
    tracklet, inherited = args
    before = frame_io.open_video_count()
    frames = frame_io.read_frames(tracklet, [1, 0])
    return before, inherited, [f.sum() for f in frames]


def test_forked_worker_does_not_inherit_readers(packed):
    _, videos, _, _ = packed
    t = videos.gallery[0]
    frame_io.read_frames(t, [0])
    assert frame_io.open_video_count() >= 1
    with multiprocessing.get_context("fork").Pool(1) as pool:
        before, _, sums = pool.map(_child_reads, [(t, frame_io.open_video_count())])[0]
    assert before == 0
    assert sums == [f.sum() for f in frame_io.read_frames(t, [1, 0])]


def test_mjpg_error_is_reported_honestly(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(4):
        img = cv2.resize(rng.integers(0, 256, (4, 2, 3), dtype=np.uint8), (32, 64), interpolation=cv2.INTER_NEAREST)
        paths.append(str(tmp_path / f"{i}.jpg"))
        cv2.imwrite(paths[-1], img)
    result = pack_tracklet(tuple(paths), tmp_path / "v.avi", codec="mjpg")
    assert result["max_error"] > 0  # sharp colour edges + 4:2:0 chroma: not lossless
    import decord

    decoded = decord.VideoReader(str(tmp_path / "v.avi")).get_batch([0, 1, 2, 3]).asnumpy()
    actual = max(np.abs(decoded[i].astype(int) - frame_io.read_image(p).astype(int)).max() for i, p in enumerate(paths))
    assert actual == result["max_error"]


def test_mixed_sizes_are_resized_and_counted(tmp_path):
    paths = []
    for i, size in enumerate([(64, 32), (80, 40), (64, 32)]):
        paths.append(str(tmp_path / f"{i}.png"))
        cv2.imwrite(paths[-1], np.full((*size, 3), 60 * i, np.uint8))
    result = pack_tracklet(tuple(paths), tmp_path / "v.avi")
    assert result["resized_frames"] == 1 and result["max_error"] == 0


def test_errors_name_the_problem(packed, tmp_path):
    _, _, _, folder = packed
    with pytest.raises(DatasetError, match="split 3 was not packed"):
        load_dataset("mini", folder, split_id=3, packed=True)
    with pytest.raises(DatasetError, match="packed dataset is 'mini', not 'mars'"):
        load_dataset("mars", folder, packed=True)
    with pytest.raises(DatasetError, match="no packed dataset"):
        load_dataset("mini", tmp_path / "data", packed=True)
    with pytest.raises(DatasetError, match="frame width 16 cannot be read back"):
        pack_tracklet((str(tmp_path / "w.png"),), tmp_path / "w.avi") if cv2.imwrite(
            str(tmp_path / "w.png"), np.zeros((32, 16, 3), np.uint8)) else None
    with pytest.raises(ConfigError, match="unknown codec 'h265'"):
        pack_tracklet(("x.jpg",), tmp_path / "v.avi", codec="h265")
