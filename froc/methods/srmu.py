"""SRMU: feature-selective representation misdirection (RMU with a directional vector and an importance map).

Paper: Chen, Huang, Choo, Chen 2025, "Feature-Selective Representation Misdirection for Machine Unlearning",
https://arxiv.org/abs/2512.16297 (replication package https://figshare.com/s/d5931192a8824de26aff, not read
here); built on RMU, Li et al. 2024, https://arxiv.org/abs/2403.03218.

Recipe (the paper's method section as given in a public reading note of it; its full text was not read here):

1. Importance map: ``v_f``, ``v_r`` (D,) are the mean layer-l activations over the forget and the retain set
   under the model before unlearning, and ``I = phi(v_f, v_r)`` with one of
   ``ratio``: ``log(1 + v_f / (v_r + eps))`` (the paper's best), ``difference``: ``relu(v_f - lambda v_r)``,
   ``product``: ``v_f * v_r / (mean(v_f) mean(v_r) + eps)``; then ``I_norm = I / (max(I) + 1e-8)`` in [0, 1].
2. Directional misdirection vector ``V`` in {-1, +1}^D, each sign drawn with probability 1/2, fixed for the run.
3. Loss ``L = mean ||h_l(x_f) - c * V * I_norm||^2 + a * mean ||h_l(x_r) - h_l^ref(x_r)||^2``: like RMU's
   ``c * u`` the target replaces the forget state, but it is long on forget-specific features and short on
   those the retain set uses as much (so that forget/retain overlap is tolerated).

Deviations (ours):
- ``v_f``, ``v_r`` are means of the activations' magnitude ``|h|`` over non-padding tokens (at most
  ``max_items`` items each): residual-stream means can be negative, where the ratio's log is undefined and the
  difference meaningless; the summary does not say how the paper handles the sign.
- ``V * I_norm`` is normalised to unit length (like RMU's ``u``), so that ``c`` is the target's length in both
  methods and a comparison at the same ``c`` is fair (the paper scales ``V * I_norm`` by ``c`` directly);
  ``normalize=False`` gives the paper's scale.
- One ``V`` per forget subject, seeded from the run's seed, as froc's RMU does with ``u``.
- As froc's RMU, the MLP ``down_proj`` of layers l-2 .. l train (the paper updates layer l), and means run
  over non-padding tokens and hidden dimensions of each sequence, then over sequences.

Defaults: c = 6.5, a = 1200 (RMU's and the paper's, for 7B-scale states), importance = ratio, lambda = 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from froc.errors import ConfigError
from froc.methods import rmu
from froc.methods.base import Batch, Context, Loss
from froc.methods.common import forward_layer_output
from froc.models.encoding import collate, to_device

IMPORTANCE = ("ratio", "difference", "product")


@dataclass
class SRMUConfig:
    """Hyperparameters of SRMU.

    Attributes:
        layer: l, the decoder layer whose output is steered (None = n_layers // 4 - 1, as RMU).
        steering_coeff: c, length of the misdirection target (see ``normalize``).
        alpha: a, weight of the retain representation term.
        importance: phi, the importance function: "ratio", "difference" or "product".
        diff_lambda: lambda of the "difference" importance.
        normalize: scale ``V * I_norm`` to unit length before multiplying by c (ours; False = the paper).
        max_items: forget and retain items used to estimate the importance map.
        trained_layers: layers whose MLP down_proj is trained (None = l-2 .. l).
    """

    layer: int | None = None
    steering_coeff: float = 6.5
    alpha: float = 1200.0
    importance: str = "ratio"
    diff_lambda: float = 1.0
    normalize: bool = True
    max_items: int = 512
    trained_layers: list[int] | None = None

    def __post_init__(self):
        if self.importance not in IMPORTANCE:
            raise ConfigError(f"srmu importance must be one of {', '.join(IMPORTANCE)}, got {self.importance!r}")
        if self.diff_lambda < 0:
            raise ConfigError(f"srmu diff_lambda must be >= 0, got {self.diff_lambda}")
        if self.max_items < 1:
            raise ConfigError(f"srmu max_items must be >= 1, got {self.max_items}")


def importance_map(v_f: Tensor, v_r: Tensor, kind: str = "ratio", lam: float = 1.0, eps: float = 1e-6) -> Tensor:
    """Normalised importance ``I_norm`` (D,) in [0, 1] from the forget and retain mean magnitudes (D,), >= 0.

    ``ratio``: ``log(1 + v_f / (v_r + eps))``; ``difference``: ``relu(v_f - lam v_r)``; ``product``:
    ``v_f v_r / (mean v_f mean v_r + eps)``; each divided by its maximum + 1e-8 (SRMU, Chen et al. 2025)."""
    if kind == "ratio":
        imp = torch.log1p(v_f / (v_r + eps))
    elif kind == "difference":
        imp = torch.relu(v_f - lam * v_r)
    elif kind == "product":
        imp = v_f * v_r / (v_f.mean() * v_r.mean() + eps)
    else:
        raise ConfigError(f"srmu importance must be one of {', '.join(IMPORTANCE)}, got {kind!r}")
    return imp / (imp.max() + 1e-8)


def random_signs(subjects: list[str], dim: int, generator: torch.Generator) -> dict[str, Tensor]:
    """One vector in {-1, +1}^dim per subject (sorted subjects, seeded), each sign with probability 1/2."""
    return {s: torch.randint(0, 2, (dim,), generator=generator).float() * 2 - 1 for s in sorted(set(subjects))}


def misdirection_target(signs: Tensor, imp: Tensor, c: float, normalize: bool = True) -> Tensor:
    """``c * V * I_norm`` (D,), with ``V * I_norm`` first scaled to unit length when ``normalize`` (ours)."""
    t = signs * imp
    return c * (t / t.norm().clamp_min(1e-12) if normalize else t)


srmu_loss = rmu.rmu_loss  # SRMU's loss is RMU's with SRMU's target (h_f, target (B, D), masks, retain states)


@torch.no_grad()
def mean_magnitude(model, encs, layer: int, ctx: Context, batch_size: int = 32) -> Tensor:
    """Mean of ``|h_l|`` (D,) over the non-padding tokens of ``encs`` under ``model`` as it is now."""
    total, count = None, 0.0
    for i in range(0, len(encs), batch_size):
        b = to_device(collate(encs[i : i + batch_size], ctx.pad_id), ctx.device)
        h = forward_layer_output(model, b, layer).float().abs()  # (B, T, D)
        m = b["attention_mask"].float().unsqueeze(-1)
        s = (h * m).sum((0, 1))
        total = s if total is None else total + s
        count += float(m.sum())
    return total / max(count, 1.0)


def trainable(model, cfg: SRMUConfig) -> list[str]:
    return rmu.trainable(model, cfg)


def setup(model, data, ctx: Context, cfg: SRMUConfig) -> dict:
    if not data.retain_enc:
        raise ConfigError("srmu needs retain data to tell forget-specific features from shared ones")
    layer = rmu.resolve_layer(model, cfg)
    v_f = mean_magnitude(model, data.forget_enc[: cfg.max_items], layer, ctx)
    v_r = mean_magnitude(model, data.retain_enc[: cfg.max_items], layer, ctx)
    imp = importance_map(v_f, v_r, cfg.importance, cfg.diff_lambda)
    subjects = [getattr(it, "subject", "") or "" for it in data.forget_items]
    signs = random_signs(subjects, model.config.hidden_size, ctx.generator)
    ctx.state.update(layer=layer, importance=imp, target={
        s: misdirection_target(v.to(ctx.device), imp, cfg.steering_coeff, cfg.normalize) for s, v in signs.items()})
    return {"layer": layer, "n_directions": len(signs), "importance_mean": float(imp.mean()),
            "importance_above_half": int((imp > 0.5).sum())}


def compute(model, batch: Batch, ctx: Context, cfg: SRMUConfig) -> Loss:
    return rmu.misdirection_loss(model, batch, ctx, rmu.subject_rows(ctx.state["target"], batch.forget_items),
                                 cfg.alpha)
