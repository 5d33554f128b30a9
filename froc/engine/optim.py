"""Optimizers for unlearning, including the "downgraded" ones.

Seed paper: Lang et al. 2025, "Downgrade to Upgrade: Optimizer Simplification Enhances Robustness
in LLM Unlearning", https://arxiv.org/abs/2510.00761 (code: https://github.com/OPTML-Group/Unlearn_Optimizer).
Lower-"grade" optimizers (sign-compressed first-order, zeroth-order) land in flatter basins and
make forgetting harder to undo by quantization or relearning. Any method can use any of them
(``UnlearnConfig.optimizer``):

- ``adamw`` (default), ``sgd`` (with ``momentum``);
- ``signsgd``: Signum, ``m <- mu m + (1 - mu) g``, ``theta <- theta - lr (sign(m) + wd theta)`` (lion-like;
  ``momentum=0`` is plain signSGD);
- ``sign_adam``: the 1-bit quantised Adam step ``theta <- theta - lr (sign(m_hat / (sqrt(v_hat) + eps)) + wd theta)``.
  Note: the Adam denominator is positive, so this sign equals ``sign(m)``: the update matches
  Signum with ``mu = beta1``; it is kept as its own name because the paper reports it as such;
- ``zo_hybrid``: AdamW whose gradient is, every ``zo_every``-th step, a two-point SPSA estimate
  ``g = mean_i (L(theta + mu z_i) - L(theta - mu z_i)) / (2 mu) * z_i`` with seeded Rademacher (or
  Gaussian) ``z_i`` (``zo_directions`` of them) instead of back-propagation.

Unverified (ZO details are not confirmed by public code; chosen here): alternation by step count,
the ZO estimate fed to the same AdamW state as the first-order gradients, mu = 1e-3, one
Rademacher direction per ZO step, weights restored from a copy after each evaluation.
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import Tensor

from froc.models.sft import fused_adamw_ok


class SignSGD(torch.optim.Optimizer):
    """Signum: step along the sign of the gradient's exponential moving average."""

    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float = 0.9, weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            mu, lr, wd = group["momentum"], group["lr"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                m = self.state[p].setdefault("m", torch.zeros_like(p))
                m.mul_(mu).add_(p.grad, alpha=1 - mu)
                if wd:
                    p.mul_(1 - lr * wd)
                p.add_(m.sign(), alpha=-lr)


class SignAdam(torch.optim.Optimizer):
    """Adam whose update direction is quantised to its sign (1-bit)."""

    def __init__(self, params: Iterable[Tensor], lr: float, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            (b1, b2), lr, eps, wd = group["betas"], group["lr"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if not st:
                    st["t"], st["m"], st["v"] = 0, torch.zeros_like(p), torch.zeros_like(p)
                st["t"] += 1
                st["m"].mul_(b1).add_(p.grad, alpha=1 - b1)
                st["v"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                m_hat = st["m"] / (1 - b1 ** st["t"])
                v_hat = st["v"] / (1 - b2 ** st["t"])
                if wd:
                    p.mul_(1 - lr * wd)
                p.add_((m_hat / (v_hat.sqrt() + eps)).sign(), alpha=-lr)


def build_optimizer(cfg, params: list[Tensor]) -> torch.optim.Optimizer:
    """The optimizer named by ``cfg.optimizer`` over ``params`` (see the module docstring)."""
    if cfg.optimizer in ("adamw", "zo_hybrid"):
        return torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay,
                                 fused=fused_adamw_ok(params) or None)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "signsgd":
        return SignSGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sign_adam":
        return SignAdam(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    from froc.errors import unknown_choice
    from froc.engine.config import OPTIMIZERS

    raise unknown_choice("optimizer", cfg.optimizer, OPTIMIZERS)


def lr_factor(cfg) -> Callable[[int], float]:
    """Multiplier of ``cfg.lr`` for the update after ``i`` completed steps (LambdaLR convention)."""

    def factor(i: int) -> float:
        s = i + 1  # the step about to be taken, 1-based
        if s <= cfg.warmup_steps:
            return s / cfg.warmup_steps
        if cfg.schedule == "linear":
            return max(0.0, (cfg.steps - s + 1) / max(1, cfg.steps - cfg.warmup_steps))
        return 1.0

    return factor


def is_zeroth_order_step(cfg, step: int) -> bool:
    """Whether step ``step`` (1-based) takes its gradient from SPSA instead of back-propagation."""
    return cfg.optimizer == "zo_hybrid" and step % cfg.zo_every == 0


def _direction(p: Tensor, g: torch.Generator, dist: str) -> Tensor:
    if dist == "gaussian":
        return torch.randn(p.shape, generator=g, device=g.device, dtype=torch.float32).to(p)
    return (torch.randint(0, 2, p.shape, generator=g, device=g.device) * 2 - 1).to(p)


@torch.no_grad()
def spsa_gradient_(params: list[Tensor], loss_fn: Callable[[], Tensor], *, mu: float, n_directions: int,
                   dist: str, seed: int) -> Tensor:
    """Write the two-point SPSA estimate of ``grad loss_fn`` into ``p.grad``; return the mean loss seen.

    ``loss_fn()`` evaluates the step's loss (no gradient needed). Directions come from a generator
    seeded with ``seed`` and are regenerated rather than stored; the weights are restored exactly
    from a copy after each evaluation.
    """
    saved = [p.detach().clone() for p in params]
    for p in params:
        p.grad = torch.zeros_like(p)
    device = params[0].device
    seen = []
    for d in range(n_directions):
        diffs = []
        for sign in (1.0, -1.0):
            g = torch.Generator(device=device).manual_seed(seed * 1_000_003 + d)
            for p in params:
                p.add_(_direction(p, g, dist), alpha=sign * mu)
            diffs.append(loss_fn())
            for p, s in zip(params, saved):
                p.copy_(s)
        seen.extend(diffs)
        scale = float((diffs[0] - diffs[1]) / (2 * mu * n_directions))
        g = torch.Generator(device=device).manual_seed(seed * 1_000_003 + d)
        for p in params:
            p.grad.add_(_direction(p, g, dist), alpha=scale)
    return torch.stack(seen).mean()
