"""The sampling unit: one loss per cluster when whole clusters are assigned to a split.

Learn-then-Test's guarantee is about the population the calibration sample was drawn
from, and its p-values assume the samples are independent. When a split assigns whole
clusters (subjects, facts, documents) to calibration, the probes of one cluster are
correlated and the independent draws are the *clusters*. Treating every probe as a
sample then overstates n and breaks the guarantee (issue 12: 20 subjects x 25
correlated probes, 8 subjects in calibration, delta = 0.1: the true risk exceeded CUR in
23-30% of repetitions). The fix (spec, "The sampling unit"): each cluster contributes one
loss, the mean of its probes' losses (still in [0, 1]), and n is the number of clusters.
The risk then certified is the mean over clusters of the within-cluster mean loss.
"""

from __future__ import annotations

import numpy as np

from froc.risk._checks import loss_matrix


def cluster_means(losses, clusters) -> tuple[np.ndarray, np.ndarray]:
    """Collapse per-probe losses to one loss per cluster (the mean of its probes' losses).

    Args:
        losses: (K, N) or (N,) per-probe losses in [0, 1]; NaN marks a missing result.
        clusters: (N,) cluster label of each probe (any hashable values numpy can sort:
            ints or strings). The same labelling applies to every row.

    Returns:
        (cluster_losses, labels): cluster_losses has shape (K, C) (or (C,) for 1-D input)
        with C the number of distinct labels, columns in the order of ``labels`` (sorted
        unique labels, shape (C,)). An entry is NaN if any probe of that cluster is NaN
        in that row (the configuration has no usable result for that cluster).

    Raises:
        ValueError: losses outside [0, 1] or inf, or ``clusters`` not of length N, or
            containing None/NaN.
    """
    mat, squeeze = loss_matrix(losses, "losses")
    labels_in = np.asarray(clusters)
    if labels_in.ndim != 1 or labels_in.shape[0] != mat.shape[1]:
        raise ValueError(f"clusters must have shape ({mat.shape[1]},) (one label per probe), got {labels_in.shape}")
    if labels_in.dtype == object and any(x is None for x in labels_in):
        raise ValueError("clusters contains None: every probe needs a cluster label")
    if labels_in.dtype.kind == "f" and np.isnan(labels_in).any():
        raise ValueError("clusters contains NaN: every probe needs a cluster label")
    labels, inv = np.unique(labels_in, return_inverse=True)
    c = labels.size
    counts = np.bincount(inv, minlength=c).astype(float)  # (C,)
    k = mat.shape[0]
    sums = np.zeros((k, c))
    np.add.at(sums, (slice(None), inv), np.nan_to_num(mat))  # (K, C)
    nan_any = np.zeros((k, c))
    np.add.at(nan_any, (slice(None), inv), np.isnan(mat).astype(float))
    out = np.where(nan_any > 0, np.nan, sums / np.maximum(counts, 1.0))
    out = np.clip(out, 0.0, 1.0)  # undo rounding above 1 in the mean of ones
    return (out[0] if squeeze else out), labels


def cluster_sizes(clusters) -> np.ndarray:
    """(C,) number of probes per cluster, in the order of ``np.unique(clusters)``."""
    _, counts = np.unique(np.asarray(clusters), return_counts=True)
    return counts
