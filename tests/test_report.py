"""Report pieces: query choice, ranked lists against a literal loop, n/a metrics, self-contained HTML."""

from __future__ import annotations

import numpy as np
import pytest

from reid.data.tracklet import Tracklet
from reid.eval.summary import fmt, summarise
from reid.report.page import Figure, Section, Table, write_pages
from reid.report.plots import plot_attention_histogram, plot_cmc, plot_embedding, plot_training
from reid.report.ranked_lists import choose_queries, draw_ranked_list, key_frame_indices, ranked_list
from reid.report.run_report import metrics_table, write_report


def test_choose_queries_takes_the_lowest_ap_and_random_others():
    ap = np.array([0.9, np.nan, 0.1, 0.5, 0.05, 0.7, 0.3])
    chosen = choose_queries(ap, num_worst=2, num_random=3, seed=1)
    idx = [i for i, _ in chosen]
    assert idx[:2] == [4, 2]  # lowest AP first, the NaN (skipped) query never
    assert 1 not in idx and len(set(idx)) == 5
    assert set(idx[2:]) <= {0, 3, 5, 6}
    assert choose_queries(ap, 10, 10) and len(choose_queries(ap, 10, 10)) == 6


def literal_ranked_list(dist, qi, q_pid, q_cam, g_pids, g_cams, topk):
    items = sorted(range(dist.shape[1]), key=lambda j: (dist[qi, j], j))
    kept = [j for j in items if not (g_pids[j] == q_pid and g_cams[j] == q_cam)]
    first = next((r + 1 for r, j in enumerate(kept) if g_pids[j] == q_pid), None)
    return kept[:topk], [bool(g_pids[j] == q_pid) for j in kept[:topk]], first


def test_ranked_list_equals_a_literal_loop():
    rng = np.random.default_rng(0)
    dist = rng.random((6, 40))
    dist[0, 5] = dist[0, 6]  # a tie: the lower gallery index first
    g_pids = rng.integers(0, 5, 40)
    g_cams = rng.integers(0, 3, 40)
    for qi in range(6):
        q_pid, q_cam = int(g_pids[qi]), int(g_cams[qi])
        item = ranked_list(dist, qi, q_pid, q_cam, g_pids, g_cams, topk=10)
        order, correct, first = literal_ranked_list(dist, qi, q_pid, q_cam, g_pids, g_cams, 10)
        assert item.gallery.tolist() == order
        assert item.correct.tolist() == correct
        assert item.first_match == first
        np.testing.assert_array_equal(item.distances, dist[qi, order])


def test_missing_ranks_print_as_na_not_zero():
    m = summarise(np.array([0.5, 1.0, 1.0]), 0.75)  # a 3-tracklet gallery: no rank-5
    assert "rank5" not in m and fmt(m, "rank5") == "n/a" and fmt(m, "rank1") == "50.0"
    table = metrics_table({"plain": m})
    assert "| plain | 50.0 | n/a | n/a | n/a | 75.0 | 0 |" in table


def test_key_frames_spread_over_the_tracklet():
    assert key_frame_indices(1, 4) == [0]
    assert key_frame_indices(10, 4) == [0, 3, 6, 9]
    assert key_frame_indices(0, 4) == []


def _frames(tmp_path, name, colour, n=5):
    import cv2

    folder = tmp_path / name
    folder.mkdir()
    paths = []
    for i in range(n):
        img = np.full((64, 32, 3), colour, dtype=np.uint8)
        img[i * 8:(i + 1) * 8] = 255
        cv2.imwrite(str(folder / f"{i:03d}.png"), img)
        paths.append(str(folder / f"{i:03d}.png"))
    return Tracklet(frames=tuple(paths), pid=0, camid=0, name=name)


