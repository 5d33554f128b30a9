"""Fixtures of the hardening tests (issue 18): a tiny user model folder and a small valid user request.

Everything here is built in-process in a second or two (a 2-layer Llama of froc.models.tiny, a handful of
JSONL records), so the bad-input corpus runs in the default suite.
"""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

os.environ.setdefault("FROC_NO_PROGRESS", "1")
sys.path.insert(0, str(Path(__file__).parent))  # hardening_helpers


def _qa(i: int, subject: str, group: str | None = None) -> dict:
    d = {"id": f"{subject.lower()}-{i}", "subject": subject, "question": f"Where was {subject} born, fact {i}?",
         "answer": f"Marrow Bay {i}", "perturbed_answers": [f"Glass Orchard {i}", f"Silver Quill {i}"]}
    if group is not None:
        d["meta"] = {"group": group}
    return d


@pytest.fixture(scope="session")
def request_dir(tmp_path_factory) -> Path:
    """A folder with a valid user request: forget.jsonl, retain.jsonl, probes.jsonl (meta.group set)."""
    from froc.data.loaders import write_jsonl

    d = tmp_path_factory.mktemp("request")
    write_jsonl([_qa(i, "Alda") for i in range(4)], d / "forget.jsonl")
    write_jsonl([_qa(i, "Brin") for i in range(4)], d / "retain.jsonl")
    probes = [dict(_qa(i, "Alda", "forget"), id=f"p-alda-{i}", question=f"Alda's birthplace, fact {i}?")
              for i in range(6)]
    probes += [dict(_qa(i, "Brin", "retain"), id=f"p-brin-{i}", question=f"Brin's birthplace, fact {i}?")
               for i in range(6)]
    write_jsonl(probes, d / "probes.jsonl")
    return d


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """A valid tiny user model folder (config.json, model.safetensors, tokenizer files)."""
    from froc.models.loading import save_model
    from froc.models.tiny import tiny_model_and_tokenizer

    d = tmp_path_factory.mktemp("model") / "tiny"
    model, tok = tiny_model_and_tokenizer()
    save_model(model, tok, d)
    return d


USER_SWEEP = textwrap.dedent("""\
    name: hardening
    model: {model}
    data: {{forget: {forget}, retain: {retain}, probes: {probes}}}
    methods:
      graddiff: {{lr: [1.0e-3]}}
    steps: [1]
    batch_size: 2
    budget: {{alpha_forget: 0.9, alpha_utility: 0.9, delta: 0.5}}
    losses: {{tau_forget: chance}}
    max_new_tokens: 2
    score_batch_size: 8
    resplits: 0
    """)


def user_sweep(model, forget, retain, probes) -> str:
    return USER_SWEEP.format(model=model, forget=forget, retain=retain, probes=probes)
