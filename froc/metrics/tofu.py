"""TOFU metrics (Maini et al. 2024, "TOFU: A Task of Fictitious Unlearning for LLMs").

All inputs are per-sample arrays from :func:`froc.metrics.scoring.score_probes`; log-probs are
length-normalised (mean over answer tokens), so ``P(a) = exp(mean log p)`` as in TOFU's code.

- probability: mean ``P(a|q)`` (TOFU uses this on forget/retain; on world facts it uses the
  option-normalised probability, the knowledge score of :mod:`froc.metrics.knowledge`).
- ROUGE-L recall of the greedy answer (computed per sample by the scorer).
- truth ratio ``TR = geomean_j P(a~_j) / P(a_para)``; forget reports ``mean min(TR, 1/TR)``, the
  other sets ``mean max(0, 1 - TR)``. Deviation: when a probe has no paraphrased answer the gold
  answer stands in for it (``used_gold`` says where); a probe without perturbed answers has no TR (NaN).
- forget quality: p-value of the two-sample Kolmogorov-Smirnov test between the unlearned model's
  and the retain oracle's per-probe TR on the forget set.
- model utility: harmonic mean of {probability, ROUGE, truth-ratio score} over the utility sets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from froc.metrics.spec import UTILITY_GROUPS, MetricSpec, MissingData, ScoreSet, col, lists, mean_col
from froc.utils import nanmean


def _as_float(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def probability(gold_logp_mean: np.ndarray) -> float:
    """Mean length-normalised answer probability ``exp(mean log p(a|q))`` (NaN samples skipped)."""
    return nanmean(np.exp(_as_float(gold_logp_mean)))


@dataclass(frozen=True)
class TruthRatio:
    """Per-sample truth ratios and where the gold answer stood in for a missing paraphrase."""

    values: np.ndarray  # (N,) TR, NaN without perturbed answers
    log_values: np.ndarray  # (N,) log TR
    used_gold: np.ndarray  # (N,) bool

    @property
    def n_gold_fallback(self) -> int:
        return int(self.used_gold.sum())


def truth_ratio(perturbed_logp_mean: Sequence[Sequence[float]], para_logp_mean: np.ndarray,
                gold_logp_mean: np.ndarray | None = None) -> TruthRatio:
    """Per-sample ``TR = exp(mean_j log P(a~_j) - log P(a_para))`` (length-normalised log-probs).

    Args:
        perturbed_logp_mean: per sample, the mean log-probs of its perturbed answers.
        para_logp_mean: (N,) mean log-prob of the paraphrased answer, NaN where there is none.
        gold_logp_mean: (N,) gold mean log-prob, used where the paraphrase is missing (else NaN).
    """
    para = _as_float(para_logp_mean)
    gold = _as_float(gold_logp_mean) if gold_logp_mean is not None else np.full(para.shape, np.nan)
    used_gold = np.isnan(para) & ~np.isnan(gold)
    denom = np.where(used_gold, gold, para)
    pert_mean = np.array([_as_float(p).mean() if p is not None and len(p) else np.nan for p in perturbed_logp_mean])
    used_gold &= ~np.isnan(pert_mean)
    log_tr = pert_mean - denom
    return TruthRatio(values=np.exp(log_tr), log_values=log_tr, used_gold=used_gold)


def truth_ratio_score(tr: np.ndarray, *, forget: bool) -> float:
    """TOFU's truth-ratio statistic: forget ``mean min(TR, 1/TR)``, otherwise ``mean max(0, 1 - TR)``.

    Higher is better in both cases (forget: the model cannot tell true from false; retain: it prefers
    the true answer). NaN samples are skipped.
    """
    t = _as_float(tr)
    with np.errstate(divide="ignore", over="ignore"):
        per = np.exp(-np.abs(np.log(t))) if forget else np.maximum(0.0, 1.0 - t)
    return nanmean(per)


def forget_quality(tr_unlearned: np.ndarray, tr_oracle: np.ndarray) -> float:
    """KS two-sample p-value between the unlearned model's and the oracle's forget-set truth ratios.

    ``scipy.stats.ks_2samp`` (two-sided, ``method="auto"``: exact for small samples). Identical
    distributions give 1.0. NaN samples are dropped.

    Raises:
        ValueError: when either side has no truth ratio.
    """
    from scipy.stats import ks_2samp

    a, b = _as_float(tr_unlearned), _as_float(tr_oracle)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if a.size == 0 or b.size == 0:
        raise ValueError(f"forget quality needs truth ratios of both models; got {a.size} and {b.size}")
    return float(ks_2samp(a, b).pvalue)


def model_utility(components: Sequence[float]) -> float:
    """Harmonic mean of the utility components (TOFU's model utility); 0 if any component is 0.

    Raises:
        ValueError: on no components, a NaN component or a negative one.
    """
    c = _as_float(list(components))
    if c.size == 0 or np.isnan(c).any() or (c < 0).any():
        raise ValueError(f"model utility needs non-negative, non-NaN components; got {c.tolist()}")
    if (c == 0).any():
        return 0.0
    return float(c.size / (1.0 / c).sum())


# ----------------------------------------------------------------------------- the reported metrics (rows -> numbers)


def _tr(df: pd.DataFrame) -> np.ndarray:
    return truth_ratio(lists(df, "perturbed_logp_mean"), col(df, "para_logp_mean"), col(df, "gold_logp_mean")).values


def probability_on(group: str):
    """Mean gold-answer probability on ``group``'s QA probes; the option-normalised one on world facts (TOFU)."""
    def fn(s: ScoreSet) -> float:
        d = s.rows("target", group, "qa")
        if group == "world":  # TOFU: option-normalised probability on world facts
            return mean_col(d, "knowledge")
        return probability(col(d, "gold_logp_mean"))
    return fn


def rouge_on(group: str):
    """Mean ROUGE-L recall of the greedy answers on ``group``'s QA probes."""
    def fn(s: ScoreSet) -> float:
        return mean_col(s.rows("target", group, "qa"), "rouge_l_recall")
    return fn


def truth_ratio_on(group: str):
    """TOFU's truth-ratio statistic on ``group``'s QA probes (forget: ``min(TR, 1/TR)``)."""
    def fn(s: ScoreSet) -> float:
        v = truth_ratio_score(_tr(s.rows("target", group, "qa")), forget=group == "forget")
        if math.isnan(v):
            raise MissingData(f"no '{group}' probe has perturbed answers")
        return v
    return fn


def forget_quality_of(s: ScoreSet) -> float:
    """:func:`forget_quality` of the target's and the oracle's forget-probe truth ratios."""
    return forget_quality(_tr(s.rows("target", "forget", "qa")), _tr(s.rows("oracle", "forget", "qa")))


def model_utility_of(s: ScoreSet) -> float:
    """:func:`model_utility` of every computable {probability, ROUGE, truth ratio} of the utility groups."""
    comps = []
    for g in UTILITY_GROUPS:
        if not s.mask(g, "qa").any():
            continue
        for fn in (probability_on(g), rouge_on(g), truth_ratio_on(g)):
            try:
                comps.append(fn(s))
            except MissingData:
                pass
    if not comps:
        raise MissingData(f"no probes with meta.group in {UTILITY_GROUPS}")
    return model_utility(comps)


def _p(g: str) -> str:
    return f"Mean length-normalised gold-answer probability exp(mean log p) on {g} probes (TOFU)."


def _rouge(g: str) -> str:
    return f"Mean ROUGE-L recall of the greedy answer vs the gold answer on {g} probes (TOFU)."


def _tr_doc(g: str) -> str:
    return f"Mean max(0, 1 - TR) on {g} probes (TOFU; high = prefers the true answer)."


METRICS = (
    MetricSpec("tofu/forget_probability", probability_on("forget"), False, "mean", _p("forget")),
    MetricSpec("tofu/forget_rouge", rouge_on("forget"), False, "mean", _rouge("forget")),
    MetricSpec("tofu/forget_truth_ratio", truth_ratio_on("forget"), True, "mean",
               "Mean min(TR, 1/TR) on forget probes (TOFU; 1 = cannot tell true from false)."),
    MetricSpec("tofu/retain_probability", probability_on("retain"), True, "mean", _p("retain")),
    MetricSpec("tofu/retain_rouge", rouge_on("retain"), True, "mean", _rouge("retain")),
    MetricSpec("tofu/retain_truth_ratio", truth_ratio_on("retain"), True, "mean", _tr_doc("retain")),
    MetricSpec("tofu/neighbour_probability", probability_on("neighbour"), True, "mean", _p("neighbour")),
    MetricSpec("tofu/neighbour_rouge", rouge_on("neighbour"), True, "mean", _rouge("neighbour")),
    MetricSpec("tofu/neighbour_truth_ratio", truth_ratio_on("neighbour"), True, "mean", _tr_doc("neighbour")),
    MetricSpec("tofu/world_probability", probability_on("world"), True, "mean",
               "Mean option-normalised probability P(a)/(P(a)+sum P(a~)) (TOFU, world facts)."),
    MetricSpec("tofu/world_rouge", rouge_on("world"), True, "mean", _rouge("world")),
    MetricSpec("tofu/world_truth_ratio", truth_ratio_on("world"), True, "mean", _tr_doc("world")),
    MetricSpec("tofu/forget_quality", forget_quality_of, True, "ks_pvalue",
               "KS two-sample p-value between the target's and the retain oracle's forget-probe truth ratios (TOFU).",
               ("oracle",)),
    MetricSpec("tofu/model_utility", model_utility_of, True, "harmonic_mean",
               "Harmonic mean of {probability, ROUGE, truth-ratio score} over retain, neighbour and world probes "
               "(TOFU); components that cannot be computed are left out."),
)
