"""Checks that need the model's tokenizer or its scores: a probe whose answer tokenizes to nothing cannot be
scored, and a model whose log-probs are not finite has no meaningful metrics.

Both would otherwise turn into NaN knowledge scores downstream, and a NaN compared with a threshold is
False: "forgotten" for a forget probe, i.e. a silent success. They are refused instead, naming the
probes (and their file) or the model.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from froc.errors import ConfigError, DataError, Problem

# per-sample score columns that must be finite for every scored probe (froc.metrics scoring tables)
FINITE_COLUMNS = ("gold_logp_sum", "gold_logp_mean")


def _answer_fields(item) -> list[tuple[str, str]]:
    out = [("answer", item.answer)]
    if getattr(item, "paraphrased_answer", None):
        out.append(("paraphrased_answer", item.paraphrased_answer))
    out += [(f"perturbed_answers[{j}]", a) for j, a in enumerate(getattr(item, "perturbed_answers", None) or [])]
    return out


def unscorable(tokenizer, items: Sequence[Any], fmt=None, *, file: str = "<probes>",
               lines: Sequence[int] | None = None) -> list[Problem]:
    """Problems of ``items`` (QA or text) that the tokenizer turns into zero answer tokens.

    An answer counts its own tokens only (the EOS froc appends is not a token of the answer: an answer
    scored by its EOS alone measures nothing about the fact). A text item needs at least one token.
    ``lines``: the items' lines in ``file`` (else the item ids locate them).
    """
    from froc.models.encoding import DEFAULT_FORMAT, encode_qa, encode_text

    fmt = dataclasses.replace(fmt or DEFAULT_FORMAT, add_eos=False)
    problems = []
    for i, it in enumerate(items):
        ln = lines[i] if lines is not None else None
        who = "" if ln is not None else f"item {getattr(it, 'id', i)!r}: "
        if hasattr(it, "question"):
            for name, text in _answer_fields(it):
                enc = encode_qa(tokenizer, it.question, text, fmt)
                if len(enc.ids) - enc.n_prompt == 0:
                    problems.append(Problem(file, ln, name, f"{who}{text!r} tokenizes to zero answer tokens with this "
                                                            "model's tokenizer, so it cannot be scored"))
        elif hasattr(it, "text") and not encode_text(tokenizer, it.text, 0, fmt).ids:
            problems.append(Problem(file, ln, "text", f"{who}tokenizes to zero tokens, so it cannot be scored"))
    return problems


def check_scorable(tokenizer, items: Sequence[Any], fmt=None, *, file: str = "<probes>",
                   lines: Sequence[int] | None = None) -> None:
    """Raise :class:`DataError` listing every item of ``items`` that cannot be scored (see :func:`unscorable`)."""
    problems = unscorable(tokenizer, items, fmt, file=file, lines=lines)
    if problems:
        raise DataError(problems)


def check_finite_scores(table, model: str) -> None:
    """Refuse a per-sample score table with non-finite answer log-probs (NaN/inf weights, overflow).

    Raises:
        ConfigError: naming the model, how many probes are affected and an example probe id.
    """
    for col in FINITE_COLUMNS:
        if col not in table:
            continue
        vals = np.asarray(table[col], dtype=float)
        bad = ~np.isfinite(vals)
        if bad.any():
            ids = table["probe_id"].to_numpy()[bad] if "probe_id" in table else []
            example = f" (e.g. probe {ids[0]!r})" if len(ids) else ""
            raise ConfigError(f"{model}: non-finite answer log-probabilities ({col}) on {int(bad.sum())} of "
                              f"{len(vals)} probes{example}; its weights or activations hold NaN/inf, so no metric "
                              "of it is meaningful (a NaN knowledge score would read as 'forgotten')")
