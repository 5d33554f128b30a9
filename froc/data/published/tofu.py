"""TOFU in its published layout (Maini et al. 2024, "TOFU: A Task of Fictitious Unlearning for LLMs").

Splits (``locuslab/TOFU`` on the Hugging Face hub; files ``<split>.json`` in JSON lines, or any
layout of :mod:`froc.data.published.common`):

- ``full`` (4000 rows), ``forget01/05/10`` (40/200/400), ``retain90/95/99`` (3600/3800/3960):
  ``question``, ``answer``.
- ``forget01/05/10_perturbed``, ``retain_perturbed``: ``question``, ``answer``, ``paraphrased_answer``,
  ``perturbed_answer`` (list of wrong answers); other columns (``paraphrased_question``) are kept in meta.
- ``real_authors_perturbed``, ``world_facts_perturbed``: ``question``, ``answer``, ``perturbed_answer``
  (``paraphrased_answer`` when present). ``real_authors``/``world_facts`` (``option1``..``option4``)
  stand in when the perturbed files are absent.
- ``holdout01/05/10``: ``question``, ``answer`` about authors the target never saw (for MIA/PrivLeak).

Ids and subjects (not published; derived). ``full`` is ordered by author, 20 consecutive questions
each, so ``author = row // 20``; ``forgetXX`` is the last XX% of the authors (the last
``len(forgetXX)`` rows of ``full``) and ``retainYY`` (YY = 100 - XX) the first YY%, so together they
are ``full``. A row's index in ``full`` is found by its normalised question and answer, from ``full``
when present, else from ``retainYY`` (rows ``0..len-1``) and ``forgetXX`` (rows ``len(retainYY)..``).
Items get ``id = "tofu-RRRR"`` and ``subject = "tofu-author-AAA"``. Probe ids are ``"<split>/RRRR"``;
a probe whose question is in no loaded split keeps a split-local id and subject
(``"<split>/i"``, ``"<split>-author-(i // 20)"``), with a warning.

Probes follow TOFU's evaluation (``config/eval_everything.yaml`` of the TOFU code): forget set from
``forgetXX_perturbed`` (base answer ``paraphrased_answer``), retain set from ``retain_perturbed``, real
authors and world facts from their ``_perturbed`` files (base answer ``answer``). They are the trained
wordings, so they carry ``meta.template_split = "train"`` (TOFU measures memorisation of the request).
Groups: forget -> ``forget``, retain -> ``retain``, real authors and world facts -> ``world``
(``meta.tofu_set`` keeps which).
"""

from __future__ import annotations

from pathlib import Path

from froc.data.published.common import (BenchmarkRequest, SplitCount, SplitTable, check_columns, in_split, read_split,
                                        require_split, wrong_answers)
from froc.data.schema import QAItem, normalize_text
from froc.errors import DataError, Problem

FORGET_SPLITS = ("forget01", "forget05", "forget10")
QUESTIONS_PER_AUTHOR = 20
N_PUBLISHED = 4000
PLAIN = {"question": "str", "answer": "str"}
PERTURBED = {"question": "str", "answer": "str", "paraphrased_answer": "str", "perturbed_answer": "list[str]"}
EVAL_SETS = {  # split -> (group, tofu_set); TOFU's four evaluation sets
    "retain_perturbed": ("retain", "retain"),
    "real_authors_perturbed": ("world", "real_authors"),
    "world_facts_perturbed": ("world", "world_facts"),
}
ALL_SPLITS = ("full", *FORGET_SPLITS, *(f"{s}_perturbed" for s in FORGET_SPLITS), "retain90", "retain95", "retain99",
              "retain_perturbed", "holdout01", "holdout05", "holdout10", "real_authors", "real_authors_perturbed",
              "world_facts", "world_facts_perturbed")


def retain_split_of(forget_split: str) -> str:
    return f"retain{100 - int(forget_split[-2:]):02d}"


def _key(q: str, a: str) -> tuple[str, str]:
    return normalize_text(q), normalize_text(a)


def _plain(root: Path, name: str, required: bool) -> SplitTable | None:
    table = require_split(root, [name], "TOFU question/answer split") if required else read_split(root, [name])
    if table is not None:
        check_columns(table, PLAIN)
    return table


class _RowIndex:
    """(normalised question, answer) -> row index in TOFU's ``full`` set (see the module docstring)."""

    def __init__(self, full: SplitTable | None, forget: SplitTable, retain: SplitTable, warnings: list[Problem]):
        self.rows: dict[tuple[str, str], int] = {}
        if full is not None:
            for i, r in enumerate(full.rows):
                self.rows.setdefault(_key(r["question"], r["answer"]), i)
            n = len(full.rows)
            # check the published convention: forgetXX = the last rows of full, retainYY = the first ones
            for table, first in ((retain, 0), (forget, n - len(forget.rows))):
                for j, (r, ln) in enumerate(zip(table.rows, table.lines)):
                    if self.rows.get(_key(r["question"], r["answer"])) != first + j:
                        warnings.append(Problem(table.file, ln, "question", in_split(
                            table.split, f"row {j} is not row {first + j} of 'full' ({full.file}); ids follow 'full'")))
                        break
        else:
            for i, r in enumerate(retain.rows):
                self.rows.setdefault(_key(r["question"], r["answer"]), i)
            for i, r in enumerate(forget.rows):
                self.rows.setdefault(_key(r["question"], r["answer"]), len(retain.rows) + i)
        self.n = len(full.rows) if full is not None else len(retain.rows) + len(forget.rows)

    def get(self, q: str, a: str) -> int | None:
        return self.rows.get(_key(q, a))


