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

from froc.metrics.spec import MetricSpec, MissingData, ScoreSet


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


# ----------------------------------------------------------------------------- the reported metrics


def cka_with(other: str):
    """Per-layer linear CKA between the target's and ``other``'s forget-probe hidden states (``{"layer_<L>": cka}``)."""
    def fn(s: ScoreSet) -> dict[str, float]:
        a, b = s.hidden.get("target") or {}, s.hidden.get(other) or {}
        if not set(a) & set(b):
            raise MissingData(f"no hidden states of both the target and the {other} (pass hidden_layers)")
        rows = np.flatnonzero(s.mask("forget"))
        if rows.size < 2:
            raise MissingData("CKA needs at least two forget probes")
        return {f"layer_{k}": v for k, v in cka_per_layer(a, b, rows).items()}
    return fn


METRICS = (
    MetricSpec("repr/cka_original", cka_with("original"), None, "linear_cka",
               "Linear CKA per layer between the target's and the original's forget-probe representations "
               "(near 1 = representations unchanged).", ("original",), keys=("layer_<L>",)),
    MetricSpec("repr/cka_oracle", cka_with("oracle"), True, "linear_cka",
               "Linear CKA per layer between the target's and the retain oracle's forget-probe representations.",
               ("oracle",), keys=("layer_<L>",)),
)
