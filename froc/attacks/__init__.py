"""Attacks on unlearned models, one shape for all: take a model and probes, return post-attack
per-sample scores.

    from froc.attacks import ATTACKS, run_attack
    res = run_attack("relearn", unlearned, tokenizer, forget_probes, forget=forget_request, steps=20)
    res.scores          # per-sample table (probe_id, knowledge, correct_choice, ...), or None
    res.details         # the attack's own numbers

``ATTACKS`` lists: relearn, quantize_8bit, quantize_4bit, paraphrase, forms, in_context, suffix,
logit_guided, trace, stealthy_request (``froc attack --list``).
"""

from froc.attacks.base import AttackInputs, AttackResult, AttackSpec
from froc.attacks.registry import ATTACKS, build_params, get_attack, run_attack

__all__ = ["ATTACKS", "AttackInputs", "AttackResult", "AttackSpec", "build_params", "get_attack", "run_attack"]
