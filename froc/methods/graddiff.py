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


def graddiff_loss(logp_f: Tensor, mask_f: Tensor, logp_r: Tensor | None = None, mask_r: Tensor | None = None, *,
                  forget_weight: float = 1.0, retain_weight: float = 1.0) -> Loss:
    """``-g * mean mnll_f`` (forget term) and ``a * mean mnll_r`` (retain term) from per-token log-probs and
    masks (B, T); the retain term is None without retain log-probs. ``.total`` is the GradDiff loss."""
    nll_f = mnll(logp_f, mask_f).mean()
    parts = {"forget_nll": nll_f.detach()}
    retain = None
    if logp_r is not None:
        nll_r = mnll(logp_r, mask_r).mean()
        retain = retain_weight * nll_r
        parts["retain_nll"] = nll_r.detach()
    return Loss(forget=-forget_weight * nll_f, retain=retain, parts=parts)


def compute(model, batch: Batch, ctx: Context, cfg: GradDiffConfig) -> Loss:
    logp_f, mask_f = token_logprobs(model, batch.forget)
    logp_r = mask_r = None
    if batch.retain is not None and cfg.retain_weight != 0:
        logp_r, mask_r = token_logprobs(model, batch.retain)
    return graddiff_loss(logp_f, mask_f, logp_r, mask_r, forget_weight=cfg.forget_weight,
                         retain_weight=cfg.retain_weight)
