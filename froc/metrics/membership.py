"""Membership-inference scores and their ROC-AUC (forget = members vs held-out = non-members).

Every score is oriented so that **higher means "more likely a member"** (seen in training).

- loss (Yeom et al. 2018): the mean answer log-prob, i.e. minus the loss.
- zlib ratio (Carlini et al. 2021, "Extracting Training Data from Large Language Models"): mean log-prob
  divided by the zlib-compressed length of the text in bytes (as in the Min-K% reference code).
- Min-K% (Shi et al. 2024, "Detecting Pretraining Data from Large Language Models"): mean of the lowest
  K% token log-probs. Deviation: at least one token is always kept (the paper's code returns NaN
  for texts shorter than 1/K tokens).
- Min-K%++ (Zhang et al. 2024, "Min-K%++: Improved Baseline for Detecting Pre-Training Data"): the same
  over token log-probs standardised by the mean and std of log p under the model's own next-token
  distribution at that position (computed by :mod:`froc.metrics.scoring` from the logits).
- reference difference (Carlini et al. 2021 / Mireshghallah et al. 2022): target mean log-prob minus a
  reference model's on the same text.
"""

from __future__ import annotations

import math
import zlib
from typing import Sequence

import numpy as np

from froc.metrics.spec import MetricSpec, MissingData, ScoreSet, col, lists

# the default K of Min-K% and Min-K%++: MUSE's (its PrivLeak is 'forget_holdout_Min-40%') and OpenUnlearning's
# (mia_min_k k=0.4); froc used 0.2 (the Min-K% paper's best setting) before issue 13
MINK_K = 0.4


def n_lowest(n_tokens: int, k: float) -> int:
    """How many of ``n_tokens`` values the Min-K% family averages: ``max(1, floor(k * n))``."""
    if not 0.0 < k <= 1.0:
        raise ValueError(f"k must be in (0, 1], got {k}")
    return max(1, math.floor(k * n_tokens + 1e-9))


