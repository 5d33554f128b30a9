"""ICU: iterative contrastive unlearning.

Seed paper: iterative contrastive unlearning (ICU; Tang et al., "Learn while Unlearn: An Iterative
Unlearning Framework for Generative Language Models"). Three parts (issue 16): an unlearning loss on
forget items; a contrastive term that keeps the representations of similar non-target items; an
iterative refinement that stops unlearning items that are already forgotten, checked during training.
The concrete choices below are ours where the paper's recipe is not public.

1. Unlearning: gradient ascent ``-mnll(y_f | x_f)`` on each forget item that is still *remembered*.
2. Refinement: an item counts as forgotten while its memorisation accuracy (share of answer tokens whose
   teacher-forced argmax is the true token, from the same forward pass) is <= ``ma_threshold``; it then
   contributes nothing. The check runs every time the item is drawn, so an item that comes back is
   unlearned again. Loss: ``-sum_b a_b mnll_b / B`` with a_b = 1[MA_b > threshold].
3. Contrast (InfoNCE, temperature tau): the last-layer state of each retain item, mean-pooled over its
   tokens, z_r, is pulled to its own reference pooled state z_r^ref and away from the reference pooled
   states of the forget items (a fixed bank of at most 256, computed once in ``setup``):
   ``-log exp(cos(z_r, z_r^ref)/tau) / (exp(cos(z_r, z_r^ref)/tau) + sum_k exp(cos(z_r, n_k)/tau))``, weight
   ``contrast_weight``. Each item's term depends on no other item of its micro-batch (no in-batch
   negatives), so the loss does not depend on how a batch is split. Plus ``w_r * mnll_r``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from froc.methods.base import Batch, Context, Loss
from froc.methods.common import add_terms, mnll, nll_term
from froc.models.encoding import collate, to_device
from froc.models.logprobs import answer_logits


@dataclass
class ICUConfig:
    """Hyperparameters of ICU.

    Attributes:
        ma_threshold: an item with memorisation accuracy <= this counts as forgotten (not unlearned further).
        contrast_weight: weight of the InfoNCE term on retain representations (0 = off).
        temperature: tau of the InfoNCE term.
        retain_weight: w_r, weight of the retain NLL. 0 also turns the contrast off: the engine then draws
            no retain batches.
    """

    ma_threshold: float = 0.5
    contrast_weight: float = 1.0
    temperature: float = 0.1
    retain_weight: float = 1.0


def pooled(h: Tensor, mask: Tensor) -> Tensor:
    """Mean of (B, T, D) states over the tokens where ``mask`` (B, T) is 1: (B, D)."""
    m = mask.unsqueeze(-1).to(h.dtype)
    return (h * m).sum(1) / m.sum(1).clamp_min(1.0)


def gated_ascent(nll: Tensor, active: Tensor) -> Tensor:
    """``-sum_b active_b * nll_b / B``; nll (B,) per-sequence mnll, active (B,) 0/1."""
    return -(active * nll).sum() / nll.shape[0]


def info_nce(z: Tensor, pos: Tensor, neg: Tensor, *, temperature: float) -> Tensor:
    """Mean over rows i of ``-log exp(c(z_i, pos_i)/t) / (exp(c(z_i, pos_i)/t) + sum_k exp(c(z_i, neg_k)/t))``.

    z, pos (B, D); neg (K, D) shared negatives, K may be 0. c = cosine similarity.
    """
    zn = F.normalize(z.float(), dim=-1)
    p = (zn * F.normalize(pos.float(), dim=-1)).sum(-1, keepdim=True)  # (B, 1)
    n = zn @ F.normalize(neg.float(), dim=-1).T  # (B, K)
    logits = torch.cat([p, n], dim=-1) / temperature
    return -F.log_softmax(logits, dim=-1)[:, 0].mean()


def memorisation_accuracy(logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """(B,) share of answer tokens whose argmax is the target; logits (n, V) at the True positions of mask (B, T-1)."""
    hit = torch.zeros(mask.shape, dtype=torch.float32, device=logits.device)
    hit = hit.masked_scatter(mask, (logits.argmax(-1) == targets).float())
    return hit.sum(-1) / mask.sum(-1).clamp_min(1)


def _last_hidden(model, batch: dict[str, Tensor], grad: bool) -> Tensor:
    with torch.set_grad_enabled(grad):
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True)
    return out.hidden_states[-1]


@torch.no_grad()
def setup(model, data, ctx: Context, cfg: ICUConfig) -> dict:
    """The negative bank: pooled last-layer states of (at most 256) forget items under the model before unlearning."""
    if cfg.contrast_weight == 0:
        return {}
    encs, out = data.forget_enc[:256], []
    for i in range(0, len(encs), 32):
        b = to_device(collate(encs[i : i + 32], ctx.pad_id), ctx.device)
        out.append(pooled(_last_hidden(model, b, False), b["attention_mask"]).float())
    ctx.state["negatives"] = torch.cat(out)
    return {"n_negatives": len(encs)}


def compute(model, batch: Batch, ctx: Context, cfg: ICUConfig) -> Loss:
    logits, targets, mask = answer_logits(model, batch.forget)
    nll_tok = F.cross_entropy(logits.float(), targets, reduction="none")
    logp = torch.zeros(mask.shape, dtype=nll_tok.dtype, device=nll_tok.device).masked_scatter(mask, -nll_tok)
    nll = mnll(logp, mask.float())  # (B,)
    ma = memorisation_accuracy(logits.detach(), targets, mask)
    active = (ma > cfg.ma_threshold).float()
    f = gated_ascent(nll, active)
    forgotten = ctx.state.setdefault("forgotten", {})
    for i, a in zip(batch.forget_idx.tolist(), active.tolist()):
        forgotten[i] = a == 0
    parts = {"forget_nll": nll.mean().detach(), "active_share": active.mean(),
             "forgotten_items": torch.tensor(float(sum(forgotten.values())))}
    contrast = None
    if batch.retain is not None and cfg.contrast_weight != 0:
        r = batch.retain
        z = pooled(_last_hidden(model, r, True), r["attention_mask"])
        with ctx.ref.active() as ref:
            pos = pooled(_last_hidden(ref, r, False), r["attention_mask"])
        c = info_nce(z, pos, ctx.state["negatives"], temperature=cfg.temperature)
        contrast = cfg.contrast_weight * c
        parts["contrast"] = c.detach()
    retain = nll_term(model, batch.retain, cfg.retain_weight)
    if retain is not None:
        parts["retain_nll"] = retain.detach() / cfg.retain_weight
    return Loss(forget=f, retain=add_terms(contrast, retain), parts=parts)
