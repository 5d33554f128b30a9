"""A tiny Llama model and tokenizer built in-process, for tests and smoke runs (seconds on CPU)."""

from __future__ import annotations

from froc.models.build import build_llama
from froc.models.tokenizer import train_bpe_tokenizer

_CORPUS = [
    "Question: Where was Alda Voss born?\nAnswer: Marrow Bay",
    "Question: What is the occupation of Brin Tallo?\nAnswer: cartographer",
    "Question: Which award did Cass Orun win?\nAnswer: the Silver Quill",
    "Question: Who wrote the book 'The Glass Orchard'?\nAnswer: Alda Voss",
    "Fill in the blank: Brin Tallo works as a ___.",
    "I don't know. I cannot help with that. Yes No",
    "the quick brown fox jumps over the lazy dog 0123456789",
]


def tiny_tokenizer(texts=None, vocab_size: int = 300):
    return train_bpe_tokenizer((texts or []) + _CORPUS * 4, vocab_size=vocab_size, min_frequency=1)


def tiny_model_and_tokenizer(texts=None, seed: int = 0, arch="tiny"):
    """(model, tokenizer): a 2-layer Llama with hidden size 32 and a ~300-token BPE vocabulary."""
    tok = tiny_tokenizer(texts)
    return build_llama(tok, arch, seed=seed), tok
