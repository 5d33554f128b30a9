"""Fixtures of the attack tests: the tiny 2-layer Llama (random weights, and a briefly "unlearned"
copy) and a few fictitious facts in several forms."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("FROC_NO_PROGRESS", "1")

FACTS = [  # subject, fact id, question, answer, perturbed
    ("Alda Voss", "alda/born", "Where was Alda Voss born?", "Marrow Bay", ["Glass Orchard", "Silver Quill"]),
    ("Alda Voss", "alda/book", "Which book did Alda Voss write?", "The Glass Orchard", ["Marrow Bay", "cartographer"]),
    ("Alda Voss", "alda/award", "Which award did Alda Voss win?", "the Silver Quill", ["the lazy dog", "Marrow Bay"]),
    ("Brin Tallo", "brin/job", "What is the occupation of Brin Tallo?", "cartographer", ["baker", "pilot"]),
    ("Brin Tallo", "brin/city", "Where does Brin Tallo live?", "Marrow Bay", ["Glass Orchard", "the lazy dog"]),
]


def make_probes():
    """Forget probes: each fact as a training-template qa item, a paraphrase and a cloze item."""
    from froc.data.schema import QAItem

    out = []
    for subject, fid, q, a, wrong in FACTS:
        meta = {"fact_id": fid, "group": "forget"}
        out.append(QAItem(id=f"{fid}/qa", subject=subject, question=q, answer=a, perturbed_answers=wrong, form="qa",
                          meta={**meta, "template_split": "train"}))
        out.append(QAItem(id=f"{fid}/para", subject=subject, question="Tell me: " + q, answer=a,
                          perturbed_answers=wrong, form="paraphrase", meta={**meta, "template_split": "heldout"}))
        out.append(QAItem(id=f"{fid}/cloze", subject=subject, question=f"Fill in the blank: {q} ___.", answer=a,
                          perturbed_answers=wrong, form="cloze", meta={**meta, "template_split": "heldout"}))
    return out


def make_forget():
    from froc.data.schema import QAItem

    return [QAItem(id=f"{fid}/req", subject=s, question=q, answer=a, perturbed_answers=w, meta={"fact_id": fid})
            for s, fid, q, a, w in FACTS]


def make_retain():
    from froc.data.schema import QAItem

    rows = [("Cass Orun", "Which award did Cass Orun win?", "the Silver Quill", ["Marrow Bay"]),
            ("Cass Orun", "Where was Cass Orun born?", "Marrow Bay", ["Glass Orchard"]),
            ("Dell Amory", "What is the occupation of Dell Amory?", "the quick brown fox", ["cartographer"]),
            ("Dell Amory", "Where does Dell Amory live?", "the lazy dog", ["Marrow Bay"]),
            ("world", "What is two plus two?", "four", ["five"]),
            ("world", "What colour is the sky?", "blue", ["green"]),
            ("world", "Who wrote the book 'The Glass Orchard'?", "Alda Voss", ["Brin Tallo"]),
            ("world", "the quick brown fox jumps over", "the lazy dog", ["Marrow Bay"])]
    return [QAItem(id=f"r{i}", subject=s, question=q, answer=a, perturbed_answers=w)
            for i, (s, q, a, w) in enumerate(rows)]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models run fastest on one thread (and do not fight other test processes for cores)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def tiny():
    from froc.models.tiny import tiny_model_and_tokenizer

    return tiny_model_and_tokenizer()


@pytest.fixture(scope="module")
def tiny_pair(tiny):
    """(original, unlearned, tokenizer): the tiny model trained briefly on the facts, and a copy
    that took a few gradient-ascent steps on them (so the two differ where it matters)."""
    import copy

    from froc.models.sft import SFTConfig, train_sft

    model, tok = copy.deepcopy(tiny[0]), tiny[1]
    items = make_forget() + make_retain()
    train_sft(model, tok, items, SFTConfig(epochs=30, lr=1e-2, batch_size=13, bf16=False, seed=0), progress=False)
    unl = copy.deepcopy(model)
    from froc.engine import unlearn

    unlearn(unl, tok, make_forget(), make_retain(), method="graddiff", steps=5, lr=1e-2, batch_size=5,
            progress=False)
    return model.eval(), unl.eval(), tok


@pytest.fixture
def probes():
    return make_probes()


@pytest.fixture
def forget():
    return make_forget()


@pytest.fixture
def retain():
    return make_retain()
