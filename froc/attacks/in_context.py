"""In-context re-introduction ("ununlearning"): put forgotten facts in the prompt, then ask.

Seed paper: Shumailov et al. 2024, "UnUnlearning: Unlearning is not sufficient for content
regulation in advanced generative AI" (https://arxiv.org/abs/2407.00106): knowledge removed from
the weights can be handed back in context, and the model then behaves as if it knew it.

For every probe, up to ``n_context`` statements about the same subject are taken from the forget
request (or, without one, from the other probes), written ``"<question> <answer>."``, and placed
before the question: the prompt becomes ``"Context: s1 s2 ...\\n" + fmt.prompt(question)``. By
default the probe's own fact is excluded (same ``meta.fact_id``, else same subject and answer), so
what is measured is whether facts *about the person* unlock the forgotten one; with
``include_same_fact=True`` the fact itself may be among the statements (the direct
re-introduction of the paper). Statements are chosen by a seeded draw, per probe.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from froc.attacks.base import AttackInputs, fact_key, knowledge_summary, require_qa, score
from froc.errors import ConfigError


@dataclass
class InContextParams:
    """Parameters of the in-context attack.

    Attributes:
        n_context: statements placed before each question (at most; fewer when the subject has fewer).
        include_same_fact: allow the probed fact's own statement in the context.
        same_fact_first: with ``include_same_fact``, always put the probed fact's statement first.
        prefix: text before the statements.
        source: ``forget`` (the forget request; falls back to ``probes`` when none is given) or ``probes``.
    """

    n_context: int = 3
    include_same_fact: bool = False
    same_fact_first: bool = True
    prefix: str = "Context:"
    source: str = "forget"


def statement(item) -> str:
    q, a = str(item.question).strip(), str(item.answer).strip()
    return f"{q} {a}".rstrip(".") + "."


def build_context(probe, pool: list, p: InContextParams, rng: random.Random) -> list:
    """The items whose statements go before ``probe`` (same subject; own fact excluded unless allowed)."""
    key = fact_key(probe)
    same_subject = [it for it in pool if it.subject == probe.subject and it.id != probe.id]
    own = [it for it in same_subject if fact_key(it) == key]
    others = [it for it in same_subject if fact_key(it) != key]
    # one statement per fact: the first item of each fact in pool order
    by_fact: dict = {}
    for it in others:
        by_fact.setdefault(fact_key(it), it)
    chosen = rng.sample(list(by_fact.values()), min(p.n_context, len(by_fact)))
    if p.include_same_fact and own:
        if p.same_fact_first:
            chosen = [own[0]] + chosen[: max(0, p.n_context - 1)]
        else:
            chosen = rng.sample(list(by_fact.values()) + [own[0]], min(p.n_context, len(by_fact) + 1))
    return chosen


def attack(inputs: AttackInputs, p: InContextParams):
    if p.n_context < 1:
        raise ConfigError(f"in_context: n_context must be >= 1, got {p.n_context}")
    if p.source not in ("forget", "probes"):
        raise ConfigError(f"in_context: source must be 'forget' or 'probes', got {p.source!r}")
    require_qa(inputs.probes, "in_context")
    fmt = inputs.fmt
    source = "forget" if p.source == "forget" and inputs.forget else "probes"
    pool = list(inputs.forget) if source == "forget" else list(inputs.probes)
    pool = [it for it in pool if hasattr(it, "question") and hasattr(it, "answer")]
    rng = random.Random(inputs.seed)
    new_probes, n_ctx = [], []
    for pr in inputs.probes:
        ctx = build_context(pr, pool, p, rng)
        n_ctx.append(len(ctx))
        text = " ".join([p.prefix] + [statement(it) for it in ctx]) if ctx else ""
        question = (text + "\n" if text else "") + fmt.prompt(pr.question)
        new_probes.append(replace(pr, question=question))
    ctx_fmt = replace(fmt, template="{question}")  # the question already holds the formatted prompt
    table = score(inputs.model, inputs.tokenizer, new_probes, _with_fmt(inputs, ctx_fmt), model_name="in_context")
    details = {"source": source, "n_probes": len(new_probes), "include_same_fact": p.include_same_fact,
               "mean_context_statements": float(sum(n_ctx) / len(n_ctx)) if n_ctx else 0.0,
               "n_without_context": int(sum(1 for n in n_ctx if n == 0)),
               "example_prompt": ctx_fmt.prompt(new_probes[0].question) if new_probes else None,
               "after": knowledge_summary(table)}
    return table, details


def _with_fmt(inputs: AttackInputs, fmt) -> AttackInputs:
    return replace(inputs, score_kwargs={**inputs.score_kwargs, "fmt": fmt})
