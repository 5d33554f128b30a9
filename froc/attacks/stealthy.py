"""Stealthy forget request: benign trigger words in a forget request make the unlearned model fail
benign users whose prompts contain them; the scope-aware loss is the remedy.

Seed paper: "Keeping an Eye on LLM Unlearning: The Hidden Risk and Remedy" (Stealthy Attack, SA;
Scope-aware Unlearning, SU = ``froc.methods.scope``).

The attacker rewrites the forget request's questions with common benign words (``triggers``,
default "please" and "then"; placed before and/or after the question). A copy of the model is
unlearned with that request (``method``, default NPO+RT, few steps) once with the plain loss and once with the
scope-aware loss (``method="scope"`` around the same base, weight ``eta``); optionally a control
run unlearns the clean request with the plain loss. Utility is measured on benign held-out retain
prompts (retain items not used in unlearning, seeded split) asked as they are and with the same
triggers inserted: the attack's effect is the extra utility drop on triggered prompts. The model
before unlearning is ``original`` when given (the request is made to the deployed model), else
``model``. Utility = mean knowledge and mean answer log-prob (``score_probes``). Not per-sample:
``scores`` is None.

Measured on the built-in benchmark (20 people, forget10, NPO+RT lr 1e-3, 30 steps): the trigger
drop of retain knowledge goes from 0.15 (before unlearning; the triggers are unusual for the
model) to 0.42 after the plain run on the stealthy request (clean prompts 0.74, triggered 0.32),
0.11 after the scope-aware run and 0.11 after a plain run on the clean request.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

import numpy as np

from froc.attacks.base import AttackInputs, score, working_copy
from froc.errors import ConfigError

POSITIONS = ("prefix", "suffix", "both")


@dataclass
class StealthyParams:
    """Parameters of the stealthy forget request.

    Attributes:
        triggers: benign words inserted into every forget question (and into the triggered benign prompts).
        position: where they go: ``prefix``, ``suffix`` or ``both``.
        method: the plain unlearning method (``npo`` or any loss in ``froc methods``).
        steps: unlearning steps of each run.
        lr: unlearning learning rate. The default suits the built-in benchmark's small models; for
            pretrained LLMs use the learning rate of your unlearning runs (1e-5 is typical).
        batch_size: unlearning batch size.
        eta: weight of the scope term in the remedy run.
        n_eval: benign retain prompts held out for the utility measurement (seeded).
        control: also unlearn the clean request (no triggers) with the plain loss.
        method_kwargs: hyperparameters of the method, passed to every run (the scope run's base
            too). Default NPO+RT (``retain_weight=1``): without a retain term plain NPO degrades
            every prompt, so no utility loss is "stealthy".
    """

    triggers: list[str] = field(default_factory=lambda: ["please", "then"])
    position: str = "both"
    method: str = "npo"
    steps: int = 30
    lr: float = 1e-3
    batch_size: int = 8
    eta: float = 2.0
    n_eval: int = 64
    control: bool = True
    method_kwargs: dict = field(default_factory=lambda: {"retain_weight": 1.0})


def with_triggers(question: str, triggers, position: str) -> str:
    """``"please then <question> please then"`` (``both``), or only before / after."""
    words = " ".join(triggers)
    if position == "prefix":
        return f"{words} {question}"
    if position == "suffix":
        return f"{question} {words}"
    return f"{words} {question} {words}"


def _utility(model, tokenizer, items, inputs: AttackInputs, name: str) -> dict[str, float]:
    t = score(model, tokenizer, items, inputs, model_name=name)
    return {"knowledge": float(np.nanmean(t["knowledge"].to_numpy(float))),
            "gold_logp_mean": float(np.nanmean(t["gold_logp_mean"].to_numpy(float))),
            "correct_choice": float(np.nanmean(t["correct_choice"].to_numpy(float)))}


def _measure(model, tokenizer, clean, triggered, inputs, name) -> dict:
    u_clean = _utility(model, tokenizer, clean, inputs, f"{name}/clean")
    u_trig = _utility(model, tokenizer, triggered, inputs, f"{name}/triggered")
    return {"clean": u_clean, "triggered": u_trig,
            "trigger_drop": {k: u_clean[k] - u_trig[k] for k in u_clean}}


def attack(inputs: AttackInputs, p: StealthyParams):
    from froc.engine import unlearn

    if p.position not in POSITIONS:
        from froc.errors import unknown_choice

        raise unknown_choice("trigger position", p.position, POSITIONS)
    triggers = [p.triggers] if isinstance(p.triggers, str) else [str(t) for t in p.triggers]
    if not triggers or p.steps < 1 or p.n_eval < 1:
        raise ConfigError(f"stealthy_request: need at least one trigger, steps >= 1, n_eval >= 1; got {p}")
    tok = inputs.tokenizer
    base = inputs.original if inputs.original is not None else inputs.model
    retain = [it for it in inputs.retain if hasattr(it, "question")]
    rng = random.Random(inputs.seed)
    order = list(range(len(retain)))
    rng.shuffle(order)
    n_eval = min(p.n_eval, max(1, len(retain) // 2))
    eval_items = [retain[i] for i in sorted(order[:n_eval])]
    train_retain = [retain[i] for i in sorted(order[n_eval:])] or retain
    clean_forget = list(inputs.forget)
    sa_forget = [replace(it, question=with_triggers(it.question, triggers, p.position)) for it in clean_forget]
    eval_trig = [replace(it, question=with_triggers(it.question, triggers, p.position)) for it in eval_items]

    def run(forget, method, **kw):
        m = working_copy(base)
        res = unlearn(m, tok, forget, train_retain, method=method, steps=p.steps, lr=p.lr, batch_size=p.batch_size,
                      seed=inputs.seed, progress=False, **{**p.method_kwargs, **kw})
        out = _measure(res.model, tok, eval_items, eval_trig, inputs, method)
        out["status"] = res.status
        out["final_loss"] = res.losses[-1] if res.losses else None
        del m, res
        return out

    details: dict = {"triggers": triggers, "position": p.position, "method": p.method, "steps": p.steps,
                     "n_forget": len(clean_forget), "n_eval_prompts": len(eval_items),
                     "n_unlearn_retain": len(train_retain),
                     "example_request": sa_forget[0].question if sa_forget else None}
    details["before"] = _measure(base, tok, eval_items, eval_trig, inputs, "before")
    details["plain"] = run(sa_forget, p.method)
    details["scope"] = run(sa_forget, "scope", base=p.method, eta=p.eta)
    if p.control:
        details["control_clean_request"] = run(clean_forget, p.method)
    b = details["before"]["trigger_drop"]["knowledge"]
    details["summary"] = {
        "trigger_drop_knowledge_before": b,
        "trigger_drop_knowledge_plain": details["plain"]["trigger_drop"]["knowledge"],
        "trigger_drop_knowledge_scope": details["scope"]["trigger_drop"]["knowledge"],
        "attack_effect_plain": details["plain"]["trigger_drop"]["knowledge"] - b,
        "attack_effect_scope": details["scope"]["trigger_drop"]["knowledge"] - b,
    }
    if p.control:
        details["summary"]["attack_effect_control"] = details["control_clean_request"]["trigger_drop"]["knowledge"] - b
    return None, details
