"""SimNPO: NPO without a reference model, length-normalised.

Paper: Fan et al. 2024, "Simplicity Prevails: Rethinking Negative Preference Optimization for LLM
Unlearning", https://arxiv.org/abs/2410.07163.

Loss: ``L = w_f * mean_b -(2/b) log sigmoid(b (mnll_b - d)) + w_r * mnll_r`` where
``mnll_b = -(1/|y_b|) log P_theta(y_b|x_b)`` over answer tokens. The paper writes the margin as
``gamma``; here ``d = gamma / b`` (so ``b * (mnll - d) = b * mnll - gamma``). Defaults from the
authors' TOFU setting: b = 2.5, d = 0, w_f = 0.125, w_r = 1. No reference model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

from froc.methods.base import Batch, Context, Loss
from froc.methods.common import mnll, nll_term
from froc.models.logprobs import token_logprobs


@dataclass
class SimNPOConfig:
    """Hyperparameters of SimNPO.

    Attributes:
        beta: b, inverse temperature.
        delta: d, margin on the mean NLL (paper's gamma = b * d).
        forget_weight: w_f, weight of the SimNPO term.
        retain_weight: w_r, weight of the retain NLL (0 = no retain data).
    """

    beta: float = 2.5
    delta: float = 0.0
    forget_weight: float = 0.125
    retain_weight: float = 1.0


def simnpo_loss(seq_mnll: Tensor, *, beta: float, delta: float = 0.0) -> Tensor:
    """``mean_b -(2/b) log sigmoid(b (mnll_b - d))``; seq_mnll (B,) per-sequence mean answer NLL."""
    return (-2.0 / beta * F.logsigmoid(beta * (seq_mnll - delta))).mean()


def compute(model, batch: Batch, ctx: Context, cfg: SimNPOConfig) -> Loss:
    logp, mask = token_logprobs(model, batch.forget)
    m = mnll(logp, mask)
    f = simnpo_loss(m, beta=cfg.beta, delta=cfg.delta)
    retain = nll_term(model, batch.retain, cfg.retain_weight)
    parts = {"simnpo": f.detach(), "forget_nll": m.mean().detach()}
    if retain is not None:
        parts["retain_nll"] = retain.detach() / cfg.retain_weight
    return Loss(forget=cfg.forget_weight * f, retain=retain, parts=parts)
