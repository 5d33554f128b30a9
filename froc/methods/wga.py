"""Weighted gradient ascent (WGA): GA with each token weighted by its own (stop-gradient) probability.

Paper: Wang et al. 2025, "Rethinking LLM Unlearning Objectives: A Gradient Perspective and Go
Beyond", https://arxiv.org/abs/2502.19301.

Loss: ``L = mean_b mean_t [sg(p_t)^b * log p_t] + w_r * mnll_r`` over the answer tokens of forget
sequences, i.e. ``-mean_t sg(p_t)^b * (-log p_t)``: tokens the model already finds unlikely get
little push. Defaults b = 1 (authors), w_r = 1.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from froc.methods.base import Batch, Context, Loss
from froc.methods.common import nll_term, seq_mean
from froc.models.logprobs import token_logprobs


@dataclass
class WGAConfig:
    """Hyperparameters of WGA.

    Attributes:
        beta: b, exponent of the token-probability weight.
        retain_weight: w_r, weight of the retain NLL.
    """

    beta: float = 1.0
    retain_weight: float = 1.0


def wga_loss(logp: Tensor, mask: Tensor, *, beta: float) -> Tensor:
    """``mean_b mean_t sg(p_t)^b * log p_t`` over answer tokens; logp, mask (B, T)."""
    weight = (beta * logp.detach()).exp()
    return seq_mean(weight * logp, mask).mean()


def compute(model, batch: Batch, ctx: Context, cfg: WGAConfig) -> Loss:
    logp, mask = token_logprobs(model, batch.forget)
    f = wga_loss(logp, mask, beta=cfg.beta)
    retain = nll_term(model, batch.retain, cfg.retain_weight)
    parts = {"wga": f.detach()}
    if retain is not None:
        parts["retain_nll"] = retain.detach() / cfg.retain_weight
    return Loss(forget=f, retain=retain, parts=parts)
