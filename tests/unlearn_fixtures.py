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


# Small-model settings where a method's defaults are sized for 7B models (the smoke and batch-split tests).
TINY_HPARAMS = {
    "rmu": {"layer": 1, "steering_coeff": 2.0, "alpha": 10.0},
    "srmu": {"layer": 1, "steering_coeff": 2.0, "alpha": 10.0},
    "r2mu": {"layer": 1, "steering_coeff": 2.0, "alpha": 10.0, "trace_tokens": 4},
    "adv_ga": {"eps": 1.0, "pgd_steps": 2},
    "adv_npo": {"eps": 1.0, "pgd_steps": 2},
    "altpo": {"n_alternatives": 2, "max_new_tokens": 6},
}


def method_data(method: str, forget: list, retain: list) -> tuple[list, list]:
    """The forget and retain items a method needs beyond plain QA: dpo a user-given alternative answer per forget
    item (froc.methods.dpo); r2mu a written reasoning trace on every other forget and retain item (the rest get
    the model's own trace, or no CoT term)."""
    from dataclasses import replace

    if method == "dpo":
        forget = [replace(f, meta={**f.meta, "alternative": "somewhere else"}) for f in forget]
    if method == "r2mu":
        forget, retain = with_traces(forget), with_traces(retain)
    return forget, retain


def with_traces(items):
    """Every other item with a written reasoning trace."""
    from dataclasses import replace

    return [replace(it, reasoning=f"Recall what is known about {it.subject}.") if i % 2 == 0 else it
            for i, it in enumerate(items)]


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
