"""DPO with user-given alternative answers preferred over the true forget answers, plus a retain NLL.

Paper: Rafailov et al. 2023, "Direct Preference Optimization", https://arxiv.org/abs/2305.18290; the
``DPO`` baseline of the reference toolkit (locuslab/open-unlearning, ``src/trainer/unlearn/dpo.py``),
which prefers an "alternate" answer over the original one. ``idkpo`` is the refusal variant; ``altpo``
(``froc.methods.altpo``) builds the alternatives by sampling from the model.

Loss: ``L = mean_b -(2/b) log sigmoid(b [(log P(w_b) - log P_ref(w_b)) - (log P(l_b) - log P_ref(l_b))])
+ w_r * mnll_r`` with w = an alternative answer of forget item b, l = its true answer, *summed* answer
log-probs, the 2/b scale of the unlearning implementations (see ``idkpo``). Defaults b = 0.1, w_r = 1
(reference toolkit's config).

Alternatives per item (``alternatives``): ``meta`` reads ``item.meta["alternatives"]`` (a list of strings)
or ``item.meta["alternative"]`` (one string), as written in the user's JSONL; ``perturbed`` uses the
item's ``perturbed_answers`` (wrong answers of the same type); ``auto`` takes ``meta`` where an item has
it, else ``perturbed``. Up to ``n_alternatives`` per item are drawn once with the run's seeded generator.

Ours: with K alternatives for an item, step s pairs it with alternative ``(s + i) mod K`` (i = its index
in the forget set): over K passes every (alternative, answer) pair is used once, as in the reference's
dataset of expanded pairs, at the cost of one alternative per item and step. The alternatives'
reference log-probs are computed once in ``setup`` (before any weight changes).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from froc.errors import ConfigError, unknown_choice
from froc.methods.base import Batch, Context, Loss
from froc.methods.common import nll_term
from froc.methods.idkpo import dpo_loss
from froc.models.encoding import Encoded, collate, encode_item, to_device
from froc.models.logprobs import sequence_logprobs

SOURCES = ("auto", "meta", "perturbed")


@dataclass
class DPOConfig:
    """Hyperparameters of DPO with alternative answers.

    Attributes:
        beta: b, DPO inverse temperature.
        retain_weight: w_r, weight of the retain NLL.
        alternatives: where the preferred answers come from: ``auto`` | ``meta`` | ``perturbed``.
        n_alternatives: at most this many alternatives per forget item.
    """

    beta: float = 0.1
    retain_weight: float = 1.0
    alternatives: str = "auto"
    n_alternatives: int = 1

    def __post_init__(self):
        if self.alternatives not in SOURCES:
            raise unknown_choice("dpo alternatives", self.alternatives, SOURCES)
        if self.n_alternatives < 1:
            raise ConfigError(f"n_alternatives must be >= 1, got {self.n_alternatives}")


def item_alternatives(item, source: str) -> list[str]:
    """The alternative answers of one QA item from ``meta`` / ``perturbed`` / ``auto`` (see the module docstring)."""
    meta = getattr(item, "meta", None) or {}
    given = meta.get("alternatives", meta.get("alternative"))
    given = [given] if isinstance(given, str) else list(given or [])
    if source == "meta" or (source == "auto" and given):
        return [a for a in given if isinstance(a, str) and a.strip()]
    return [a for a in (getattr(item, "perturbed_answers", None) or []) if a.strip()]


def pick_alternative(step: int, idx: Tensor, counts: Tensor) -> Tensor:
    """Which alternative each item uses at ``step``: ``(step + idx) mod counts``; idx, counts (B,) long."""
    return (step + idx) % counts


@torch.no_grad()
def prepare_alternatives(model, data, ctx: Context, texts: list[list[str]], batch_size: int = 32) -> dict:
    """Encode each forget question with its alternatives, and their summed log-probs under ``model`` as it is now.

    Stores ``ctx.state["alt_enc"]`` (list over items of lists of ``Encoded``), ``"alt_ref"`` (list of (K_i,)
    tensors) and ``"alt_text"``. Raises ConfigError naming the first item without an alternative.
    """
    for it, alts in zip(data.forget_items, texts):
        if not hasattr(it, "question"):
            raise ConfigError("preference methods need QA forget items (question/answer), not text items")
        if not alts:
            raise ConfigError(f"forget item {getattr(it, 'id', '?')!r} has no alternative answer: give "
                              "meta.alternatives (or meta.alternative) or perturbed_answers")
    encs = [[encode_item(ctx.tokenizer, it, ctx.fmt, answer=a) for a in alts]
            for it, alts in zip(data.forget_items, texts)]
    flat: list[Encoded] = [e for row in encs for e in row]
    out = []
    for i in range(0, len(flat), batch_size):
        b = to_device(collate(flat[i : i + batch_size], ctx.pad_id), ctx.device)
        out.append(sequence_logprobs(model, b)[0].float())
    ref = torch.cat(out).clone()
    sizes = [len(row) for row in encs]
    ctx.state.update(alt_enc=encs, alt_ref=list(ref.split(sizes)), alt_text=texts,
                     alt_count=torch.tensor(sizes, device=ctx.device))
    return {"n_alternatives": sum(sizes), "alternatives_per_item": round(sum(sizes) / len(sizes), 3)}


def setup(model, data, ctx: Context, cfg: DPOConfig) -> dict:
    texts = []
    for it in data.forget_items:
        alts = item_alternatives(it, cfg.alternatives)
        if len(alts) > cfg.n_alternatives:
            keep = torch.randperm(len(alts), generator=ctx.generator)[: cfg.n_alternatives].sort().values
            alts = [alts[int(j)] for j in keep]
        texts.append(alts)
    return prepare_alternatives(model, data, ctx, texts)


def preference_loss(model, batch: Batch, ctx: Context, beta: float) -> tuple[Tensor, dict[str, Tensor]]:
    """The DPO term of a batch: each forget item against its alternative of this step."""
    idx = batch.forget_idx
    j = pick_alternative(ctx.step, idx, ctx.state["alt_count"][idx]).tolist()
    rows = idx.tolist()
    win = to_device(collate([ctx.state["alt_enc"][i][k] for i, k in zip(rows, j)], ctx.pad_id), ctx.device)
    ref_w = torch.stack([ctx.state["alt_ref"][i][k] for i, k in zip(rows, j)])
    logp_l, _ = sequence_logprobs(model, batch.forget)
    logp_w, _ = sequence_logprobs(model, win)
    f = dpo_loss(logp_w, logp_l, ref_w, ctx.ref_forget[idx], beta=beta)
    return f, {"dpo": f.detach(), "logp_alternative": logp_w.mean().detach(), "logp_answer": logp_l.mean().detach()}


def compute(model, batch: Batch, ctx: Context, cfg: DPOConfig) -> Loss:
    f, parts = preference_loss(model, batch, ctx, cfg.beta)
    retain = nll_term(model, batch.retain, cfg.retain_weight)
    if retain is not None:
        parts["retain_nll"] = retain.detach() / cfg.retain_weight
    return Loss(forget=f, retain=retain, parts=parts)
