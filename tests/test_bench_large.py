"""tools/bench_large.py at a tiny size: the report's rows, and recall 1 where the index scans everything."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("faiss")

from reid.studies import bench_large as bench


def test_features_are_identities_with_noise():
    data = bench.make_features(2000, 30, 16, latent=4, noise=0.1, iso_noise=0.1)
    assert data["gf"].shape == (2000, 16) and data["gf"].dtype == np.float32 and data["qf"].shape == (30, 16)
    assert np.isin(data["q_pids"], data["g_pids"]).all()
    # a query is much nearer its own identity's tracklets than the gallery at large
    same = data["g_pids"] == data["q_pids"][0]
    d = np.linalg.norm(data["gf"] - data["qf"][0], axis=1)
    assert d[same].max() < np.median(d[~same]) / 3


def test_tiny_run_reports_every_index_and_exact_recall_when_every_list_is_scanned(tmp_path):
    out = tmp_path / "report.md"
    assert bench.main(["--gallery", "3000", "--queries", "40", "--dim", "16", "--latent", "8", "--nlist", "8",
                       "--train-size", "500", "--nprobe", "8", "1", "--hnsw-gallery", "1000", "--hnsw-m", "8",
                       "--ef-search", "16", "--out", str(out)]) == 0
    text = out.read_text()
    assert "evaluate_features_chunked (cosine, chunk 64)" in text and "bound" in text
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in text.splitlines()
            if line.startswith(("| IVF", "| HNSW", "| exact"))}
    assert len(rows) == 4, rows
    every_list = rows["IVF-Flat nlist 8 (trained on 500), nprobe 8"]
    one_list = rows["IVF-Flat nlist 8 (trained on 500), nprobe 1"]
    assert (every_list[5], every_list[6]) == ("1.000", "1.000")  # nprobe = nlist: an exhaustive scan
    assert float(one_list[6]) <= 1.0 and rows["HNSW-Flat M 8, efSearch 16"][1] == "1,000"
