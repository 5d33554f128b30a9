"""What a metric declaration is, and what its function receives (torch-free).

Each metric family (:mod:`~froc.metrics.tofu`, :mod:`~froc.metrics.knowledge`, :mod:`~froc.metrics.muse`,
:mod:`~froc.metrics.membership`, :mod:`~froc.metrics.extraction`, :mod:`~froc.metrics.forms`,
:mod:`~froc.metrics.representation`, :mod:`~froc.metrics.overforget`) declares its metrics next to their
functions, as a tuple ``METRICS`` of :class:`MetricSpec` with literal names (lm-evaluation-harness's
``register_metric`` style); :mod:`froc.metrics.registry` merges them.

A spec's ``fn`` takes a :class:`ScoreSet` (the per-sample tables of the target and, when given, the retain
oracle and the original model) and returns a float or a dict of floats (reported as ``name/key``).

Probe groups come from ``meta.group``: ``forget``, ``neighbour``, ``retain``, ``world`` and optionally a
non-member group (default ``holdout``) for membership inference.

``higher_is_better``: True/False from the point of view of a good unlearning result; None where the
ideal is a point (PrivLeak 0, membership AUC 0.5) or the number is descriptive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np
import pandas as pd

UTILITY_GROUPS = ("retain", "neighbour", "world")
MODELS = ("target", "oracle", "original")


class MissingData(ValueError):
    """The scores hold nothing this metric can be computed from (the message says what is missing)."""


@dataclass(frozen=True)
class ScoreSet:
    """Per-sample tables of the compared models, row-aligned (same probes, same order)."""

    target: pd.DataFrame
    oracle: pd.DataFrame | None = None
    original: pd.DataFrame | None = None
    hidden: Mapping[str, Mapping[int, np.ndarray]] = field(default_factory=dict)  # model -> layer -> (N, H)
    nonmember_group: str = "holdout"

    def table(self, which: str) -> pd.DataFrame:
        df = getattr(self, which)
        if df is None:
            raise MissingData(f"needs the {which} model's scores")
        return df

    def mask(self, group: str, kind: str | None = None) -> np.ndarray:
        m = (self.target["group"] == group).to_numpy(dtype=bool)
        if kind is not None:
            m = m & (self.target["kind"] == kind).to_numpy(dtype=bool)
        return m

    def rows(self, which: str, group: str, kind: str | None = None, *, required: bool = True) -> pd.DataFrame:
        d = self.table(which)[self.mask(group, kind)]
        if required and d.empty:
            what = f"{kind} probes" if kind else "probes"
            raise MissingData(f"no {what} with meta.group '{group}'")
        return d


@dataclass(frozen=True)
class MetricSpec:
    """One reported metric.

    Attributes:
        name: the registry key, ``family/metric`` (what summary.json and ``froc eval`` print).
        fn: ``fn(ScoreSet) -> float | dict[str, float]``.
        higher_is_better: direction for a good unlearning result; None for a point ideal or descriptive.
        aggregation: how per-sample values become the number: mean, ks_pvalue, harmonic_mean, roc_auc, ...
        doc: one-line meaning (the report quotes its first sentence).
        requires: models besides the target: ``oracle``, ``original``.
        keys: for a dict-valued metric, the keys it reports (``name/key``); ``<...>`` marks a data-dependent
            part (a probe form, a layer index).
    """

    name: str
    fn: Callable[[ScoreSet], float | dict[str, float]]
    higher_is_better: bool | None
    aggregation: str
    doc: str
    requires: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()


# ----------------------------------------------------------------------------- column helpers


def col(df: pd.DataFrame, name: str) -> np.ndarray:
    """Column ``name`` as float64 (None -> NaN)."""
    return df[name].to_numpy(dtype=np.float64, na_value=np.nan)


def lists(df: pd.DataFrame, name: str) -> list[list[float]]:
    """A list column (one list per row; None -> [])."""
    return [list(v) if v is not None else [] for v in df[name]]


_WHY_NAN = {"rouge_l_recall": "ROUGE (no greedy generations: generate=False?)",
            "rouge_l_f1": "ROUGE (no greedy generations: generate=False?)",
            "gen_correct": "greedy-answer correctness (no greedy generations: generate=False?)",
            "knowledge": "knowledge score (probes without perturbed answers)",
            "correct_choice": "choice accuracy (probes without perturbed answers)"}


def finite_mean(x: np.ndarray, what: str = "per-sample value") -> float:
    """Mean of the non-NaN values; MissingData naming ``what`` when there is none."""
    x = x[~np.isnan(x)]
    if x.size == 0:
        raise MissingData(f"no finite {what}")
    return float(x.mean())


def mean_col(d: pd.DataFrame, name: str) -> float:
    """:func:`finite_mean` of column ``name``, the error saying why such a column is NaN."""
    return finite_mean(col(d, name), _WHY_NAN.get(name, name))
