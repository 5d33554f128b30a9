"""Latent adversarial unlearning (LAU): AdvGA and AdvNPO.

Seed paper: Yuan et al. 2024, "Towards Robust Knowledge Unlearning: An Adversarial Framework for
Assessing and Improving Unlearning Robustness in Large Language Models" (LAU, AdvGA, AdvNPO).

Each step is a min-max problem. Inner (attack) stage: PGD finds an additive perturbation
``delta`` (B, T, D) of the residual stream after decoder layer ``layer`` that *restores* the forget
answers, i.e. minimises their mean NLL, under a per-token L2 bound ``||delta_t|| <= eps``:
``delta <- Proj_eps(delta - step_size * grad / ||grad||)`` for ``pgd_steps`` steps (normalised
gradient step per token), starting from zero; padding positions stay zero. Outer (defence) stage:
the GA or NPO forget loss is computed with ``delta`` applied (a constant), and the retain NLL
(weight w_r) without it. NPO's reference log-probs are the clean reference model's (cache).

Defaults: eps = 8 and 6 PGD steps are the authors' 7B settings; ``eps`` is an absolute L2 norm, so
scale it to the model's residual norms for small models. Unverified details (chosen here): the
middle layer (n_layers // 2) when ``layer`` is None, per-token L2 ball, zero start,
step_size = eps / 4, perturbation on all non-padding positions, w_r = 0 (plain GA/NPO).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from froc.methods.base import Batch, Context, Loss
from froc.methods.common import check_layer, mnll, nll_term, num_layers, perturb_layer
from froc.methods.ga import ga_loss
from froc.methods.npo import npo_loss
from froc.models.logprobs import token_logprobs


@dataclass
class AdvGAConfig:
    """Hyperparameters of AdvGA.

    Attributes:
        layer: decoder layer whose output is perturbed (None = n_layers // 2).
        eps: L2 radius of the per-token perturbation.
        pgd_steps: inner PGD steps.
        step_size: PGD step length (None = eps / 4).
        retain_weight: w_r, weight of the retain NLL.
    """

    layer: int | None = None
    eps: float = 8.0
    pgd_steps: int = 6
    step_size: float | None = None
    retain_weight: float = 0.0


@dataclass
class AdvNPOConfig(AdvGAConfig):
    """Hyperparameters of AdvNPO: AdvGA's plus NPO's beta."""

    beta: float = 0.1


def project_l2(delta: Tensor, eps: float) -> Tensor:
    """Scale each token's vector (last dim) back into the L2 ball of radius ``eps``."""
    norm = delta.norm(dim=-1, keepdim=True)
    return delta * (eps / norm.clamp_min(1e-12)).clamp(max=1.0)


def pgd_perturbation(model, batch: dict[str, Tensor], layer: int, *, eps: float, steps: int,
                     step_size: float) -> Tensor:
    """Inner attack: the (B, T, D) residual perturbation that minimises the forget NLL (detached)."""
    B, T = batch["input_ids"].shape
    keep = batch["attention_mask"].unsqueeze(-1).float()  # (B, T, 1)
    delta = torch.zeros(B, T, model.config.hidden_size, device=batch["input_ids"].device, requires_grad=True)
    with torch.enable_grad():
        for _ in range(steps):
            with perturb_layer(model, layer, delta * keep):
                logp, mask = token_logprobs(model, batch)
            objective = mnll(logp, mask).mean()  # the attacker lowers the forget NLL
            (g,) = torch.autograd.grad(objective, delta)
            with torch.no_grad():
                step = g / g.norm(dim=-1, keepdim=True).clamp_min(1e-12)
                delta -= step_size * step
                delta.copy_(project_l2(delta, eps) * keep)
    return delta.detach()


def _layer(model, cfg: AdvGAConfig) -> int:
    return check_layer(model, cfg.layer if cfg.layer is not None else num_layers(model) // 2, "adversarial layer")


def _compute(model, batch: Batch, ctx: Context, cfg: AdvGAConfig, npo: bool) -> Loss:
    f = batch.forget
    step_size = cfg.step_size if cfg.step_size is not None else cfg.eps / 4
    delta = pgd_perturbation(model, f, _layer(model, cfg), eps=cfg.eps, steps=cfg.pgd_steps, step_size=step_size)
    with perturb_layer(model, _layer(model, cfg), delta):
        logp, mask = token_logprobs(model, f)
    if npo:
        forget = npo_loss(logp.sum(-1), ctx.ref_forget[batch.forget_idx], beta=cfg.beta)
    else:
        forget = ga_loss(logp, mask)
    parts = {"adv_forget_nll": mnll(logp, mask).mean().detach(), "delta_norm": delta.norm(dim=-1).max().detach()}
    return Loss(forget=forget, retain=nll_term(model, batch.retain, cfg.retain_weight), parts=parts)


def compute_ga(model, batch: Batch, ctx: Context, cfg: AdvGAConfig) -> Loss:
    return _compute(model, batch, ctx, cfg, npo=False)


def compute_npo(model, batch: Batch, ctx: Context, cfg: AdvNPOConfig) -> Loss:
    return _compute(model, batch, ctx, cfg, npo=True)