def min_k_mean(values: np.ndarray, k: float) -> float:
    """Mean of the lowest ``k`` share of ``values`` (NaN for an empty array)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return float("nan")
    n = n_lowest(v.size, k)
    if n == 1:  # the common case for short answers: the minimum, without a sort
        return float(v.min())
    return float(np.sort(v)[:n].sum() / n)  # == .mean(), without its overhead


def loss_score(logp_mean: np.ndarray) -> np.ndarray:
    """Yeom et al. loss attack: the mean answer log-prob (higher = member)."""
    return np.asarray(logp_mean, dtype=np.float64)


def zlib_length(text: str) -> int:
    """zlib-compressed length of ``text`` (UTF-8) in bytes: the zlib "entropy" of Carlini et al."""
    return len(zlib.compress(text.encode("utf-8")))


def zlib_score(logp_mean: np.ndarray, zlib_len: np.ndarray) -> np.ndarray:
    """Carlini et al. zlib ratio: mean log-prob / zlib length (higher = member)."""
    return np.asarray(logp_mean, dtype=np.float64) / np.asarray(zlib_len, dtype=np.float64)


def mink_score(token_logps: Sequence[np.ndarray], k: float = MINK_K) -> np.ndarray:
    """Min-K% per sample from per-token log-probs (higher = member)."""
    return np.array([min_k_mean(t, k) for t in token_logps], dtype=np.float64)


def minkpp_score(token_z: Sequence[np.ndarray], k: float = MINK_K) -> np.ndarray:
    """Min-K%++ per sample from per-token standardised log-probs (higher = member)."""
    return mink_score(token_z, k)


def reference_score(logp_target: np.ndarray, logp_reference: np.ndarray) -> np.ndarray:
    """Reference-model attack: target minus reference mean log-prob on the same samples (higher = member)."""
    return np.asarray(logp_target, dtype=np.float64) - np.asarray(logp_reference, dtype=np.float64)


def roc_auc(member_scores: np.ndarray, nonmember_scores: np.ndarray) -> float:
    """ROC-AUC of telling members from non-members by score (scikit-learn's ``roc_auc_score``).

    Ties count one half (the Mann-Whitney convention): identical scores everywhere give 0.5.

    Raises:
        ValueError: when either group is empty (AUC is undefined for one class) or a score is NaN.
    """
    from sklearn.metrics import roc_auc_score

    m = np.asarray(member_scores, dtype=np.float64).ravel()
    n = np.asarray(nonmember_scores, dtype=np.float64).ravel()
    if m.size == 0 or n.size == 0:
        raise ValueError(f"ROC-AUC needs members and non-members; got {m.size} members and {n.size} non-members")
    bad = int(np.isnan(m).sum() + np.isnan(n).sum())
    if bad:
        raise ValueError(f"ROC-AUC got {bad} NaN score(s); drop or fix those samples first")
    y = np.concatenate([np.ones(m.size), np.zeros(n.size)])
    return float(roc_auc_score(y, np.concatenate([m, n])))


# ----------------------------------------------------------------------------- the reported metrics

_SCORE_COLUMNS = {  # score -> (gold column, perturbed column)
    "loss": ("gold_logp_mean", "perturbed_logp_mean"),
    "mink": ("mink", "perturbed_mink"),
    "minkpp": ("minkpp", "perturbed_minkpp"),
}


def membership_sets(s: ScoreSet, which: str, score: str) -> tuple[np.ndarray, np.ndarray]:
    """Member scores (forget probes' gold answers) and non-member scores for one model.

    Non-members: the ``nonmember_group`` probes' gold answers when there are any, else the forget
    probes' perturbed answers (same questions, answers of the same type, never trained on by any model:
    a deviation from MUSE's held-out documents). Scores are oriented higher = member; NaN scores are dropped.
    """
    f = s.rows(which, "forget")
    h = s.rows(which, s.nonmember_group, required=False)

    def gold(d):
        if score == "zlib":
            return zlib_score(col(d, "gold_logp_mean"), col(d, "gold_zlib_len"))
        return col(d, _SCORE_COLUMNS[score][0])

    def perturbed(d):
        if score == "zlib":
            lp, zl = lists(d, "perturbed_logp_mean"), lists(d, "perturbed_zlib_len")
            return np.array([a / b for x, y in zip(lp, zl) for a, b in zip(x, y)], dtype=np.float64)
        return np.array([v for vs in lists(d, _SCORE_COLUMNS[score][1]) for v in vs], dtype=np.float64)

    members = gold(f)
    nonmembers = gold(h) if len(h) else perturbed(f)
    members, nonmembers = members[~np.isnan(members)], nonmembers[~np.isnan(nonmembers)]
    if members.size == 0 or nonmembers.size == 0:
        raise MissingData(f"membership needs forget probes and non-members (meta.group "
                          f"'{s.nonmember_group}' or perturbed answers of forget probes)")
    return members, nonmembers


def auc_of(score: str):
    """ROC-AUC of membership score ``score`` (loss, zlib, mink, minkpp) on the target, forget vs non-members."""
    def fn(s: ScoreSet) -> float:
        return roc_auc(*membership_sets(s, "target", score))
    return fn


def reference_auc(s: ScoreSet) -> float:
    """ROC-AUC of the reference-model score (target minus oracle mean log-prob), forget vs non-members."""
    mt, nt = membership_sets(s, "target", "loss")
    mo, no = membership_sets(s, "oracle", "loss")
    if mt.shape != mo.shape or nt.shape != no.shape:
        raise MissingData("target and oracle scores are not aligned (different NaN samples)")
    return roc_auc(reference_score(mt, mo), reference_score(nt, no))


def _auc_doc(name: str) -> str:
    return f"ROC-AUC of the {name} membership score, forget vs non-members, on the target (ideal: the oracle's)."


METRICS = (
    MetricSpec("mia/loss_auc", auc_of("loss"), None, "roc_auc", _auc_doc("loss")),
    MetricSpec("mia/zlib_auc", auc_of("zlib"), None, "roc_auc", _auc_doc("zlib ratio")),
    MetricSpec("mia/mink_auc", auc_of("mink"), None, "roc_auc", _auc_doc("Min-K%")),
    MetricSpec("mia/minkpp_auc", auc_of("minkpp"), None, "roc_auc", _auc_doc("Min-K%++")),
    MetricSpec("mia/reference_auc", reference_auc, None, "roc_auc",
               "ROC-AUC of the reference-model score (target minus oracle mean log-prob), forget vs non-members.",
               ("oracle",)),
)
