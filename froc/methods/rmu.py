"""Representation Misdirection for Unlearning (RMU).

Paper: Li et al. 2024, "The WMDP Benchmark: Measuring and Reducing Malicious Use with
Unlearning", https://arxiv.org/abs/2403.03218.

Loss: ``L = mean ||h_l(x_f) - c*u||^2 + a * mean ||h_l(x_r) - h_l^ref(x_r)||^2`` where ``h_l`` is the
output (residual stream) of decoder layer ``l``, ``u`` is drawn uniformly from [0, 1)^D and
normalised to unit length (NOT Gaussian), one ``u`` per subject (topic) of the forget set,
fixed for the run, and ``h^ref`` comes from the frozen reference model. Means are over tokens
and hidden dimensions of each sequence, then over sequences (the authors' ``mse_loss`` averages over all
tokens of a batch, which makes the loss depend on how a batch is split into micro-batches). Only the MLP ``down_proj`` weights of
layers ``l-2 .. l`` are trained.

Defaults (authors, Zephyr-7B): c = 6.5, a = 1200; layer ``l`` defaults to
``max(0, n_layers // 4 - 1)`` (7 of 32 layers, the authors' choice at 7B). Deviations: the
token mean covers prompt and answer tokens of each sequence but never padding (the authors'
code averages over padding too); u is seeded from the run's seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from froc.methods.base import Batch, Context, Loss
from froc.methods.common import check_layer, decoder_layers, forward_layer_output, masked_mse, num_layers


@dataclass
class RMUConfig:
    """Hyperparameters of RMU.

    Attributes:
        layer: l, the decoder layer whose output is steered (None = n_layers // 4 - 1).
        steering_coeff: c, length of the random target vector.
        alpha: a, weight of the retain representation term.
        trained_layers: layers whose MLP down_proj is trained (None = l-2 .. l).
    """

    layer: int | None = None
    steering_coeff: float = 6.5
    alpha: float = 1200.0
    trained_layers: list[int] | None = None


def rmu_loss(h_f: Tensor, target: Tensor, mask_f: Tensor, h_r: Tensor | None = None,
             h_r_ref: Tensor | None = None, mask_r: Tensor | None = None, *, alpha: float) -> tuple[Tensor, Tensor | None]:
    """Forget and retain terms of RMU.

    Args:
        h_f: (B, T, D) layer-l states on forget sequences; target: (B, D) ``c * u`` per sequence.
        mask_f, mask_r: (B, T) 1 on non-padding tokens.
        h_r, h_r_ref: (B, T, D) states on retain sequences under the model and the reference.
    Returns:
        ``(mean ||h_f - c u||^2, a * mean ||h_r - h_r_ref||^2 or None)``.
    """
    forget = masked_mse(h_f, target.unsqueeze(1).expand_as(h_f), mask_f)
    retain = None if h_r is None else alpha * masked_mse(h_r, h_r_ref, mask_r)
    return forget, retain


def resolve_layer(model, cfg: RMUConfig) -> int:
    return check_layer(model, cfg.layer if cfg.layer is not None else max(0, num_layers(model) // 4 - 1), "rmu layer")


def trainable(model, cfg: RMUConfig) -> list[str]:
    """Names of the MLP down_proj weights of layers l-2 .. l (or ``trained_layers``)."""
    l = resolve_layer(model, cfg)
    chosen = cfg.trained_layers if cfg.trained_layers is not None else range(max(0, l - 2), l + 1)
    wanted = {id(decoder_layers(model)[check_layer(model, i, "rmu trained layer")].mlp.down_proj.weight) for i in chosen}
    return [n for n, p in model.named_parameters() if id(p) in wanted]


def random_directions(subjects: list[str], dim: int, generator: torch.Generator) -> dict[str, Tensor]:
    """One unit vector per subject, uniform on [0, 1)^dim then normalised (sorted subjects, seeded)."""
    out = {}
    for s in sorted(set(subjects)):
        u = torch.rand(dim, generator=generator)
        out[s] = u / u.norm()
    return out


def setup(model, data, ctx: Context, cfg: RMUConfig) -> dict:
    dim = model.config.hidden_size
    subjects = [getattr(it, "subject", "") or "" for it in data.forget_items]
    ctx.state["u"] = {s: u.to(ctx.device) for s, u in random_directions(subjects, dim, ctx.generator).items()}
    ctx.state["layer"] = resolve_layer(model, cfg)
    return {"layer": ctx.state["layer"], "n_directions": len(ctx.state["u"])}


def subject_rows(table: dict[str, Tensor], items) -> Tensor:
    """(B, D): for each item, the row ``table`` holds for its subject (one random vector per subject)."""
    return torch.stack([table[getattr(it, "subject", "") or ""] for it in items])


def misdirection_loss(model, batch: Batch, ctx: Context, target: Tensor, alpha: float) -> Loss:
    """RMU's loss for one micro-batch with any per-sequence target: the forget states of layer
    ``ctx.state["layer"]`` pulled to ``target`` (B, D), the retain states held at the reference's (weight
    ``alpha``; absent without retain data or with ``alpha`` 0). Shared by RMU, SRMU and R2MU, which differ in
    their target and in terms they add."""
    layer, f = ctx.state["layer"], batch.forget
    h_f = forward_layer_output(model, f, layer)
    h_r = h_r_ref = mask_r = None
    if batch.retain is not None and alpha != 0:
        r = batch.retain
        h_r = forward_layer_output(model, r, layer)
        h_r_ref = ctx.ref.layer_output(r, layer)
        mask_r = r["attention_mask"].float()
    forget, retain = rmu_loss(h_f, target, f["attention_mask"].float(), h_r, h_r_ref, mask_r, alpha=alpha)
    parts = {"forget_mse": forget.detach()}
    if retain is not None:
        parts["retain_mse"] = retain.detach() / alpha
    return Loss(forget=forget, retain=retain, parts=parts)


def compute(model, batch: Batch, ctx: Context, cfg: RMUConfig) -> Loss:
    return misdirection_loss(model, batch, ctx, cfg.steering_coeff * subject_rows(ctx.state["u"], batch.forget_items),
                             cfg.alpha)
