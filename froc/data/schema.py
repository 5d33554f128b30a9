"""The one record schema of froc (see docs/DESIGN.md, "Data schema").

Three kinds of record, one kind per file:

- ``QAItem`` (kind ``qa``): a question with a gold answer, optional paraphrased and
  perturbed (wrong, same-type) answers, an optional written ``reasoning`` trace (chain of thought) that
  leads to the answer, a probe ``form`` and free ``meta``.
- ``TextItem`` (kind ``text``): a passage about a subject.
- ``RefusalItem`` (kind ``refusal``): a refusal string ("I don't know.").

Validation never raises per record: every check returns a list of
:class:`froc.errors.Problem` (file, line, field, message) so a loader can report
every offending line of a file at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable

from froc.errors import Problem

FORMS = ("qa", "paraphrase", "cloze", "mcq", "yesno", "reverse", "reasoning")
# How an item with a ``reasoning`` trace is answered in full: the trace, this phrase, then the answer
# (R2MU, Wang et al. 2025, https://arxiv.org/abs/2506.12963: a reasoning model writes its chain of thought before
# the final answer). Used wherever such an item is trained on or scored with its trace.
REASONING_JOIN = " So the answer is "
KINDS = ("qa", "text", "refusal")


@dataclass
class QAItem:
    """A question/answer record (kind ``qa``)."""

    id: str
    subject: str
    question: str
    answer: str
    paraphrased_answer: str | None = None
    perturbed_answers: list[str] = field(default_factory=list)
    form: str = "qa"
    meta: dict[str, Any] = field(default_factory=dict)
    reasoning: str | None = None

    kind = "qa"

    def response(self) -> str:
        """The full response: ``reasoning + REASONING_JOIN + answer`` when the item has a trace, else the answer."""
        return self.answer if not self.reasoning else self.reasoning + REASONING_JOIN + self.answer

    def in_full(self) -> "QAItem":
        """This item with :meth:`response` as its answer and no separate trace: what a model that writes its
        reasoning before the answer is trained on and scored against."""
        return replace(self, answer=self.response(), reasoning=None)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "subject": self.subject, "question": self.question, "answer": self.answer}
        if self.paraphrased_answer is not None:
            d["paraphrased_answer"] = self.paraphrased_answer
        d["perturbed_answers"] = list(self.perturbed_answers)
        d["form"] = self.form
        d["meta"] = dict(self.meta)
        if self.reasoning is not None:
            d["reasoning"] = self.reasoning
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "QAItem":
        """Build from a record that passed :func:`validate_record` (optional fields may be absent or None)."""
        return cls(
            id=d["id"],
            subject=d["subject"],
            question=d["question"],
            answer=d["answer"],
            paraphrased_answer=d.get("paraphrased_answer"),
            perturbed_answers=list(d.get("perturbed_answers") or []),
            form=d.get("form") or "qa",
            meta=dict(d.get("meta") or {}),
            reasoning=d.get("reasoning"),
        )


@dataclass
class TextItem:
    """A passage about a subject (kind ``text``)."""

    id: str
    subject: str
    text: str
    meta: dict[str, Any] = field(default_factory=dict)

    kind = "text"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "subject": self.subject, "text": self.text, "meta": dict(self.meta)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TextItem":
        return cls(id=d["id"], subject=d["subject"], text=d["text"], meta=dict(d.get("meta") or {}))


@dataclass
class RefusalItem:
    """A refusal string (kind ``refusal``); ``id`` is optional."""

    text: str
    id: str | None = None

    kind = "refusal"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"text": self.text}
        if self.id is not None:
            d["id"] = self.id
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RefusalItem":
        return cls(text=d["text"], id=d.get("id"))


Item = QAItem | TextItem | RefusalItem
ITEM_CLASSES = {"qa": QAItem, "text": TextItem, "refusal": RefusalItem}

# field -> (expected type, required). "str" values must be non-empty after stripping.
FIELDS: dict[str, dict[str, tuple[str, bool]]] = {
    "qa": {
        "id": ("str", True),
        "subject": ("str", True),
        "question": ("str", True),
        "answer": ("str", True),
        "paraphrased_answer": ("str", False),
        "perturbed_answers": ("list[str]", False),
        "form": ("str", False),
        "meta": ("dict", False),
        "reasoning": ("str", False),
    },
    "text": {"id": ("str", True), "subject": ("str", True), "text": ("str", True), "meta": ("dict", False)},
    "refusal": {"text": ("str", True), "id": ("str", False)},
}
# Fields that say which kind a record is (used to infer the kind and to detect mixed files).
_QA_ONLY = {"question", "answer", "paraphrased_answer", "perturbed_answers", "form", "reasoning"}


def normalize_text(s: str) -> str:
    """Case- and whitespace-insensitive form used for equality checks (answer vs perturbed, forget vs retain)."""
    return " ".join(s.casefold().split())


def infer_kind(record: dict[str, Any]) -> str | None:
    """The kind a raw record looks like: any QA field -> ``qa``; ``text`` with ``subject`` -> ``text``;
    ``text`` alone -> ``refusal``; None when it is impossible to tell."""
    if _QA_ONLY & record.keys():
        return "qa"
    if "text" in record:
        return "text" if "subject" in record else "refusal"
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _show(value: Any, limit: int = 40) -> str:
    r = repr(value)
    return r if len(r) <= limit else r[: limit - 3] + "..."


def _check_field(name: str, expected: str, value: Any, p) -> None:
    """Append a Problem (via ``p(field, message)``) when ``value`` does not match ``expected``."""
    if expected == "str":
        if not isinstance(value, str):
            p(name, f"expected a non-empty string, got {_json_type(value)} {_show(value)}")
        elif not value.strip():
            p(name, "is empty; expected a non-empty string")
    elif expected == "list[str]":
        if not isinstance(value, (list, tuple)):
            p(name, f"expected a list of non-empty strings, got {_json_type(value)} {_show(value)}")
            return
        for j, v in enumerate(value):
            if not isinstance(v, str):
                p(name, f"element {j} is {_json_type(v)} {_show(v)}; expected a non-empty string")
            elif not v.strip():
                p(name, f"element {j} is empty; expected a non-empty string")
    elif expected == "dict":
        if not isinstance(value, dict):
            p(name, f"expected an object (dict), got {_json_type(value)} {_show(value)}")


def validate_record(record: Any, kind: str, *, file: str, line: int | None, kind_source: str = "") -> list[Problem]:
    """Every problem of one raw record (a dict parsed from a file) against ``kind``'s schema.

    Optional fields set to null count as absent. ``kind_source`` explains where the file's kind
    came from (e.g. "set by line 1") and is used in the mixed-kinds message.
    """
    problems: list[Problem] = []

    def p(fld: str | None, msg: str) -> None:
        problems.append(Problem(file=file, line=line, field=fld, message=msg))

    if not isinstance(record, dict):
        p(None, f"expected a record (JSON object), got {_json_type(record)} {_show(record)}")
        return problems
    looks = infer_kind(record)
    # A text record missing 'subject' looks like a refusal: report the missing field, not mixed kinds.
    if looks is not None and looks != kind and not (kind == "text" and looks == "refusal"):
        src = f" ({kind_source})" if kind_source else ""
        p(None, f"this is a '{looks}' record but the file holds '{kind}' records{src}; "
          "mixed kinds in one file are not allowed, put each kind in its own file")
        return problems
    spec = FIELDS[kind]
    for name in record:
        if name not in spec:
            p(name, f"unknown field for '{kind}' records; valid fields: {', '.join(sorted(spec))}")
    for name, (expected, required) in spec.items():
        value = record.get(name)
        if value is None:
            if required:
                p(name, f"missing required field (expected a non-empty {'string' if expected == 'str' else expected})")
            continue
        _check_field(name, expected, value, p)
    if kind == "qa":
        form = record.get("form")
        if isinstance(form, str) and form.strip() and form not in FORMS:
            p("form", f"unknown form {form!r}; valid forms: {', '.join(FORMS)}")
        answer, perturbed = record.get("answer"), record.get("perturbed_answers")
        if isinstance(answer, str) and answer.strip() and isinstance(perturbed, (list, tuple)):
            gold = normalize_text(answer)
            for j, v in enumerate(perturbed):
                if isinstance(v, str) and normalize_text(v) == gold:
                    p("perturbed_answers", f"element {j} {_show(v)} equals the gold answer; "
                      "perturbed answers must be wrong answers")
    return problems


def file_kind(first: Any, line: int | None, file: str) -> tuple[str | None, str, Problem | None]:
    """(kind, where it came from, problem) for a file whose kind is inferred from its first record."""
    kind = infer_kind(first) if isinstance(first, dict) else None
    if kind is None:
        return None, "", Problem(file, line, None, "cannot tell the kind of the first record; expected 'question'/"
                                 "'answer' (qa), 'text'+'subject' (text) or 'text' (refusal)")
    return kind, f"kind set by the first record, line/row {line}", None


def validate_records(
    records: Iterable[Any],
    kind: str | None,
    file: str,
    *,
    lines: Iterable[int | None] | None = None,
    kind_source: str | None = None,
) -> list[Problem]:
    """Every problem in a file's raw records, plus duplicate ids across the file.

    ``kind`` None infers the kind from the first record. ``lines`` gives each record's line/row
    (default: 1, 2, ...).
    """
    records = list(records)
    lines = list(lines) if lines is not None else list(range(1, len(records) + 1))
    if not records:
        return [Problem(file, None, None, "no records; the file is empty")]
    if kind is None:
        kind, kind_source, problem = file_kind(records[0], lines[0], file)
        if problem is not None:
            return [problem]
    elif kind not in KINDS:
        return [Problem(file, None, None, f"unknown kind {kind!r}; valid kinds: {', '.join(KINDS)}")]
    problems: list[Problem] = []
    seen: dict[str, int | None] = {}
    for rec, ln in zip(records, lines):
        problems += validate_record(rec, kind, file=file, line=ln, kind_source=kind_source or "")
        rid = rec.get("id") if isinstance(rec, dict) else None
        if isinstance(rid, str) and rid.strip():
            if rid in seen:
                problems.append(Problem(file, ln, "id", f"duplicate id {rid!r} (first used at line/row {seen[rid]})"))
            else:
                seen[rid] = ln
    return problems
