"""Pseudo-identities: the Jaccard distance against re-ranking, DBSCAN labels, centres, diagnostics."""

import numpy as np
import pytest

from reid.config import ClusterConfig
from reid.errors import ConfigError
from reid.eval.clustering import (class_centres, dbscan_clusters, first_seen_order, pseudo_labels, purity,
                                  ranking_auc, split_identities)
from reid.eval.reranking import jaccard_distance, rerank_features
from reid.pipeline.pseudo_labels import round_iterations


def blobs(seed=0, ids=6, per=5, dim=16, spread=0.05):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(ids, dim))
    truth = np.repeat(np.arange(ids), per)
    x = centres[truth] + spread * rng.normal(size=(ids * per, dim))
    order = rng.permutation(len(x))
    return x[order].astype(np.float32), truth[order]


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("m", [1, 7, 29])
def test_jaccard_is_the_jaccard_term_of_rerank(metric, m):
    """rerank(Q, G, lambda=0) is the Jaccard term between Q and G of the joint set Q + G."""
    x, _ = blobs(seed=m)
    full = jaccard_distance(x, metric=metric, k1=6, k2=3)
    reranked = rerank_features(x[:m], x[m:], metric=metric, k1=6, k2=3, lambda_value=0.0)
    np.testing.assert_allclose(full[:m, m:], np.clip(reranked, 0, 1), atol=2e-6)
    assert np.array_equal(full, full.T) and np.all(np.diag(full) == 0)
    assert full.min() >= 0 and full.max() <= 1


def test_dbscan_finds_separated_people_and_leaves_a_stray_out():
    x, truth = blobs()
    stray = np.random.default_rng(9).normal(size=(1, x.shape[1])).astype(np.float32) * 5
    clusters = dbscan_clusters(np.concatenate([x, stray]), eps=0.6, min_samples=3, k1=4, k2=1)
    assert clusters[-1] == -1
    assert purity(clusters[:-1], truth) == 1.0 and split_identities(clusters[:-1], truth) == 1.0
    assert clusters.max() + 1 == 6 and clusters[0] == 0  # ids in first-seen order


def test_labels_centres_and_diagnostics():
    clusters = np.array([-1, 0, 0, 1, -1, 1])
    assert pseudo_labels(clusters, "singleton").tolist() == [2, 0, 0, 1, 3, 1]
    assert pseudo_labels(clusters, "drop").tolist() == [-1, 0, 0, 1, -1, 1]
    assert first_seen_order(np.array([5, -1, 2, 5])).tolist() == [0, -1, 1, 0]
    feats = np.array([[1, 0], [3, 0], [0, 2], [0, 1], [1, 1], [0, 5]], dtype=np.float32)
    centres = class_centres(feats, pseudo_labels(clusters, "drop"), 2)
    np.testing.assert_allclose(centres, [[0.5 ** 0.5, 0.5 ** 0.5], [0, 1]], atol=1e-6)  # means of unit rows
    assert purity(np.array([0, 0, 0, 1, 1, -1]), np.array([4, 4, 5, 6, 6, 9])) == pytest.approx(4 / 5)
    assert split_identities(np.array([0, 1, 1, -1]), np.array([3, 3, 4, 4])) == 1.5
    assert ranking_auc(np.array([0.1, 0.2, 0.5, 0.9]), np.array([1, 0, 0, 0], bool)) == 1.0
    assert ranking_auc(np.array([0.5, 0.5]), np.array([1, 0], bool)) == 0.5


@pytest.mark.parametrize("start, every, rounds", [(0.3, 0.1, [30, 40, 50, 60, 70, 80, 90]), (0.5, 0.0, [50]),
                                                  (1.0, 0.1, []), (0.0, 0.5, [0, 50])])
def test_round_iterations(start, every, rounds):
    assert round_iterations(ClusterConfig(start=start, every=every), 100) == rounds


def test_hdbscan_finds_separated_people_without_a_distance_scale():
    from reid.eval.clustering import hdbscan_clusters

    x, truth = blobs()
    for scale in (1.0, 0.01):  # no eps to fit: a rescaled embedding clusters the same
        clusters = hdbscan_clusters(x * scale, min_cluster_size=2, k1=4, k2=1)
        members = clusters >= 0
        assert members.mean() >= 0.8 and purity(clusters, truth) == 1.0
    assert hdbscan_clusters(x[:1], min_cluster_size=2, k1=4, k2=1).tolist() == [-1]
    with pytest.raises(ConfigError, match="min_cluster_size=1 must be >= 2"):
        hdbscan_clusters(x, min_cluster_size=1, k1=4, k2=1)


