"""Attention shift: suppress attention to the fact-bearing tokens of forget items, keep retain attention as it was.

Seed paper: "Wisdom is Knowing What not to Say: Hallucination-Free LLMs Unlearning via Attention Shifting"
(issue 16): importance-aware suppression of attention to the fact-bearing tokens of forget items,
attention-guided retention on retain items, and a dual loss with a hallucination-resistant response term so that
a forgotten question gets no fabricated answer. The concrete choices below are ours where the recipe is not
public.

- Fact-bearing tokens: per forget sequence, the ``ceil(fact_fraction * n)`` prompt tokens (bos excluded;
  n = the number of such tokens) that receive the most attention from the positions predicting answer tokens
  under the model before unlearning, averaged over layers and heads (importance).
- Suppression ``S``: the attention mass those positions put on the fact-bearing tokens (summed over them,
  averaged over layers, heads and answer positions) under the model being unlearned.
- Response ``H``: ``mnll(refusal | x_f)``, the forget question answered with a refusal (from ``refusals``)
  instead of a made-up answer.
- Retention ``R``: on retain items, ``sum_k (A[q, k] - A_ref[q, k])^2`` per attention row, averaged over layers,
  heads and non-padding query positions.

Loss: ``L = g * S + h * H + a * R + w_r * mnll_r`` (per-sequence means, then batch means). Attention maps
need eager attention: it is switched on for the forward passes of the loss and restored after (same
outputs, slower than sdpa). Defaults (ours): g = 1, h = 1, a = 10, w_r = 1, fact_fraction 0.3.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor

from froc.errors import ConfigError
from froc.methods.base import Batch, Context, Loss
from froc.methods.common import add_terms, nll_term
from froc.models.encoding import IGNORE


@dataclass
class AttentionShiftConfig:
    """Hyperparameters of attention shift.

    Attributes:
        suppress_weight: g, weight of the attention mass on fact-bearing tokens.
        response_weight: h, weight of the refusal NLL on forget questions.
        retention_weight: a, weight of the attention-map retention on retain items.
        retain_weight: w_r, weight of the retain NLL; 0 also drops the retention term (the engine then draws no
            retain batches).
        fact_fraction: share of a forget prompt's tokens treated as fact-bearing (0 < f <= 1).
    """

    suppress_weight: float = 1.0
    response_weight: float = 1.0
    retention_weight: float = 10.0
    retain_weight: float = 1.0
    fact_fraction: float = 0.3

    def __post_init__(self):
        if not 0 < self.fact_fraction <= 1:
            raise ConfigError(f"attention_shift fact_fraction must be in (0, 1], got {self.fact_fraction}")


def query_and_key_masks(batch: dict[str, Tensor], bos_id: int | None) -> tuple[Tensor, Tensor]:
    """``(queries, keys)`` (B, T) bool: positions that predict an answer token; prompt tokens other than bos."""
    labels, attn = batch["labels"], batch["attention_mask"].bool()
    queries = torch.zeros_like(attn)
    queries[:, :-1] = labels[:, 1:] != IGNORE
    keys = (labels == IGNORE) & attn
    if bos_id is not None:
        keys &= batch["input_ids"] != bos_id
    return queries, keys


def row_mean(att: Tensor, queries: Tensor) -> Tensor:
    """Mean over layers, heads and the query rows where ``queries`` (B, T) is True: (L, B, H, T, K) -> (B, K)."""
    a = att.mean((0, 2))  # (B, T, K)
    q = queries.to(a.dtype).unsqueeze(-1)
    return (a * q).sum(1) / q.sum(1).clamp_min(1.0)


def fact_mask(importance: Tensor, keys: Tensor, fraction: float) -> Tensor:
    """(B, T) bool: per row the ``ceil(fraction * n)`` key positions (of the n where ``keys``) of highest importance."""
    out = torch.zeros_like(keys)
    for b in range(keys.shape[0]):
        idx = keys[b].nonzero().squeeze(-1)
        if idx.numel():
            k = math.ceil(fraction * idx.numel())
            out[b, idx[importance[b, idx].topk(k).indices]] = True
    return out


def suppression(att: Tensor, queries: Tensor, facts: Tensor) -> Tensor:
    """(B,) attention mass on the fact positions, averaged over layers, heads and answer queries."""
    return (row_mean(att, queries) * facts.to(att.dtype)).sum(-1)


def retention(att: Tensor, att_ref: Tensor, rows: Tensor) -> Tensor:
    """(B,) ``sum_k (A - A_ref)^2`` per row, averaged over layers, heads and the rows where ``rows`` (B, T)."""
    sq = (att.float() - att_ref.float()).pow(2).sum(-1)  # (L, B, H, T)
    sq = sq.mean((0, 2))  # (B, T)
    r = rows.float()
    return (sq * r).sum(-1) / r.sum(-1).clamp_min(1.0)


@contextmanager
def eager_attention(model) -> Iterator[None]:
    """Switch ``model`` (or its peft base) to eager attention, which returns attention maps; restore after."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    prev = base.config._attn_implementation
    if prev != "eager":
        base.set_attn_implementation("eager")
    try:
        yield
    finally:
        if prev != "eager":
            base.set_attn_implementation(prev)


def attentions(model, batch: dict[str, Tensor]) -> Tensor:
    """(L, B, H, T, T) attention maps of ``model`` on ``batch`` (gradient as the caller's mode allows)."""
    with eager_attention(model):
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_attentions=True)
    return torch.stack(out.attentions)


def compute(model, batch: Batch, ctx: Context, cfg: AttentionShiftConfig) -> Loss:
    f = batch.forget
    queries, keys = query_and_key_masks(f, ctx.tokenizer.bos_token_id)
    with ctx.ref.active() as ref:
        att_ref_f = attentions(ref, f)
    facts = fact_mask(row_mean(att_ref_f, queries), keys, cfg.fact_fraction)
    s = suppression(attentions(model, f), queries, facts).mean()
    parts = {"fact_attention": s.detach()}
    resp = None
    if cfg.response_weight != 0:
        resp = nll_term(model, batch.refusal, cfg.response_weight)
        parts["refusal_nll"] = resp.detach() / cfg.response_weight
    keep = None
    if batch.retain is not None and cfg.retention_weight != 0:
        r = batch.retain
        with ctx.ref.active() as ref:
            att_ref_r = attentions(ref, r)
        ret = retention(attentions(model, r), att_ref_r, r["attention_mask"].bool()).mean()
        keep = cfg.retention_weight * ret
        parts["attention_drift"] = ret.detach()
    retain = nll_term(model, batch.retain, cfg.retain_weight)
    if retain is not None:
        parts["retain_nll"] = retain.detach() / cfg.retain_weight
    return Loss(forget=add_terms(cfg.suppress_weight * s, resp), retain=add_terms(keep, retain), parts=parts)


def needs(cfg: AttentionShiftConfig) -> set[str]:
    """A frozen reference for the importance map and the retention term; refusals for the response term."""
    out = {"ref_model"}
    if cfg.response_weight != 0:
        out.add("refusals")
    if cfg.retention_weight != 0 or cfg.retain_weight != 0:
        out.add("retain")
    return out
