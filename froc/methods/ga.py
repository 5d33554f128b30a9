"""Gradient ascent (GA): raise the NLL of the forget answers.

Paper: Jang et al. 2023, "Knowledge Unlearning for Mitigating Privacy Risks in Language Models",
https://arxiv.org/abs/2210.01504 (baseline of TOFU, https://arxiv.org/abs/2401.06121).

Loss (minimised): ``L = -mean_b mnll(y_b | x_b)`` on forget items, mnll = NLL / |y| over answer
tokens. Defaults: no hyperparameters; the authors use lr 1e-5 for ~5-10 epochs (TOFU). GA is
unbounded below: as the model collapses the loss falls without limit and the engine's
``divergence_bound`` ends the run. Deviation: per-sequence mean then batch mean (TOFU's GA uses
the token mean over the batch), so the loss does not depend on batch composition.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from froc.methods.base import Batch, Context, Loss
from froc.methods.common import mnll
from froc.models.logprobs import token_logprobs


@dataclass
class GAConfig:
    """Gradient ascent has no hyperparameters of its own (lr and steps live in UnlearnConfig)."""


def ga_loss(logp: Tensor, mask: Tensor) -> Tensor:
    """``-mean_b mnll_b``: per-token answer log-probs and mask (B, T) -> scalar."""
    return -mnll(logp, mask).mean()


def compute(model, batch: Batch, ctx: Context, cfg: GAConfig) -> Loss:
    logp, mask = token_logprobs(model, batch.forget)
    f = ga_loss(logp, mask)
    return Loss(forget=f, parts={"forget_nll": -f.detach()})