def _item_id(row: int) -> str:
    return f"tofu-{row:04d}"


def _subject(row: int) -> str:
    return f"tofu-author-{row // QUESTIONS_PER_AUTHOR:03d}"


def _request_items(table: SplitTable, first: int, role: str) -> list[QAItem]:
    """Items of forgetXX / retainYY: row ``first + i`` of ``full`` (the published convention)."""
    out = []
    for i, r in enumerate(table.rows):
        row = first + i
        out.append(QAItem(id=_item_id(row), subject=_subject(row), question=r["question"], answer=r["answer"],
                          meta={"tofu_split": table.split, "row": row, "author": row // QUESTIONS_PER_AUTHOR,
                                "role": role}))
    return out


def _probes(table: SplitTable, group: str, tofu_set: str, index: _RowIndex | None, base_is_para: bool,
            warnings: list[Problem]) -> list[QAItem]:
    """QA probes of one TOFU evaluation split (perturbed layout)."""
    out, unmatched = [], 0
    for i, (r, ln) in enumerate(zip(table.rows, table.lines)):
        row = index.get(r["question"], r["answer"]) if index is not None else None
        if row is None:
            unmatched += index is not None
            pid, subj, meta = f"{table.split}/{i:04d}", f"{table.split}-author-{i // QUESTIONS_PER_AUTHOR:03d}", {}
        else:
            pid, subj = f"{table.split}/{row:04d}", _subject(row)
            meta = {"row": row, "author": row // QUESTIONS_PER_AUTHOR}
        if tofu_set in ("real_authors", "world_facts"):
            subj = pid  # real people / world facts: one subject per question
        perturbed = r.get("perturbed_answer")
        if perturbed is None:  # real_authors / world_facts without the perturbed file: the options
            perturbed = [r[k] for k in sorted(r) if k.startswith("option") and isinstance(r[k], str) and r[k].strip()]
        perturbed = wrong_answers(r["answer"], perturbed, table, ln, "perturbed_answer", warnings)
        para = r.get("paraphrased_answer") if base_is_para else (r.get("paraphrased_answer") or None)
        extra = {k: r[k] for k in ("paraphrased_question",) if isinstance(r.get(k), str)}
        out.append(QAItem(id=pid, subject=subj, question=r["question"], answer=r["answer"], paraphrased_answer=para,
                          perturbed_answers=perturbed, form="qa",
                          meta={"group": group, "tofu_set": tofu_set, "tofu_split": table.split,
                                "template_split": "train", **meta, **extra}))
    if unmatched:
        warnings.append(Problem(table.file, None, "question", in_split(
            table.split, f"{unmatched} of {len(table.rows)} rows match no row of the loaded forget/retain/full splits; "
                         "their ids and subjects are local to the split")))
    return out


def load_tofu(path: str | Path, forget_split: str = "forget10", *, holdout: bool = True) -> BenchmarkRequest:
    """Read a TOFU folder into a forget request, retain data and TOFU's probes.

    Args:
        path: the folder holding the splits (see the module docstring for layouts).
        forget_split: ``forget01``, ``forget05`` or ``forget10``; the retain data is ``retainYY``
            with YY = 100 - XX.
        holdout: also read ``holdoutXX`` (same XX) when present.

    Returns:
        forget = ``forgetXX`` items, retain = ``retainYY`` items, probes = forget (from
        ``forgetXX_perturbed``), retain (``retain_perturbed``), world (``real_authors_perturbed``,
        ``world_facts_perturbed``), holdout = ``holdoutXX``.

    Raises:
        DataError: a missing forget/retain split, a missing or mistyped column (file, row, column, split).
    """
    if forget_split not in FORGET_SPLITS:
        raise DataError(Problem(str(path), None, "forget_split", f"unknown TOFU forget split {forget_split!r}; "
                                                                 f"valid: {', '.join(FORGET_SPLITS)}"))
    root = Path(path)
    if not root.is_dir():
        raise DataError(Problem(str(path), None, None, "no such folder (a TOFU folder holds forget10.json, ...)"))
    warnings: list[Problem] = []
    retain_split = retain_split_of(forget_split)
    forget_t = _plain(root, forget_split, True)
    retain_t = _plain(root, retain_split, True)
    full_t = _plain(root, "full", False)
    index = _RowIndex(full_t, forget_t, retain_t, warnings)
    counts = [SplitCount(forget_split, "forget request", len(forget_t.rows), forget_t.file),
              SplitCount(retain_split, "retain data", len(retain_t.rows), retain_t.file)]
    forget = _request_items(forget_t, index.n - len(forget_t.rows), "forget")
    retain = _request_items(retain_t, 0, "retain")

    probes: list[QAItem] = []
    fp = read_split(root, [f"{forget_split}_perturbed"])
    if fp is not None:
        check_columns(fp, PERTURBED, {"paraphrased_question": "str?"})
        probes += _probes(fp, "forget", "forget", index, True, warnings)
        counts.append(SplitCount(fp.split, "probes (group forget)", len(fp.rows), fp.file))
    else:
        warnings.append(Problem(str(root), None, None, in_split(
            f"{forget_split}_perturbed", "not found; forget probes are the forget split's own questions, "
                                         "without paraphrased or perturbed answers")))
        probes += [QAItem(id=f"{forget_split}/{it.meta['row']:04d}", subject=it.subject, question=it.question,
                          answer=it.answer, meta={"group": "forget", "tofu_set": "forget", "tofu_split": forget_split,
                                                  "template_split": "train", "row": it.meta["row"]})
                   for it in forget]
    for name, (group, tofu_set) in EVAL_SETS.items():
        table = read_split(root, [name])
        if table is None and tofu_set != "retain":
            table = read_split(root, [tofu_set])  # real_authors / world_facts with option1..4
            if table is not None:
                check_columns(table, PLAIN)
                if not any(k.startswith("option") for k in table.rows[0]):
                    warnings.append(Problem(table.file, None, None, in_split(
                        table.split, "no perturbed_answer or option columns; probes without wrong answers")))
        elif table is not None:
            req = dict(PERTURBED) if tofu_set == "retain" else {"question": "str", "answer": "str",
                                                                 "perturbed_answer": "list[str]"}
            check_columns(table, req, {"paraphrased_answer": "str?", "paraphrased_question": "str?"})
        if table is None:
            warnings.append(Problem(str(root), None, None, in_split(name, f"not found; no {tofu_set} probes")))
            continue
        made = _probes(table, group, tofu_set, index if tofu_set == "retain" else None, tofu_set == "retain", warnings)
        if tofu_set == "retain":
            forget_rows = {it.meta["row"] for it in forget}
            clash = [p for p in made if p.meta.get("row") in forget_rows]
            if clash:
                warnings.append(Problem(table.file, None, "question", in_split(
                    table.split, f"{len(clash)} rows are questions of the forget split {forget_split}; "
                                 "left out of the retain probes")))
                made = [p for p in made if p.meta.get("row") not in forget_rows]
        probes += made
        counts.append(SplitCount(table.split, f"probes (group {group})", len(table.rows), table.file, len(made)))

    held: list[QAItem] = []
    if holdout:
        hname = f"holdout{forget_split[-2:]}"
        ht = _plain(root, hname, False)
        if ht is not None:
            held = [QAItem(id=f"{hname}/{i:04d}", subject=f"{hname}-author-{i // QUESTIONS_PER_AUTHOR:03d}",
                           question=r["question"], answer=r["answer"], meta={"group": "holdout", "tofu_split": hname})
                    for i, r in enumerate(ht.rows)]
            counts.append(SplitCount(hname, "holdout", len(ht.rows), ht.file))
    if full_t is not None:
        counts.append(SplitCount("full", "index of ids", len(full_t.rows), full_t.file))
    n_authors = len({it.subject for it in forget})
    desc = (f"Remove the {len(forget)} question/answer pairs of TOFU's {forget_split} ({n_authors} fictitious authors) "
            f"while keeping the other authors, real authors and world facts.")
    return BenchmarkRequest(benchmark="tofu", root=str(root), forget=forget, retain=retain, probes=probes, holdout=held,
                            splits=counts, warnings=warnings, description=desc)


def inspect_tofu(path: str | Path) -> tuple[list[SplitCount], list[DataError]]:
    """Every TOFU split found in ``path`` with its row count, and each bad split's error."""
    root = Path(path)
    counts, errors = [], []
    for name in ALL_SPLITS:
        try:
            table = read_split(root, [name])
            if table is None:
                continue
            if name.endswith("_perturbed") and not name.startswith(("real", "world")):
                check_columns(table, PERTURBED, {"paraphrased_question": "str?"})
            elif name.endswith("_perturbed"):
                check_columns(table, {"question": "str", "answer": "str", "perturbed_answer": "list[str]"},
                              {"paraphrased_answer": "str?"})
            else:
                check_columns(table, PLAIN)
        except DataError as e:
            errors.append(e)
            continue
        counts.append(SplitCount(name, _role(name), len(table.rows), table.file))
    return counts, errors


def _role(name: str) -> str:
    if name in FORGET_SPLITS:
        return "forget request (forget_split)"
    if name.startswith("retain9"):
        return "retain data"
    if name.startswith("forget"):
        return "probes (group forget)"
    if name in EVAL_SETS:
        return f"probes (group {EVAL_SETS[name][0]})"
    if name in ("real_authors", "world_facts"):
        return "probes (group world), if no _perturbed"
    if name.startswith("holdout"):
        return "holdout"
    return "index of ids"
