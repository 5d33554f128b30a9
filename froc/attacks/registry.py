"""The one explicit registry of attacks (``ATTACKS[name] -> AttackSpec``) and ``run_attack``.

Every attack has the same shape: ``run_attack(name, model, tokenizer, probes, ...) -> AttackResult``
with post-attack per-sample scores on the probes it scored (see ``froc.attacks.base``).
"""

from __future__ import annotations

import dataclasses
import random
import time
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from froc.attacks import forms, in_context, logit_guided, quantize, relearn, stealthy, suffix, trace
from froc.attacks.base import INPUTS, AttackInputs, AttackResult, AttackSpec, seed_everything
from froc.errors import ConfigError, unknown_choice
from froc.settings import coerce_fields

_SPECS = [
    AttackSpec("relearn", relearn.attack,
               "Hu et al. 2024, Jogging the Memory of Unlearned LLMs Through Targeted Relearning Attacks, "
               "https://arxiv.org/abs/2406.13356", relearn.RelearnParams, frozenset({"forget"}),
               summary="fine-tune a copy on a seeded 10% of the forget request; re-score the other facts"),
    AttackSpec("quantize_8bit", quantize.attack,
               "Zhang et al. 2025, Catastrophic Failure of LLM Unlearning via Quantization, "
               "https://arxiv.org/abs/2410.16454", quantize.QuantizeParams,
               summary="8-bit weights: optimum-quanto (CPU), bitsandbytes (CUDA), else round-to-nearest"),
    AttackSpec("quantize_4bit", quantize.attack,
               "Zhang et al. 2025, Catastrophic Failure of LLM Unlearning via Quantization, "
               "https://arxiv.org/abs/2410.16454", quantize.Quantize4bitParams,
               summary="4-bit weights: optimum-quanto (CPU), bitsandbytes NF4 (CUDA), else round-to-nearest"),
    AttackSpec("paraphrase", forms.paraphrase,
               "seed: LLM Unlearning Should Be Form-Independent (held-out question templates)",
               forms.ParaphraseParams, summary="score only the held-out (paraphrased) question templates"),
    AttackSpec("forms", forms.forms, "seed: LLM Unlearning Should Be Form-Independent (ORT)", forms.FormsParams,
               summary="score only the other probe forms (cloze, mcq, yesno, reverse); knowledge per form"),
    AttackSpec("in_context", in_context.attack,
               "Shumailov et al. 2024, UnUnlearning: Unlearning is not sufficient for content regulation in "
               "advanced generative AI, https://arxiv.org/abs/2407.00106", in_context.InContextParams,
               summary="other facts about the same person placed in the prompt before the question"),
    AttackSpec("suffix", suffix.attack,
               "GCG (Zou et al. 2023, https://arxiv.org/abs/2307.15043) adapted as in DUA (Yuan et al. 2024, "
               "https://arxiv.org/abs/2408.10682)", suffix.SuffixParams,
               summary="universal adversarial suffix by greedy coordinate gradient; held-out facts re-scored"),
    AttackSpec("logit_guided", logit_guided.attack,
               "Wu et al. 2025, Unlearned but Not Forgotten: Data Extraction after Exact Unlearning in LLM",
               logit_guided.LogitGuidedParams, frozenset({"original"}),
               summary="decode/score with s = (1-w) log p_post + w log p_pre over pre-plausible tokens"),
    AttackSpec("trace", trace.attack,
               "Chen et al. 2025, Unlearning Isn't Invisible: Detecting Unlearning Traces in LLMs from Model "
               "Outputs, https://arxiv.org/abs/2506.14003", trace.TraceParams,
               frozenset({"original", "retain"}), per_sample=False,
               summary="logistic regression telling original from unlearned outputs on retain prompts"),
    AttackSpec("stealthy_request", stealthy.attack,
               "Keeping an Eye on LLM Unlearning: The Hidden Risk and Remedy (stealthy attack; scope-aware remedy)",
               stealthy.StealthyParams, frozenset({"forget", "retain"}), per_sample=False,
               summary="forget request with benign triggers; utility drop on triggered prompts, plain vs scope"),
]

