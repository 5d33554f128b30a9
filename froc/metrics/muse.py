"""MUSE metrics (Shi et al. 2024, "MUSE: Machine Unlearning Six-Way Evaluation for Language Models").

- VerbMem: mean ROUGE-L F1 between the greedy continuation of a forget text's first tokens and the
  true continuation. Deviation: the true continuation is cut to ``max_new_tokens`` tokens by the
  scorer so that a short generation budget is not penalised.
- KnowMem: mean ROUGE-L F1 between the greedy answer and the gold answer on QA probes.
- PrivLeak: ``(AUC_unlearned - AUC_oracle) / AUC_oracle * 100`` where AUC is the ROC-AUC of telling
  forget items (members) from held-out items (non-members) by the Min-K% score. 0 = like the oracle;
  strongly positive = forget items are still recognisable; negative = over-unlearned.
"""

from __future__ import annotations

import numpy as np

from froc.metrics.membership import membership_sets, mink_score, roc_auc
from froc.metrics.spec import MetricSpec, ScoreSet, col
from froc.utils import nanmean


def verbmem(rouge_l_f1: np.ndarray) -> float:
    """Mean ROUGE-L F1 of greedy continuations of forget texts."""
    return nanmean(rouge_l_f1)


def knowmem(rouge_l_f1: np.ndarray) -> float:
    """Mean ROUGE-L F1 of greedy answers to QA probes."""
    return nanmean(rouge_l_f1)


def privleak(auc_unlearned: float, auc_oracle: float) -> float:
    """``(AUC_unl - AUC_oracle) / AUC_oracle * 100``.

    Raises:
        ValueError: when ``auc_oracle`` is 0 (undefined ratio).
    """
    if auc_oracle == 0:
        raise ValueError("PrivLeak is undefined when the oracle's AUC is 0")
    return float((auc_unlearned - auc_oracle) / auc_oracle * 100.0)


def mink_auc(member_token_logps, nonmember_token_logps, k: float = 0.2) -> float:
    """ROC-AUC of the Min-K% score, members vs non-members (the AUC inside PrivLeak)."""
    return roc_auc(mink_score(member_token_logps, k), mink_score(nonmember_token_logps, k))


# ----------------------------------------------------------------------------- the reported metrics


def verbmem_forget(s: ScoreSet) -> float:
    """:func:`verbmem` on the forget text items."""
    return verbmem(col(s.rows("target", "forget", "text"), "rouge_l_f1"))


def knowmem_on(group: str):
    """:func:`knowmem` on ``group``'s QA probes."""
    def fn(s: ScoreSet) -> float:
        return knowmem(col(s.rows("target", group, "qa"), "rouge_l_f1"))
    return fn


def privleak_of(s: ScoreSet) -> float:
    """:func:`privleak` from the target's and the oracle's Min-K% membership AUCs."""
    return privleak(roc_auc(*membership_sets(s, "target", "mink")), roc_auc(*membership_sets(s, "oracle", "mink")))


METRICS = (
    MetricSpec("muse/verbmem_forget", verbmem_forget, False, "mean",
               "VerbMem: mean ROUGE-L F1 of greedy continuations of forget texts (MUSE)."),
    MetricSpec("muse/knowmem_forget", knowmem_on("forget"), False, "mean",
               "KnowMem: mean ROUGE-L F1 of greedy answers on forget QA probes (MUSE)."),
    MetricSpec("muse/knowmem_retain", knowmem_on("retain"), True, "mean",
               "KnowMem: mean ROUGE-L F1 of greedy answers on retain QA probes (MUSE)."),
    MetricSpec("muse/privleak", privleak_of, None, "roc_auc_ratio",
               "PrivLeak = (AUC_target - AUC_oracle)/AUC_oracle*100 with Min-K% membership, forget vs non-members "
               "(MUSE; ideal 0).", ("oracle",)),
)