def test_standardise_per_camera_removes_each_cameras_shift():
    from reid.eval.clustering import standardise_per_camera

    rng = np.random.default_rng(0)
    people = rng.normal(size=(10, 8))
    cams = np.repeat([0, 1], 10)
    # each camera sees the same 10 people, shifted and scaled its own way
    x = np.concatenate([people * 2.0 + 5.0, people * 0.5 - 3.0])
    z = standardise_per_camera(x, cams)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z[:10], z[10:], atol=1e-5)  # the camera's shift and scale gone
    np.testing.assert_allclose(z[cams == 0].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z[cams == 1].std(0), 1, atol=1e-5)
    one = standardise_per_camera(np.ones((3, 2)), [0, 0, 1])  # constant columns and a lone item: zeros
    assert np.isfinite(one).all() and not one.any()
    with pytest.raises(ValueError, match="camera ids"):
        standardise_per_camera(x, cams[:5])


def test_one_camera_share_counts_clusters_that_never_leave_a_camera():
    from reid.eval.clustering import one_camera_share
    clusters = np.array([0, 0, 1, 1, 2, -1])
    cameras = np.array([0, 0, 0, 1, 2, 3])
    # cluster 0: camera 0 only; cluster 1: cameras 0 and 1; cluster 2: camera 2 only; -1 ignored
    assert one_camera_share(clusters, cameras) == pytest.approx(2 / 3)
    assert np.isnan(one_camera_share(np.array([-1, -1]), np.array([0, 1])))
    with pytest.raises(ValueError, match="2 camera ids for 3 cluster ids"):
        one_camera_share(np.array([0, 0, 1]), np.array([0, 1]))


def test_cross_camera_recall_against_a_hand_count():
    from reid.eval.clustering import cross_camera_recall
    truth = np.array([7, 7, 7, 8, 8])
    cameras = np.array([0, 1, 1, 0, 2])
    # person 7's cross-camera pairs (ordered): (0,1),(1,0),(0,2),(2,0); person 8's: (3,4),(4,3)
    clusters = np.array([0, 0, 1, 2, -1])  # joins 0-1 only; item 4 is left out
    assert cross_camera_recall(clusters, truth, cameras) == pytest.approx(2 / 6)
    assert cross_camera_recall(np.array([0, 0, 0, 1, 1]), truth, cameras) == 1.0
    # two left-out items are not "joined" although both carry -1
    assert cross_camera_recall(np.array([-1, -1, -1, -1, -1]), truth, cameras) == 0.0
    assert np.isnan(cross_camera_recall(np.array([0, 1]), np.array([1, 2]), np.array([0, 1])))


def test_drop_one_camera_clusters_leaves_out_clusters_that_never_leave_a_camera():
    from reid.eval.clustering import drop_one_camera_clusters
    clusters = np.array([0, 0, 1, 1, 2, 2, -1, 3])
    cameras = np.array([0, 0, 0, 1, 2, 2, 1, 3])
    # cluster 0 (camera 0 only), 2 (camera 2 only) and 3 (one member) go; cluster 1 spans 0 and 1
    np.testing.assert_array_equal(drop_one_camera_clusters(clusters, cameras), [-1, -1, 0, 0, -1, -1, -1, -1])
    with pytest.raises(ValueError, match="1 camera ids for 2 cluster ids"):
        drop_one_camera_clusters(np.array([0, 0]), np.array([0]))


def test_cluster_one_camera_takes_keep_or_drop():
    from reid.config import load_config
    from reid.errors import ConfigError
    from reid.pipeline.config_checks import check_config
    check_config(load_config("short_run", ["data.labels=ignore", "cluster.one_camera=drop"]))
    with pytest.raises(ConfigError, match="'cluster.one_camera': 'discard' is not one of keep, drop"):
        check_config(load_config("short_run", ["data.labels=ignore", "cluster.one_camera=discard"]))
