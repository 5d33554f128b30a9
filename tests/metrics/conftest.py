"""Shared fixtures of the metric tests: tiny models (random, peaked, briefly trained) and probe builders."""

from __future__ import annotations

import pytest
import torch

from froc.data.schema import QAItem, TextItem
from froc.models.encoding import collate, encode_qa
from froc.models.logprobs import sequence_logprobs
from froc.models.tiny import tiny_model_and_tokenizer

FACTS = [  # subject, question, answer, perturbed answers, group
    ("Alda Voss", "Where was Alda Voss born?", "Marrow Bay", ["Glass Orchard", "Silver Quill"], "forget"),
    ("Brin Tallo", "What is the occupation of Brin Tallo?", "cartographer", ["baker", "pilot", "the quick fox"], "forget"),
    ("Cass Orun", "Which award did Cass Orun win?", "the Silver Quill", ["the Glass Orchard"], "retain"),
    ("Dara Voss", "Where was Dara Voss born?", "Glass Orchard", ["Marrow Bay", "Silver Quill"], "neighbour"),
    ("world", "What is two plus two?", "four", ["five", "six"], "world"),
]


def qa(id, question, answer, *, para=None, perts=(), form="qa", group="forget", subject="s", **meta) -> QAItem:
    return QAItem(id=id, subject=subject, question=question, answer=answer, paraphrased_answer=para,
                  perturbed_answers=list(perts), form=form, meta={"group": group, **meta})


def fact_probes() -> list[QAItem]:
    """Two forms (qa, cloze) of each fact; forget facts also get a paraphrased answer."""
    out = []
    for i, (subject, q, a, perts, group) in enumerate(FACTS):
        for form, question in (("qa", q), ("cloze", "Tell me: " + q)):
            para = f"it is {a}" if group == "forget" else None
            out.append(qa(f"f{i}/{form}", question, a, para=para, perts=perts, form=form, group=group,
                          subject=subject, fact_type="t"))
    return out


def text_probe(id="t0", group="forget") -> TextItem:
    return TextItem(id=id, subject="fox", text="the quick brown fox jumps over the lazy dog 0123456789",
                    meta={"group": group})


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run fastest on one thread (and do not fight other test processes for cores)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def tiny():
    model, tok = tiny_model_and_tokenizer()
    model.eval()
    return model, tok


@pytest.fixture(scope="session")
def peaked():
    """A random tiny model with scaled-up weights: sharp, varied next-token distributions (generation tests)."""
    model, tok = tiny_model_and_tokenizer(seed=3)
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 2:
                p.mul_(8.0)
    model.eval()
    return model, tok


@pytest.fixture(scope="session")
def trained():
    """A tiny model fitted to FACTS for a few steps: answers correctly and stops at eos."""
    model, tok = tiny_model_and_tokenizer(seed=0)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        items = fact_probes()
        batch = collate([encode_qa(tok, it.question, it.answer) for it in items], tok.pad_token_id)
        opt = torch.optim.Adam(model.parameters(), lr=2e-2)
        model.train()
        for _ in range(40):
            s, k = sequence_logprobs(model, batch)
            loss = -(s / k).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(n)
    model.eval()
    return model, tok
