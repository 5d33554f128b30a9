"""Greedy generation for scoring: left-padded, length-bucketed batches with a KV cache, stop at eos."""

from __future__ import annotations

from typing import Callable, Sequence

from froc.models.encoding import collate_prompts, length_buckets, pad_token_id, to_device


def greedy_ids(model, tokenizer, prompts: Sequence[Sequence[int]], *, max_new_tokens: int = 16, batch_size: int = 64,
               device=None, advance: Callable[[int], None] = lambda n=1: None) -> list[list[int]]:
    """Greedy continuations of token-id prompts: length-bucketed, left-padded batches, KV cache, stop at eos.

    Returns each prompt's new token ids up to (not including) the first eos, in the order of ``prompts``;
    ``advance(n)`` is called with the number of prompts done.
    """
    from transformers import GenerationConfig

    out: list[list[int]] = [[] for _ in prompts]
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
        for i, ids in zip(idx, gen[:, batch["input_ids"].shape[1]:].tolist()):
            out[i] = ids[: ids.index(eos)] if eos is not None and eos in ids else ids
        advance(len(idx))
    return out


def greedy_generate(model, tokenizer, prompts: Sequence[Sequence[int]], *, max_new_tokens: int = 16,
                    batch_size: int = 64, device=None,
                    advance: Callable[[int], None] = lambda n=1: None) -> list[str]:
    """:func:`greedy_ids`, decoded: the continuations as text (special tokens dropped, stripped)."""
    ids = greedy_ids(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size, device=device,
                     advance=advance)
    return [tokenizer.decode(x, skip_special_tokens=True).strip() for x in ids]
