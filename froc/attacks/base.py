"""The one shape of an attack: inputs, result, spec, and the helpers every attack shares.

An attack takes a model (the unlearned one) and probes and returns post-attack per-sample scores
(``froc.metrics.scoring.score_probes`` semantics: one row per scored probe, at least ``probe_id``,
``knowledge``, ``correct_choice``) plus its own numbers in ``details``. Attacks that change weights
work on a ``copy.deepcopy`` of the model they were given; the given model is never modified.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch

from froc.metrics.membership import MINK_K
from froc.models.encoding import DEFAULT_FORMAT, Encoded, PromptFormat, pad_token_id

INPUTS = ("original", "forget", "retain", "refusals")

# score_probes settings used when the caller gives none: the forget losses need knowledge and
# correct_choice only, which come from the forward pass; generation is opt-in.
DEFAULT_SCORE_KWARGS: dict[str, Any] = {"batch_size": 64, "generate": False, "progress": False}


@dataclass
class AttackInputs:
    """What ``run_attack`` hands to an attack function (everything besides the attack's own params)."""

    model: Any
    tokenizer: Any
    probes: list
    original: Any = None
    forget: list | None = None
    retain: list | None = None
    refusals: list[str] | None = None
    seed: int = 0
    score_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def fmt(self) -> PromptFormat:
        return self.score_kwargs.get("fmt", DEFAULT_FORMAT)


@dataclass
class AttackResult:
    """Post-attack scores of one attack.

    Attributes:
        name: the attack's registry name.
        scores: per-sample table (``score_probes`` columns; at least ``probe_id``, ``knowledge``,
            ``correct_choice``), one row per probe the attack scored, or None for attacks that are
            not per-sample (``trace``, ``stealthy_request``).
        details: the attack's own numbers (JSON-serialisable).
        seconds: wall-clock time of the attack.
    """

    name: str
    scores: pd.DataFrame | None
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


AttackFn = Callable[[AttackInputs, Any], "tuple[pd.DataFrame | None, dict[str, Any]]"]


@dataclass(frozen=True)
class AttackSpec:
    """A registered attack.

    Attributes:
        name: registry key.
        fn: ``fn(inputs: AttackInputs, params) -> (scores | None, details)``.
        paper: the paper (or practice) it implements.
        params: dataclass of its parameters (defaults = our defaults).
        needs: which of ``original``, ``forget``, ``retain``, ``refusals`` must be given.
        per_sample: whether it returns per-sample scores (False: ``scores`` is None).
        summary: one line for listings.
    """

    name: str
    fn: AttackFn
    paper: str
    params: type
    needs: frozenset[str] = frozenset()
    per_sample: bool = True
    summary: str = ""

    def defaults(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self.params())


# ----------------------------------------------------------------------------- shared helpers


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def working_copy(model):
    """A deep copy to change weights on (same device and dtype); the caller's model is untouched."""
    clone = copy.deepcopy(model)
    clone.eval()
    return clone


def score(model, tokenizer, probes: Sequence[Any], inputs: AttackInputs, *,
          model_name: str = "attacked") -> pd.DataFrame:
    """``score_probes(...).table`` with the run's score settings (``DEFAULT_SCORE_KWARGS`` + the caller's)."""
    from froc.metrics.scoring import score_probes

    kw = {**DEFAULT_SCORE_KWARGS, **inputs.score_kwargs, "model_name": model_name}
    return score_probes(model, tokenizer, list(probes), **kw).table


def score_with_prompts(model, tokenizer, probes: Sequence[Any], prompts: Sequence[Sequence[int]], inputs: AttackInputs,
                       *, model_name: str = "attacked") -> pd.DataFrame:
    """Score QA probes whose prompts are given as token ids (an inserted suffix, a context).

    Each probe's answers (gold, paraphrased, perturbed) are scored after ``prompts[i]`` instead of
    the encoded question; everything else (batching, masks, the table) is ``froc.metrics.scoring``'s,
    so the columns mean exactly what ``score_probes`` means. Token-level prompts matter when the
    prompt was optimised as token ids (the adversarial suffix): re-tokenising its text could change it.
    """
    from froc.metrics.scoring import build_table, forward_scores, greedy_generate, plan_probes

    kw = {**DEFAULT_SCORE_KWARGS, **inputs.score_kwargs}
    fmt = kw.get("fmt", DEFAULT_FORMAT)
    batch_size, generate = int(kw.get("batch_size", 64)), bool(kw.get("generate", False))
    max_new_tokens, mink_k = int(kw.get("max_new_tokens", 16)), float(kw.get("mink_k", MINK_K))
    plan = plan_probes(tokenizer, probes, fmt, max_new_tokens=max_new_tokens)
    owner = {}
    for i in range(len(probes)):
        for s in [plan.gold[i], plan.para[i], *plan.pert[i]]:
            if s is not None:
                owner[s] = i
    for s, i in owner.items():
        e = plan.seqs[s]
        p = list(prompts[i])
        plan.seqs[s] = Encoded(ids=p + e.ids[e.n_prompt:], n_prompt=len(p))
    plan.prompts = [list(p) for p in prompts]
    device = next(model.parameters()).device
    pad_id = pad_token_id(tokenizer)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            raw = forward_scores(model, plan, pad_id=pad_id, batch_size=batch_size, device=device)
            gens = (greedy_generate(model, tokenizer, plan.prompts, max_new_tokens=max_new_tokens,
                                    batch_size=batch_size, device=device) if generate else None)
    finally:
        model.train(was_training)
    return build_table(list(probes), plan, raw, gens, mink_k=mink_k, model_name=model_name)


def require_qa(items: Sequence[Any], attack: str, what: str = "probes") -> None:
    """Attacks that rewrite prompts need question/answer items."""
    bad = [getattr(it, "id", i) for i, it in enumerate(items)
           if not (hasattr(it, "question") and hasattr(it, "answer"))]
    if bad:
        from froc.errors import ConfigError

        raise ConfigError(f"attack '{attack}' needs QA {what} (question/answer); {len(bad)} are not, e.g. {bad[0]!r}")


def fact_key(item) -> tuple:
    """What identifies a fact across its probes: ``meta.fact_id`` (built-in benchmark), else
    (subject, normalised answer)."""
    meta = getattr(item, "meta", None) or {}
    if isinstance(meta, dict) and meta.get("fact_id"):
        return ("fact_id", str(meta["fact_id"]))
    return ("subject_answer", str(getattr(item, "subject", "")).strip().lower(),
            " ".join(str(getattr(item, "answer", "")).lower().split()))


def seeded_subset(items: Sequence[Any], *, seed: int, size: int | None = None, fraction: float | None = None,
                  minimum: int = 1) -> list[int]:
    """Indices of a seeded sample (sorted): ``size`` items, else ``round(fraction * n)`` (at least ``minimum``)."""
    n = len(items)
    k = size if size is not None else max(minimum, int(round((fraction or 0.0) * n)))
    k = max(0, min(int(k), n))
    return sorted(random.Random(seed).sample(range(n), k))


def knowledge_summary(table: pd.DataFrame | None) -> dict[str, float | int | None]:
    """Mean knowledge / correct-choice rate of a scores table (None-safe, JSON-ready)."""
    if table is None or len(table) == 0:
        return {"n": 0, "knowledge_mean": None, "correct_choice_rate": None}
    return {"n": int(len(table)), "knowledge_mean": float(np.nanmean(table["knowledge"].to_numpy(float))),
            "correct_choice_rate": float(np.nanmean(table["correct_choice"].to_numpy(float)))}


def per_form_knowledge(table: pd.DataFrame) -> dict[str, dict[str, float | int | None]]:
    return {str(f): knowledge_summary(g) for f, g in table.groupby("form", sort=True)}


def state_fingerprint(model) -> dict[str, torch.Tensor]:
    """A detached copy of the state dict (tests compare it before/after an attack)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
