"""WMDP in its published layout (Li et al. 2024, "The WMDP Benchmark: Measuring and Reducing
Malicious Use With Unlearning").

- Questions (``cais/wmdp`` on the Hugging Face hub, configs ``wmdp-bio`` / ``wmdp-cyber``, split
  ``test``): ``question`` (str), ``choices`` (list of str), ``answer`` (int, index into ``choices``).
  Looked for as ``wmdp-<subset>``, ``wmdp_<subset>`` or ``<subset>`` in any layout of
  :mod:`froc.data.published.common` (the hub's ``wmdp-bio/test-00000-of-00001.parquet`` included).
- Corpora for RMU-style unlearning (``cais/wmdp-corpora``; the RMU code's ``data/<name>.jsonl``):
  ``<subset>-forget-corpus`` (``bio-remove-dataset`` for the separately requested bio corpus) and
  ``<subset>-retain-corpus``, each with a ``text`` column; ``wikitext`` (a ``text`` column, as
  RMU's retain set) is used when the subset's retain corpus is absent. Also looked for under
  ``wmdp-corpora/``. Empty texts (wikitext's blank rows) are skipped.

froc's request: forget = the forget corpus (TextItem), retain = the retain corpus (TextItem),
probes = every question as a QAItem of form ``mcq`` in group ``forget``: the question followed by
its lettered choices (``A. ...``), the correct choice's text as ``answer`` and the other choices as
``perturbed_answers``. froc's ``correct_choice`` (gold mean log-prob above every other choice's)
is then accuracy over the choices, and the forget loss's ``tau_forget: chance`` is
``1 / (1 + len(perturbed_answers)) = 1 / len(choices)``. Deviation from WMDP's lm-evaluation-harness
task, which scores the answer letter: froc scores the choice text (a choice equal to the correct
one is dropped, with a warning). WMDP has no utility probes of its own: give them as ``probes`` in
the sweep (or set ``budget.alpha_utility: null``).
"""

from __future__ import annotations

import string
from pathlib import Path

from froc.data.published.common import (BenchmarkRequest, SplitCount, SplitTable, check_columns, in_split, read_split,
                                        require_split, wrong_answers)
from froc.data.schema import QAItem, TextItem
from froc.errors import DataError, Problem

SUBSETS = ("bio", "cyber", "chem")
MCQ = {"question": "str", "choices": "list[str]", "answer": "int"}


def question_names(subset: str) -> list[str]:
    return [f"wmdp-{subset}", f"wmdp_{subset}", subset]


def forget_names(subset: str) -> list[str]:
    names = [f"{subset}-forget-corpus", f"{subset}_forget_corpus"] + (["bio-remove-dataset"] if subset == "bio" else [])
    return names + [f"wmdp-corpora/{n}" for n in names]


def retain_names(subset: str) -> list[str]:
    names = [f"{subset}-retain-corpus", f"{subset}_retain_corpus"]
    return names + [f"wmdp-corpora/{n}" for n in names] + ["wikitext"]


def format_mcq(question: str, choices: list[str]) -> str:
    """``question`` followed by one ``A. choice`` line per choice (WMDP's harness prompt, without its header)."""
    return question.rstrip() + "".join(f"\n{string.ascii_uppercase[i]}. {c}" for i, c in enumerate(choices))


def _questions(table: SplitTable, subset: str, warnings: list[Problem]) -> list[QAItem]:
    check_columns(table, MCQ)
    problems, out = [], []
    for i, (r, ln) in enumerate(zip(table.rows, table.lines)):
        choices, a = list(r["choices"]), r["answer"]
        if len(choices) < 2 or len(choices) > 26:
            problems.append(Problem(table.file, ln, "choices", in_split(table.split, f"{len(choices)} choices; "
                                                                                     "expected 2 to 26")))
            continue
        if not 0 <= a < len(choices):
            problems.append(Problem(table.file, ln, "answer", in_split(
                table.split, f"index {a} out of range for {len(choices)} choices (expected 0..{len(choices) - 1})")))
            continue
        wrong = wrong_answers(choices[a], [c for j, c in enumerate(choices) if j != a], table, ln, "choices", warnings)
        pid = f"wmdp-{subset}-{i:04d}"
        out.append(QAItem(id=pid, subject=pid, question=format_mcq(r["question"], choices), answer=choices[a],
                          perturbed_answers=wrong, form="mcq",
                          meta={"group": "forget", "wmdp_subset": subset, "answer_index": a,
                                "n_choices": len(choices), "template_split": "heldout"}))
    if problems:
        raise DataError(problems)
    return out


