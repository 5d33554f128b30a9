"""PURGE: GRPO with an intrinsic reward that penalises any mention of the forbidden concepts.

Seed paper: "Reinforcement Unlearning via Group Relative Policy Optimization" (PURGE): unlearning as
reinforcement learning with group-relative policy optimisation (issue 16): completions sampled from the model
are rewarded for not mentioning the forbidden concepts; group-relative advantages and a KL term to the original
model (``froc.methods.grpo``, the GRPO math of DeepSeekMath, https://arxiv.org/abs/2402.03300; TRL's trainer
does not fit froc's loop, see there).

Reward of a completion: ``-1`` if it mentions any forbidden concept (case-insensitive substring of the
decoded text), else ``0``; the group-relative advantage makes the scale irrelevant. Concepts: the forget
items' answers (QA items) and, with ``include_subjects``, their subjects, plus the user's ``concepts``
(separated by ``;``). Prompts: the forget questions (text items: their first ``prompt_tokens`` tokens).

Loss: ``L = GRPO(forget prompts; beta) + w_r * mnll_r``. The retain NLL is ours (the paper relies on the KL
term; it also keeps a run with all-equal rewards, whose advantages are 0, from being a no-op on utility).
Defaults (ours): G = 4 completions per prompt, temperature 1, 16 new tokens, beta 0.04 (TRL's default), w_r 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from froc.errors import ConfigError
from froc.methods import grpo
from froc.methods.base import Batch, Context, Loss
from froc.methods.common import nll_term
from froc.models.encoding import encode_prompt


@dataclass
class PurgeConfig:
    """Hyperparameters of PURGE.

    Attributes:
        beta: weight of the KL(pi || pi_ref) term.
        group_size: G, completions sampled per prompt.
        temperature: sampling temperature.
        max_new_tokens: longest sampled completion.
        include_subjects: forget subjects count as forbidden concepts too.
        concepts: further forbidden strings, separated by ``;``.
        prompt_tokens: prompt length taken from a text forget item.
        retain_weight: w_r, weight of the retain NLL.
    """

    beta: float = 0.04
    group_size: int = 4
    temperature: float = 1.0
    max_new_tokens: int = 16
    include_subjects: bool = False
    concepts: str = ""
    prompt_tokens: int = 16
    retain_weight: float = 1.0

    def __post_init__(self):
        if self.group_size < 2:
            raise ConfigError(f"purge group_size must be >= 2 (advantages are relative to the group), "
                              f"got {self.group_size}")
        if self.max_new_tokens < 1 or not self.temperature > 0:
            raise ConfigError("purge: max_new_tokens must be >= 1 and temperature > 0")


def mention_reward(text: str, concepts: list[str]) -> float:
    """-1 if ``text`` contains any concept (case-insensitive), else 0."""
    low = text.casefold()
    return -1.0 if any(c.casefold() in low for c in concepts if c) else 0.0


def forbidden_concepts(items, cfg: PurgeConfig) -> list[str]:
    out = {a.strip() for it in items if hasattr(it, "answer") for a in [it.answer] if a.strip()}
    if cfg.include_subjects:
        out |= {it.subject.strip() for it in items if (getattr(it, "subject", "") or "").strip()}
    out |= {c.strip() for c in cfg.concepts.split(";") if c.strip()}
    return sorted(out)


def prompt_ids(item, ctx: Context, n_text: int) -> list[int]:
    """The question prompt of a QA item, or the first ``n_text`` tokens of a text item (after bos)."""
    if hasattr(item, "question"):
        return encode_prompt(ctx.tokenizer, item.question, ctx.fmt)
    ids = list(ctx.tokenizer(item.text, add_special_tokens=False)["input_ids"])[:n_text]
    bos = ctx.tokenizer.bos_token_id
    return ([bos] if ctx.fmt.add_bos and bos is not None else []) + ids


def setup(model, data, ctx: Context, cfg: PurgeConfig) -> dict:
    ctx.state["concepts"] = forbidden_concepts(data.forget_items, cfg)
    if not ctx.state["concepts"]:
        raise ConfigError("purge has no forbidden concept: give QA forget items, include_subjects or concepts")
    ctx.state["prompts"] = [prompt_ids(it, ctx, cfg.prompt_tokens) for it in data.forget_items]
    return {"n_concepts": len(ctx.state["concepts"])}


def compute(model, batch: Batch, ctx: Context, cfg: PurgeConfig) -> Loss:
    prompts = [ctx.state["prompts"][i] for i in batch.forget_idx.tolist()]
    comps = grpo.sample_completions(model, prompts, ctx, keys=batch.forget_idx.tolist(), group_size=cfg.group_size,
                                    temperature=cfg.temperature, max_new_tokens=cfg.max_new_tokens)
    rewards = torch.tensor([mention_reward(grpo.decode(ctx, c), ctx.state["concepts"]) for c in comps],
                           device=ctx.device).view(len(prompts), cfg.group_size)
    adv = grpo.group_advantages(rewards).flatten()
    logp, ref_logp, mask = grpo.policy_terms(model, prompts, comps, ctx)
    f = grpo.grpo_loss(logp, ref_logp, mask, adv, beta=cfg.beta)
    retain = nll_term(model, batch.retain, cfg.retain_weight)
    parts = {"grpo": f.detach(), "mention_rate": -rewards.mean()}
    if retain is not None:
        parts["retain_nll"] = retain.detach() / cfg.retain_weight
    return Loss(forget=f, retain=retain, parts=parts)
