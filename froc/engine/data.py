"""Data for the unlearning loop: encoding, seeded batch order, refusal pairing, reference cache.

Items are duck-typed: QA items have ``question``/``answer`` (``froc.data.schema.QAItem``), text
items have ``text`` (``TextItem``); ``subject`` is read where a method needs it. Refusals are a
plain ``list[str]`` (objects with a ``text`` attribute are accepted too).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import Tensor

from froc.errors import ConfigError
from froc.methods.base import Batch
from froc.models.encoding import Encoded, collate, encode_item, to_device
from froc.models.logprobs import sequence_logprobs


@dataclass
class UnlearnData:
    """Encoded forget and retain sets; ``refusal_enc[i]`` is forget question i with its refusal answer."""

    forget_items: list
    forget_enc: list[Encoded]
    retain_items: list
    retain_enc: list[Encoded]
    refusal_text: list[str] | None = None
    refusal_enc: list[Encoded] | None = None


def _check_items(items: Sequence[Any], name: str) -> list:
    items = list(items or [])
    for i, it in enumerate(items):
        if not (hasattr(it, "question") and hasattr(it, "answer")) and not hasattr(it, "text"):
            raise ConfigError(f"{name}[{i}] is a {type(it).__name__}; expected a QA item (question, answer) "
                              "or a text item (text)")
    return items


def prepare_data(tokenizer, forget, retain, refusals, needs: set[str], cfg) -> UnlearnData:
    """Encode what the method needs; raise ConfigError for missing inputs."""
    forget = _check_items(forget, "forget")
    if not forget:
        raise ConfigError("the forget set is empty")
    retain = _check_items(retain, "retain") if "retain" in needs else []
    if "retain" in needs and not retain:
        raise ConfigError("this method needs retain data (or set its retain weight to 0)")
    enc = lambda it, answer=None: encode_item(tokenizer, it, cfg.prompt_format, answer=answer, max_length=cfg.max_length)
    data = UnlearnData(forget, [enc(it) for it in forget], retain, [enc(it) for it in retain])
    if "refusals" in needs:
        texts = [getattr(r, "text", r) for r in (refusals or [])]
        if not texts or not all(isinstance(t, str) and t.strip() for t in texts):
            raise ConfigError("this method needs refusals: a non-empty list of refusal strings")
        if any(not hasattr(it, "question") for it in forget):
            raise ConfigError("refusal-based methods need QA forget items (question/answer), not text items")
        rng = random.Random(cfg.seed + 2)
        data.refusal_text = [rng.choice(texts) for _ in forget]
        data.refusal_enc = [enc(it, answer=t) for it, t in zip(forget, data.refusal_text)]
    return data


class IndexStream:
    """An endless stream of indices 0..n-1: one seeded shuffle per pass, passes concatenated."""

    def __init__(self, n: int, seed: int):
        self.n, self.rng, self.buf = n, random.Random(seed), []

    def take(self, k: int) -> list[int]:
        while len(self.buf) < k:
            order = list(range(self.n))
            self.rng.shuffle(order)
            self.buf.extend(order)
        out, self.buf = self.buf[:k], self.buf[k:]
        return out


def make_batch(data: UnlearnData, f_idx: list[int], r_idx: list[int] | None, pad_id: int, device) -> Batch:
    """Collate the chosen forget (and retain, refusal) items into a ``Batch`` on ``device``."""
    fe = [data.forget_enc[i] for i in f_idx]
    batch = Batch(
        forget=to_device(collate(fe, pad_id), device),
        forget_idx=torch.tensor(f_idx, device=device),
        forget_items=[data.forget_items[i] for i in f_idx],
        forget_enc=fe,
    )
    if r_idx is not None:
        batch.retain_enc = [data.retain_enc[i] for i in r_idx]
        batch.retain_items = [data.retain_items[i] for i in r_idx]
        batch.retain = to_device(collate(batch.retain_enc, pad_id), device)
    if data.refusal_enc is not None:
        batch.refusal = to_device(collate([data.refusal_enc[i] for i in f_idx], pad_id), device)
    return batch


def reference_logprobs(model, encs: list[Encoded], pad_id: int, device, batch_size: int, *,
                       inference: bool = True) -> Tensor:
    """Summed answer log-prob (N,) of each sequence under ``model`` as it is now: one no-grad pass.

    Sequences are batched ``batch_size`` at a time in their given order; the result is a plain
    tensor (cloned out of inference mode) usable in losses. ``inference=False`` runs under ``no_grad``
    instead of inference mode (a sharded model re-creates its weights after each forward pass, and
    weights created in inference mode could not be trained).
    """
    out = []
    with torch.inference_mode() if inference else torch.no_grad():
        for i in range(0, len(encs), batch_size):
            b = to_device(collate(encs[i : i + batch_size], pad_id), device)
            out.append(sequence_logprobs(model, b)[0].float())
    return torch.cat(out).clone()
