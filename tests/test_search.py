"""Gallery search (tools/search.py): exact and FAISS search against literal references, the index
format (atomic, verified, no pickle, model fingerprint), and index/add/query end to end on
synthetic people, from a video and MOT tracks through the crop tool to a ranked person."""

from __future__ import annotations

import hashlib
import io
import json
import re
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from reid.cli.common import run_main
from reid.config import config_to_dict, load_config
from reid.engine.checkpoint import save_checkpoint
from reid.pipeline.builders import build_model_for, seed_everything
from reid.search import index_file as gallery_index
from reid.search.faiss_index import build_faiss_index, exact_topk, faiss_search, recall_at_k
from reid.search.index_file import GalleryIndexError, load_index, model_fingerprint
from tests.test_training import TINY

pytest.importorskip("faiss")

# People as solid shirt / trousers colours (BGR), distinct by construction: the crops of one person
# in two videos are the same pixels up to JPEG noise, so any fixed network embeds them at distance
# ~1e-6, while another person's crops differ in most pixels (~0.06 cosine with the random-init tiny
# resnet18 here: four orders of magnitude of margin, not a matter of CPU rounding).
PEOPLE = {"a": ((0, 0, 255), (255, 0, 0)), "b": ((0, 255, 0), (255, 255, 255)), "c": ((0, 255, 255), (255, 0, 255))}
W, H = 20, 32  # a person's box in the videos (an even width decord reads back once packed)


def _literal_distances(q: np.ndarray, g: np.ndarray, metric: str) -> np.ndarray:
    """(Q, G) float64 distances, one query row at a time."""
    out = np.empty((len(q), len(g)))
    g = g.astype(np.float64)
    for i, a in enumerate(q.astype(np.float64)):
        if metric == "cosine":
            out[i] = 1.0 - g @ a / (np.linalg.norm(g, axis=1) * np.linalg.norm(a))
        else:
            sq = ((g - a) ** 2).sum(axis=1)
            out[i] = np.sqrt(sq) if metric == "euclidean" else sq
    return out


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "sqeuclidean"])
def test_exact_topk_is_the_argsort_of_the_full_distance_matrix(metric):
    rng = np.random.default_rng(1)
    q, g = rng.normal(size=(23, 12)).astype(np.float32), rng.normal(size=(157, 12)).astype(np.float32)
    full = _literal_distances(q, g, metric)
    dist, ids = exact_topk(q, g, 9, metric, chunk_size=5)  # five queries per chunk
    np.testing.assert_array_equal(ids, np.argsort(full, axis=1)[:, :9])
    np.testing.assert_allclose(dist, np.sort(full, axis=1)[:, :9], rtol=1e-4, atol=1e-5)


def _literal_recall(ids: np.ndarray, full: np.ndarray, k: int) -> float:
    """Fraction of the returned ids (Q, k) whose distance is within the exact k nearest (ties count)."""
    found = 0
    for r in range(len(ids)):
        kth = np.sort(full[r])[k - 1]
        found += sum(1 for j in ids[r] if j >= 0 and full[r, j] <= kth + 1e-5 * max(1.0, abs(kth)))
    return found / (len(ids) * k)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_faiss_recall_against_exact_search(metric):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(1500, 8)).astype(np.float32)
    rows = np.sort(np.random.default_rng(3).choice(1500, size=200, replace=False))  # as recall_at_k draws them
    full = _literal_distances(features[rows], features, metric)
    cases = {"ivf all lists": build_faiss_index(features, metric, "ivf", nlist=24, nprobe=24),
             "ivf one list": build_faiss_index(features, metric, "ivf", nlist=24, nprobe=1),
             "hnsw": build_faiss_index(features, metric, "hnsw", hnsw_m=4, ef_search=4)}
    recalls = {}
    for name, index in cases.items():
        r = recall_at_k(index, features, metric, k=10, num_queries=200, seed=3)
        assert 0.0 <= r.value <= 1.0 and (r.k, r.queries) == (10, 200)
        assert r.value == pytest.approx(_literal_recall(faiss_search(index, features[rows], 10, metric)[1], full, 10))
        recalls[name] = r.value
        print(f"{metric}: {r.text(name)}")
    assert recalls["ivf all lists"] == 1.0  # nprobe = nlist scans every item: exact
    assert recalls["ivf one list"] < 0.95  # one list of 24 misses the neighbours across list borders
    # FAISS distances are converted to the metric's: equal to the literal ones
    dist, ids = faiss_search(cases["ivf all lists"], features[rows], 5, metric)
    np.testing.assert_allclose(dist, np.take_along_axis(full, ids, axis=1), atol=2e-4)


