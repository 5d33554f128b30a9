"""A forget request across its files: forget items, retain items and probes, with the rules between them.

:func:`load_request` is the one validation of a request: ``froc data check --forget/--retain/--probes``,
``froc unlearn``, ``froc plan`` and ``froc run`` all call it, so a file one accepts the others accept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from froc.data.loaders import ERROR_LIMIT, LoadedItems, load_items
from froc.data.schema import Item, QAItem, TextItem, normalize_text
from froc.errors import DataError, Problem


@dataclass
class Request:
    """A validated unlearning request: what to forget, what to keep, and optional probes."""

    forget: LoadedItems
    retain: LoadedItems
    probes: LoadedItems | None = None
    warnings: list[Problem] = field(default_factory=list)  # across files; each file's own are in its .warnings


def _content_key(item: Item) -> tuple | None:
    if isinstance(item, QAItem):
        return ("qa", normalize_text(item.question), normalize_text(item.answer))
    if isinstance(item, TextItem):
        return ("text", normalize_text(item.text))
    return None


PROBE_GROUPS = ("forget", "neighbour", "retain", "world")
"""Probe groups of a forget request (``meta.group``): forget probes give the forget risk, the others utility."""


def load_request(forget_path: str | Path, retain_path: str | Path, probes_path: str | Path | None = None,
                 *, max_answer_chars: int | None = None) -> Request:
    """Load a forget request, its retain data and optional probes, and check the rules across files.

    Errors: an empty forget request; a forget item that also appears in the retain data (same id,
    or same normalised question+answer / text), named with both files and lines; a kind that
    cannot be used (forget/retain: qa or text; probes: qa).
    Warning: a probe identical to a forget item, unless it is marked ``meta.template_split="train"``
    (it then deliberately measures memorisation of the request).
    """
    problems: list[Problem] = []
    forget = load_items(forget_path, max_answer_chars=max_answer_chars, allow_empty=True)
    retain = load_items(retain_path, max_answer_chars=max_answer_chars)
    probes = load_items(probes_path, "qa", max_answer_chars=max_answer_chars) if probes_path is not None else None
    if not forget.items:
        problems.append(Problem(forget.path, None, None, "the forget request is empty: nothing to unlearn"))
    for loaded, role in ((forget, "forget request"), (retain, "retain data")):
        if loaded.items and loaded.kind not in ("qa", "text"):
            problems.append(Problem(loaded.path, None, None, f"the {role} must hold 'qa' or 'text' items, "
                                                             f"not {loaded.kind!r}"))
    by_id = {it.id: ln for it, ln in zip(retain.items, retain.lines)}
    by_key = {}
    for it, ln in zip(retain.items, retain.lines):
        by_key.setdefault(_content_key(it), ln)
    for it, ln in zip(forget.items, forget.lines):
        if it.id in by_id:
            problems.append(Problem(forget.path, ln, "id", f"forget item {it.id!r} also appears in the retain data "
                                                           f"({retain.path}:{by_id[it.id]}, same id)"))
        elif (key := _content_key(it)) in by_key:
            what = "question and answer" if key[0] == "qa" else "text"
            fld = "question" if key[0] == "qa" else "text"
            problems.append(Problem(forget.path, ln, fld, f"forget item {it.id!r} also appears in the retain data "
                                                          f"({retain.path}:{by_key[key]}, same normalised {what})"))
    if probes is not None:  # the same rules froc run applies (one validation, run early: issue 17)
        for it, ln in zip(probes.items, probes.lines):
            g = it.meta.get("group")
            if g not in PROBE_GROUPS:
                problems.append(Problem(probes.path, ln, "meta.group", f"probe {it.id!r} has meta.group {g!r}; every "
                                                                       f"probe needs one of {', '.join(PROBE_GROUPS)}"))
        if probes.items and not any(it.meta.get("group") == "forget" for it in probes.items):
            problems.append(Problem(probes.path, None, "meta.group", "no probe has meta.group 'forget'; the forget "
                                                                     "risk needs forget probes"))
    if problems:
        raise DataError(problems, limit=ERROR_LIMIT)
    warnings: list[Problem] = []
    if probes is not None:
        forget_ids = {it.id for it in forget.items}
        forget_keys = {_content_key(it) for it in forget.items}
        for it, ln in zip(probes.items, probes.lines):
            if it.meta.get("template_split") == "train":
                continue
            if it.id in forget_ids or _content_key(it) in forget_keys:
                warnings.append(Problem(probes.path, ln, "question", f"probe {it.id!r} is an item of the forget request; "
                                        "it measures memorisation of the request, not forgetting beyond it"))
    return Request(forget=forget, retain=retain, probes=probes, warnings=warnings)
