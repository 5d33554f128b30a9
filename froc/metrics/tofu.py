"""TOFU metrics (Maini et al. 2024, "TOFU: A Task of Fictitious Unlearning for LLMs").

All inputs are per-sample arrays from :func:`froc.metrics.scoring.score_probes`; log-probs are
length-normalised (mean over answer tokens), so ``P(a) = exp(mean log p)`` as in TOFU's code.

- probability: mean ``P(a|q)`` (TOFU uses this on forget/retain; on world facts it uses the
  option-normalised probability, see :func:`normalised_probability`).
- ROUGE-L recall of the greedy answer (computed per sample by the scorer).
- truth ratio ``TR = geomean_j P(a~_j) / P(a_para)``; forget reports ``mean min(TR, 1/TR)``, the
  other sets ``mean max(0, 1 - TR)``. Deviation: when a probe has no paraphrased answer the gold
  answer stands in for it (``used_gold`` says where); a probe without perturbed answers has no TR (NaN).
- forget quality: p-value of the two-sample Kolmogorov-Smirnov test between the unlearned model's
  and the retain oracle's per-probe TR on the forget set.
- model utility: harmonic mean of {probability, ROUGE, truth-ratio score} over the utility sets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


def _as_float(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _nanmean(x) -> float:
    a = _as_float(x)
    a = a[~np.isnan(a)]
    return float(a.mean()) if a.size else float("nan")


def probability(gold_logp_mean: np.ndarray) -> float:
    """Mean length-normalised answer probability ``exp(mean log p(a|q))`` (NaN samples skipped)."""
    return _nanmean(np.exp(_as_float(gold_logp_mean)))


def normalised_probability(gold_logp_mean: np.ndarray, perturbed_logp_mean: Sequence[Sequence[float]]) -> np.ndarray:
    """Per-sample ``P(a) / (P(a) + sum_j P(a~_j))`` with ``P = exp(mean log p)``, via log-sum-exp.

    This is FROC's knowledge score ``k_i``. NaN for a probe without perturbed answers.
    """
    gold = _as_float(gold_logp_mean)
    out = np.full(gold.shape, np.nan)
    for i, (g, pert) in enumerate(zip(gold, perturbed_logp_mean)):
        p = _as_float(pert) if pert is not None else np.empty(0)
        if p.size == 0 or np.isnan(g):
            continue
        m = np.concatenate([[g], p])
        top = m.max()
        out[i] = np.exp(g - (top + np.log(np.exp(m - top).sum())))
    return out


def correct_choice(gold_logp_mean: np.ndarray, perturbed_logp_mean: Sequence[Sequence[float]]) -> np.ndarray:
    """Per-sample 1.0 when the gold answer beats every perturbed answer (mean log-prob), else 0.0; NaN without options."""
    gold = _as_float(gold_logp_mean)
    out = np.full(gold.shape, np.nan)
    for i, (g, pert) in enumerate(zip(gold, perturbed_logp_mean)):
        p = _as_float(pert) if pert is not None else np.empty(0)
        if p.size and not np.isnan(g):
            out[i] = float(g > p.max())
    return out


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
    return _nanmean(per)


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
