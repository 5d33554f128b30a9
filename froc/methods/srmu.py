"""SRMU: feature-selective representation misdirection (RMU restricted by an activation-importance map).

Seed paper: feature-selective representation misdirection for unlearning (SRMU); spec
/work/shared/spec/unlearning.md: "RMU with a directional misdirection vector gated by a per-feature
importance map" (details unverified: the recipe below is ours, built from that description and RMU,
Li et al. 2024, https://arxiv.org/abs/2403.03218).

Importance map (ours): under the model before unlearning, per hidden feature d of layer l, the mean
``mu_f[d]`` over the (non-padding) tokens of the forget set and the mean ``mu_r[d]`` and variance ``var_r[d]``
over those of the retain set (at most ``max_items`` items each). The Fisher score
``s[d] = (mu_f[d] - mu_r[d])^2 / (var_r[d] + 1e-6 mean(var_r))`` marks features on which forget tokens sit
apart from retain tokens (residual-stream features are dense: most fire on both); the gate ``g`` is 1 on the
``ceil(feature_fraction * D)`` highest scores and 0 elsewhere.

Loss: ``L = mean ||h_l(x_f) - (h_l^ref(x_f) + c * v)||^2 + a * mean ||h_l(x_r) - h_l^ref(x_r)||^2`` with the
directional misdirection vector ``v = g * u / ||g * u||``, u uniform on [0, 1)^D (one per subject, as in RMU).
Unlike RMU, which replaces the whole forget state with ``c * u``, only the important features are pushed
(by c along v) and every other feature of the forget state is held at its original value, so features
that forget and retain data share (overlap) are not destroyed. Means over non-padding tokens and hidden
dimensions; only the MLP ``down_proj`` of layers l-2 .. l train (as RMU).

Defaults (ours, for 7B-scale states like RMU's): c = 6.5, a = 1200, feature_fraction = 0.25.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from froc.errors import ConfigError
from froc.methods import rmu
from froc.methods.base import Batch, Context, Loss
from froc.methods.common import forward_layer_output, masked_mse
from froc.models.encoding import collate, to_device


@dataclass
class SRMUConfig:
    """Hyperparameters of SRMU.

    Attributes:
        layer: l, the decoder layer whose output is steered (None = n_layers // 4 - 1, as RMU).
        steering_coeff: c, length of the misdirection shift.
        alpha: a, weight of the retain representation term.
        feature_fraction: share of hidden features the importance map selects (0 < f <= 1).
        max_items: forget and retain items used to estimate the importance map.
        trained_layers: layers whose MLP down_proj is trained (None = l-2 .. l).
    """

    layer: int | None = None
    steering_coeff: float = 6.5
    alpha: float = 1200.0
    feature_fraction: float = 0.25
    max_items: int = 512
    trained_layers: list[int] | None = None

    def __post_init__(self):
        if not 0 < self.feature_fraction <= 1:
            raise ConfigError(f"srmu feature_fraction must be in (0, 1], got {self.feature_fraction}")


def fisher_score(mu_f: Tensor, mu_r: Tensor, var_r: Tensor) -> Tensor:
    """``(mu_f - mu_r)^2 / (var_r + 1e-6 mean var_r)`` per feature, all (D,)."""
    return (mu_f - mu_r).pow(2) / (var_r + 1e-6 * var_r.mean().clamp_min(1e-12))


def importance_gate(score: Tensor, fraction: float) -> Tensor:
    """Binary gate (D,): 1 on the ``ceil(fraction * D)`` features of highest ``score`` (D,)."""
    k = max(1, math.ceil(fraction * score.numel()))
    gate = torch.zeros_like(score)
    gate[score.topk(k).indices] = 1.0
    return gate


def gated_direction(u: Tensor, gate: Tensor) -> Tensor:
    """``g * u / ||g * u||`` (D,)."""
    v = gate * u
    return v / v.norm().clamp_min(1e-12)


def srmu_loss(h_f: Tensor, h_f_ref: Tensor, shift: Tensor, mask_f: Tensor, h_r: Tensor | None = None,
              h_r_ref: Tensor | None = None, mask_r: Tensor | None = None, *,
              alpha: float) -> tuple[Tensor, Tensor | None]:
    """Forget and retain terms of SRMU.

    Args:
        h_f, h_f_ref: (B, T, D) layer-l forget states under the model and the reference.
        shift: (B, D) ``c * v`` per sequence. mask_f, mask_r: (B, T) 1 on non-padding tokens.
        h_r, h_r_ref: (B, T, D) retain states under the model and the reference (None = no retain term).
    Returns:
        ``(mean ||h_f - (h_f_ref + shift)||^2, a * mean ||h_r - h_r_ref||^2 or None)``.
    """
    forget = masked_mse(h_f, h_f_ref + shift.unsqueeze(1), mask_f)
    retain = None if h_r is None else alpha * masked_mse(h_r, h_r_ref, mask_r)
    return forget, retain


@torch.no_grad()
def activation_moments(model, encs, layer: int, ctx: Context, batch_size: int = 32) -> tuple[Tensor, Tensor]:
    """(mean, variance), each (D,), of h_l over the non-padding tokens of ``encs`` under ``model`` as it is now."""
    s1, s2, count = None, None, 0.0
    for i in range(0, len(encs), batch_size):
        b = to_device(collate(encs[i : i + batch_size], ctx.pad_id), ctx.device)
        h = forward_layer_output(model, b, layer).float()  # (B, T, D)
        m = b["attention_mask"].float().unsqueeze(-1)
        a, q = (h * m).sum((0, 1)), (h * h * m).sum((0, 1))
        s1, s2 = (a, q) if s1 is None else (s1 + a, s2 + q)
        count += float(m.sum())
    mean = s1 / max(count, 1.0)
    return mean, (s2 / max(count, 1.0) - mean * mean).clamp_min(0.0)


def trainable(model, cfg: SRMUConfig) -> list[str]:
    return rmu.trainable(model, cfg)


def setup(model, data, ctx: Context, cfg: SRMUConfig) -> dict:
    if not data.retain_enc:
        raise ConfigError("srmu needs retain data to tell forget-specific features from shared ones")
    layer = rmu.resolve_layer(model, cfg)
    mu_f, _ = activation_moments(model, data.forget_enc[: cfg.max_items], layer, ctx)
    mu_r, var_r = activation_moments(model, data.retain_enc[: cfg.max_items], layer, ctx)
    gate = importance_gate(fisher_score(mu_f, mu_r, var_r), cfg.feature_fraction)
    subjects = [getattr(it, "subject", "") or "" for it in data.forget_items]
    dirs = rmu.random_directions(subjects, model.config.hidden_size, ctx.generator)
    ctx.state.update(layer=layer, gate=gate, v={s: gated_direction(u.to(ctx.device), gate) for s, u in dirs.items()})
    return {"layer": layer, "n_features": int(gate.sum()), "n_directions": len(dirs)}


def compute(model, batch: Batch, ctx: Context, cfg: SRMUConfig) -> Loss:
    layer, f = ctx.state["layer"], batch.forget
    v = torch.stack([ctx.state["v"][getattr(it, "subject", "") or ""] for it in batch.forget_items])  # (B, D)
    h_f = forward_layer_output(model, f, layer)
    h_f_ref = ctx.ref.layer_output(f, layer)
    h_r = h_r_ref = mask_r = None
    if batch.retain is not None and cfg.alpha != 0:
        r = batch.retain
        h_r = forward_layer_output(model, r, layer)
        h_r_ref = ctx.ref.layer_output(r, layer)
        mask_r = r["attention_mask"].float()
    forget, retain = srmu_loss(h_f, h_f_ref, cfg.steering_coeff * v, f["attention_mask"].float(), h_r, h_r_ref,
                               mask_r, alpha=cfg.alpha)
    parts = {"forget_mse": forget.detach()}
    if retain is not None:
        parts["retain_mse"] = retain.detach() / cfg.alpha
    return Loss(forget=forget, retain=retain, parts=parts)
