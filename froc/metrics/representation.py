"""Representation similarity (seed: "Are We Truly Forgetting? A Critical Re-examination of Machine
Unlearning Evaluation Protocols").

Linear CKA (Kornblith et al. 2019, "Similarity of Neural Network Representations Revisited") between
two models' features for the same probes, per layer: on column-centred features X (n, d1), Y (n, d2),
``CKA = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)``. An unlearned model whose forget-probe
representations are still near-identical to the original's (CKA ~ 1) has likely only suppressed the
output, not removed the knowledge; similarity to the retain oracle is the target.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of two feature matrices over the same n samples (rows).

    Invariant to orthogonal transforms and isotropic scaling of either side; 1 for identical
    features. NaN when either side is constant (zero variance after centring).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"CKA needs two 2-D arrays with the same number of rows, got {x.shape} and {y.shape}")
    x = x - x.mean(0, keepdims=True)
    y = y - y.mean(0, keepdims=True)
    denom = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
    if denom == 0:
        return float("nan")
    return float(np.linalg.norm(y.T @ x) ** 2 / denom)


def cka_per_layer(a: Mapping[int, np.ndarray], b: Mapping[int, np.ndarray], rows: np.ndarray | None = None) -> dict[int, float]:
    """Linear CKA for every layer present in both ``a`` and ``b`` (layer -> (N, H)), on ``rows`` if given."""
    out = {}
    for layer in sorted(set(a) & set(b)):
        xa, xb = np.asarray(a[layer]), np.asarray(b[layer])
        if rows is not None:
            xa, xb = xa[rows], xb[rows]
        out[int(layer)] = linear_cka(xa, xb)
    return out