def test_model_fingerprint_covers_every_tensor_and_the_summary():
    def net(seed: int = 0) -> torch.nn.Module:
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))

    base = model_fingerprint(net(), {"height": 64})
    assert model_fingerprint(net(), {"height": 64}) == base  # the same weights in another module
    changed = net()
    with torch.no_grad():
        changed[0].weight[1, 2] += 1e-6
    assert model_fingerprint(changed, {"height": 64}) != base
    buffers = net()
    buffers[1].running_var[0] = 2.0  # not a parameter, still part of the model
    assert model_fingerprint(buffers, {"height": 64}) != base
    assert model_fingerprint(net().double(), {"height": 64}) != base
    assert model_fingerprint(net(1), {"height": 64}) != base
    assert model_fingerprint(net(), {"height": 128}) != base


# ---------------------------------------------------------------- end to end through tools/search.py
def _main(argv: list[str], capsys) -> tuple[int, str, str]:
    from reid.cli.search import main

    code = run_main(main, argv)
    out, err = capsys.readouterr()
    return code, out, err


def _error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _model_pt(path: Path, seed: int) -> Path:
    """A random-init tiny resnet18 (64 x 32) saved as training saves model.pt."""
    cfg = load_config(None, [*TINY, f"output_dir={path.parent}"])
    seed_everything(seed)
    model, _ = build_model_for(cfg, num_classes=3)
    save_checkpoint(path, {"model": model.state_dict(), "iteration": 0, "config": config_to_dict(cfg),
                           "num_classes": 3})
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {"run": _model_pt(root / "run" / "model.pt", 0), "other": _model_pt(root / "other" / "model.pt", 1)}


