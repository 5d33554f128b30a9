"""Circuit-aware selective updates (after CURE): each weight group gets its own update rule.

Seed paper: "CURE: Circuit-Aware Unlearning for LLM-based Recommendation". Idea (issue 16): attribute the forget
and the retain objectives to modules, split the modules into forget-specific, retain-specific and shared ones,
and update each group with its own rule. The concrete rules below are ours where the recipe is not public.

- Modules: every trainable weight tensor (a LoRA adapter's tensors under LoRA).
- Attribution (once, before training, model as it is): first-order Taylor scores ``A(m) = sum |g ⊙ theta|``
  of the base method's forget term and of its retain term over at most ``attribution_items`` forget/retain
  items; each normalised to shares over modules, ``s_f(m)``, ``s_r(m)``.
- Split: forget-specific if ``s_f >= ratio * s_r``, retain-specific if ``s_r >= ratio * s_f``, else shared.
- Updates: forget-specific modules get the forget gradient only; retain-specific ones the retain gradient
  only; shared ones ``g_r + g_f'`` where ``g_f'`` is the forget gradient with its component along ``g_r``
  removed when the two conflict (``<g_f, g_r> < 0``, a PCGrad projection per module), so unlearning never
  undoes the retain objective on weights both rely on.

A wrapper: the forget and retain terms are those of ``base`` (default ``graddiff``). Needs, setup and
trained weights are the base's. Default ratio 2 (ours).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from froc.errors import ConfigError
from froc.methods import wrapper
from froc.methods.base import Batch, Context, Loss
from froc.models.encoding import collate, to_device

FORGET, RETAIN, SHARED = "forget", "retain", "shared"


@dataclass
class CircuitConfig(wrapper.WrapperConfig):
    """Hyperparameters of circuit-aware updates.

    Attributes:
        base: the method whose forget and retain terms are attributed and combined.
        ratio: share ratio above which a module counts as specific to one objective (> 1).
        attribution_items: forget (and as many retain) items used for the attribution.
    """

    base: str = "graddiff"
    ratio: float = 2.0
    attribution_items: int = 32

    def __post_init__(self):
        if not self.ratio > 1:
            raise ConfigError(f"circuit ratio must be > 1, got {self.ratio}")
        if self.attribution_items < 1:
            raise ConfigError(f"circuit attribution_items must be >= 1, got {self.attribution_items}")


def split_modules(score_f: Tensor, score_r: Tensor, ratio: float) -> list[str]:
    """Group of each module from its attribution scores (M,) for the forget and retain objectives."""
    s_f = score_f / score_f.sum().clamp_min(1e-30)
    s_r = score_r / score_r.sum().clamp_min(1e-30)
    return [FORGET if f >= ratio * r and f > 0 else RETAIN if r >= ratio * f and r > 0 else SHARED
            for f, r in zip(s_f.tolist(), s_r.tolist())]


def combine(g_f: Tensor | None, g_r: Tensor | None, group: str) -> Tensor | None:
    """The update direction of one module from its forget and retain gradients (None = no gradient)."""
    if group == FORGET:
        return g_f
    if group == RETAIN:
        return g_r
    if g_f is None or g_r is None:
        return g_f if g_r is None else g_r
    dot = (g_f * g_r).sum()
    if dot < 0:
        g_f = g_f - dot / (g_r * g_r).sum().clamp_min(1e-30) * g_r
    return g_f + g_r


def _grads(term: Tensor | None, params: list, keep: bool) -> list[Tensor | None]:
    if term is None or not term.requires_grad:
        return [None] * len(params)
    return list(torch.autograd.grad(term, params, retain_graph=keep, allow_unused=True))


def setup(model, data, ctx: Context, cfg: CircuitConfig) -> dict:
    info = wrapper.setup(model, data, ctx, cfg) or {}
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    n = min(cfg.attribution_items, len(data.forget_enc))
    score_f = torch.zeros(len(params))
    score_r = torch.zeros(len(params))
    for s in range(0, n, 8):
        idx = list(range(s, min(s + 8, n)))
        b = Batch(forget=to_device(collate([data.forget_enc[i] for i in idx], ctx.pad_id), ctx.device),
                  forget_idx=torch.tensor(idx, device=ctx.device), forget_items=[data.forget_items[i] for i in idx],
                  forget_enc=[data.forget_enc[i] for i in idx])
        if data.retain_enc:
            r_idx = [i % len(data.retain_enc) for i in idx]
            b.retain_enc, b.retain_items = [data.retain_enc[i] for i in r_idx], [data.retain_items[i] for i in r_idx]
            b.retain = to_device(collate(b.retain_enc, ctx.pad_id), ctx.device)
        if data.refusal_enc is not None:
            b.refusal = to_device(collate([data.refusal_enc[i] for i in idx], ctx.pad_id), ctx.device)
        out = wrapper.base_loss(model, b, ctx, cfg)
        ps = [p for _, p in params]
        for score, g in ((score_f, _grads(out.forget, ps, True)), (score_r, _grads(out.retain, ps, False))):
            for j, (gj, p) in enumerate(zip(g, ps)):
                if gj is not None:
                    score[j] += float((gj * p.detach()).abs().sum())
    groups = split_modules(score_f, score_r, cfg.ratio)
    ctx.state["circuit_groups"] = {id(p): g for (_, p), g in zip(params, groups)}
    count = {k: groups.count(k) for k in (FORGET, RETAIN, SHARED)}
    return {**info, "modules": count, "forget_specific": [n for (n, _), g in zip(params, groups) if g == FORGET][:20]}


def compute(model, batch: Batch, ctx: Context, cfg: CircuitConfig) -> Loss:
    return wrapper.base_loss(model, batch, ctx, cfg)


def backward(compute_fn, batch: Batch, params, scale: float, ctx: Context, cfg: CircuitConfig) -> Loss:
    """Accumulate ``scale *`` the group-wise combined gradient of the base loss into ``p.grad``."""
    out = compute_fn(batch)
    g_f = _grads(out.forget, params, out.retain is not None)
    g_r = _grads(out.retain, params, False)
    groups = ctx.state["circuit_groups"]
    for p, gf, gr in zip(params, g_f, g_r):
        g = combine(gf, gr, groups.get(id(p), SHARED))
        if g is not None:
            p.grad = scale * g if p.grad is None else p.grad + scale * g
    return out
