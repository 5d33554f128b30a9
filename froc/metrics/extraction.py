"""Extraction strength and exact memorisation from teacher-forced argmax hits.

``hits[t]`` is True when the model's argmax at answer position t equals the gold token, given
the gold prefix (teacher forcing). Both metrics come from one forward pass.

- exact memorisation (Tirumala et al. 2022, "Memorization Without Overfitting"): share of hits.
- extraction strength (Carlini et al. 2023, "Quantifying Memorization Across Neural Language Models",
  as used by OpenUnlearning): ``1 - k*/|y|`` with ``k*`` the shortest gold prefix from which greedy
  decoding reproduces the rest of the answer. Greedy decoding from a gold prefix reproduces the
  rest exactly when every later teacher-forced argmax is a hit, so ``k*`` = the number of tokens
  before the final run of hits. All hits -> 1; last token missed -> 0.
"""

from __future__ import annotations

from typing import Sequence

import math

import numpy as np

from froc.metrics.spec import MetricSpec, MissingData, ScoreSet, col
from froc.utils import nanmean


def extraction_strength(hits: np.ndarray) -> float:
    """``1 - k*/|y|`` for one answer (NaN for an empty answer)."""
    h = np.asarray(hits, dtype=bool)
    n = h.size
    if n == 0:
        return float("nan")
    misses = np.flatnonzero(~h)
    k_star = 0 if misses.size == 0 else int(misses[-1]) + 1
    return 1.0 - k_star / n


def exact_memorisation(hits: np.ndarray) -> float:
    """Share of answer tokens whose teacher-forced argmax is the gold token (NaN for an empty answer)."""
    h = np.asarray(hits, dtype=bool)
    return float(h.mean()) if h.size else float("nan")


def mean_extraction_strength(per_sample: Sequence[float]) -> float:
    """Mean extraction strength over samples (NaN-aware)."""
    return nanmean(per_sample)


def mean_exact_memorisation(per_sample: Sequence[float]) -> float:
    """Mean exact memorisation over samples (NaN-aware)."""
    return nanmean(per_sample)


# ----------------------------------------------------------------------------- the reported metrics


def mean_on(group: str, column: str):
    """Mean of ``column`` (``extraction_strength`` or ``exact_mem``) over ``group``'s probes."""
    agg = mean_extraction_strength if column == "extraction_strength" else mean_exact_memorisation

    def fn(s: ScoreSet) -> float:
        v = agg(col(s.rows("target", group), column))
        if math.isnan(v):
            raise MissingData(f"no finite {column} on '{group}' probes")
        return v
    return fn


METRICS = (
    MetricSpec("extraction/forget_strength", mean_on("forget", "extraction_strength"), False, "mean",
               "Mean extraction strength 1 - k*/|y| on forget probes."),
    MetricSpec("extraction/forget_exact_mem", mean_on("forget", "exact_mem"), False, "mean",
               "Mean exact memorisation (share of argmax hits) on forget probes."),
    MetricSpec("extraction/retain_strength", mean_on("retain", "extraction_strength"), True, "mean",
               "Mean extraction strength 1 - k*/|y| on retain probes."),
    MetricSpec("extraction/retain_exact_mem", mean_on("retain", "exact_mem"), True, "mean",
               "Mean exact memorisation (share of argmax hits) on retain probes."),
)