def test_report_pages_are_self_contained_and_hold_every_picture(tmp_path):
    q = _frames(tmp_path, "q", (0, 0, 200))
    gallery = [_frames(tmp_path, f"g{i}", (0, 40 * i, 0)) for i in range(4)]
    gallery = [Tracklet(t.frames, pid=i % 2, camid=1, name=t.name) for i, t in enumerate(gallery)]
    dist = np.array([[0.4, 0.1, 0.3, 0.2]])
    item = ranked_list(dist, 0, 0, 0, np.array([0, 1, 0, 1]), np.array([1, 1, 1, 1]), topk=3)
    assert item.gallery.tolist() == [1, 3, 2] and item.correct.tolist() == [False, False, True]
    out = tmp_path / "report"
    out.mkdir()
    draw_ranked_list(out / "strip.jpg", q, gallery, item, title="query q")
    plot_embedding(out / "map.png", np.random.default_rng(0).random((8, 2)), np.arange(8) % 3,
                   np.arange(8) < 3, title="map")
    plot_attention_histogram(out / "att.png", np.linspace(0.2, 1, 50))
    history = [{"iteration": i, "loss": 2.0 / i, "osm_caa": 0.1 / i, "lr": 3e-4} for i in range(1, 6)]
    history.append({"iteration": 5, "eval_rank1": 40.0, "eval_mAP": 30.0})
    results = {"plain": summarise(np.array([0.5, 1.0, 1.0]), 0.75)}
    html = write_report(out, title="t <run>", results=results, notes=["a note"], history=history,
                        sections=[Section("Ranked lists (plain)", figures=[Figure(out / "strip.jpg")]),
                                  Section("Extra", tables=[Table(["a", "b"], [["1", "x|y"]])],
                                          figures=[Figure(out / "map.png", "m"), Figure(out / "att.png")])])
    page = html.read_text()
    assert html.name == "report.html" and "t &lt;run&gt;" in page
    assert page.count("src='data:image/jpeg;base64,") == 1
    assert page.count("src='data:image/png;base64,") == 4  # cmc, training, map, attention
    assert "<td>n/a</td>" in page
    md = (out / "report.md").read_text()
    for name in ("cmc.png", "training.png", "strip.jpg", "map.png", "att.png"):
        assert f"]({name})" in md, name
        assert (out / name).stat().st_size > 1000
    assert "x\\|y" in md


