"""Probe builders shared by the metric tests (a uniquely named module: other test folders have a conftest too)."""

from __future__ import annotations

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
