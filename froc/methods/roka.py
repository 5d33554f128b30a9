"""RoKA: knowledge-preserving unlearning that strengthens the forget set's conceptual neighbours ("neural healing").

Seed paper: "ROKA: Robust Knowledge Unlearning against Adversaries" (knowledge-preserving unlearning by neural
healing). Idea (issue 16): nullify the forget data's influence while strengthening the conceptual neighbours of
the forgotten knowledge, the facts most at risk of collateral forgetting. The paper's exact recipe is not
public; the loss below is ours.

Loss: ``L = NPO_f + w_n * mean mnll(neighbours) + w_r * mnll_r`` with the NPO term of
``froc.methods.npo`` (bounded, reference from the engine's cache) and a "healing" NLL on a batch of
neighbour items drawn each step (as many as forget items, seeded) next to the ordinary retain batch.

Neighbours: retain items marked ``meta.group == "neighbour"`` or ``meta.neighbour`` true (the built-in
benchmark's people who share a family name, birth city or employer with a forgotten person); when none is
marked, the ``neighbour_fraction`` of retain items whose mean-pooled last-layer state (model before
unlearning) has the highest cosine similarity to any forget item's (at most 2048 retain items scanned).
Defaults (ours): NPO b = 0.1, w_n = 2, w_r = 1, fraction 0.1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from froc.errors import ConfigError
from froc.methods.base import Batch, Context, Loss
from froc.methods.common import add_terms, mnll, nll_term
from froc.methods.npo import npo_loss
from froc.models.encoding import collate, to_device
from froc.models.logprobs import token_logprobs


@dataclass
class RoKAConfig:
    """Hyperparameters of RoKA.

    Attributes:
        beta: b, NPO inverse temperature of the forget term.
        neighbour_weight: w_n, weight of the healing NLL on neighbour items.
        retain_weight: w_r, weight of the ordinary retain NLL.
        neighbour_fraction: share of retain items taken as neighbours when none is marked.
    """

    beta: float = 0.1
    neighbour_weight: float = 2.0
    retain_weight: float = 1.0
    neighbour_fraction: float = 0.1

    def __post_init__(self):
        if not 0 < self.neighbour_fraction <= 1:
            raise ConfigError(f"roka neighbour_fraction must be in (0, 1], got {self.neighbour_fraction}")


def is_marked_neighbour(item) -> bool:
    meta = getattr(item, "meta", None) or {}
    return meta.get("group") == "neighbour" or meta.get("neighbour") is True


def nearest_by_similarity(z_f: Tensor, z_r: Tensor, k: int) -> list[int]:
    """Indices (sorted) of the ``k`` rows of ``z_r`` (N_r, D) most cosine-similar to some row of ``z_f``."""
    sim = F.normalize(z_r.float(), dim=-1) @ F.normalize(z_f.float(), dim=-1).T  # (N_r, N_f)
    return sorted(sim.max(-1).values.topk(min(k, z_r.shape[0])).indices.tolist())


@torch.no_grad()
def pooled_states(model, encs, ctx: Context, batch_size: int = 32) -> Tensor:
    """(N, D) mean over non-padding tokens of the last-layer hidden state of each sequence."""
    out = []
    for i in range(0, len(encs), batch_size):
        b = to_device(collate(encs[i : i + batch_size], ctx.pad_id), ctx.device)
        res = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], output_hidden_states=True)
        h = res.hidden_states[-1]
        m = b["attention_mask"].unsqueeze(-1).to(h.dtype)
        out.append(((h * m).sum(1) / m.sum(1).clamp_min(1.0)).float())
    return torch.cat(out)


def setup(model, data, ctx: Context, cfg: RoKAConfig) -> dict:
    if not data.retain_items:
        raise ConfigError("roka needs retain data: its neighbours are retain items (retain_weight 0 drops the retain "
                          "data; use a small positive weight instead)")
    marked = [i for i, it in enumerate(data.retain_items) if is_marked_neighbour(it)]
    how = "marked"
    if not marked:
        scan = list(range(min(len(data.retain_enc), 2048)))
        k = max(1, math.ceil(cfg.neighbour_fraction * len(scan)))
        z_f = pooled_states(model, data.forget_enc, ctx)
        z_r = pooled_states(model, [data.retain_enc[i] for i in scan], ctx)
        marked, how = nearest_by_similarity(z_f, z_r, k), "similarity"
    ctx.state["neighbour_enc"] = [data.retain_enc[i] for i in marked]
    return {"n_neighbours": len(marked), "neighbours_from": how}


def roka_loss(logp_f: Tensor, ref_f: Tensor, nll_n: Tensor, *, beta: float,
              neighbour_weight: float) -> tuple[Tensor, Tensor]:
    """``(NPO(logp_f, ref_f), w_n * mean nll_n)``; logp_f, ref_f (B,) summed log-probs, nll_n (B_n,) mnll each."""
    return npo_loss(logp_f, ref_f, beta=beta), neighbour_weight * nll_n.mean()


def compute(model, batch: Batch, ctx: Context, cfg: RoKAConfig) -> Loss:
    logp, _ = token_logprobs(model, batch.forget)
    seq = logp.sum(-1)
    pool = ctx.state["neighbour_enc"]
    pick = torch.randint(len(pool), (len(batch.forget_enc),), generator=ctx.generator).tolist()
    nb = to_device(collate([pool[i] for i in pick], ctx.pad_id), ctx.device)
    nll_n = mnll(*token_logprobs(model, nb))
    f, heal = roka_loss(seq, ctx.ref_forget[batch.forget_idx], nll_n, beta=cfg.beta,
                        neighbour_weight=cfg.neighbour_weight)
    retain = nll_term(model, batch.retain, cfg.retain_weight)
    parts = {"npo": f.detach(), "neighbour_nll": nll_n.mean().detach()}
    if retain is not None:
        parts["retain_nll"] = retain.detach() / cfg.retain_weight
    return Loss(forget=f, retain=add_terms(heal, retain), parts=parts)
