"""Gradient ascent with a KL term to the reference model on retain data (TOFU "KL").

Paper: Maini et al. 2024, "TOFU: A Task of Fictitious Unlearning for LLMs", https://arxiv.org/abs/2401.06121.

Loss: ``L = -mnll(y_f|x_f) + w * KL(ref || theta)`` where the KL is taken per answer token of the
retain sequence, ``KL_t = sum_v p_ref(v) (log p_ref(v) - log p_theta(v))``, averaged over the
answer tokens of each sequence (prompt and padding masked; averaging over them is a known
pitfall) and then over the batch. Default w = 1. Needs the full reference distribution, so the
engine keeps a frozen copy of the model (``ref_model``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

from froc.methods.base import Batch, Context, Loss
from froc.methods.common import mnll, seq_mean, shift
from froc.models.logprobs import token_logprobs


@dataclass
class GAKLConfig:
    """Hyperparameters of GA+KL.

    Attributes:
        kl_weight: w, weight of KL(ref || theta) on retain answer tokens.
    """

    kl_weight: float = 1.0


def kl_ref_theta(logits: Tensor, ref_logits: Tensor, labels: Tensor) -> Tensor:
    """``mean_b mean_t KL(p_ref || p_theta)`` over answer tokens.

    Args:
        logits, ref_logits: (B, T, V) model and reference logits of the same sequences.
        labels: (B, T), -100 on prompt and padding.
    """
    lg, _, mask = shift(logits, labels)
    rlg, _, _ = shift(ref_logits, labels)
    logq = F.log_softmax(lg, -1)  # (B, T-1, V)
    logp = F.log_softmax(rlg, -1)
    kl = (logp.exp() * (logp - logq)).sum(-1)  # (B, T-1)
    return seq_mean(kl, mask).mean()


def compute(model, batch: Batch, ctx: Context, cfg: GAKLConfig) -> Loss:
    logp_f, mask_f = token_logprobs(model, batch.forget)
    nll_f = mnll(logp_f, mask_f).mean()
    parts = {"forget_nll": nll_f.detach()}
    retain = None
    if batch.retain is not None and cfg.kl_weight != 0:
        r = batch.retain
        logits = model(input_ids=r["input_ids"], attention_mask=r["attention_mask"]).logits
        kl = kl_ref_theta(logits, ctx.ref.logits(r), r["labels"])
        retain = cfg.kl_weight * kl
        parts["retain_kl"] = kl.detach()
    return Loss(forget=-nll_f, retain=retain, parts=parts)
