"""Image retrieval (CUB-200-2011, CARS196, class folders) and LPW through the re-ID pipeline.

Metrics against literal loops (tests/reference/retrieval_reference.py); parsers against tiny trees
in the official layouts (tests/retrieval_fixtures.py), broken cases included; end-to-end runs of
tools/train.py and tools/test.py on the synthetic retrieval preset, a CARS196 .mat fixture and
an LPW fixture.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from reference.retrieval_reference import leave_one_out_reference, nmi_reference
from sklearn.metrics import normalized_mutual_info_score

from reid.config import load_config
from reid.data import load_dataset
from reid.data.storage.frame_io import read_frames
from reid.data.synthetic.retrieval import generate, preset
from reid.data.transforms import IMAGENET_MEAN, IMAGENET_STD, ClipTransform
from reid.errors import ConfigError, DatasetError
from reid.eval.retrieval import evaluate_retrieval, leave_one_out, nmi_kmeans
from reid.eval.summary import summarise, summarise_retrieval, summary_line
from reid.report.run_report import _metrics
from retrieval_fixtures import (CARS_CLASSES, CARS_RECORDS, CUB_IMAGES, LPW_SPEC, cub_relative, make_cars, make_cub,
                                make_lpw, write_cars_mat, write_image)

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- metrics
@pytest.mark.parametrize("seed, dtype, chunk", [(0, np.float64, None), (1, np.float32, 3), (2, np.float32, None)])
def test_leave_one_out_equals_the_literal_loop(seed: int, dtype, chunk) -> None:
    rng = np.random.default_rng(seed)
    n = 41
    labels = rng.integers(0, 9, n)
    labels[:2] = [100, 101]  # two singleton classes: their queries are skipped and counted
    feats = np.round(rng.normal(size=(n, 3)), 1)  # coarse values: many tied distances
    dist = np.sqrt(((feats[:, None] - feats[None]) ** 2).sum(-1)).astype(dtype)
    res = leave_one_out(dist, labels, chunk_size=chunk)
    recalls, mAP, aps, skipped = leave_one_out_reference(dist, labels.tolist())
    assert res.num_skipped == skipped >= 2
    for k, value in recalls.items():
        assert res.rank(k) == pytest.approx(value, abs=1e-12)
    assert res.mAP == pytest.approx(mAP, abs=1e-12)
    for got, want in zip(res.ap, aps):
        assert (np.isnan(got) and want is None) or got == pytest.approx(want, abs=1e-12)


def test_leave_one_out_hand_example() -> None:
    """Points on a line; every number below is worked out by hand."""
    x = np.array([0.0, 1.0, 3.0, 3.5, 10.0])
    labels = np.array([0, 1, 0, 1, 1])
    dist = np.abs(x[:, None] - x[None])
    res = leave_one_out(dist, labels)
    # nearest others: 0 -> 1 (wrong), 2 (right); 1 -> 0 (wrong), 2, 3 (right at 3);
    # 2 -> 3 (wrong), 1 (wrong), 0 (right); 3 -> 2 (wrong), 1 (right); 4 -> 3 (right)
    assert res.cmc.tolist() == pytest.approx([1 / 5, 3 / 5, 5 / 5, 5 / 5])
    ap = [1 / 2, (1 / 3 + 2 / 4) / 2, 1 / 3, (1 / 2 + 2 / 4) / 2, (1 + 2 / 3) / 2]
    assert res.mAP == pytest.approx(np.mean(ap))
    with pytest.raises(ValueError, match="expected \\(N, N\\)"):
        leave_one_out(dist[:3], labels)


def test_nmi_against_sklearn_and_the_formula() -> None:
    rng = np.random.default_rng(0)
    blobs = np.repeat(np.arange(4), 6)  # four far-apart tight blobs: k-means finds them exactly
    feats = np.eye(4)[blobs] * 50 + rng.normal(0, 0.01, (24, 4))
    labels = np.array([0, 0, 0, 0, 1, 1] * 2 + [2, 2, 2, 3, 3, 3] * 2)  # classes mixed within blobs
    got = nmi_kmeans(feats, labels, seed=0)
    assert got == pytest.approx(normalized_mutual_info_score(labels, blobs), abs=1e-12)
    assert got == pytest.approx(nmi_reference(labels.tolist(), blobs.tolist()), abs=1e-12)
    assert nmi_kmeans(feats, blobs) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 2 classes"):
        nmi_kmeans(feats, np.zeros(24))


def test_evaluate_retrieval_cosine_geometry() -> None:
    """Cosine ignores norms: scaled copies of one direction are one class, found at Recall@1 100."""
    rng = np.random.default_rng(1)
    directions = rng.normal(size=(5, 8))
    feats = np.concatenate([directions * s for s in (1.0, 7.0, 0.2)])
    labels = np.tile(np.arange(5), 3)
    res = evaluate_retrieval(feats, labels, metric="cosine")
    assert res.ranking.rank(1) == 1.0 and res.nmi == pytest.approx(1.0) and res.distances.shape == (15, 15)
    assert len(res.ranking.cmc) == 14  # N - 1 others per query


def test_summaries_tables_and_lines() -> None:
    cmc = np.linspace(0.5, 1.0, 20)
    m = summarise_retrieval(cmc, 0.4, 0.7, num_skipped=3)
    assert [k for k in m if k.startswith("recall")] == ["recall1", "recall2", "recall4", "recall8", "recall16"]
    assert m["recall4"] == round(100 * cmc[3], 2) and m["rank1"] == m["recall1"]
    assert (m["mAP"], m["NMI"], m["num_skipped_queries"]) == (40.0, 70.0, 3)
    assert summary_line(m).startswith(f"Recall@1 {m['recall1']:.2f}  @2 ") and summary_line(m).endswith(
        "@32 n/a  mAP 40.00  NMI 70.00")
    table = _metrics({"plain": m})
    assert table.header == ["model", "R@1", "R@2", "R@4", "R@8", "R@16", "R@32", "mAP", "NMI", "MAP@R",
                            "skipped queries"]
    assert table.rows[0][6] == "n/a"
    reid = summarise(np.linspace(0.5, 1.0, 50), 0.25)  # re-ID output is unchanged
    assert summary_line(reid) == (f"rank-1 50.00  rank-5 {reid['rank5']:.2f}  rank-10 {reid['rank10']:.2f}  "
                                  f"rank-20 {reid['rank20']:.2f}  mAP 25.00")
    assert _metrics({"plain": reid}).header[1] == "rank-1"


# ---------------------------------------------------------------- CUB-200-2011
@pytest.fixture(scope="module")
def cub_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    parent = tmp_path_factory.mktemp("cub")
    make_cub(parent)
    return parent


@pytest.fixture()
def cub(cub_master: Path, tmp_path: Path) -> Path:
    """A private copy (tests corrupt it); returns the CUB_200_2011 folder."""
    shutil.copytree(cub_master, tmp_path / "copy")
    return tmp_path / "copy" / "CUB_200_2011"


def _cub_box(x: float, y: float, w: float, h: float, width: int, height: int) -> tuple[int, int, int, int]:
    return (max(0, math.floor(x)), max(0, math.floor(y)), min(width, math.ceil(x + w)), min(height, math.ceil(y + h)))


@pytest.mark.parametrize("crop_box", ["none", "bbox"])
def test_cub_split_labels_and_boxes(cub: Path, crop_box: str) -> None:
    ds = load_dataset("cub", cub.parent, crop_box=crop_box, cache=False)
    train_spec = [row for row in CUB_IMAGES if row[1] <= 3]
    test_spec = [row for row in CUB_IMAGES if row[1] > 3]
    train_labels = {c: k for k, c in enumerate(sorted({row[1] for row in train_spec}))}
    assert [(t.name, t.pid, t.camid) for t in ds.train] == [
        (cub_relative(i, c), train_labels[c], k) for k, (i, c, *_) in enumerate(train_spec)]
    assert [(t.name, t.pid, t.camid) for t in ds.query] == [
        (cub_relative(i, c), c, k) for k, (i, c, *_) in enumerate(test_spec)]
    assert ds.gallery == ds.query and all(len(t) == 1 for t in ds.train + ds.query)
    boxes = [t.box for t in ds.train + ds.query]
    if crop_box == "none":
        assert boxes == [None] * len(CUB_IMAGES)
        return
    expected = [_cub_box(x, y, bw, bh, w, h) for _, _, w, h, x, y, bw, bh in train_spec + test_spec]
    assert boxes == expected
    t = ds.train[2]  # image 7: box x 3.5..13.6, y 2.2..11.2 -> pixels (3, 2, 14, 12)
    assert t.box == (3, 2, 14, 12)
    crop = read_frames(t, [0])[0]
    assert crop.shape == (10, 11, 3)
    # the fixture's pixel (y, x) holds x in green and y in red: the crop starts at (2, 3)
    assert np.abs(crop[0, :, 1].astype(int) - np.arange(3, 14)).mean() < 3
    assert np.abs(crop[:, 0, 0].astype(int) - np.arange(2, 12)).mean() < 3


def test_cub_box_at_the_border_is_clamped(cub: Path) -> None:
    lines = (cub / "bounding_boxes.txt").read_text().replace("3 1.0 2.0 10.0 8.0", "3 -1.5 2.0 22.5 8.0")
    (cub / "bounding_boxes.txt").write_text(lines)  # image 3 is 20 wide: 1.5 px past each side
    ds = load_dataset("cub", cub, crop_box="bbox", cache=False)
    assert ds.train[0].box == (0, 2, 20, 10)


@pytest.mark.parametrize("case, match", [
    ("missing image", r"images\.txt: line 4: image .*Bird_2_0002\.jpg not found"),
    ("class out of range", r"image_class_labels\.txt: line 2: class id '7' out of range; expected 1\.\.6"),
    ("bbox outside", r"bounding_boxes\.txt: image id 3: bounding box x 1\.\.25, y 2\.\.10 is empty or outside "
                     r"the 20x16 image"),
    ("missing classes", r"classes\.txt not found"),
    ("bad line", r"images\.txt: line 1 '3' does not parse"),
    ("unlabelled image", r"image_class_labels\.txt: image id 12 of images\.txt has no class"),
])
def test_cub_broken(cub: Path, case: str, match: str) -> None:
    if case == "missing image":
        (cub / "images" / cub_relative(2, 2)).unlink()
    elif case == "class out of range":
        text = (cub / "image_class_labels.txt").read_text()
        (cub / "image_class_labels.txt").write_text(text.replace("1 1\n", "1 7\n"))
    elif case == "bbox outside":
        text = (cub / "bounding_boxes.txt").read_text()
        (cub / "bounding_boxes.txt").write_text(text.replace("3 1.0 2.0 10.0 8.0", "3 1.0 2.0 24.0 8.0"))
    elif case == "missing classes":
        (cub / "classes.txt").unlink()
    elif case == "bad line":
        text = (cub / "images.txt").read_text()
        (cub / "images.txt").write_text("3\n" + text.split("\n", 1)[1])
    elif case == "unlabelled image":
        text = (cub / "image_class_labels.txt").read_text()
        (cub / "image_class_labels.txt").write_text(text.replace("12 6\n", ""))
    with pytest.raises(DatasetError, match=match):
        load_dataset("cub", cub, crop_box="bbox", cache=False)
    if case == "bbox outside":  # boxes are read only for the cropped variant
        assert len(load_dataset("cub", cub, cache=False).train) == 6


def test_index_files_keep_boxes_and_older_files_still_read(cub_master: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from reid.data.storage import index_cache

    ds = load_dataset("cub", cub_master, crop_box="bbox", cache=False)
    index_cache.write_index(tmp_path / "new.csv", ds)
    back, _ = index_cache.read_index(tmp_path / "new.csv")
    assert back.train == ds.train and back.query == ds.query and back.train[2].box == (3, 2, 14, 12)
    # a file written before Tracklet had a box (a packed folder made then): same schema minus box
    old_schema = (tuple(n for n in index_cache._SCHEMA[0] if n != "box"), index_cache._SCHEMA[1])
    monkeypatch.setattr(index_cache, "_SCHEMA", old_schema)
    index_cache.write_index(tmp_path / "old.csv", ds, table=index_cache.dataset_to_table(ds).drop(columns="box"))
    monkeypatch.undo()
    old, _ = index_cache.read_index(tmp_path / "old.csv")
    assert [t.box for t in old.train] == [None] * len(ds.train)
    assert [(t.frames, t.pid, t.camid) for t in old.train] == [(t.frames, t.pid, t.camid) for t in ds.train]


# ---------------------------------------------------------------- CARS196
@pytest.fixture()
def cars(tmp_path: Path) -> Path:
    return make_cars(tmp_path)


def test_cars_split_labels_and_boxes(cars: Path) -> None:
    raw = load_dataset("cars196", cars.parent, cache=False)
    ds = load_dataset("cars196", cars, crop_box="bbox", cache=False)
    train = [r for r in CARS_RECORDS if r[5] <= CARS_CLASSES // 2]
    test = [r for r in CARS_RECORDS if r[5] > CARS_CLASSES // 2]
    assert [(t.name, t.pid, t.camid) for t in ds.train] == [(r[0], r[5] - 1, k) for k, r in enumerate(train)]
    assert [(t.name, t.pid, t.camid) for t in ds.query] == [(r[0], r[5], k) for k, r in enumerate(test)]
    assert ds.gallery == ds.query
    assert [t.box for t in ds.train + ds.query] == [(x1 - 1, y1 - 1, x2, y2) for _, x1, y1, x2, y2, *_ in train + test]
    assert [t.box for t in raw.train + raw.query] == [None] * len(CARS_RECORDS)
    assert read_frames(ds.query[0], [0])[0].shape == (19 - 4 + 1, 25 - 4 + 1, 3)


@pytest.mark.parametrize("case, match", [
    ("truncated", r"cars_annos\.mat: cannot read as a MATLAB \(v5\) file \(truncated or corrupt\?\)"),
    ("missing field", r"'annotations' is not a struct array with fields .*\(missing bbox_x1\)"),
    ("class out of range", r"cars_annos\.mat: annotations\(2\): class 5 out of range; expected 1\.\.4"),
    ("missing image", r"cars_annos\.mat: annotations\(3\): image .*000003\.jpg not found"),
    ("bbox outside", r"cars_annos\.mat: annotations\(1\): bounding box x 0\.\.40, y 0\.\.20 is empty or outside "
                     r"the 30x20 image"),
    ("escaping path", r"absolute or contains '\.\.'"),
])
def test_cars_broken(cars: Path, case: str, match: str) -> None:
    mat = cars / "cars_annos.mat"
    records = list(CARS_RECORDS)
    if case == "truncated":
        mat.write_bytes(mat.read_bytes()[: mat.stat().st_size // 2])
    elif case == "missing field":
        write_cars_mat(mat, records, drop_field="bbox_x1")
    elif case == "class out of range":
        records[1] = records[1][:5] + (5,) + records[1][6:]
        write_cars_mat(mat, records)
    elif case == "missing image":
        (cars / "car_ims" / "000003.jpg").unlink()
    elif case == "bbox outside":
        records[0] = records[0][:3] + (40,) + records[0][4:]
        write_cars_mat(mat, records)
    elif case == "escaping path":
        records[0] = ("../car_ims/000001.jpg",) + records[0][1:]
        write_cars_mat(mat, records)
    with pytest.raises(DatasetError, match=match):
        load_dataset("cars196", cars, crop_box="bbox", cache=False)


# ---------------------------------------------------------------- class folders
def test_image_folders_both_layouts(tmp_path: Path) -> None:
    for split, classes in (("train", {"b": 2, "a": 1}), ("test", {"10": 2, "9": 2})):
        for name, count in classes.items():
            for n in range(count):
                write_image(tmp_path / "split" / split / name / f"{n}.jpg", 8, 8)
    (tmp_path / "split" / "test" / "9" / "notes.txt").write_text("x")
    ds = load_dataset("images", tmp_path / "split", cache=False)
    assert [(t.name, t.pid) for t in ds.train] == [("train/a/0.jpg", 0), ("train/b/0.jpg", 1), ("train/b/1.jpg", 1)]
    assert [(t.name, t.pid) for t in ds.query] == [("test/9/0.jpg", 0), ("test/9/1.jpg", 0), ("test/10/0.jpg", 1),
                                                   ("test/10/1.jpg", 1)]
    assert ds.gallery == ds.query and ds.skipped == {"non-image files": 1}
    for name in ("1", "2", "10", "3", "20"):  # natural order 1, 2, 3, 10, 20: the first 2 train
        write_image(tmp_path / "flat" / name / "x.jpg", 8, 8)
    flat = load_dataset("images", tmp_path / "flat", cache=False)
    assert [t.name for t in flat.train] == ["1/x.jpg", "2/x.jpg"]
    assert [(t.name, t.pid) for t in flat.query] == [("3/x.jpg", 0), ("10/x.jpg", 1), ("20/x.jpg", 2)]
    (tmp_path / "flat" / "train").mkdir()
    with pytest.raises(DatasetError, match="found split folders .* and other folders"):
        load_dataset("images", tmp_path / "flat", cache=False)
    (tmp_path / "split" / "train" / "a" / "deeper").mkdir()
    with pytest.raises(DatasetError, match="a folder inside a class folder"):
        load_dataset("images", tmp_path / "split", cache=False)


# ---------------------------------------------------------------- LPW
def test_lpw_protocol(tmp_path: Path) -> None:
    make_lpw(tmp_path)
    ds = load_dataset("lpw", tmp_path, cache=False)
    pairs = sorted({(s, p) for (s, v), people in LPW_SPEC.items() if s in (2, 3) for p in people})
    label = {pair: k for k, pair in enumerate(pairs)}
    expected_train = [(f"scen{s}/view{v}/{p}", label[(s, p)], {2: 3, 3: 7}[s] + v - 1, n)
                      for (s, v), people in sorted(LPW_SPEC.items()) if s in (2, 3) for p, n in sorted(people.items())]
    assert [(t.name, t.pid, t.camid, len(t)) for t in ds.train] == expected_train
    assert ds.num_train_pids == 5
    assert [(t.name, t.pid, t.camid) for t in ds.query] == [(f"scen1/view2/{p}", p, 1) for p in (1, 2, 4)]
    assert [(t.name, t.pid, t.camid) for t in ds.gallery] == (
        [(f"scen1/view1/{p}", p, 0) for p in (1, 2, 3)] + [(f"scen1/view3/{p}", p, 2) for p in (2, 3, 4)])
    eleven = next(t for t in ds.query if t.pid == 2)
    assert [Path(f).name for f in eleven.frames] == [f"{n}.jpg" for n in range(1, 12)]  # numeric order


@pytest.mark.parametrize("case, match", [
    ("view out of range", r"scen1/view4: folder name does not parse; expected view1\.\.view3"),
    ("missing scene", r"scene folder .*scen3 not found"),
    ("bad person", r"scen2/view1/p7: person folder name does not parse"),
    ("no query view", r"scen1: view2 not found; the test protocol needs views 1, 2, 3"),
])
def test_lpw_broken(tmp_path: Path, case: str, match: str) -> None:
    root = make_lpw(tmp_path) / "pep_256x128"
    if case == "view out of range":
        (root / "scen1" / "view4").mkdir()
    elif case == "missing scene":
        shutil.rmtree(root / "scen3")
    elif case == "bad person":
        (root / "scen2" / "view1" / "p7").mkdir()
    elif case == "no query view":
        shutil.rmtree(root / "scen1" / "view2")
    with pytest.raises(DatasetError, match=match):
        load_dataset("lpw", tmp_path, cache=False)


# ---------------------------------------------------------------- transform, config checks
def test_resize_then_window() -> None:
    image = (np.arange(10 * 20 * 3) % 251).reshape(10, 20, 3).astype(np.uint8)  # shorter side already 10
    test = ClipTransform(8, 8, train=False, resize=10)(([image]))
    manual = (image[1:9, 6:14].astype(np.float32) / 255 - IMAGENET_MEAN) / IMAGENET_STD
    assert np.allclose(test[0].numpy().transpose(1, 2, 0), manual, atol=1e-6)
    train = ClipTransform(8, 8, train=True, flip=False, crop="random", resize=10, pad_crop=0)
    windows = {tuple(train([image], np.random.default_rng(s))[0, 0, 0, :2].tolist()) for s in range(20)}
    assert len(windows) > 3  # the window moves
    with pytest.raises(ConfigError, match="needs data.resize > 0"):
        ClipTransform(8, 8, crop="random")
    with pytest.raises(ConfigError, match="data.resize: 6 is smaller"):
        ClipTransform(8, 8, resize=6)


@pytest.mark.parametrize("overrides, match", [
    (["data.seq_len=4"], r"'data.seq_len': 4, but cub is an image-retrieval set"),
    (["eval.protocol=standard"], r"'eval.protocol': 'standard', but cub is an image-retrieval set"),
    (["eval.rerank=true"], r"'eval.rerank': True"),
    (["data.name=lpw", "eval.protocol=standard", "data.crop_box=bbox"], r"lpw has no bounding boxes"),
    (["data.name=mars", "data.seq_len=4", "data.test_seq_len=8"], r"'retrieval' ranks an image set against itself"),
    (["data.crop_box=boxes"], r"'data.crop_box': 'boxes' is not one of none, bbox"),
])
def test_settings_that_do_not_fit_the_data_are_refused(overrides: list[str], match: str) -> None:
    from reid.pipeline.builders import check_image_retrieval

    cfg = load_config(REPO / "configs" / "cub_osm_caa.yaml", overrides)
    with pytest.raises(ConfigError, match=match):
        check_image_retrieval(cfg)


def test_retrieval_protocol_needs_query_equal_gallery(cub_master: Path) -> None:
    from reid.pipeline.evaluation import evaluate_features_full

    ds = load_dataset("cub", cub_master, cache=False)
    cfg = load_config(REPO / "configs" / "cub_osm_caa.yaml")
    feats = np.random.default_rng(0).normal(size=(len(ds.query), 4)).astype(np.float32)
    full = evaluate_features_full(cfg, feats, feats, ds.query, ds.gallery)
    labels = np.array([t.pid for t in ds.query])
    dist = 1 - (feats / np.linalg.norm(feats, axis=1, keepdims=True)) @ (
        feats / np.linalg.norm(feats, axis=1, keepdims=True)).T
    recalls, mAP, _, skipped = leave_one_out_reference(dist, labels.tolist())
    m = full.results["plain"]
    assert m["recall1"] == round(100 * recalls[1], 2) and m["mAP"] == round(100 * mAP, 2)
    assert m["num_skipped_queries"] == skipped == 1  # class 6 has one test image
    with pytest.raises(ConfigError, match="gallery .* is not the query set"):
        evaluate_features_full(cfg, feats, feats[:3], ds.query, ds.gallery[:3])
    with pytest.raises(ConfigError, match="re-ranking is not part of the retrieval protocol"):
        evaluate_features_full(cfg, feats, feats, ds.query, ds.gallery, rerank_too=True)


# ---------------------------------------------------------------- synthetic preset
def test_synthetic_retrieval_preset(tmp_path: Path) -> None:
    from reid.data.synthetic.retrieval import PRESETS, ensure_generated

    cfg = load_config(None, ["synthetic.preset=retrieval_tiny", "synthetic.seed=3"])
    folder = ensure_generated(tmp_path, cfg.synthetic)
    assert ensure_generated(tmp_path, cfg.synthetic) == folder  # the second call finds it
    ds = load_dataset("synthetic_retrieval", tmp_path, crop_box="bbox", cache=False)
    cub = load_dataset("cub", tmp_path, crop_box="bbox", cache=False)  # the real parser reads it
    assert [t.frames for t in cub.train + cub.query] == [t.frames for t in ds.train + ds.query]
    num_classes = PRESETS["retrieval_tiny"].num_classes
    assert ds.num_train_pids == num_classes // 2 and len({t.pid for t in ds.query}) == num_classes // 2
    assert not {t.pid for t in ds.query} & {c for c in range(1, num_classes // 2 + 1)}  # disjoint classes
    with pytest.raises(ConfigError, match="generated with other parameters"):
        ensure_generated(tmp_path, load_config(None, ["synthetic.preset=retrieval_tiny"]).synthetic)
    with pytest.raises(ConfigError, match="'demo' is not a retrieval preset"):
        ensure_generated(tmp_path / "other", load_config(None, []).synthetic)


def test_synthetic_classes_are_visible_but_not_trivial(tmp_path: Path) -> None:
    """A colour histogram of the cropped bird finds its class far above chance (the classes are
    learnable), yet well below 100 % (the classes share colours: fine-grained)."""
    generate(tmp_path, preset("retrieval_tiny", images_per_class=(8, 8)))
    ds = load_dataset("cub", tmp_path, crop_box="bbox", cache=False)

    def chromaticity_histogram(image: np.ndarray) -> np.ndarray:
        x = image.reshape(-1, 3).astype(float)
        counts, _ = np.histogramdd((x / (x.sum(1, keepdims=True) + 1))[:, :2], bins=8, range=((0, 1), (0, 1)))
        return np.sqrt(counts.ravel() / counts.sum())

    feats = np.array([chromaticity_histogram(read_frames(t, [0])[0]) for t in ds.query])
    labels = np.array([t.pid for t in ds.query])
    chance = np.mean([(np.sum(labels == c) - 1) / (len(labels) - 1) for c in labels])
    recall1 = leave_one_out(np.sqrt(((feats[:, None] - feats[None]) ** 2).sum(-1)), labels).rank(1)
    assert 2 * chance < recall1 < 1.0


# ---------------------------------------------------------------- end to end
TINY = ["model.init=random", "model.backbone=resnet18", "model.embed_dim=16", "data.workers=0",
        "data.num_identities=2", "data.num_instances=2", "train.iterations=2", "train.log_every=1",
        "train.checkpoint_every=0", "train.precision=fp32", "train.tensorboard=false", "eval.batch_size=16",
        "eval.tsne_max_points=0", "eval.visualise=2", "eval.visualise_random=0", "device=cpu"]
IMAGE_TINY = ["data.height=32", "data.width=32", "data.resize=36"]


def _train(config: str, data_root: Path, out: Path, *extra: str) -> dict:
    from reid.cli import train
    train.main(["--config", str(REPO / "configs" / config), f"data.root={data_root}", f"output_dir={out}",
                *TINY, *extra])
    return json.loads((out / "metrics.json").read_text())["results"]


@pytest.mark.slow
def test_end_to_end_synthetic_cub_layout(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from reid.cli import make_synthetic
    make_synthetic.main(["--out", str(tmp_path / "data"), "--preset", "retrieval_tiny"])
    results = _train("cub_osm_caa.yaml", tmp_path / "data", tmp_path / "run", *IMAGE_TINY, "data.crop_box=bbox")
    m = results["plain"]
    assert set(m) >= {"recall1", "recall2", "recall4", "mAP", "NMI"} and 0 <= m["NMI"] <= 100
    assert (tmp_path / "run" / "best.pt").is_file() and (tmp_path / "run" / "report.html").is_file()
    from reid.cli import test as test_tool
    test_tool.main(["--checkpoint", str(tmp_path / "run" / "checkpoint.pt"), "--out", str(tmp_path / "eval")])
    line = next(x for x in capsys.readouterr().out.splitlines() if x.strip().startswith("plain:"))
    assert line.strip() == f"plain: {summary_line(m)}"  # the same model, the same numbers


@pytest.mark.slow
def test_end_to_end_cars_fixture(tmp_path: Path) -> None:
    make_cars(tmp_path / "data")
    m = _train("cars196_osm_caa.yaml", tmp_path / "data", tmp_path / "run", *IMAGE_TINY, "data.crop_box=bbox",
               "eval.visualise=0")["plain"]
    assert "recall1" in m and "NMI" in m and m["num_skipped_queries"] == 0


@pytest.mark.slow
def test_end_to_end_lpw_fixture(tmp_path: Path) -> None:
    make_lpw(tmp_path / "data")
    results = _train("lpw_osm_caa.yaml", tmp_path / "data", tmp_path / "run", "data.height=32", "data.width=16",
                     "data.seq_len=2", "data.test_seq_len=2", "data.test_max_frames=4", "eval.visualise=0")
    assert {"plain", "re-ranked"} <= set(results) and "rank1" in results["plain"] and "recall1" not in results["plain"]


# ---------------------------------------------------------------- review cases: values that parse as numbers
# but are not usable, and layouts the evaluation cannot serve, are one-line errors at load time
@pytest.mark.parametrize("case, match", [
    ("nan box", r"bounding_boxes\.txt: line \d+: box 'nan 2\.0 10\.0 8\.0' is not four finite numbers"),
    ("inf box", r"bounding_boxes\.txt: line \d+: box '1\.0 2\.0 inf 8\.0' is not four finite numbers"),
    ("superscript id", r"classes\.txt: line 1 '\u00b2 .*' does not parse"),
    ("id written twice", r"images\.txt: line 13: id 01 appears twice"),
    ("box empty once clamped", r"bounding_boxes\.txt: image id 3: bounding box x -2\.\.-1, y 2\.\.10 is empty or "
                               r"outside"),
])
def test_cub_numbers_that_do_not_serve(cub: Path, case: str, match: str) -> None:
    boxes = cub / "bounding_boxes.txt"
    if case == "nan box":
        boxes.write_text(boxes.read_text().replace("3 1.0 2.0 10.0 8.0", "3 nan 2.0 10.0 8.0"))
    elif case == "inf box":
        boxes.write_text(boxes.read_text().replace("3 1.0 2.0 10.0 8.0", "3 1.0 2.0 inf 8.0"))
    elif case == "superscript id":
        lines = (cub / "classes.txt").read_text().splitlines()
        lines[0] = "\u00b2 " + lines[0].split(maxsplit=1)[1]
        (cub / "classes.txt").write_text("\n".join(lines) + "\n")
    elif case == "id written twice":  # 1 and 01 are the same id
        first = (cub / "images.txt").read_text().splitlines()[0].split()[1]
        with open(cub / "images.txt", "a") as f:
            f.write(f"01 {first}\n")
    elif case == "box empty once clamped":  # within the 2-pixel tolerance, but nothing of it is in the image
        boxes.write_text(boxes.read_text().replace("3 1.0 2.0 10.0 8.0", "3 -2.0 2.0 1.0 8.0"))
    with pytest.raises(DatasetError, match=match):
        load_dataset("cub", cub, crop_box="bbox", cache=False)


def test_cars_nan_box_is_one_line(cars: Path) -> None:
    records = list(CARS_RECORDS)
    write_cars_mat(cars / "cars_annos.mat", records)
    import scipy.io

    mat = scipy.io.loadmat(str(cars / "cars_annos.mat"))
    mat["annotations"][0, 1]["bbox_x2"] = np.array([[np.nan]])
    scipy.io.savemat(str(cars / "cars_annos.mat"), {k: v for k, v in mat.items() if not k.startswith("__")})
    with pytest.raises(DatasetError, match=r"annotations\(2\): field bbox_x2 is nan; expected an integer"):
        load_dataset("cars196", cars, crop_box="bbox", cache=False)


def test_lpw_counts_what_it_does_not_read(tmp_path: Path) -> None:
    root = make_lpw(tmp_path) / "pep_256x128"
    (root / "scen4" / "view1" / "1").mkdir(parents=True)
    (root / "scen1" / "notes.txt").write_text("x")
    (root / "scen1" / "view2" / "notes.txt").write_text("x")
    (root / "scen2" / "view1" / ".hidden").write_text("x")  # hidden entries are not data
    ds = load_dataset("lpw", tmp_path, cache=False)
    assert ds.skipped == {"entries beside scen1-3 in pep_256x128 (not read)": 1,
                          "files beside view folders (not read)": 1, "files beside person folders (not read)": 1}


def test_retrieval_test_part_needs_two_classes(tmp_path: Path) -> None:
    from reid.pipeline.builders import load_data

    for name in ("a", "b"):  # two class folders: one trains, one class is left to test
        for n in range(3):
            write_image(tmp_path / "two" / name / f"{n}.jpg", 8, 8)
    cfg = load_config(REPO / "configs" / "cub_osm_caa.yaml",
                      ["data.name=images", f"data.root={tmp_path / 'two'}", "data.cache=false"])
    with pytest.raises(DatasetError, match=r"the test part has 3 image\(s\) of 1 class\(es\); leave-one-out "
                                           r"retrieval and its NMI need at least 2 test classes"):
        load_data(cfg)


def test_splits_are_refused_for_retrieval_sets() -> None:
    from reid.pipeline.testing import run_test_splits

    cfg = load_config(REPO / "configs" / "cub_osm_caa.yaml", [])
    with pytest.raises(ConfigError, match="--splits: cub is an image-retrieval set with one split"):
        run_test_splits(cfg, "unused.pt", [0, 1])


def test_map_at_r_and_r_precision_by_hand() -> None:
    """Points on a line, so every ranking can be read off (ties keep the index order)."""
    from reid.eval.retrieval import map_at_r

    x = np.array([0.0, 2.0, 50.0, 1.0])
    d = np.abs(x[:, None] - x[None, :])
    # q0 (R=2): x3 miss, x1 hit -> AP@R (0 + 1/2)/2 = 0.25, R-Precision 1/2; q1 the same;
    # q2 (R=2): x1 hit, x3 miss -> 0.5, 0.5; q3 has no classmate: left out.
    mapr, rprec = map_at_r(d, [0, 0, 0, 1])
    assert mapr == pytest.approx((0.25 + 0.25 + 0.5) / 3) and rprec == pytest.approx(0.5)
    # a tie at distance 1 for q0 between x1 (index 1) and x2 (index 2): index order puts x1 first
    assert map_at_r(np.array([[0, 1, 1], [1, 0, 5], [1, 5, 0]]), [0, 0, 1]) == (1.0, 1.0)
    assert np.isnan(map_at_r(d, [0, 1, 2, 3])[0])
    with pytest.raises(ValueError, match="expected"):
        map_at_r(d[:3], [0, 0, 0, 1])


@pytest.mark.parametrize("seed", [0, 1])
def test_map_at_r_equals_a_plain_loop(seed: int) -> None:
    from reid.eval.retrieval import map_at_r

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 6, 40)
    f = rng.normal(size=(40, 5))
    d = np.linalg.norm(f[:, None] - f[None], axis=-1)
    aps, rps = [], []
    for q in range(40):
        others = [j for j in sorted(range(40), key=lambda j: (d[q, j], j)) if j != q]
        r = sum(labels[j] == labels[q] for j in others)
        if r == 0:
            continue
        hits = [labels[j] == labels[q] for j in others[:r]]
        aps.append(sum(sum(hits[:i + 1]) / (i + 1) for i in range(r) if hits[i]) / r)
        rps.append(sum(hits) / r)
    mapr, rprec = map_at_r(d, labels, chunk_size=7)
    assert mapr == pytest.approx(np.mean(aps)) and rprec == pytest.approx(np.mean(rps))
    summary = summarise_retrieval(np.ones(32), 0.5, 0.5, map_at_r=mapr, r_precision=rprec)
    assert summary["MAP@R"] == round(100 * mapr, 2) and "MAP@R" in summary_line(summary)
