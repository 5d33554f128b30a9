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


def mink_score(token_logps: Sequence[np.ndarray], k: float = 0.2) -> np.ndarray:
    """Min-K% per sample from per-token log-probs (higher = member)."""
    return np.array([min_k_mean(t, k) for t in token_logps], dtype=np.float64)


def minkpp_score(token_z: Sequence[np.ndarray], k: float = 0.2) -> np.ndarray:
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
