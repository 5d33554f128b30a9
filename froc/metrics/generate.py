"""Greedy generation for scoring: left-padded, length-bucketed batches with a KV cache, stop at eos."""

from __future__ import annotations

from typing import Callable, Sequence

from froc.models.encoding import collate_prompts, length_buckets, pad_token_id, to_device


def _decode(tokenizer, ids: list[int], eos_id: int | None) -> str:
    if eos_id is not None and eos_id in ids:
        ids = ids[: ids.index(eos_id)]
    return tokenizer.decode(ids, skip_special_tokens=True).strip()


def greedy_generate(model, tokenizer, prompts: Sequence[Sequence[int]], *, max_new_tokens: int = 16,
                    batch_size: int = 64, device=None,
                    advance: Callable[[int], None] = lambda n=1: None) -> list[str]:
    """Greedy continuations of token-id prompts: length-bucketed, left-padded batches, KV cache, stop at eos.

    Returns the decoded continuations (special tokens dropped, stripped), in the order of ``prompts``;
    ``advance(n)`` is called with the number of prompts done.
    """
    from transformers import GenerationConfig

    out: list[str] = [""] * len(prompts)
    if max_new_tokens <= 0:
        return out
    device = device if device is not None else next(model.parameters()).device
    eos = tokenizer.eos_token_id
    pad = pad_token_id(tokenizer)
    cfg = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, use_cache=True,
                           eos_token_id=eos, pad_token_id=pad)
    for idx in length_buckets([len(p) for p in prompts], batch_size):
        batch = to_device(collate_prompts([prompts[i] for i in idx], pad), device)
        gen = model.generate(**batch, generation_config=cfg)  # (B, T + new)
        new = gen[:, batch["input_ids"].shape[1]:].tolist()
        for i, ids in zip(idx, new):
            out[i] = _decode(tokenizer, ids, eos)
        advance(len(idx))
    return out
