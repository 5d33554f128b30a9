"""A deliberately simple one-probe-at-a-time scorer: the reference the batched scorer is tested and
benchmarked against. Each sequence runs alone (no padding), log-probs come from an explicit
log-softmax, each prompt is generated alone. Same plan, same quantities, same table.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from froc.metrics.forward import SequenceScores
from froc.metrics.generate import _decode
from froc.metrics.plan import plan_probes
from froc.metrics.table import ScoreResult, build_table
from froc.metrics.membership import MINK_K
from froc.models.encoding import DEFAULT_FORMAT, PromptFormat, pad_token_id


def _one(model, ids: list[int], n_prompt: int, device, layers):
    x = torch.tensor([ids], device=device)
    out = model(input_ids=x, output_hidden_states=bool(layers), use_cache=False)
    lsm = torch.log_softmax(out.logits[0].float(), -1)  # (T, V)
    tgt = x[0, n_prompt:]  # answer tokens
    tok = lsm[n_prompt - 1 : len(ids) - 1].gather(-1, tgt[:, None])[:, 0]  # predictions for them
    lsm64 = torch.log_softmax(out.logits[0, n_prompt - 1 : len(ids) - 1].double(), -1)
    p = lsm64.exp()
    mu = (p * lsm64).sum(-1)
    sd = (p * (lsm64 - mu[:, None]) ** 2).sum(-1).clamp_min(1e-12).sqrt()
    hits = out.logits[0, n_prompt - 1 : len(ids) - 1].argmax(-1) == tgt
    hidden = {layer: out.hidden_states[layer][0, n_prompt:].float().mean(0).cpu().numpy() for layer in layers}
    return tok.double().cpu().numpy(), ((tok.double() - mu) / sd).cpu().numpy(), hits.cpu().numpy(), hidden


def score_probes_naive(model, tokenizer, probes: Sequence[Any], *, fmt: PromptFormat = DEFAULT_FORMAT,
                       generate: bool = True, max_new_tokens: int = 16, mink_k: float = MINK_K,
                       hidden_layers: Sequence[int] = (), text_prompt_tokens: int = 32, max_length: int | None = None,
                       model_name: str = "model") -> ScoreResult:
    """:func:`froc.metrics.scoring.score_probes`'s table, computed one sequence at a time.

    Hidden states are answer-pooled; ``hidden_layers`` must be non-negative indices. No provenance.
    """
    from transformers import GenerationConfig

    device = next(model.parameters()).device
    if max_length is None:
        max_length = getattr(model.config, "max_position_embeddings", None)
    plan = plan_probes(tokenizer, probes, fmt, max_new_tokens=max_new_tokens, text_prompt_tokens=text_prompt_tokens,
                       max_length=max_length)
    S, N = len(plan.seqs), len(plan.gold)
    sums, ns = np.zeros(S), np.zeros(S)
    gold_row = {s: i for i, s in enumerate(plan.gold)}
    tok_lp, tok_z, hits = [None] * S, [None] * S, [None] * S
    hidden = {layer: [None] * N for layer in hidden_layers}
    eos = tokenizer.eos_token_id
    pad = pad_token_id(tokenizer)
    cfg = GenerationConfig(max_new_tokens=max(max_new_tokens, 1), do_sample=False, num_beams=1, use_cache=True,
                           eos_token_id=eos, pad_token_id=pad)
    generations = [] if generate else None
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for s, enc in enumerate(plan.seqs):
                lp, z, h, hid = _one(model, enc.ids, enc.n_prompt, device, list(hidden_layers))
                sums[s], ns[s] = lp.sum(), lp.size
                tok_lp[s], tok_z[s], hits[s] = lp, z, h
                if s in gold_row:
                    for layer, v in hid.items():
                        hidden[layer][gold_row[s]] = v
            if generate:
                for prompt in plan.prompts:
                    x = torch.tensor([prompt], device=device)
                    if max_new_tokens > 0:
                        out = model.generate(input_ids=x, attention_mask=torch.ones_like(x), generation_config=cfg)
                        new = out[0, len(prompt):].tolist()
                    else:
                        new = []
                    generations.append(_decode(tokenizer, new, eos))
    finally:
        model.train(was_training)
    raw = SequenceScores(sums, ns, tok_lp, tok_z, hits)
    table = build_table(probes, plan, raw, generations, mink_k=mink_k, model_name=model_name)
    return ScoreResult(table, {layer: np.stack(v) for layer, v in hidden.items()}, {"model_name": model_name})
