"""Fixtures of the metric tests: tiny models (random, peaked, briefly trained)."""

from __future__ import annotations

import pytest
import torch

from froc.models.encoding import collate, encode_qa
from froc.models.logprobs import sequence_logprobs
from froc.models.tiny import tiny_model_and_tokenizer
from metrics_helpers import fact_probes


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
