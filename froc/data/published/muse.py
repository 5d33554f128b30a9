"""MUSE (News and Books) in its published layout (Shi et al. 2024, "MUSE: Machine Unlearning
Six-Way Evaluation for Language Models").

A corpus folder (``muse-bench/MUSE-News`` or ``MUSE-Books`` on the Hugging Face hub, or ``data/news``,
``data/books`` of the MUSE code) holds subsets, each a folder of splits (layouts of
:mod:`froc.data.published.common`; the hub stores ``knowmem/forget_qa-00000-of-00001.parquet``):

- ``raw``: ``forget``, ``retain1``, ``retain2``, ``holdout`` -- raw text, as ``.txt`` files (one text
  each) or tables with a ``text`` column (one passage per row).
- ``knowmem``: ``forget_qa``, ``retain_qa`` (older name ``retain2_qa``) and their ``_icl`` variants
  -- ``question``, ``answer``.
- ``verbmem``: ``forget`` -- ``prompt``, ``gt`` (the true continuation).
- ``privleak``: ``forget``, ``retain`` (``retain2``), ``holdout`` -- ``text`` (or a JSON list of strings).

froc's request: forget = ``raw/forget`` passages (TextItem), retain = ``raw/retain1`` (MUSE's
regulariser set; ``retain_split`` chooses another), probes = ``knowmem/forget_qa`` (group forget),
``knowmem/retain_qa`` (group retain) and ``verbmem/forget`` (group forget, TextItem whose text is
prompt + continuation; ``meta.prompt``/``meta.continuation`` keep the two parts), holdout =
``privleak/holdout`` (else ``raw/holdout``). The ICL examples, ``raw/retain2`` and
``privleak/forget|retain`` are in ``extra``.

Ids and subjects: MUSE has neither. Items are numbered per split (``muse-news-raw-forget-0003``);
each passage and each question is its own subject. A ``.txt`` file is one continuous text: MUSE cuts
it into 2048-token windows of its Llama tokenizer; froc, which reads data before it knows the model,
cuts it into passages of at most ``chunk_chars`` characters at paragraph breaks (default 6000,
about 1500 tokens of English).
"""

from __future__ import annotations

from pathlib import Path

from froc.data.published.common import (BenchmarkRequest, SplitCount, SplitTable, check_columns, chunk_text, in_split,
                                        read_split, require_split)
from froc.data.schema import QAItem, TextItem
from froc.errors import DataError, Problem

CORPORA = ("news", "books")
CHUNK_CHARS = 6000
# role -> split aliases (subset/split); the first alias names the split in messages
SPLITS = {
    "forget": ("raw/forget",),
    "retain1": ("raw/retain1",),
    "retain2": ("raw/retain2",),
    "raw_holdout": ("raw/holdout",),
    "knowmem_forget": ("knowmem/forget_qa", "knowmem/forget-qa"),
    "knowmem_retain": ("knowmem/retain_qa", "knowmem/retain2_qa", "knowmem/retain2-qa"),
    "knowmem_forget_icl": ("knowmem/forget_qa_icl", "knowmem/forget-qa-icl"),
    "knowmem_retain_icl": ("knowmem/retain_qa_icl", "knowmem/retain2_qa_icl", "knowmem/retain2-qa-icl"),
    "verbmem": ("verbmem/forget",),
    "privleak_forget": ("privleak/forget",),
    "privleak_retain": ("privleak/retain", "privleak/retain2"),
    "privleak_holdout": ("privleak/holdout",),
}
ROLES = {"forget": "forget request", "retain1": "retain data (default)", "retain2": "extra (retain2)",
         "raw_holdout": "holdout, if no privleak/holdout", "knowmem_forget": "probes (group forget)",
         "knowmem_retain": "probes (group retain)", "knowmem_forget_icl": "extra (ICL examples)",
         "knowmem_retain_icl": "extra (ICL examples)", "verbmem": "probes (group forget, text)",
         "privleak_forget": "extra (PrivLeak forget)", "privleak_retain": "extra (PrivLeak retain)",
         "privleak_holdout": "holdout"}
QA = {"question": "str", "answer": "str"}
VERBMEM = {"prompt": "str", "gt": "str"}
TEXT = {"text": "str"}


def corpus_root(path: str | Path, corpus: str) -> Path:
    """The folder of ``corpus`` under ``path``: ``path/<corpus>``, ``path/MUSE-News|Books`` or ``path`` itself."""
    root = Path(path)
    for sub in (corpus, f"MUSE-{corpus.capitalize()}"):
        if (root / sub).is_dir():
            return root / sub
    return root


def _texts(table: SplitTable, prefix: str, chunk_chars: int, meta: dict) -> list[TextItem]:
    check_columns(table, TEXT)
    passages = chunk_text(table.rows[0]["text"], chunk_chars) if table.raw_text else [r["text"] for r in table.rows]
    name = table.split.replace("/", "-")
    return [TextItem(id=f"{prefix}-{name}-{i:04d}", subject=f"{prefix}-{name}-{i:04d}", text=t,
                     meta={**meta, "muse_split": table.split}) for i, t in enumerate(passages)]


def _qa(table: SplitTable, prefix: str, meta: dict) -> list[QAItem]:
    check_columns(table, QA)
    name = table.split.replace("/", "-")
    return [QAItem(id=f"{prefix}-{name}-{i:04d}", subject=f"{prefix}-{name}-{i:04d}", question=r["question"],
                   answer=r["answer"], meta={**meta, "muse_split": table.split}) for i, r in enumerate(table.rows)]


