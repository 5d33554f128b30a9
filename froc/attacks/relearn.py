"""Relearning attack: fine-tune a copy of the unlearned model on a small part of the forget request.

Papers: Hu et al. 2024, "Jogging the Memory of Unlearned LLMs Through Targeted Relearning Attacks"
(https://arxiv.org/abs/2406.13356); seed "Towards LLM Unlearning Resilient to Relearning Attacks:
A Sharpness-Aware Minimization Perspective and Beyond" (Fan et al. 2025).

A seeded sample (``fraction`` of the forget items, or ``size`` of them) is used for plain
answer-only fine-tuning (``froc.models.sft.train_sft``) for ``steps`` steps; then the probes are
re-scored. Probes of a fact that was in the relearning set (same ``meta.fact_id``, else the same
subject and answer) are left out of ``scores``: what is measured is whether relearning some facts
brings back the *others*, the known effect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from froc.attacks.base import AttackInputs, fact_key, knowledge_summary, score, seeded_subset, working_copy
from froc.errors import ConfigError


@dataclass
class RelearnParams:
    """Parameters of the relearning attack.

    Attributes:
        fraction: share of the forget items to relearn on (seeded sample); ignored when ``size`` is set.
        size: number of forget items to relearn on (None = use ``fraction``).
        steps: optimizer steps of fine-tuning.
        lr: peak learning rate (AdamW, short warm-up, cosine decay; ``train_sft``'s schedule). The default
            suits the built-in benchmark's small models (trained at 3e-3; 1e-3 relearns more); for
            pretrained LLMs 1e-5 to 1e-4 is the usual range.
        batch_size: items per step.
    """

    fraction: float = 0.1
    size: int | None = None
    steps: int = 20
    lr: float = 3e-4
    batch_size: int = 8


def check(p: RelearnParams) -> None:
    if p.size is None and not 0 < p.fraction <= 1:
        raise ConfigError(f"relearn: fraction must be in (0, 1], got {p.fraction}")
    if p.size is not None and p.size < 1:
        raise ConfigError(f"relearn: size must be >= 1, got {p.size}")
    if p.steps < 1 or p.batch_size < 1 or not p.lr > 0:
        raise ConfigError(f"relearn: steps and batch_size must be >= 1 and lr > 0, got steps={p.steps}, "
                          f"batch_size={p.batch_size}, lr={p.lr}")


def attack(inputs: AttackInputs, p: RelearnParams):
    from froc.models.sft import SFTConfig, train_sft

    check(p)
    forget = list(inputs.forget)
    idx = seeded_subset(forget, seed=inputs.seed, size=p.size, fraction=p.fraction)
    relearn_items = [forget[i] for i in idx]
    facts = {fact_key(it) for it in relearn_items}
    kept = [pr for pr in inputs.probes if fact_key(pr) not in facts]

    model = working_copy(inputs.model)
    n_batches = math.ceil(len(relearn_items) / p.batch_size)
    cfg = SFTConfig(epochs=math.ceil(p.steps / n_batches), max_steps=p.steps, lr=p.lr, batch_size=p.batch_size,
                    warmup_frac=0.1, seed=inputs.seed, bf16=False)
    res = train_sft(model, inputs.tokenizer, relearn_items, cfg, inputs.fmt, desc="relearn", progress=False)
    table = score(model, inputs.tokenizer, kept, inputs, model_name="relearn") if kept else None
    details = {
        "relearn_ids": [str(it.id) for it in relearn_items],
        "n_relearn_items": len(relearn_items),
        "n_relearn_facts": len(facts),
        "n_probes": len(inputs.probes),
        "n_excluded_probes": len(inputs.probes) - len(kept),
        "steps": res.steps,
        "final_loss": res.losses[-1] if res.losses else None,
        "first_loss": res.losses[0] if res.losses else None,
        "after": knowledge_summary(table),
    }
    del model
    return table, details
