"""Probe builders and a table comparison shared by the metric tests (a uniquely named module: other test
folders have a conftest too)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.testing import assert_allclose

from froc.data.schema import QAItem, TextItem

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


NUMERIC = ["gold_logp_sum", "gold_logp_mean", "gold_len", "para_logp_mean", "knowledge", "correct_choice", "mink",
           "minkpp", "extraction_strength", "exact_mem", "gold_zlib_len", "rouge_l_recall", "rouge_l_f1", "gen_correct"]
LISTS = ["perturbed_logp_mean", "gold_token_logp", "perturbed_mink", "perturbed_minkpp", "perturbed_zlib_len"]


def mixed_probes():
    """Mixed lengths; with and without paraphrase / perturbed answers; a text item."""
    long_q = "Which award did Cass Orun win for the book about the quick brown fox and the lazy dog?"
    return fact_probes() + [
        qa("x/short", "x", "Yes", perts=["No"], form="yesno", group="retain"),
        qa("x/long", long_q, "the Silver Quill of the Glass Orchard", para="Silver Quill", form="qa", group="retain"),
        qa("x/none", "Who?", "Alda Voss", form="reverse", group="neighbour"),
        text_probe(),
    ]


def assert_tables_close(a: pd.DataFrame, b: pd.DataFrame, atol=1e-5):
    assert list(a.columns) == list(b.columns)
    for c in NUMERIC:
        assert_allclose(a[c].to_numpy(float), b[c].to_numpy(float), atol=atol, rtol=0, err_msg=c)
    for c in LISTS:
        for x, y in zip(a[c], b[c]):
            assert_allclose(np.asarray(x, float), np.asarray(y, float), atol=atol, rtol=0, err_msg=c)
    for c in ("probe_id", "form", "group", "generation", "reference", "kind"):
        assert a[c].tolist() == b[c].tolist(), c
