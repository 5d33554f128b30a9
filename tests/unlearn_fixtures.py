"""Fixtures of the unlearning tests (tests/engine, tests/methods): the tiny 2-layer Llama and a few fictitious QA
items. One module (a unique name: other test folders have a conftest too), imported by both folders' conftest."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("FROC_NO_PROGRESS", "1")

FORGET = [
    ("Alda Voss", "Where was Alda Voss born?", "Marrow Bay"),
    ("Alda Voss", "Which book did Alda Voss write?", "The Glass Orchard"),
    ("Brin Tallo", "What is the occupation of Brin Tallo?", "cartographer"),
    ("Brin Tallo", "Where does Brin Tallo live?", "Marrow Bay"),
]
RETAIN = [
    ("Cass Orun", "Which award did Cass Orun win?", "the Silver Quill"),
    ("Cass Orun", "Where was Cass Orun born?", "Marrow Bay"),
    ("Dell Amory", "What is the occupation of Dell Amory?", "the quick brown fox"),
    ("Dell Amory", "Where does Dell Amory live?", "the lazy dog"),
]
REFUSALS = ["I don't know.", "I cannot help with that."]


def qa_items(rows, prefix):
    from froc.data.schema import QAItem

    return [QAItem(id=f"{prefix}{i}", subject=s, question=q, answer=a) for i, (s, q, a) in enumerate(rows)]


@pytest.fixture
def forget():
    return qa_items(FORGET, "f")


@pytest.fixture
def retain():
    return qa_items(RETAIN, "r")


@pytest.fixture
def refusals():
    return list(REFUSALS)


@pytest.fixture
def tiny():
    """A fresh (model, tokenizer) pair; same weights every time (seed 0)."""
    from froc.models.tiny import tiny_model_and_tokenizer

    return tiny_model_and_tokenizer()