def join_continuation(prompt: str, continuation: str) -> str:
    """Prompt + continuation as one text: a space between them unless either side already has
    whitespace there (MUSE's verbmem prompts end mid-sentence; the OpenUnlearning loader inserts a space)."""
    if prompt[-1:].isspace() or continuation[:1].isspace():
        return prompt + continuation
    return f"{prompt} {continuation}"


def _verbmem(table: SplitTable, prefix: str) -> list[TextItem]:
    check_columns(table, VERBMEM)
    return [TextItem(id=f"{prefix}-verbmem-{i:04d}", subject=f"{prefix}-verbmem-{i:04d}",
                     text=join_continuation(r["prompt"], r["gt"]),
                     meta={"group": "forget", "muse_set": "verbmem", "muse_split": table.split, "prompt": r["prompt"],
                           "continuation": r["gt"]})
            for i, r in enumerate(table.rows)]


def load_muse(path: str | Path, corpus: str = "news", *, retain_split: str = "retain1",
              chunk_chars: int = CHUNK_CHARS) -> BenchmarkRequest:
    """Read a MUSE corpus folder into a forget request (raw text), retain text and MUSE's probes.

    Args:
        path: the corpus folder (or a folder holding ``news``/``books`` or ``MUSE-News``/``MUSE-Books``).
        corpus: ``news`` or ``books`` (names the items; picks the sub-folder when there is one).
        retain_split: ``retain1`` (MUSE's default for unlearning) or ``retain2``.
        chunk_chars: maximum passage length when a ``.txt`` file is cut into passages.

    Raises:
        DataError: a missing ``raw/forget`` or retain split, a missing or mistyped column (file,
            row, column, split).
    """
    if corpus not in CORPORA:
        raise DataError(Problem(str(path), None, "corpus", f"unknown MUSE corpus {corpus!r}; valid: {', '.join(CORPORA)}"))
    if retain_split not in ("retain1", "retain2"):
        raise DataError(Problem(str(path), None, "retain_split", f"unknown MUSE retain split {retain_split!r}; "
                                                                 "valid: retain1, retain2"))
    root = corpus_root(path, corpus)
    if not root.is_dir():
        raise DataError(Problem(str(path), None, None, "no such folder (a MUSE folder holds raw/, knowmem/, verbmem/)"))
    prefix = f"muse-{corpus}"
    warnings: list[Problem] = []
    counts: list[SplitCount] = []

    def note(role: str, table: SplitTable, items: list) -> list:
        counts.append(SplitCount(table.split, ROLES[role], len(table.rows), table.file, len(items)))
        return items

    ft = require_split(root, SPLITS["forget"], "MUSE forget text")
    forget = note("forget", ft, _texts(ft, prefix, chunk_chars, {"role": "forget"}))
    rt = require_split(root, SPLITS[retain_split], "MUSE retain text")
    retain = note(retain_split, rt, _texts(rt, prefix, chunk_chars, {"role": "retain"}))
    probes: list = []
    extra: dict[str, list] = {}
    for role, group in (("knowmem_forget", "forget"), ("knowmem_retain", "retain")):
        t = read_split(root, SPLITS[role])
        if t is None:
            warnings.append(Problem(str(root), None, None, in_split(SPLITS[role][0], f"not found; no knowmem {group} probes")))
            continue
        probes += note(role, t, _qa(t, prefix, {"group": group, "muse_set": role}))
    vt = read_split(root, SPLITS["verbmem"])
    if vt is None:
        warnings.append(Problem(str(root), None, None, in_split("verbmem/forget", "not found; no verbmem probes")))
    else:
        probes += note("verbmem", vt, _verbmem(vt, prefix))
    for role in ("knowmem_forget_icl", "knowmem_retain_icl"):
        t = read_split(root, SPLITS[role])
        if t is not None:
            extra[role] = note(role, t, _qa(t, prefix, {"muse_set": role}))
    other = "retain2" if retain_split == "retain1" else "retain1"
    for role in (other, "privleak_forget", "privleak_retain"):
        t = read_split(root, SPLITS[role])
        if t is not None:
            extra[role] = _texts(t, prefix, chunk_chars, {"muse_set": role})
            counts.append(SplitCount(t.split, f"extra ({role})", len(t.rows), t.file, len(extra[role])))
    holdout: list = []
    for role in ("privleak_holdout", "raw_holdout"):
        t = read_split(root, SPLITS[role])
        if t is not None:
            holdout = _texts(t, prefix, chunk_chars, {"group": "holdout", "muse_set": role})
            counts.append(SplitCount(t.split, "holdout", len(t.rows), t.file, len(holdout)))
            break
    desc = (f"Remove MUSE-{corpus.capitalize()}'s forget text ({len(forget)} passages) while keeping the "
            f"{retain_split} text and the knowledge probed by knowmem/retain_qa.")
    return BenchmarkRequest(benchmark="muse", root=str(root), forget=forget, retain=retain, probes=probes,
                            holdout=holdout, extra=extra, splits=counts, warnings=warnings, description=desc)


def inspect_muse(path: str | Path, corpus: str = "news") -> tuple[list[SplitCount], list[DataError]]:
    """Every MUSE split found under ``path`` with its row count, and each bad split's error."""
    root = corpus_root(path, corpus)
    counts, errors = [], []
    for role, names in SPLITS.items():
        try:
            t = read_split(root, names)
            if t is None:
                continue
            cols = QA if role.startswith("knowmem") else VERBMEM if role == "verbmem" else TEXT
            check_columns(t, cols)
        except DataError as e:
            errors.append(e)
            continue
        n_items = len(chunk_text(t.rows[0]["text"], CHUNK_CHARS)) if t.raw_text else None
        counts.append(SplitCount(t.split, ROLES[role], len(t.rows), t.file, n_items))
    return counts, errors
