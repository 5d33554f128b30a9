"""Per-sample scoring: every forward pass and generation that the metrics need, batched once.

``score_probes`` flattens every sequence of every probe (gold, paraphrased, each perturbed answer)
into one list and scores it in batches (``torch.inference_mode``). A QA probe's 2-5 sequences share
one prompt: each distinct prompt runs once with a KV cache and its answers run on that cache
(:func:`forward_scores`); other sequences, and models that cannot do that, run whole in right-padded
batches of similar length. Every answer token gets its log-prob, its Min-K%++ standardisation (mean/std
of log p under the model's own next-token distribution there, float64) and a teacher-forced argmax hit;
gold answers optionally get mean-pooled hidden states. Greedy answers are generated in left-padded,
length-bucketed batches with a KV cache. The result is one row per probe; metrics (``froc.metrics.*``)
are pure functions over its columns. :mod:`froc.metrics.naive` computes the same table one sequence
at a time (the reference of the tests and of ``benchmarks/scoring.py``).

Text items (``id``, ``subject``, ``text``) are scored on the whole text; their generation prompt is
the first ``text_prompt_tokens`` tokens (VerbMem) and the reference is the next ``max_new_tokens``
tokens of the true text.

Shapes: B batch, T sequence length, V vocabulary, H hidden size, N probes, S sequences.

Modules: :mod:`~froc.metrics.plan` (what to run), :mod:`~froc.metrics.forward` (forward passes),
:mod:`~froc.metrics.generate` (greedy answers), :mod:`~froc.metrics.table` (the per-probe table and
:class:`ScoreResult`); this module holds the entry point :func:`score_probes` and re-exports their public names.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import torch

from froc.errors import ConfigError
from froc.metrics.forward import SequenceScores, can_share_prompts, forward_scores, layer_indices, token_stats
from froc.metrics.generate import greedy_generate
from froc.metrics.membership import MINK_K, n_lowest
from froc.metrics.plan import Plan, plan_probes
from froc.metrics.provenance import provenance, utc_now
from froc.metrics.table import COLUMNS, LIST_COLUMNS, ScoreResult, build_table
from froc.models.encoding import DEFAULT_FORMAT, PromptFormat, pad_token_id

__all__ = ["COLUMNS", "LIST_COLUMNS", "HIDDEN_POOLS", "Plan", "ScoreResult", "SequenceScores", "build_table",
           "can_share_prompts", "forward_scores", "greedy_generate", "plan_probes", "score_probes", "token_stats"]

HIDDEN_POOLS = ("answer", "prompt")


def _check(batch_size: int, max_new_tokens: int, mink_k: float, hidden_pool: str) -> None:
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    if max_new_tokens < 0:
        raise ConfigError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    try:
        n_lowest(1, mink_k)
    except ValueError as e:
        raise ConfigError(f"mink_k: {e}") from None
    if hidden_pool not in HIDDEN_POOLS:
        from froc.errors import unknown_choice

        raise unknown_choice("hidden_pool", hidden_pool, HIDDEN_POOLS)


def score_probes(model, tokenizer, probes: Sequence[Any], *, fmt: PromptFormat = DEFAULT_FORMAT, batch_size: int = 64,
                 generate: bool = True, max_new_tokens: int = 16, mink_k: float = MINK_K,
                 hidden_layers: Sequence[int] | None = None, hidden_pool: str = "answer",
                 text_prompt_tokens: int = 32, max_length: int | None = None, model_name: str = "model",
                 model_path: str | Path | None = None, data_manifest: dict | None = None, seed: int | None = None,
                 device=None, progress: bool = True, share_prompts: bool = True) -> ScoreResult:
    """Score every probe with one model: log-probs, membership scores, extraction, greedy answers.

    Args:
        model, tokenizer: a causal LM and its tokenizer (``pad_token_id`` falls back to eos).
        probes: QA items (``question``, ``answer``, optional ``paraphrased_answer``, ``perturbed_answers``,
            ``form``, ``meta``) and/or text items (``text``); any objects with those attributes.
        fmt: prompt format (the one the model was trained with).
        batch_size: sequences per forward pass and prompts per generation batch.
        generate: also produce greedy answers (ROUGE, gen_correct); off -> those columns are NaN/None.
        max_new_tokens: generation budget (also the length of a text item's reference continuation).
        mink_k: K of Min-K% and Min-K%++ (share of lowest tokens, at least one token); default 0.4 as MUSE.
        hidden_layers: hidden-state indices (0 = embeddings, -1 = last) to mean-pool; None = none.
        hidden_pool: pool over ``answer`` tokens or ``prompt`` tokens of the gold sequence.
        text_prompt_tokens: prompt length of text items' continuation (VerbMem).
        max_length: truncate sequences to this many tokens (default: the model's max positions).
        model_name: the ``model`` column (e.g. target / oracle / original).
        model_path, data_manifest, seed: recorded in the provenance.
        device: where to run; default the model's device (given -> the model is moved there).
        progress: show a progress bar.
        share_prompts: run each distinct prompt once and its answers on its KV cache, when the model can
            (see :func:`forward_scores`); False scores every sequence whole. Same numbers either way; sharing
            holds one batch's prompt cache plus one answer batch's copy of it in memory.

    Returns:
        :class:`ScoreResult` with one row per probe, in probe order.
    """
    from froc.progress import progress_bar

    _check(batch_size, max_new_tokens, mink_k, hidden_pool)
    started, t0 = utc_now(), time.perf_counter()
    if device is not None:
        from froc.models.loading import resolve_device

        device = resolve_device(device)
        model.to(device)
    else:
        device = next(model.parameters()).device
    if max_length is None:
        max_length = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    pad_id = pad_token_id(tokenizer)
    layers = layer_indices(model, hidden_layers)
    plan = plan_probes(tokenizer, probes, fmt, max_new_tokens=max_new_tokens, text_prompt_tokens=text_prompt_tokens,
                       max_length=max_length)
    n_gen = len(plan.prompts) if generate and max_new_tokens > 0 else 0  # the bar counts sequences + prompts
    was_training = model.training
    model.eval()
    timing = {}
    try:
        bar = (progress_bar(f"scoring {model_name}", len(plan.seqs) + n_gen) if progress
               else nullcontext(lambda n=1, **kw: None))
        with torch.inference_mode(), bar as advance:
            t = time.perf_counter()
            raw = forward_scores(model, plan, pad_id=pad_id, batch_size=batch_size, device=device, layers=layers,
                                 hidden_pool=hidden_pool, advance=advance, share_prompts=share_prompts)
            timing["forward_s"] = time.perf_counter() - t
            generations = None
            if generate:
                t = time.perf_counter()
                generations = greedy_generate(model, tokenizer, plan.prompts, max_new_tokens=max_new_tokens,
                                              batch_size=batch_size, device=device, advance=advance)
                timing["generate_s"] = time.perf_counter() - t
    finally:
        model.train(was_training)
    table = build_table(probes, plan, raw, generations, mink_k=mink_k, model_name=model_name)
    seconds = time.perf_counter() - t0
    summary = {
        "model_name": model_name,
        "n_probes": len(probes),
        "n_sequences": len(plan.seqs),
        "settings": {"fmt": asdict(fmt), "batch_size": batch_size,
                     "generate": generate, "max_new_tokens": max_new_tokens, "mink_k": mink_k,
                     "hidden_layers": layers, "hidden_pool": hidden_pool, "text_prompt_tokens": text_prompt_tokens,
                     "share_prompts": share_prompts,
                     "max_length": max_length, "device": str(device),
                     "threads": torch.get_num_threads(),  # float32 CPU scores depend on it (~1e-8 nats)
                     "dtype": str(next(model.parameters()).dtype)},
        "timing": {**timing, "total_s": seconds},
        "provenance": provenance(model=model, model_path=model_path, probes=probes, data_manifest=data_manifest,
                                 seed=seed, started=started, seconds=seconds),
    }
    return ScoreResult(table, raw.hidden, summary)
