"""Metamorphosis Representation Projection (MRP): project a forget subspace out of hidden states.

Seed paper: "Reliable Unlearning Harmful Information in LLMs with Metamorphosis Representation
Projection" (code: https://github.com/ChengcanWu/MRP).

For each unlearning request and each chosen decoder layer l, a k-dim subspace with orthonormal
rows ``Q`` (k, D) is learned from hidden states, and a forward hook replaces the layer's output
``h <- h - h Q^T Q`` (an irreversible projection: relearning through the weights cannot bring back
what the layer no longer passes on). Requests accumulate: the new directions are appended to the
ones already on the model and the union is re-orthonormalised (QR), so later requests never undo
earlier ones. Optionally (``finetune=True``) the model is then fine-tuned for ``steps`` steps with
the retain NLL under the hook, to repair utility.

Subspace (our choice; the paper's exact estimator is unverified): collect the layer-l states of
all non-padding tokens of the forget sequences, subtract the mean retain state, and take the
top-k right singular vectors of that matrix (the top-k principal directions of forget states
measured from the retain centroid), after removing the directions already projected out.
Defaults: k = 2 (authors), layers = [n_layers // 2] (unverified).

The projections are saved next to the model (``projections.safetensors``, one ``layer.<l>`` tensor
each) by :func:`save_projections` (called by ``froc.engine.save_unlearned``); reload them with
:func:`load_projection_hooks` after ``load_model``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from froc.methods.base import Batch, Context, Loss
from froc.methods.common import (capture_layer, check_layer, decoder_layers, layer_hidden, nll_term, num_layers,
                                 replace_layer_hidden)
from froc.models.encoding import collate, to_device

PROJECTIONS_FILE = "projections.safetensors"


@dataclass
class MRPConfig:
    """Hyperparameters of MRP.

    Attributes:
        k: directions added per layer per request.
        layers: decoder layers whose outputs are projected (None = [n_layers // 2]).
        finetune: after projecting, train ``steps`` steps of retain NLL under the hook.
    """

    k: int = 2
    layers: list[int] | None = None
    finetune: bool = False


def project_out(h: Tensor, q: Tensor) -> Tensor:
    """``h - h Q^T Q``: remove the row space of ``q`` (k, D) from ``h`` (..., D)."""
    q = q.to(h.dtype)
    return h - (h @ q.T) @ q


def forget_directions(h_f: Tensor, h_r: Tensor, k: int, existing: Tensor | None = None) -> Tensor:
    """Top-k principal directions (k, D) of forget states (N_f, D) centred on the retain mean (from (N_r, D)).

    Directions already in ``existing`` (rows orthonormal) are removed first, so new ones add to them.
    """
    d = h_f.float() - h_r.float().mean(0, keepdim=True)
    if existing is not None and existing.numel():
        d = project_out(d, existing.float())
    _, _, vh = torch.linalg.svd(d, full_matrices=False)
    return vh[:k]


def orthonormal_union(existing: Tensor | None, new: Tensor) -> Tensor:
    """Orthonormal rows spanning ``existing`` and ``new`` (QR of the stacked rows)."""
    stacked = new if existing is None else torch.cat([existing.to(new), new], 0)
    q, r = torch.linalg.qr(stacked.T.double())
    keep = r.diagonal().abs() > 1e-8 * r.diagonal().abs().max()
    return q.T[keep].to(new.dtype)


# ---------------------------------------------------------------- hooks on the model


def projections(model) -> dict[int, Tensor]:
    """The projections currently installed on ``model`` ({layer: Q (k, D)}), empty if none."""
    return getattr(model, "_froc_projections", {})


def set_projection_hooks(model, proj: dict[int, Tensor]) -> None:
    """Install (or replace) ``h <- h - h Q^T Q`` hooks on the given decoder layers."""
    for handle in getattr(model, "_froc_projection_handles", []):
        handle.remove()
    layers = decoder_layers(model)
    handles = []
    for layer, q in sorted(proj.items()):
        def hook(_module, _inputs, output, q=q):
            h = layer_hidden(output)
            return replace_layer_hidden(output, project_out(h, q.to(h.device)))

        handles.append(layers[layer].register_forward_hook(hook))
    model._froc_projections = {int(k): v for k, v in proj.items()}
    model._froc_projection_handles = handles


def save_projections(model, out: str | Path) -> Path | None:
    """Write ``projections.safetensors`` into ``out`` when ``model`` carries MRP projections."""
    proj = projections(model)
    if not proj:
        return None
    from safetensors.torch import save_file

    path = Path(out) / PROJECTIONS_FILE
    save_file({f"layer.{l}": q.detach().float().cpu().contiguous() for l, q in proj.items()}, str(path))
    return path


def load_projection_hooks(model, model_dir: str | Path):
    """Re-install the MRP projection hooks saved in ``model_dir``; returns ``model`` (unchanged if none)."""
    path = Path(model_dir) / PROJECTIONS_FILE
    if not path.is_file():
        return model
    from safetensors.torch import load_file

    proj = {int(k.split(".", 1)[1]): v for k, v in load_file(str(path)).items()}
    set_projection_hooks(model, proj)
    return model


# ---------------------------------------------------------------- method


def _states(model, encs, layer_ids: list[int], ctx: Context, batch_size: int = 16) -> dict[int, Tensor]:
    """Layer outputs of every non-padding token of ``encs``: {layer: (N, D)}, no gradient."""
    got: dict[int, list[Tensor]] = {l: [] for l in layer_ids}
    with torch.no_grad():
        for i in range(0, len(encs), batch_size):
            b = to_device(collate(encs[i : i + batch_size], ctx.pad_id), ctx.device)
            keep = b["attention_mask"].bool()
            for l in layer_ids:
                with capture_layer(model, l) as h:
                    model(input_ids=b["input_ids"], attention_mask=b["attention_mask"])
                got[l].append(h["h"][keep].float())
    return {l: torch.cat(v) for l, v in got.items()}


def setup(model, data, ctx: Context, cfg: MRPConfig) -> dict:
    layer_ids = [check_layer(model, l, "mrp layer") for l in (cfg.layers if cfg.layers is not None else [num_layers(model) // 2])]
    h_f = _states(model, data.forget_enc, layer_ids, ctx)
    h_r = _states(model, data.retain_enc, layer_ids, ctx)
    proj = dict(projections(model))
    for l in layer_ids:
        existing = proj.get(l)
        existing = None if existing is None else existing.to(ctx.device).float()
        proj[l] = orthonormal_union(existing, forget_directions(h_f[l], h_r[l], cfg.k, existing))
    set_projection_hooks(model, proj)
    return {"layers": layer_ids, "rank": {l: int(q.shape[0]) for l, q in proj.items()}}


def compute(model, batch: Batch, ctx: Context, cfg: MRPConfig) -> Loss:
    """Fine-tuning under the hook: retain NLL only (no forget term)."""
    retain = nll_term(model, batch.retain, 1.0)
    zero = torch.zeros((), device=retain.device)
    return Loss(forget=zero, retain=retain, parts={"retain_nll": retain.detach()})
