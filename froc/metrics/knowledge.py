"""FROC's knowledge score per probe, choice and greedy-answer accuracy, and the ``knowledge/*`` metrics.

The knowledge score ``k_i = P(a) / (P(a) + sum_j P(a~_j))`` with ``P = exp(mean token log-prob)`` is
computed by :func:`froc.risk.knowledge_score` (the one implementation; the statistics layer builds its
losses from the same numbers); this module only handles ragged per-probe option lists and NaN.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from froc.metrics.spec import MetricSpec, ScoreSet, mean_col
from froc.risk.losses import knowledge_score


def knowledge_scores(gold_logp_mean: np.ndarray, perturbed_logp_mean: Sequence[Sequence[float] | None]) -> np.ndarray:
    """Per-probe knowledge score ``P(a) / (P(a) + sum_j P(a~_j))`` (FROC's ``k_i``, TOFU's option-normalised
    probability) from length-normalised log-probs.

    Args:
        gold_logp_mean: (N,) mean gold-answer log-prob.
        perturbed_logp_mean: N lists of the perturbed answers' mean log-probs (any lengths).

    Returns:
        (N,) scores in [0, 1]; NaN for a probe without perturbed answers or with a NaN log-prob.
    """
    gold = np.asarray(gold_logp_mean, dtype=np.float64)
    pert = [np.asarray(p if p is not None else [], dtype=np.float64) for p in perturbed_logp_mean]
    out = np.full(gold.shape, np.nan)
    rows = [i for i, p in enumerate(pert) if p.size and not np.isnan(gold[i]) and not np.isnan(p).any()]
    if rows:
        padded = np.full((len(rows), max(pert[i].size for i in rows)), -np.inf)  # -inf: P = 0, adds nothing
        for r, i in enumerate(rows):
            padded[r, : pert[i].size] = pert[i]
        out[rows] = knowledge_score(gold[rows], padded)
    return out


def correct_choice(gold_logp_mean: np.ndarray, perturbed_logp_mean: Sequence[Sequence[float]]) -> np.ndarray:
    """Per-sample 1.0 when the gold answer beats every perturbed answer (mean log-prob), else 0.0; NaN without options."""
    gold = np.asarray(gold_logp_mean, dtype=np.float64)
    out = np.full(gold.shape, np.nan)
    for i, (g, pert) in enumerate(zip(gold, perturbed_logp_mean)):
        p = np.asarray(pert, dtype=np.float64) if pert is not None else np.empty(0)
        if p.size and not np.isnan(g):
            out[i] = float(g > p.max())
    return out


# ----------------------------------------------------------------------------- the reported metrics


def mean_on(group: str, column: str):
    """Mean of ``column`` over ``group``'s QA probes."""
    def fn(s: ScoreSet) -> float:
        return mean_col(s.rows("target", group, "qa"), column)
    return fn


def _k(g: str) -> str:
    return f"Mean knowledge score k_i = P(a)/(P(a)+sum P(a~)) on {g} probes (FROC)."


def _choice(g: str) -> str:
    return f"Share of {g} probes whose gold answer out-scores every perturbed answer."


def _gen(g: str) -> str:
    return f"Share of {g} probes whose greedy answer contains the normalised gold answer."


def hallucination_rate(s: ScoreSet) -> float:
    """Share of the ``unknown`` group's QA probes (subjects the model cannot know, e.g. the built-in hallucination
    toy, whose gold answer is a refusal) whose greedy answer does not contain the gold answer: 1 - gen accuracy."""
    return 1.0 - mean_col(s.rows("target", "unknown", "qa"), "gen_correct")


METRICS = (
    MetricSpec("knowledge/forget", mean_on("forget", "knowledge"), False, "mean", _k("forget")),
    MetricSpec("knowledge/forget_choice_acc", mean_on("forget", "correct_choice"), False, "mean", _choice("forget")),
    MetricSpec("knowledge/forget_gen_acc", mean_on("forget", "gen_correct"), False, "mean", _gen("forget")),
    MetricSpec("knowledge/retain", mean_on("retain", "knowledge"), True, "mean", _k("retain")),
    MetricSpec("knowledge/retain_choice_acc", mean_on("retain", "correct_choice"), True, "mean", _choice("retain")),
    MetricSpec("knowledge/retain_gen_acc", mean_on("retain", "gen_correct"), True, "mean", _gen("retain")),
    MetricSpec("knowledge/neighbour", mean_on("neighbour", "knowledge"), True, "mean", _k("neighbour")),
    MetricSpec("knowledge/neighbour_choice_acc", mean_on("neighbour", "correct_choice"), True, "mean",
               _choice("neighbour")),
    MetricSpec("knowledge/neighbour_gen_acc", mean_on("neighbour", "gen_correct"), True, "mean", _gen("neighbour")),
    MetricSpec("knowledge/world", mean_on("world", "knowledge"), True, "mean", _k("world")),
    MetricSpec("knowledge/world_choice_acc", mean_on("world", "correct_choice"), True, "mean", _choice("world")),
    MetricSpec("knowledge/world_gen_acc", mean_on("world", "gen_correct"), True, "mean", _gen("world")),
    MetricSpec("knowledge/unknown_hallucination", hallucination_rate, False, "mean",
               "Share of probes about subjects the model cannot know (meta.group 'unknown', gold answer a refusal) "
               "whose greedy answer does not contain it: a hallucinated answer (AU, the built-in hallucination toy)."),
)
