"""Over-forgetting on neighbours: facts close to the forget set (same family, city, employer) that must
survive unlearning. Compared with the original model, per sample, as FROC's binary utility loss
``1[original knew j and the unlearned model no longer does]`` (see shared/spec/risk.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from froc.metrics.spec import MetricSpec, ScoreSet, col
from froc.utils import nanmean


def accuracy(correct: np.ndarray) -> float:
    """Mean of 0/1 correctness values (NaN skipped; NaN when none is defined)."""
    return nanmean(correct)


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


# ----------------------------------------------------------------------------- the reported metrics


def neighbour_accuracy(column: str):
    """:func:`accuracy` of ``column`` (``correct_choice`` or ``gen_correct``) on the target's neighbour probes."""
    def fn(s: ScoreSet) -> float:
        return accuracy(col(s.rows("target", "neighbour", "qa"), column))
    return fn


def neighbour_vs_original(column: str, field_: str):
    """One field (``drop``, ``forgotten_rate``) of :func:`over_forgetting` on the neighbour probes."""
    def fn(s: ScoreSet) -> float:
        r = over_forgetting(col(s.rows("target", "neighbour", "qa"), column),
                            col(s.rows("original", "neighbour", "qa"), column))
        return getattr(r, field_)
    return fn


METRICS = (
    MetricSpec("overforget/neighbour_choice_acc", neighbour_accuracy("correct_choice"), True, "mean",
               "Neighbour accuracy (correct_choice) of the target."),
    MetricSpec("overforget/neighbour_choice_drop", neighbour_vs_original("correct_choice", "drop"), False,
               "mean_difference", "Original's minus target's neighbour accuracy (correct_choice).", ("original",)),
    MetricSpec("overforget/neighbour_choice_forgotten", neighbour_vs_original("correct_choice", "forgotten_rate"),
               False, "mean",
               "Share of neighbour probes the original got right (correct_choice) that the target gets wrong.",
               ("original",)),
    MetricSpec("overforget/neighbour_gen_acc", neighbour_accuracy("gen_correct"), True, "mean",
               "Neighbour accuracy (gen_correct) of the target."),
    MetricSpec("overforget/neighbour_gen_drop", neighbour_vs_original("gen_correct", "drop"), False,
               "mean_difference", "Original's minus target's neighbour accuracy (gen_correct).", ("original",)),
    MetricSpec("overforget/neighbour_gen_forgotten", neighbour_vs_original("gen_correct", "forgotten_rate"),
               False, "mean",
               "Share of neighbour probes the original got right (gen_correct) that the target gets wrong.",
               ("original",)),
)
