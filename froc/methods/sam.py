"""Sharpness-aware unlearning (SAM) and its randomized-smoothing variant, around any base loss.

Seed paper: Fan et al. 2025, "Towards LLM Unlearning Resilient to Relearning Attacks: A
Sharpness-Aware Minimization Perspective and Beyond" (code: https://github.com/OPTML-Group/Unlearn-Smooth).

Objective: ``min_theta max_{||e|| <= rho} L_f(theta + e) + L_r(theta)``: the forget term of the base
loss is made flat so that a few relearning steps cannot undo it. One step (variant ``sam``):
``g = grad L_f(theta)``; ``e = rho * g / ||g||`` (global L2 norm over the trained parameters);
the weights are really moved to ``theta + e``, ``grad L_f(theta + e)`` is back-propagated, and
the weights are restored bit-exactly from a copy; the retain term's gradient is taken at
``theta``. Variant ``smoothing``: ``grad L_f`` averaged over ``n_samples`` Gaussian weight
perturbations ``e ~ N(0, noise_std^2 I)`` (seeded). Gradients are real (no ``.item()`` penalties).

This method plugs into the engine through ``backward`` (a custom gradient computation), not a
different loop. Defaults: rho = 0.01 (authors), base = npo. Unverified: noise_std = 1e-3 and
n_samples = 1 for the smoothing variant. The logged loss is the base loss at ``theta``.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
from torch import Tensor

from froc.methods.base import Batch, Context, Loss
from froc.methods.wrapper import WrapperConfig, base_loss

VARIANTS = ("sam", "smoothing")


@dataclass
class SAMConfig(WrapperConfig):
    """Hyperparameters of sharpness-aware unlearning (and ``base``, see :class:`WrapperConfig`).

    Attributes:
        variant: ``sam`` (worst-case perturbation) or ``smoothing`` (Gaussian weight noise).
        rho: radius of the SAM perturbation.
        noise_std: standard deviation of the weight noise (smoothing).
        n_samples: number of noise draws averaged (smoothing).
    """

    variant: str = "sam"
    rho: float = 0.01
    noise_std: float = 1e-3
    n_samples: int = 1

    def __post_init__(self):
        if self.variant not in VARIANTS:
            from froc.errors import unknown_choice

            raise unknown_choice("sam variant", self.variant, VARIANTS)


def sam_perturbation(grads: list[Tensor | None], rho: float) -> list[Tensor | None]:
    """``rho * g / ||g||`` with the global L2 norm over all gradients (None entries skipped)."""
    norm = torch.sqrt(sum((g.float() ** 2).sum() for g in grads if g is not None))
    return [None if g is None else (rho * g / (norm + 1e-12)).to(g.dtype) for g in grads]


@contextmanager
def perturbed(params: list[Tensor], eps: list[Tensor | None]) -> Iterator[None]:
    """Move the weights to ``theta + eps`` while active; restore them exactly afterwards."""
    saved = [p.detach().clone() for p in params]
    with torch.no_grad():
        for p, e in zip(params, eps):
            if e is not None:
                p.add_(e)
    try:
        yield
    finally:
        with torch.no_grad():
            for p, s in zip(params, saved):
                p.copy_(s)


def backward(compute: Callable[[Batch], Loss], batch: Batch, params: list[Tensor], scale: float,
             ctx: Context, cfg: SAMConfig) -> Loss:
    """Accumulate ``scale * (grad L_f at the perturbed weights + grad L_r at theta)`` into ``p.grad``."""
    out = compute(batch)
    if cfg.variant == "sam":
        grads = torch.autograd.grad(out.forget, params, retain_graph=out.retain is not None, allow_unused=True)
        samples = [sam_perturbation(list(grads), cfg.rho)]
    else:
        samples = [[cfg.noise_std * torch.randn(p.shape, generator=ctx.generator).to(p) for p in params]
                   for _ in range(cfg.n_samples)]
    if out.retain is not None:
        (out.retain * scale).backward()
    for eps in samples:
        with perturbed(params, eps):
            (compute(batch.without_retain()).forget * (scale / len(samples))).backward()
    return Loss(forget=out.forget.detach(), retain=None if out.retain is None else out.retain.detach(), parts=out.parts)


def compute(model, batch: Batch, ctx: Context, cfg: SAMConfig) -> Loss:
    """The base method's loss (SAM changes the gradient, in :func:`backward`, not the loss)."""
    return base_loss(model, batch, ctx, cfg)