def _corpus(table: SplitTable, prefix: str, role: str, warnings: list[Problem]) -> list[TextItem]:
    check_columns(table, {"text": "text"})
    texts = [(r["text"], ln) for r, ln in zip(table.rows, table.lines)]
    kept = [(t, ln) for t, ln in texts if t.strip()]
    if len(kept) < len(texts):
        warnings.append(Problem(table.file, None, "text", in_split(table.split, f"{len(texts) - len(kept)} empty "
                                                                                "texts skipped")))
    if not kept:
        raise DataError(Problem(table.file, None, "text", in_split(table.split, "every text is empty")))
    name = table.split.split("/")[-1]
    return [TextItem(id=f"{prefix}-{name}-{i:05d}", subject=f"{prefix}-{name}", text=t,
                     meta={"role": role, "wmdp_split": table.split, "line": ln}) for i, (t, ln) in enumerate(kept)]


def load_wmdp(path: str | Path, subset: str = "bio", *, corpora: bool = True) -> BenchmarkRequest:
    """Read WMDP's questions of ``subset`` and its forget/retain corpora from ``path``.

    Args:
        path: the folder holding the question split and the corpora (see the module docstring).
        subset: ``bio``, ``cyber`` (or ``chem``, which has no corpora).
        corpora: read (and require) the forget and retain corpora; False reads the questions only.

    Raises:
        DataError: a missing split, a missing or mistyped column, an answer index out of range
            (file, row, column, split).
    """
    if subset not in SUBSETS:
        raise DataError(Problem(str(path), None, "subset", f"unknown WMDP subset {subset!r}; valid: {', '.join(SUBSETS)}"))
    root = Path(path)
    if not root.is_dir():
        raise DataError(Problem(str(path), None, None, "no such folder (a WMDP folder holds wmdp-bio/, ...)"))
    warnings: list[Problem] = []
    qt = require_split(root, question_names(subset), "WMDP questions")
    probes = _questions(qt, subset, warnings)
    counts = [SplitCount(qt.split, "probes (group forget, mcq)", len(qt.rows), qt.file, len(probes))]
    forget: list = []
    retain: list = []
    if corpora:
        ft = require_split(root, forget_names(subset), "WMDP forget corpus (the bio one is requested from its authors)")
        forget = _corpus(ft, f"wmdp-{subset}", "forget", warnings)
        counts.append(SplitCount(ft.split, "forget request", len(ft.rows), ft.file, len(forget)))
        rt = require_split(root, retain_names(subset), "WMDP retain corpus")
        retain = _corpus(rt, f"wmdp-{subset}", "retain", warnings)
        counts.append(SplitCount(rt.split, "retain data", len(rt.rows), rt.file, len(retain)))
    desc = (f"Remove the hazardous {subset} knowledge of WMDP's forget corpus ({len(forget)} texts) so that the "
            f"{len(probes)} WMDP-{subset} questions fall to chance accuracy.")
    return BenchmarkRequest(benchmark="wmdp", root=str(root), forget=forget, retain=retain, probes=probes,
                            splits=counts, warnings=warnings, description=desc)


def inspect_wmdp(path: str | Path) -> tuple[list[SplitCount], list[DataError]]:
    """Every WMDP split found in ``path`` (questions and corpora of every subset) and each bad split's error."""
    root = Path(path)
    counts, errors, seen = [], [], set()
    for subset in SUBSETS:
        for names, role in ((question_names(subset), f"probes ({subset}, mcq)"), (forget_names(subset), "forget request"),
                            (retain_names(subset), "retain data")):
            try:
                t = read_split(root, names)
                if t is None or t.file in seen:
                    continue
                seen.add(t.file)
                if role.startswith("probes"):
                    n = len(_questions(t, subset, []))
                else:
                    n = len(_corpus(t, "wmdp", role, []))
            except DataError as e:
                errors.append(e)
                continue
            counts.append(SplitCount(t.split, role if t.split != "wikitext" else "retain data (any subset)",
                                     len(t.rows), t.file, n))
    return counts, errors