ATTACKS: Mapping[str, AttackSpec] = MappingProxyType({s.name: s for s in _SPECS})


def get_attack(name: str) -> AttackSpec:
    if name not in ATTACKS:
        raise unknown_choice("attack", name, ATTACKS)
    return ATTACKS[name]


def build_params(spec: AttackSpec, params: dict[str, Any] | None):
    """The attack's params dataclass from user values; unknown names raise listing the valid ones."""
    params = dict(params or {})
    valid = {f.name: f for f in dataclasses.fields(spec.params)}
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ConfigError(f"unknown parameter(s) {', '.join(unknown)} for attack '{spec.name}'; "
                          f"valid parameters: {', '.join(valid) or '(none)'}")
    return spec.params(**coerce_fields(spec.params, params))


def run_attack(name: str, model, tokenizer, probes: Sequence[Any], *, original=None, forget=None, retain=None,
               refusals=None, seed: int = 0, score_kwargs: dict[str, Any] | None = None, **params) -> AttackResult:
    """Run one registered attack on ``model`` (never modified) and return post-attack scores.

    Args:
        name: a key of :data:`ATTACKS`.
        model, tokenizer: the unlearned model and its tokenizer.
        probes: the forget probes to re-score (QA items).
        original: the model before unlearning (``logit_guided``, ``trace``; the base of ``stealthy_request``).
        forget: the forget request (``relearn`` draws from it; ``in_context``/``suffix`` use it when given).
        retain: retain items (``trace`` prompts, ``stealthy_request`` utility and retain batches).
        refusals: refusal strings (no current attack needs them).
        seed: seeds every draw and every training run of the attack.
        score_kwargs: ``score_probes`` settings (default ``batch_size=64, generate=False, progress=False``;
            ``fmt`` is the prompt format).
        **params: the attack's parameters (``ATTACKS[name].params``).

    Returns:
        :class:`AttackResult` (``scores`` None for ``trace`` and ``stealthy_request``).

    Raises:
        ConfigError: unknown attack or parameter (listing the valid ones), missing inputs, bad values.
    """
    spec = get_attack(name)
    p = build_params(spec, params)
    given = {"original": original, "forget": forget, "retain": retain, "refusals": refusals}
    missing = sorted(k for k in spec.needs if not given.get(k))
    if missing:
        raise ConfigError(f"attack '{name}' needs {', '.join(missing)} (inputs: {', '.join(INPUTS)})")
    probes = list(probes)
    from froc.models.encoding import DEFAULT_FORMAT, resolve_format

    score_kwargs = dict(score_kwargs or {})  # the format with add_bos decided by the tokenizer (attacks read it)
    score_kwargs["fmt"] = resolve_format(score_kwargs.get("fmt", DEFAULT_FORMAT), tokenizer)
    if spec.per_sample and not probes:
        raise ConfigError(f"attack '{name}' needs at least one probe to score")
    inputs = AttackInputs(model=model, tokenizer=tokenizer, probes=probes, original=original,
                          forget=list(forget) if forget is not None else None,
                          retain=list(retain) if retain is not None else None,
                          refusals=list(refusals) if refusals is not None else None,
                          seed=int(seed), score_kwargs=score_kwargs)
    t0 = time.perf_counter()
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng(devices=devices):  # seeded here; the caller's RNG state is left as it was
            seed_everything(int(seed))
            scores, details = spec.fn(inputs, p)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    details = {"params": dataclasses.asdict(p), "seed": int(seed), "paper": spec.paper, **details}
    if scores is not None:
        scores = scores.reset_index(drop=True)
    return AttackResult(name=spec.name, scores=scores, details=details, seconds=time.perf_counter() - t0)