@pytest.mark.parametrize("n", [1, 3, 60])
def test_plots_accept_short_and_long_inputs(tmp_path, n):
    plot_cmc(tmp_path / "c.png", {"a": np.linspace(0.2, 1, n), "b": np.linspace(0.1, 1, max(1, n // 2))})
    plot_training(tmp_path / "t.png", [{"iteration": i + 1, "loss": 1.0, "lr": 1e-3} for i in range(n)])
    plot_training(tmp_path / "empty.png", [])
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "empty.png").read_bytes()[:4] == b"\x89PNG"


def test_write_pages_renders_sections_in_order(tmp_path):
    html, md = write_pages(tmp_path, "T", [Section("A", text=["p"]), Section("B", subsections=[Section("C")])])
    page = html.read_text()
    assert page.index(">A<") < page.index(">B<") < page.index(">C<")
    assert md.read_text().splitlines()[0] == "# T"


def test_nearest_identity_and_typical_members_against_a_literal_loop():
    from reid.studies.suspects import nearest_identities, typical_members

    rng = np.random.default_rng(3)
    feats = rng.normal(size=(30, 4))
    pids = rng.integers(0, 5, 30)
    nearest, dist = nearest_identities(feats, pids, "euclidean")
    for i in range(30):
        means = {p: feats[pids == p].mean(0) for p in set(pids.tolist()) if p != pids[i]}
        want = min(means, key=lambda p: (np.linalg.norm(feats[i] - means[p]), p))
        assert nearest[i] == want
        assert dist[i] == pytest.approx(np.linalg.norm(feats[i] - means[want]))
    members = typical_members(feats, pids, 2, 2, exclude=int(np.flatnonzero(pids == 2)[0]))
    centre = feats[pids == 2].mean(0)
    rest = [j for j in np.flatnonzero(pids == 2)[1:]]
    assert members == sorted(rest, key=lambda j: np.linalg.norm(feats[j] - centre))[:2]


@pytest.mark.slow
def test_suspects_sheet_and_test_visualise_from_the_cli(tmp_path, capsys):
    import importlib.util

    from reid.pipeline.training import run_training
    from tests.test_training import tiny_config

    run_training(tiny_config(tmp_path, "run", "train.iterations=2"))

    def tool(name):
        return importlib.import_module(f"reid.cli.{name}")

    ckpt = str(tmp_path / "run" / "checkpoint.pt")
    tool("suspects").main(["--checkpoint", ckpt, "--out", str(tmp_path / "sus"), "--top", "3"])
    assert (tmp_path / "sus" / "suspects.png").read_bytes()[:4] == b"\x89PNG"
    assert len((tmp_path / "sus" / "suspects.csv").read_text().splitlines()) > 3
    tool("test").main(["--checkpoint", ckpt, "--out", str(tmp_path / "ev"), "--visualise", "2",
                       "eval.k1=6", "eval.k2=3"])
    printed = capsys.readouterr().out
    assert "rank-1" in printed and "report:" in printed
    strips = sorted((tmp_path / "ev" / "ranked").glob("plain_*.jpg"))
    assert len(strips) == 4  # the 2 worst and min(eval.visualise_random, 2) random queries
    assert ">Ranked lists (plain)<" in (tmp_path / "ev" / "report.html").read_text()


def test_training_curves_end_in_the_final_evaluation(tmp_path, monkeypatch):
    import reid.report.plots as plots

    figs = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: figs.append(fig))
    history = [{"iteration": i, "loss": 1.0 / i, "lr": 3e-4} for i in (20, 100, 200, 300)]
    history += [{"iteration": 100, "eval_rank1": 40.0, "eval_mAP": 50.0},
                {"iteration": 200, "eval_rank1": 55.0, "eval_mAP": 60.0}]
    plots.plot_training(tmp_path / "t.png", history, final={"iteration": 300, "rank1": 57.5, "mAP": 61.8})
    ax = next(a for a in figs[0].axes if a.get_title().startswith("evaluations during training"))
    series = {ln.get_label(): list(zip(ln.get_xdata(), ln.get_ydata())) for ln in ax.get_lines()}
    assert series["rank-1"] == [(100, 40.0), (200, 55.0), (300, 57.5)]
    assert series["mAP"] == [(100, 50.0), (200, 60.0), (300, 61.8)]
    stars = [ln for ln in ax.get_lines() if ln.get_marker() == "*"]
    assert sorted((ln.get_xdata()[0], ln.get_ydata()[0]) for ln in stars) == [(300, 57.5), (300, 61.8)]
    # a final evaluation at the last periodic one's iteration is not drawn twice
    figs.clear()
    plots.plot_training(tmp_path / "t.png", history, final={"iteration": 200, "rank1": 55.0, "mAP": 60.0})
    ax = next(a for a in figs[0].axes if a.get_title().startswith("evaluations during training"))
    assert [len(ln.get_xdata()) for ln in ax.get_lines() if ln.get_label() == "rank-1"] == [2]


@pytest.mark.parametrize("final_result, expected", [("trained", {"iteration": 300, "rank1": 57.5, "mAP": 61.8}),
                                                    ("plain", None)])
def test_report_passes_the_named_final_result_to_the_curves(tmp_path, monkeypatch, final_result, expected):
    import reid.report.run_report as report

    seen = {}
    monkeypatch.setattr(report, "plot_training", lambda path, history, final=None: seen.update(final=final))
    monkeypatch.setattr(report, "plot_cmc", lambda path, curves: None)
    monkeypatch.setattr(report, "write_pages", lambda out, title, sections: (out / "report.html", None))
    results = {"untrained": {"rank1": 4.4, "mAP": 7.8}, "trained": {"rank1": 57.5, "mAP": 61.8}}
    history = [{"iteration": 300, "loss": 1.0}, {"iteration": 100, "eval_rank1": 40.0, "eval_mAP": 50.0}]
    report.write_report(tmp_path, title="t", results=results, notes=[], history=history, final_result=final_result)
    assert seen["final"] == expected
