"""Gradient difference (GradDiff): gradient ascent on forget, descent on retain.

Paper: Liu et al. 2022, "Continual Learning and Private Unlearning", https://arxiv.org/abs/2203.12817;
the TOFU baseline (Maini et al. 2024, https://arxiv.org/abs/2401.06121).

Loss: ``L = -g * mnll(y_f|x_f) + a * mnll(y_r|x_r)`` (batch means of per-sequence mean NLL over
answer tokens). Defaults g = a = 1 (authors).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from froc.methods.base import Batch, Context, Loss
from froc.methods.common import mnll
from froc.models.logprobs import token_logprobs


@dataclass
class GradDiffConfig:
    """Hyperparameters of GradDiff.

    Attributes:
        forget_weight: g, weight of the ascent term on forget data.
        retain_weight: a, weight of the NLL on retain data.
    """

    forget_weight: float = 1.0
    retain_weight: float = 1.0


def graddiff_loss(logp_f: Tensor, mask_f: Tensor, logp_r: Tensor, mask_r: Tensor, *,
                  forget_weight: float = 1.0, retain_weight: float = 1.0) -> Tensor:
    """``-g * mean mnll_f + a * mean mnll_r`` from per-token log-probs and masks (B, T)."""
    return -forget_weight * mnll(logp_f, mask_f).mean() + retain_weight * mnll(logp_r, mask_r).mean()


def compute(model, batch: Batch, ctx: Context, cfg: GradDiffConfig) -> Loss:
    logp_f, mask_f = token_logprobs(model, batch.forget)
    nll_f = mnll(logp_f, mask_f).mean()
    parts = {"forget_nll": nll_f.detach()}
    retain = None
    if batch.retain is not None and cfg.retain_weight != 0:
        logp_r, mask_r = token_logprobs(model, batch.retain)
        nll_r = mnll(logp_r, mask_r).mean()
        retain = cfg.retain_weight * nll_r
        parts["retain_nll"] = nll_r.detach()
    return Loss(forget=-cfg.forget_weight * nll_f, retain=retain, parts=parts)
