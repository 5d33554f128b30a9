"""Prompt encoding shared by training, unlearning, scoring and attacks.

A question/answer item becomes ``prompt = fmt.template.format(question=q)`` followed by
``fmt.answer_prefix + answer + eos``. Prompt and answer are tokenized separately and
concatenated, so the answer-token boundary is exact. Labels are ``-100`` on the prompt and
on padding: losses and log-probs only ever count answer tokens.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

IGNORE = -100


@dataclass(frozen=True)
class PromptFormat:
    """How a question becomes a prompt and an answer becomes a continuation."""

    template: str = "Question: {question}\nAnswer:"
    answer_prefix: str = " "
    add_bos: bool = True
    add_eos: bool = True

    def prompt(self, question: str) -> str:
        return self.template.format(question=question)


DEFAULT_FORMAT = PromptFormat()


@dataclass
class Encoded:
    """Token ids of one sequence; the first ``n_prompt`` tokens are prompt (never scored)."""

    ids: list[int]
    n_prompt: int

    @property
    def n_answer(self) -> int:
        return len(self.ids) - self.n_prompt


def _ids(tokenizer, text: str) -> list[int]:
    if not text:
        return []
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def encode_prompt(tokenizer, question: str, fmt: PromptFormat = DEFAULT_FORMAT) -> list[int]:
    """Token ids of the prompt alone (what generation starts from)."""
    ids = _ids(tokenizer, fmt.prompt(question))
    if fmt.add_bos and tokenizer.bos_token_id is not None:
        ids = [tokenizer.bos_token_id] + ids
    return ids


def encode_qa(
    tokenizer, question: str, answer: str, fmt: PromptFormat = DEFAULT_FORMAT, max_length: int | None = None
) -> Encoded:
    """Encode one question/answer pair with an answer-only mask boundary.

    If ``max_length`` is given and the sequence is longer, the prompt is truncated from the
    left (the answer is kept whole when possible).
    """
    p = encode_prompt(tokenizer, question, fmt)
    a = _ids(tokenizer, fmt.answer_prefix + answer)
    if fmt.add_eos and tokenizer.eos_token_id is not None:
        a = a + [tokenizer.eos_token_id]
    if max_length is not None and len(p) + len(a) > max_length:
        keep_p = max(1, max_length - len(a))
        p = p[-keep_p:]
        a = a[: max_length - len(p)]
    return Encoded(ids=p + a, n_prompt=len(p))


def encode_text(tokenizer, text: str, n_prompt_tokens: int = 0, fmt: PromptFormat = DEFAULT_FORMAT,
                max_length: int | None = None) -> Encoded:
    """Encode a raw text item; the first ``n_prompt_tokens`` text tokens act as prompt (e.g. VerbMem)."""
    ids = _ids(tokenizer, text)
    if fmt.add_eos and tokenizer.eos_token_id is not None:
        ids = ids + [tokenizer.eos_token_id]
    bos = [tokenizer.bos_token_id] if fmt.add_bos and tokenizer.bos_token_id is not None else []
    if max_length is not None:
        ids = ids[: max_length - len(bos)]
    return Encoded(ids=bos + ids, n_prompt=len(bos) + min(n_prompt_tokens, max(len(ids) - 1, 0)))


def encode_item(tokenizer, item: Any, fmt: PromptFormat = DEFAULT_FORMAT, *, answer: str | None = None,
                max_length: int | None = None) -> Encoded:
    """Encode a QA item (``question``/``answer``, optionally another ``answer``) or a text item (``text``)."""
    if hasattr(item, "question"):
        return encode_qa(tokenizer, item.question, item.answer if answer is None else answer, fmt, max_length)
    return encode_text(tokenizer, item.text, 0, fmt, max_length)


def pad_token_id(tokenizer) -> int | None:
    """The id to pad with: the tokenizer's pad token, else its eos token (None if it has neither)."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def collate(encoded: Sequence[Encoded], pad_id: int, padding_side: str = "right") -> dict[str, torch.Tensor]:
    """Pad a list of encoded sequences to the batch's own maximum length.

    Returns ``input_ids`` (B, T), ``attention_mask`` (B, T) and ``labels`` (B, T) with -100 on
    prompt and padding.
    """
    if padding_side not in ("right", "left"):
        raise ValueError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
    T = max(len(e.ids) for e in encoded)
    B = len(encoded)
    # filled in numpy (a row from a list is ~10x cheaper than a torch.tensor per row), handed over without a copy
    input_ids = np.full((B, T), pad_id, dtype=np.int64)
    attn = np.zeros((B, T), dtype=np.int64)
    labels = np.full((B, T), IGNORE, dtype=np.int64)
    for i, e in enumerate(encoded):
        n = len(e.ids)
        s = 0 if padding_side == "right" else T - n
        input_ids[i, s : s + n] = e.ids
        attn[i, s : s + n] = 1
        labels[i, s + e.n_prompt : s + n] = e.ids[e.n_prompt :]
    return {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(attn),
            "labels": torch.from_numpy(labels)}


def collate_prompts(prompts: Sequence[Sequence[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Left-pad prompt ids for batched generation."""
    return {
        k: v
        for k, v in collate([Encoded(list(p), len(p)) for p in prompts], pad_id, padding_side="left").items()
        if k != "labels"
    }


def length_buckets(lengths: Sequence[int], batch_size: int, *, shuffle: bool = False, seed: int = 0) -> list[list[int]]:
    """Group indices into batches of similar length (sorted, then chunked).

    Padding is only to each batch's own maximum. With ``shuffle`` the order of the batches
    (not their content) is shuffled with a seeded RNG, so training stays deterministic.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if shuffle:
        random.Random(seed).shuffle(batches)
    return batches


def to_device(batch: dict[str, torch.Tensor], device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items()}
