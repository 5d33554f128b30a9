"""SatImp: gradient ascent with each token weighted by saturation and importance.

Paper: Yang et al. 2025, "Exploring Criteria of Loss Reweighting to Enhance LLM Unlearning" (ICML 2025),
https://arxiv.org/abs/2505.11953; baseline ``SatImp`` of the reference toolkit (locuslab/open-unlearning,
``compute_satimp_loss`` in ``src/trainer/utils.py``).

Loss: ``L = g * mean_b mean_t [w_t * log p_t] + a * mnll_r`` over the forget answer tokens with the
stop-gradient weight ``w_t = sg(p_t)^b1 * sg(1 - p_t)^b2``: the saturation factor ``(1-p)^b2`` takes
weight off tokens that are already forgotten, the importance factor ``p^b1`` keeps it on tokens the
model still predicts confidently (WGA is the case b2 = 0). Defaults: b1 = 5, b2 = 1 (authors); g = 0.1,
a = 1 (the reference toolkit's config: a forget/retain ratio of 10).

Deviation: per-sequence means over answer tokens, then the batch mean (the reference averages over every
answer token of the batch).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from froc.methods.base import Batch, Context, Loss
from froc.methods.common import nll_term, seq_mean
from froc.models.logprobs import token_logprobs


@dataclass
class SatImpConfig:
    """Hyperparameters of SatImp.

    Attributes:
        beta1: b1, exponent of the importance weight p.
        beta2: b2, exponent of the saturation weight 1 - p.
        forget_weight: g, weight of the weighted ascent term.
        retain_weight: a, weight of the retain NLL.
    """

    beta1: float = 5.0
    beta2: float = 1.0
    forget_weight: float = 0.1
    retain_weight: float = 1.0


def satimp_loss(logp: Tensor, mask: Tensor, *, beta1: float, beta2: float) -> Tensor:
    """``mean_b mean_t sg(p_t)^b1 sg(1-p_t)^b2 log p_t`` over answer tokens; logp, mask (B, T)."""
    p = logp.detach().exp()
    weight = p.pow(beta1) * (1.0 - p).clamp_min(0.0).pow(beta2)
    return seq_mean(weight * logp, mask).mean()


def compute(model, batch: Batch, ctx: Context, cfg: SatImpConfig) -> Loss:
    logp, mask = token_logprobs(model, batch.forget)
    s = satimp_loss(logp, mask, beta1=cfg.beta1, beta2=cfg.beta2)
    retain = nll_term(model, batch.retain, cfg.retain_weight)
    parts = {"satimp": s.detach()}
    if retain is not None:
        parts["retain_nll"] = retain.detach() / cfg.retain_weight
    return Loss(forget=cfg.forget_weight * s, retain=retain, parts=parts)
