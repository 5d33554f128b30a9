"""RULE: reinforcement unlearning, refusal-boundary optimisation with a verifiable reward.

Seed paper: Zhang et al. 2025, "RULE: Reinforcement UnLEarning Achieves Forget-Retain Pareto Optimality"
(seed list). Unlearning as learning a refusal boundary: trained on a small part of the forget set plus
boundary queries, a verifiable reward asks for a refusal on forget-related queries and a helpful answer on
permissible ones. The RL step is GRPO (``froc.methods.grpo``; the paper also uses a refusal warm start,
here the optional ``sft_weight`` term). The concrete choices below are ours where the recipe is not public.

- Forget queries: each step draws as many as the batch's forget items from a fixed random subset of
  ``ceil(forget_fraction * N_forget)`` forget questions (default 0.12, the paper's share).
- Boundary queries: the questions of the retain batch (the engine draws them; the built-in benchmark's
  neighbours share family names, cities and employers with the forgotten people). "Synthesised" boundary
  queries are the user's to put in the retain set.
- Reward of a completion: forget query -> 1 if it is a refusal (contains, case-insensitively, one of the
  given ``refusals`` or a marker such as "don't know"), -1 if it states the true answer, else 0; boundary
  query -> 1 if it contains the true answer, -1 if it is a refusal, else 0.

Loss: ``L = GRPO(forget + boundary queries; beta) + s * mnll(refusal | x_f)``; the GRPO mean is split into its
forget-query and boundary-query rows (the Loss's forget and retain terms) (the warm-start term on the
drawn forget queries). Defaults (ours): G = 4, temperature 1, 16 new tokens, beta 0.04, s 0.5.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import torch

from froc.errors import ConfigError
from froc.methods import grpo
from froc.methods.base import Batch, Context, Loss
from froc.methods.common import mnll
from froc.models.encoding import collate, encode_prompt, to_device
from froc.models.logprobs import token_logprobs

REFUSAL_MARKERS = ("i don't know", "i do not know", "i cannot", "i can't", "not able to", "no information")


@dataclass
class RuleConfig:
    """Hyperparameters of RULE.

    Attributes:
        forget_fraction: share of the forget set used as forget queries.
        beta: weight of the KL(pi || pi_ref) term.
        group_size: G, completions sampled per query.
        temperature: sampling temperature.
        max_new_tokens: longest sampled completion.
        sft_weight: s, weight of the refusal NLL on the drawn forget queries (0 = pure RL).
    """

    forget_fraction: float = 0.12
    beta: float = 0.04
    group_size: int = 4
    temperature: float = 1.0
    max_new_tokens: int = 16
    sft_weight: float = 0.5

    def __post_init__(self):
        if not 0 < self.forget_fraction <= 1:
            raise ConfigError(f"rule forget_fraction must be in (0, 1], got {self.forget_fraction}")
        if self.group_size < 2:
            raise ConfigError(f"rule group_size must be >= 2, got {self.group_size}")


def is_refusal(text: str, refusals: list[str]) -> bool:
    low = " ".join(text.split()).casefold()
    given = (" ".join(r.split()).casefold() for r in refusals if r.strip())
    return any(m in low for m in REFUSAL_MARKERS) or any(r in low for r in given)


def boundary_reward(text: str, answer: str, forget: bool, refusals: list[str]) -> float:
    """The verifiable reward of one completion (see the module docstring)."""
    refused = is_refusal(text, refusals)
    said = answer.strip().casefold() in text.casefold() if answer.strip() else False
    if forget:
        return 1.0 if refused else -1.0 if said else 0.0
    return 1.0 if said and not refused else -1.0 if refused else 0.0


def setup(model, data, ctx: Context, cfg: RuleConfig) -> dict:
    if any(not hasattr(it, "question") for it in data.forget_items + data.retain_items):
        raise ConfigError("rule needs QA items (question/answer): its rewards check answers and refusals")
    n = len(data.forget_items)
    subset = torch.randperm(n, generator=ctx.generator)[: math.ceil(cfg.forget_fraction * n)].sort().values
    ctx.state.update(subset=subset.tolist(), refusals=sorted(set(data.refusal_text or [])),
                     forget_items=data.forget_items, refusal_enc=data.refusal_enc)
    return {"forget_queries": len(subset)}


def compute(model, batch: Batch, ctx: Context, cfg: RuleConfig) -> Loss:
    st = ctx.state
    # forget queries from the subset: a fixed function of the item index (independent of the micro-batch split)
    f_idx = [st["subset"][i % len(st["subset"])] for i in batch.forget_idx.tolist()]
    items = [(i, True) for i in f_idx] + [(j, False) for j in range(len(batch.retain_items))]
    pick = lambda i, forget: ctx.state["forget_items"][i] if forget else batch.retain_items[i]
    prompts = [encode_prompt(ctx.tokenizer, pick(i, fg).question, ctx.fmt) for i, fg in items]
    keys = [i if fg else 1_000_000 + zlib.crc32(batch.retain_items[i].question.encode()) for i, fg in items]
    comps = grpo.sample_completions(model, prompts, ctx, keys=keys, group_size=cfg.group_size,
                                    temperature=cfg.temperature, max_new_tokens=cfg.max_new_tokens)
    G = cfg.group_size
    rewards = torch.tensor([boundary_reward(grpo.decode(ctx, c), pick(*items[k // G]).answer, items[k // G][1],
                                            st["refusals"]) for k, c in enumerate(comps)], device=ctx.device)
    rewards = rewards.view(len(prompts), G)
    logp, ref_logp, mask = grpo.policy_terms(model, prompts, comps, ctx)
    adv = grpo.group_advantages(rewards).flatten()
    n_f, N = len(f_idx), len(prompts)
    # forget-query rows, boundary-query rows: each a mean weighted by its share of the N * G completions
    rows = slice(0, n_f * G), slice(n_f * G, N * G)
    f, b = (grpo.grpo_loss(logp[r], ref_logp[r], mask[r], adv[r], beta=cfg.beta) * (len(range(N * G)[r]) / (N * G))
            if len(range(N * G)[r]) else None for r in rows)
    parts = {"grpo": f.detach(), "forget_reward": rewards[:n_f].mean(), "boundary_reward": rewards[n_f:].mean()}
    sft = None
    if cfg.sft_weight != 0:
        ref_b = to_device(collate([st["refusal_enc"][i] for i in f_idx], ctx.pad_id), ctx.device)
        nll = mnll(*token_logprobs(model, ref_b)).mean()
        sft = cfg.sft_weight * nll
        parts["refusal_nll"] = nll.detach()
    return Loss(forget=f if sft is None else f + sft, retain=b, parts=parts)
