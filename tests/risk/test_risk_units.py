"""Sampling unit = cluster: cluster_means by hand, and the simulation of issue 12 (point 1)."""

import numpy as np
import pytest

from froc.risk import cluster_means, cluster_sizes, ucb

DELTA = 0.1


def test_cluster_means_by_hand():
    """Clusters b: probe 0; a: probes 1, 2; c: probes 3, 4. Row 0 has a NaN in c -> NaN."""
    losses = np.array([[0.0, 1.0, 1.0, 0.5, np.nan], [1.0, 1.0, 0.0, 0.0, 0.0]])
    m, labels = cluster_means(losses, ["b", "a", "a", "c", "c"])
    assert labels.tolist() == ["a", "b", "c"]
    np.testing.assert_allclose(m[0, :2], [1.0, 0.0])
    assert np.isnan(m[0, 2])
    np.testing.assert_allclose(m[1], [0.5, 1.0, 0.0])
    m1, l1 = cluster_means(losses[1], [3, 1, 1, 2, 2])  # 1-D input -> 1-D output
    np.testing.assert_allclose(m1, [0.5, 0.0, 1.0])
    assert cluster_sizes([3, 1, 1, 2, 2]).tolist() == [2, 2, 1]
    with pytest.raises(ValueError, match="shape"):
        cluster_means(losses, [0, 1])
    with pytest.raises(ValueError, match="NaN"):
        cluster_means(losses, [0.0, 1.0, np.nan, 2.0, 2.0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        cluster_means(losses + 1, [0, 0, 1, 1, 2])


def _clustered(rng, reps, n_clusters=8, probes=25, mu=0.3, conc=1.0):
    """(reps, n_clusters, probes) binary losses: subject risk r_c ~ Beta(mu c, (1-mu) c), probes
    Bernoulli(r_c) (correlated within a subject). The population risk is E[r_c] = mu."""
    r = rng.beta(mu * conc, (1 - mu) * conc, size=(reps, n_clusters, 1))
    return (rng.random((reps, n_clusters, probes)) < r).astype(float)


def test_probe_level_treatment_of_clusters_violates_cluster_level_holds():
    """Issue 12's setup: 25 correlated probes per subject, 8 subjects in calibration, delta = 0.1.

    Deliberate bug caught (negative control): treating the 200 probes as independent samples
    (what `splits.by: subject` did) -- the true risk exceeds CUR far more often than delta.
    The fix (one loss per cluster, n = 8) must keep P(true risk > CUR) <= delta + 3 SE.
    Removing the cluster collapse (passing probe losses) makes the second assertion fail."""
    reps, mu = 400, 0.3
    rng = np.random.default_rng(12)
    x = _clustered(rng, reps, mu=mu)
    probe = ucb(x.reshape(reps, -1), DELTA, "hb", binary=True)  # (reps,) n = 200 "independent" probes
    labels = np.repeat(np.arange(8), 25)
    clus = ucb(cluster_means(x.reshape(reps, -1), labels)[0], DELTA, "hb")  # n = 8 clusters, general test
    limit = DELTA + 3 * np.sqrt(DELTA * (1 - DELTA) / reps)
    miss_probe = np.mean(mu > probe)
    miss_cluster = np.mean(mu > clus)
    assert miss_probe > 0.2, miss_probe  # measured ~0.3 (issue: 23-30%)
    assert miss_cluster <= limit, miss_cluster
