"""AU: adaptive unlearning of hallucinations found by a discovery loop and checked against an allow-list.

Seed paper: "LLM Ghostbusters: Surgical Hallucination Suppression via Adaptive Unlearning" (AU). A discovery
loop generates from the model, detects outputs that are invalid against a user-given allow-list (e.g. names of
packages that exist), and unlearns them with a hybrid token-level objective that reinforces valid tokens and
suppresses hallucinated ones. The concrete choices below are ours where the recipe is not public.

- Prompts: the forget questions; each forget item's ``answer`` is its valid answer (a real name, or a
  refusal such as "I don't know." for a fictitious subject).
- Allow-list: the forget answers plus the user's ``allow`` entries (separated by ``;``). A completion is
  valid when it contains an allowed entry (case-insensitive), else a hallucination.
- Discovery: greedy completions (``max_new_tokens``) of the batch's questions, at the first step an item is
  seen and again every ``rediscover_every`` steps; the latest hallucination of each item is kept.
- Hybrid token-level objective on item i: ``mnll(answer_i | q_i)`` (reinforce the valid answer) plus
  ``suppress_weight *`` the mean unlikelihood ``-log(1 - p(o_t))`` over the tokens of its hallucinated
  completion o from the first token where o leaves the valid answer (the shared prefix is valid and not
  suppressed). Plus ``w_r * mnll_r``.
Defaults (ours): suppress_weight 1, rediscover_every 10, 16 new tokens, w_r 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from froc.errors import ConfigError
from froc.methods.base import Batch, Context, Loss
from froc.methods.bild import unlikelihood
from froc.methods.common import mnll, nll_term
from froc.models.encoding import (
    Encoded,
    collate,
    collate_prompts,
    encode_prompt,
    to_device,
)
from froc.models.logprobs import answer_logits, token_logprobs


@dataclass
class AUConfig:
    """Hyperparameters of AU.

    Attributes:
        allow: further valid outputs, separated by ``;`` (the forget answers are always valid).
        suppress_weight: weight of the unlikelihood on hallucinated tokens.
        rediscover_every: steps between two discovery passes over an item (>= 1).
        max_new_tokens: length of the greedy completions checked.
        retain_weight: w_r, weight of the retain NLL.
    """

    allow: str = ""
    suppress_weight: float = 1.0
    rediscover_every: int = 10
    max_new_tokens: int = 16
    retain_weight: float = 1.0

    def __post_init__(self):
        if self.rediscover_every < 1 or self.max_new_tokens < 1:
            raise ConfigError("au: rediscover_every and max_new_tokens must be >= 1")


def is_valid(text: str, allowed: list[str]) -> bool:
    """Whether a completion contains an allowed entry (case-insensitive)."""
    low = text.casefold()
    return any(a.casefold() in low for a in allowed if a)


def divergence(completion: list[int], valid: list[int]) -> int:
    """Index of the first token where ``completion`` leaves ``valid`` (the length of their common prefix)."""
    k = 0
    while k < min(len(completion), len(valid)) and completion[k] == valid[k]:
        k += 1
    return k


def hallucination_loss(logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """Mean over sequences of the mean unlikelihood of the marked tokens; logits (n, V) at the True positions of
    ``mask`` (B, T-1), rows without a marked token count 0."""
    ul = torch.zeros(mask.shape, dtype=torch.float32, device=logits.device)
    ul = ul.masked_scatter(mask, unlikelihood(logits, targets))
    m = mask.float()
    return ((ul * m).sum(-1) / m.sum(-1).clamp_min(1.0)).mean()


def setup(model, data, ctx: Context, cfg: AUConfig) -> dict:
    if any(not hasattr(it, "question") for it in data.forget_items):
        raise ConfigError("au needs QA forget items: questions to probe and their valid answers")
    allowed = {it.answer.strip() for it in data.forget_items} | {a.strip() for a in cfg.allow.split(";")}
    allowed = sorted(allowed - {""})
    ctx.state.update(allowed=allowed, halluc={}, seen={})
    return {"n_allowed": len(allowed)}


@torch.no_grad()
def discover(model, batch: Batch, ctx: Context, cfg: AUConfig) -> None:
    """Greedy completions of the batch's questions due for a check; hallucinations kept in ``ctx.state["halluc"]``."""
    st, eos = ctx.state, ctx.tokenizer.eos_token_id
    due = [(b, i) for b, i in enumerate(batch.forget_idx.tolist())
           if i not in st["seen"] or ctx.step - st["seen"][i] >= cfg.rediscover_every]
    if not due:
        return
    from transformers import GenerationConfig

    gen = GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=cfg.max_new_tokens, eos_token_id=eos,
                           pad_token_id=ctx.pad_id, use_cache=True)
    was_training = model.training
    model.eval()
    for b, i in due:  # one prompt at a time: no padding, the same result in any micro-batch layout
        item = batch.forget_items[b]
        p = encode_prompt(ctx.tokenizer, item.question, ctx.fmt)
        out = model.generate(**to_device(collate_prompts([p], ctx.pad_id), ctx.device), generation_config=gen)
        ids = out[0, len(p):].tolist()
        if eos is not None and eos in ids:
            ids = ids[: ids.index(eos) + 1]
        text = ctx.tokenizer.decode(ids, skip_special_tokens=True).strip()
        st["seen"][i] = ctx.step
        if is_valid(text, st["allowed"]) or not ids:
            st["halluc"].pop(i, None)
        else:
            st["halluc"][i] = (p, ids)
    model.train(was_training)


def compute(model, batch: Batch, ctx: Context, cfg: AUConfig) -> Loss:
    if torch.is_grad_enabled():
        discover(model, batch, ctx, cfg)
    st = ctx.state
    reinforce = mnll(*token_logprobs(model, batch.forget)).mean()
    parts = {"valid_nll": reinforce.detach()}
    f = reinforce
    rows = [(b, st["halluc"][i]) for b, i in enumerate(batch.forget_idx.tolist()) if i in st["halluc"]]
    parts["hallucinating_share"] = torch.tensor(len(rows) / len(batch.forget_enc))
    if rows and cfg.suppress_weight != 0:
        encs = []
        for b, (p, comp) in rows:
            e = batch.forget_enc[b]
            k = divergence(comp, e.ids[e.n_prompt:])  # tokens before k agree with the valid answer: not suppressed
            encs.append(Encoded(p + comp, len(p) + k))
        logits, targets, mask = answer_logits(model, to_device(collate(encs, ctx.pad_id), ctx.device))
        # per item of the batch (items without a hallucination count 0): independent of the micro-batch split
        h = hallucination_loss(logits, targets, mask) * len(rows) / len(batch.forget_enc)
        f = f + cfg.suppress_weight * h
        parts["hallucination_ul"] = h.detach()
    retain = nll_term(model, batch.retain, cfg.retain_weight)
    if retain is not None:
        parts["retain_nll"] = retain.detach() / cfg.retain_weight
    return Loss(forget=f, retain=retain, parts=parts)
