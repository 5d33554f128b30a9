"""Negative Preference Optimization (NPO), optionally with a retain NLL term (NPO+RT).

Paper: Zhang et al. 2024, "Negative Preference Optimization: From Catastrophic Collapse to
Effective Unlearning", https://arxiv.org/abs/2404.05868.

Loss: ``L = mean_b -(2/b) log sigmoid(-b (log P_theta(y_b|x_b) - log P_ref(y_b|x_b))) + w_r * mnll_r``
with *summed* answer-token log-probs (the sigmoid is applied to sequence log-ratios, never to
raw logits). ``log P_ref`` comes from the engine's reference cache (one no-grad pass before
training; no second model is held). Defaults: b = 0.1 (authors); ``retain_weight`` 0 = plain
NPO, > 0 = NPO+RT (authors' NPO+RT uses 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

from froc.methods.base import Batch, Context, Loss
from froc.methods.common import nll_term
from froc.models.logprobs import token_logprobs


@dataclass
class NPOConfig:
    """Hyperparameters of NPO.

    Attributes:
        beta: inverse temperature b of the log-sigmoid.
        retain_weight: w_r, weight of the retain NLL (0 = plain NPO, > 0 = NPO+RT).
    """

    beta: float = 0.1
    retain_weight: float = 0.0


def npo_loss(logp: Tensor, ref_logp: Tensor, *, beta: float) -> Tensor:
    """``mean_b -(2/b) log sigmoid(-b (logp_b - ref_logp_b))``.

    Args:
        logp: (B,) summed answer log-probs under the model being unlearned.
        ref_logp: (B,) the same under the reference model (no gradient).
    """
    return (-2.0 / beta * F.logsigmoid(-beta * (logp - ref_logp))).mean()


def compute(model, batch: Batch, ctx: Context, cfg: NPOConfig) -> Loss:
    logp, mask = token_logprobs(model, batch.forget)
    seq = logp.sum(-1)  # (B,)
    ref = ctx.ref_forget[batch.forget_idx]
    f = npo_loss(seq, ref, beta=cfg.beta)
    retain = nll_term(model, batch.retain, cfg.retain_weight)
    parts = {"npo": f.detach(), "log_ratio": (seq - ref).mean().detach()}
    if retain is not None:
        parts["retain_nll"] = retain.detach() / cfg.retain_weight
    return Loss(forget=f, retain=retain, parts=parts)