def _person(shirt: tuple, trousers: tuple, jitter: int = 0) -> np.ndarray:
    image = np.empty((H, W, 3), np.uint8)
    image[: H * 3 // 5] = np.clip(np.array(shirt) + jitter, 0, 255)
    image[H * 3 // 5:] = np.clip(np.array(trousers) - jitter, 0, 255)
    return image


def _crops(folder: Path, person: str, n: int = 6) -> Path:
    for i in range(n):
        folder.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(folder / f"{i + 1:06d}.jpg"), _person(*PEOPLE[person], jitter=i))
    return folder


def test_unlabelled_gallery_index_add_query_and_errors(tmp_path, models, capsys):
    gallery = tmp_path / "unlabelled"
    _crops(gallery / "0_0001", "a")
    _crops(gallery / "1_0002", "b")
    _crops(gallery / "loose-crops", "c")  # no camera in the name
    (gallery / "empty").mkdir()
    index = tmp_path / "index"
    code, out, err = _main(["index", "--checkpoint", str(models["run"]), "--gallery", str(gallery), "--out",
                            str(index), "--faiss", "ivf"], capsys)
    assert code == 0, err
    assert re.search(r"indexed 3 tracklets \(32-d, cosine\)", out)
    assert re.search(r"ivf recall@3 vs exact 1\.000 on 3 queries", out)  # 3 lists, all scanned
    built = load_index(index)
    assert built.names == ["0_0001", "1_0002", "loose-crops"]
    assert built.pids.tolist() == [-1, -1, -1] and built.cameras.tolist() == [0, 1, -1]
    assert built.features.dtype == np.float32 and built.features.shape == (3, 32)

    more = tmp_path / "more"
    _crops(more / "2_0003", "a")
    code, out, err = _main(["add", "--index", str(index), "--checkpoint", str(models["run"]), "--gallery",
                            str(more)], capsys)
    assert code == 0 and "added 1 tracklets" in out and "4 in all" in out, err
    assert load_index(index).names[-1] == "2_0003"
    assert sorted(p.name for p in index.iterdir()) == [  # the first generation is gone
        "cameras-000002.npy", "faiss-000002.index", "features-000002.npy", "items-000002.json", "meta.json",
        "pids-000002.npy"]
    code, _, err = _main(["add", "--index", str(index), "--checkpoint", str(models["run"]), "--gallery",
                          str(more)], capsys)
    assert code == 1 and "already in the index, e.g. '2_0003'" in _error_line(err)

    query = _crops(tmp_path / "query" / "someone", "b", n=5)
    code, out, err = _main(["query", "--index", str(index), "--checkpoint", str(models["run"]), "--tracklet",
                            str(query), "--topk", "3", "--out", str(tmp_path / "q")], capsys)
    assert code == 0, err
    results = json.loads((tmp_path / "q" / "results.json").read_text())
    assert [m["rank"] for m in results["matches"]] == [1, 2, 3]
    assert results["matches"][0]["name"] == "1_0002"  # the same colours ranks first
    assert re.search(r"^\s+1\s+1_0002\s+\d\.\d{4}\s+-1\s+1$", out, re.M), out
    strip = cv2.imread(str(tmp_path / "q" / "strip.png"))
    assert strip.shape == (128 + 30, (4 + 3) * 96 + 12, 3)  # 4 key frames of the query, then 3 results
    distances = [m["distance"] for m in results["matches"]]
    assert distances == sorted(distances)

    code, out, err = _main(["query", "--index", str(index), "--checkpoint", str(models["run"]), "--tracklet",
                            str(query), "--rerank", "--out", str(tmp_path / "q2")], capsys)
    assert code == 0 and "k-reciprocal re-ranking among the 4 exact nearest of 4" in out, err
    assert json.loads((tmp_path / "q2" / "results.json").read_text())["matches"][0]["name"] == "1_0002"

    # another model's features are refused, naming both fingerprints
    code, _, err = _main(["query", "--index", str(index), "--checkpoint", str(models["other"]), "--tracklet",
                          str(query), "--out", str(tmp_path / "q3")], capsys)
    line = _error_line(err)
    made = built.meta["model"]["fingerprint"][:12]
    found = re.search(r"made by model ([0-9a-f]{12}) .* this checkpoint is model ([0-9a-f]{12})", line)
    assert code == 1 and found and found.group(1) == made and found.group(2) != made, line
    assert not (tmp_path / "q3" / "results.json").exists()
    # missing or corrupt index folders are one line each
    code, _, err = _main(["query", "--index", str(tmp_path / "nowhere"), "--checkpoint", str(models["run"]),
                          "--tracklet", str(query), "--out", str(tmp_path / "q4")], capsys)
    assert code == 1 and "nowhere does not exist" in _error_line(err)
    features = index / "features-000002.npy"
    features.write_bytes(features.read_bytes()[:-8])
    code, _, err = _main(["query", "--index", str(index), "--checkpoint", str(models["run"]), "--tracklet",
                          str(query), "--out", str(tmp_path / "q4")], capsys)
    assert code == 1 and "is corrupt: features-000002.npy does not match" in _error_line(err)
    (index / "meta.json").write_text("{trunc")
    code, _, err = _main(["add", "--index", str(index), "--checkpoint", str(models["run"]), "--gallery",
                          str(more)], capsys)
    assert code == 1 and "meta.json is corrupt" in _error_line(err)
    code, _, err = _main(["index", "--checkpoint", str(models["run"]), "--gallery", str(gallery), "--out",
                          str(index)], capsys)
    assert code == 1 and "already exists" in _error_line(err)


def test_index_files_never_unpickle_and_writes_are_atomic(tmp_path, models, capsys, monkeypatch):
    gallery = tmp_path / "g"
    _crops(gallery / "0_0001", "a")
    _crops(gallery / "0_0002", "b")
    index = tmp_path / "index"
    monkeypatch.setattr(gallery_index, "_write_meta", _fail)
    code, _, err = _main(["index", "--checkpoint", str(models["run"]), "--gallery", str(gallery), "--out",
                          str(index)], capsys)
    assert code == 1 and "simulated crash" in _error_line(err)
    assert not index.exists() and list(tmp_path.iterdir()) == [gallery]  # no half index
    monkeypatch.undo()
    assert _main(["index", "--checkpoint", str(models["run"]), "--gallery", str(gallery), "--out", str(index),
                  "--faiss", "hnsw"], capsys)[0] == 0
    before = load_index(index)
    _crops(tmp_path / "new" / "1_0003", "c")
    monkeypatch.setattr(gallery_index, "_write_meta", _fail)  # a crash after the new parts are written
    code, _, err = _main(["add", "--index", str(index), "--checkpoint", str(models["run"]), "--gallery",
                          str(tmp_path / "new")], capsys)
    assert code == 1 and "simulated crash" in _error_line(err)
    assert "faiss-000002.index" in {p.name for p in index.iterdir()}  # the new parts were written
    monkeypatch.undo()
    after = load_index(index)  # still the old index
    assert after.names == before.names and np.array_equal(after.features, before.features)
    assert _main(["add", "--index", str(index), "--checkpoint", str(models["run"]), "--gallery",
                  str(tmp_path / "new")], capsys)[0] == 0
    extended = load_index(index)
    assert extended.names == ["0_0001", "0_0002", "1_0003"] and extended.meta["faiss"]["recall"]["queries"] == 3
    query = _crops(tmp_path / "query" / "c-again", "c", n=3)
    code, out, err = _main(["query", "--index", str(index), "--checkpoint", str(models["run"]), "--tracklet",
                            str(query), "--out", str(tmp_path / "q")], capsys)
    assert code == 0 and "hnsw index over 3" in out, err
    assert json.loads((tmp_path / "q" / "results.json").read_text())["matches"][0]["name"] == "1_0003"  # added id
    assert sorted(p.name for p in index.iterdir()) == [  # one generation, no file of the crashed add left
        "cameras-000002.npy", "faiss-000002.index", "features-000002.npy", "items-000002.json", "meta.json",
        "pids-000002.npy"]

    # an object array with a matching sha256 in meta.json: refused, and its code never runs
    marker = tmp_path / "ran"
    payload = np.array([_Exploit(str(marker))], dtype=object)
    buf = io.BytesIO()
    np.save(buf, payload, allow_pickle=True)
    meta = json.loads((index / "meta.json").read_text())
    entry = meta["files"]["pids"]
    (index / entry["name"]).write_bytes(buf.getvalue())
    entry.update(bytes=len(buf.getvalue()), sha256=hashlib.sha256(buf.getvalue()).hexdigest())
    (index / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(GalleryIndexError, match="is not a plain int64 array") as info:
        load_index(index)
    assert "\n" not in str(info.value) and not marker.exists()


class _Exploit:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path(self.path).touch, ())


def _fail(*_args):
    raise GalleryIndexError("simulated crash while writing meta.json")


# ---------------------------------------------------------------- own footage: video -> crops -> index -> query
def _video(path: Path, tracks: dict[int, str], offsets: dict[int, tuple[int, int]], frames: int = 10) -> Path:
    """An MJPG video of people walking right, and its MOT tracks file beside it (``.txt``)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (112, 64))
    assert writer.isOpened()
    lines = []
    for f in range(1, frames + 1):
        image = np.full((64, 112, 3), 90, np.uint8)
        for track, person in tracks.items():
            x, y = offsets[track][0] + f, offsets[track][1]
            image[y:y + H, x:x + W] = _person(*PEOPLE[person])
            lines.append(f"{f},{track},{x},{y},{W},{H},0.9,-1,-1,-1")
        writer.write(image)
    writer.release()
    path.with_suffix(".txt").write_text("\n".join(lines) + "\n")
    return path


# The commands of README.md "Search a gallery" / docs/own_footage.md, run in a folder holding
# cam0.avi + cam0.txt (people a, b, c as tracks 1, 2, 3) and cam1.avi + cam1.txt (the same people,
# elsewhere in the frame, as tracks 9, 7, 8) and run/model.pt.
COMMANDS = [
    "crop --video cam0.avi --tracks cam0.txt --camid 0 --split gallery --out footage",
    "search index --checkpoint run/model.pt --gallery footage --out index --faiss hnsw",
    "search query --index index --checkpoint run/model.pt --video cam1.avi --tracks cam1.txt "
    "--track-id 7 --out query",
]


def test_the_docs_show_the_commands_this_test_runs():
    root = Path(__file__).parents[1]
    for doc in ("README.md", "docs/own_footage.md"):
        text = (root / doc).read_text()
        for command in COMMANDS:
            assert f".venv/bin/osmcaa-reid {command}" in text, (doc, command)


def test_own_footage_video_to_crops_to_index_to_query(tmp_path, models, capsys, monkeypatch):

    monkeypatch.chdir(tmp_path)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.pt").write_bytes(models["run"].read_bytes())
    _video(tmp_path / "cam0.avi", {1: "a", 2: "b", 3: "c"}, {1: (2, 4), 2: (40, 8), 3: (76, 28)})
    _video(tmp_path / "cam1.avi", {9: "a", 7: "b", 8: "c"}, {9: (80, 2), 7: (4, 30), 8: (44, 16)})
    from reid.cli import crop as crop_cli
    crop, index, query = (c.split()[1:] for c in COMMANDS)
    crop_cli.main(crop)
    assert "wrote 3 tracklets, 30 crops to footage" in capsys.readouterr().out
    code, out, err = _main(index, capsys)
    assert code == 0 and "indexed 3 tracklets" in out and re.search(r"hnsw recall@3 vs exact [\d.]+ on 3", out), err
    code, out, err = _main(query, capsys)
    assert code == 0, err
    results = json.loads((tmp_path / "query" / "results.json").read_text())
    assert results["query"] == "cam1.avi#7" and results["frames"] == 10
    assert len(list((tmp_path / "query" / "query_track7").glob("*.jpg"))) == 10  # the query's crops
    first = results["matches"][0]
    assert (first["name"], first["pid"], first["camid"]) == ("gallery/2/0_0002", 2, 0)  # person b
    assert (tmp_path / "query" / "strip.png").is_file()
    print(out)
    # every person of camera 1 finds itself in camera 0, by exact search too
    for track, person_of_cam0 in ((9, 1), (8, 3)):
        code, out, err = _main([*query[:-4], "--track-id", str(track), "--out", f"q{track}", "--exact"], capsys)
        assert code == 0, err
        first = json.loads((tmp_path / f"q{track}" / "results.json").read_text())["matches"][0]
        assert first["pid"] == person_of_cam0, out
    code, _, err = _main([*query[:-4], "--track-id", "5", "--out", "q5"], capsys)
    assert code == 1 and "no box of track id 5; track ids there: 7, 8, 9" in _error_line(err)

    # the same crops as a dataset split, and packed into videos, give the same features
    code, _, err = _main(["index", "--checkpoint", "run/model.pt", "--dataset", "folder", "--root", "footage",
                          "--split", "gallery", "--out", "index2"], capsys)
    assert code == 0, err
    np.testing.assert_array_equal(load_index("index2").features, load_index("index").features)
    pytest.importorskip("decord")
    from reid.data.storage.packing import pack_dataset

    pack_dataset("folder", "footage", "packed", codec="png", verify=False)
    code, _, err = _main(["index", "--checkpoint", "run/model.pt", "--gallery", "packed", "--out", "index3"], capsys)
    assert code == 0, err
    packed = load_index("index3")
    assert packed.names == load_index("index").names and packed.pids.tolist() == [1, 2, 3]
    np.testing.assert_allclose(packed.features, load_index("index").features, atol=1e-5)
    assert packed.items[0]["video"].endswith(".avi")


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-s"]))
