"""Over-forgetting on neighbours: facts close to the forget set (same family, city, employer) that must
survive unlearning. Compared with the original model, per sample, as FROC's binary utility loss
``1[original knew j and the unlearned model no longer does]`` (see shared/spec/risk.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def accuracy(correct: np.ndarray) -> float:
    """Mean of 0/1 correctness values (NaN skipped; NaN when none is defined)."""
    c = np.asarray(correct, dtype=np.float64)
    c = c[~np.isnan(c)]
    return float(c.mean()) if c.size else float("nan")


@dataclass(frozen=True)
class OverForgetting:
    accuracy: float  # unlearned model
    original_accuracy: float
    drop: float  # original_accuracy - accuracy
    forgotten_rate: float  # share of items the original knew that the unlearned model no longer knows


def over_forgetting(correct: np.ndarray, original_correct: np.ndarray) -> OverForgetting:
    """Neighbour accuracy of the unlearned model vs the original, paired by sample.

    Samples where either value is NaN are dropped from all four numbers.
    """
    c = np.asarray(correct, dtype=np.float64)
    o = np.asarray(original_correct, dtype=np.float64)
    if c.shape != o.shape:
        raise ValueError(f"paired correctness arrays differ in shape: {c.shape} vs {o.shape}")
    keep = ~np.isnan(c) & ~np.isnan(o)
    c, o = c[keep], o[keep]
    if c.size == 0:
        nan = float("nan")
        return OverForgetting(nan, nan, nan, nan)
    known = o > 0.5
    forgotten = float(((c < 0.5) & known).sum() / known.sum()) if known.any() else float("nan")
    return OverForgetting(float(c.mean()), float(o.mean()), float(o.mean() - c.mean()), forgotten)
