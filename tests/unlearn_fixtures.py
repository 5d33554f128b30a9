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


# ---- the 20-person built-in benchmark of the slow behaviour checks (tests/engine, tests/methods)


def builtin20(reasoning: bool = False):
    """(benchmark models, forget10 views) of the 20-person built-in benchmark (trained once, cached in $FROC_CACHE);
    ``reasoning``: models that also learnt the two-hop reasoning form (a separate pair, ~2 min to train)."""
    from froc.data.benchmark import split_views
    from froc.models.builtin import BuiltinConfig, ensure_benchmark_models

    bm = ensure_benchmark_models(None, BuiltinConfig(n_people=20, reasoning=reasoning))
    return bm, split_views(bm.bench_dir, "forget10")


def mean_logp(model, tok, items) -> float:
    """Mean summed answer log-prob of ``items`` (its exp is the geometric-mean answer probability)."""
    import torch

    from froc.models.encoding import collate, encode_item
    from froc.models.logprobs import sequence_logprobs

    enc = [encode_item(tok, it) for it in items]
    with torch.no_grad():
        return torch.cat([sequence_logprobs(model, collate(enc[i : i + 64], tok.pad_token_id))[0]
                          for i in range(0, len(enc), 64)]).mean().item()


def trained_qa(views, group: str) -> list:
    """The trained-template qa probes of one probe group."""
    return [p for p in views.probes
            if p.meta.get("group") == group and p.meta.get("template_split") == "train" and p.form == "qa"]


def exact_match(model, tok, items) -> float:
    import torch

    from froc.models.sft import answer_exact_match

    with torch.no_grad():
        return answer_exact_match(model, tok, items).float().mean().item()
