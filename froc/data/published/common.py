"""Reading the published benchmarks' files: find a split in a folder, read its rows, check its columns.

A split (``forget10``, ``knowmem/forget_qa``, ``wmdp-bio``, ...) is looked for, in this order, as:

1. a split of a ``datasets`` ``save_to_disk`` DatasetDict folder (``DIR/dataset_dict.json``);
2. a folder ``DIR/<split>`` written by ``save_to_disk`` (a Dataset, or a DatasetDict with one split,
   as ``load_dataset(...).save_to_disk`` writes for a one-split config such as TOFU's ``train``);
3. a folder ``DIR/<split>`` of Parquet shards (the Hugging Face hub layout, ``train-00000-of-00001.parquet``);
4. a file ``DIR/<split>.json`` (one JSON list, or JSON lines as TOFU's ``.json`` files are),
   ``.jsonl``, ``.parquet`` or ``.txt`` (raw text);
5. Parquet shards ``DIR/<split>-00000-of-0000N.parquet`` (the hub layout of MUSE's subsets).

Bad layouts raise :class:`froc.errors.DataError` whose problems name the file, the row/line, the
column and the split (``split 'forget10': ...``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from froc.data.schema import Item, normalize_text
from froc.errors import DataError, Problem

ERROR_LIMIT = 50
FILE_SUFFIXES = (".json", ".jsonl", ".parquet", ".txt")


@dataclass
class SplitTable:
    """The rows of one split as read from disk (no validation yet)."""

    split: str  # the split name looked for (e.g. "forget10", "knowmem/forget_qa")
    file: str  # where the rows came from: a file, a folder, or "folder::split"
    rows: list[dict[str, Any]]
    lines: list[int]  # 1-based line (JSON lines) or row (everything else) of each row
    raw_text: bool = False  # rows came from a .txt file (one row: {"text": whole file})


@dataclass
class SplitCount:
    """One row of ``froc data check --format``: a split that was found and what froc makes of it."""

    split: str
    role: str  # "forget request", "retain data", "probes (group forget)", "holdout", "unused", ...
    n: int  # rows as published
    file: str
    n_items: int | None = None  # froc items made from it (differs for chunked raw text)


@dataclass
class BenchmarkRequest:
    """An unlearning request read from a published benchmark, in froc's items.

    ``forget``/``retain`` feed the unlearning methods; ``probes`` carry ``meta.group`` (forget,
    retain, world) as :func:`froc.data.request.load_request`'s probes do; ``holdout`` holds items
    the target model never saw (TOFU ``holdoutXX``, MUSE ``holdout`` for PrivLeak); ``extra`` the
    other published splits by name (MUSE's ICL examples and ``retain2``, WMDP's other corpora).
    """

    benchmark: str
    root: str
    forget: list[Item]
    retain: list[Item]
    probes: list[Item]
    holdout: list[Item] = field(default_factory=list)
    extra: dict[str, list[Item]] = field(default_factory=dict)
    splits: list[SplitCount] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    description: str = ""


def in_split(split: str, message: str) -> str:
    return f"split '{split}': {message}"


# ------------------------------------------------------------------------------------------ finding


def _is_saved_dataset(p: Path) -> bool:
    return p.is_dir() and ((p / "dataset_info.json").is_file() or (p / "state.json").is_file())


def _is_saved_dict(p: Path) -> bool:
    return p.is_dir() and (p / "dataset_dict.json").is_file()


def _shards(folder: Path, prefix: str = "") -> list[Path]:
    """Parquet shards in ``folder`` (``prefix-*.parquet`` when prefix is given), in shard order."""
    pat = f"{prefix}-*.parquet" if prefix else "*.parquet"
    found = sorted(folder.glob(pat))
    if not prefix and not found and (folder / "train").is_dir():  # DIR/<split>/train/0000.parquet
        found = sorted((folder / "train").glob("*.parquet"))
    return found


def locate(root: Path, names: Sequence[str]) -> tuple[str, Path, str | None] | None:
    """Where the first of ``names`` (aliases of one split, possibly ``subset/split``) is stored.

    Returns ``(name, path, dict_split)``: ``dict_split`` is the split name inside a DatasetDict
    folder, else None. None when no alias is found.
    """
    for name in names:
        parts = name.split("/")
        base, leaf = root.joinpath(*parts[:-1]), parts[-1]
        if not base.is_dir():
            continue
        if _is_saved_dict(base):
            keys = json.loads((base / "dataset_dict.json").read_text(encoding="utf-8")).get("splits", [])
            if leaf in keys:
                return name, base, leaf
        cand = base / leaf
        if cand.is_dir() and (_is_saved_dataset(cand) or _is_saved_dict(cand) or _shards(cand)):
            return name, cand, None
        for suffix in FILE_SUFFIXES:
            if (base / f"{leaf}{suffix}").is_file():
                return name, base / f"{leaf}{suffix}", None
        if _shards(base, leaf):
            return name, base, leaf + "-*.parquet"
    return None


# ------------------------------------------------------------------------------------------ reading


def _read_json(path: Path, split: str) -> tuple[list[Any], list[int]]:
    text = path.read_text(encoding="utf-8-sig")
    from froc.data.loaders import TooDeep, json_loads_bounded

    try:
        doc = json_loads_bounded(text)
    except json.JSONDecodeError:
        doc = None
    except TooDeep as e:  # not a RecursionError traceback
        raise DataError(Problem(str(path), None, e.field, in_split(split, str(e)))) from None
    if isinstance(doc, list):
        return doc, list(range(1, len(doc) + 1))
    if isinstance(doc, dict):
        return [doc], [1]
    rows, lines, problems = [], [], []
    for ln, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json_loads_bounded(line))
            lines.append(ln)
        except TooDeep as e:
            problems.append(Problem(str(path), ln, e.field, in_split(split, str(e))))
        except json.JSONDecodeError as e:
            problems.append(Problem(str(path), ln, None, in_split(split, f"invalid JSON ({e.msg} at column {e.colno})")))
    if problems:
        raise DataError(problems, limit=ERROR_LIMIT)
    return rows, lines


def _read_parquet(paths: Sequence[Path]) -> list[dict]:
    import pyarrow.parquet as pq

    rows: list[dict] = []
    for p in paths:
        rows += pq.read_table(p).to_pylist()
    return rows


def _read_saved(path: Path, dict_split: str | None, split: str) -> tuple[list[dict], str]:
    import datasets

    file = str(path)
    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as e:  # noqa: BLE001 - datasets raises many kinds; the message says which folder
        raise DataError(Problem(file, None, None, in_split(split, f"not readable by datasets.load_from_disk: {e}"))) from e
    if isinstance(ds, datasets.DatasetDict):
        if dict_split is None:
            if len(ds) != 1:
                raise DataError(Problem(file, None, None, in_split(
                    split, f"a DatasetDict with splits {', '.join(ds)}; expected one split (e.g. 'train')")))
            dict_split = next(iter(ds))
        ds = ds[dict_split]
        file = f"{path}::{dict_split}"
    return ds.to_list(), file


def read_split(root: Path, names: Sequence[str]) -> SplitTable | None:
    """The rows of the first of ``names`` found under ``root`` (see the module docstring), or None."""
    found = locate(root, names)
    if found is None:
        return None
    name, path, sub = found
    if sub is not None and sub.endswith(".parquet"):
        shards = _shards(path, sub.removesuffix("-*.parquet"))
        rows = _read_parquet(shards)
        return SplitTable(name, str(shards[0]) if len(shards) == 1 else f"{path}/{sub}", rows, list(range(1, len(rows) + 1)))
    if path.is_dir() and (_is_saved_dict(path) or _is_saved_dataset(path)):
        rows, file = _read_saved(path, sub, name)
        return SplitTable(name, file, rows, list(range(1, len(rows) + 1)))
    if path.is_dir():
        shards = _shards(path)
        rows = _read_parquet(shards)
        return SplitTable(name, str(shards[0]) if len(shards) == 1 else str(path), rows, list(range(1, len(rows) + 1)))
    if path.suffix == ".txt":
        return SplitTable(name, str(path), [{"text": path.read_text(encoding="utf-8-sig")}], [1], raw_text=True)
    if path.suffix == ".parquet":
        rows = _read_parquet([path])
        return SplitTable(name, str(path), rows, list(range(1, len(rows) + 1)))
    rows, lines = _read_json(path, name)
    # a JSON list of strings (MUSE's privleak/*.json): one text per element
    rows = [{"text": r} if isinstance(r, str) else r for r in rows]
    return SplitTable(name, str(path), rows, lines)


def expected_places(root: Path, names: Sequence[str]) -> str:
    """Where a split was looked for, for a 'not found' message."""
    n = names[0]
    return (f"{root / n}.json|.jsonl|.parquet, a save_to_disk folder {root / n}, or split '{n.split('/')[-1]}' "
            f"of a DatasetDict folder" + (f" (aliases: {', '.join(names[1:])})" if len(names) > 1 else ""))


def require_split(root: Path, names: Sequence[str], what: str) -> SplitTable:
    table = read_split(root, names)
    if table is None:
        raise DataError(Problem(str(root), None, None, in_split(names[0], f"not found ({what}); expected "
                                                                          f"{expected_places(root, names)}")))
    return table


# ------------------------------------------------------------------------------------------ columns

_TYPES = {"str": "a non-empty string", "list[str]": "a list of non-empty strings", "int": "an integer",
          "str?": "a string or null", "text": "a string"}


def _type_ok(kind: str, v: Any) -> bool:
    if kind == "str":
        return isinstance(v, str) and bool(v.strip())
    if kind == "str?":
        return v is None or isinstance(v, str)
    if kind == "text":
        return isinstance(v, str)
    if kind == "list[str]":
        return isinstance(v, (list, tuple)) and all(isinstance(x, str) and x.strip() for x in v)
    if kind == "int":
        return isinstance(v, int) and not isinstance(v, bool)
    raise ValueError(kind)


def _show(v: Any, limit: int = 40) -> str:
    r = repr(v)
    return r if len(r) <= limit else r[: limit - 3] + "..."


def check_columns(table: SplitTable, required: dict[str, str], optional: dict[str, str] | None = None) -> None:
    """Raise DataError naming file, row, column and split for every missing column or wrong value.

    ``required``/``optional`` map a column to its kind: ``str`` (non-empty), ``list[str]``, ``int``.
    An optional column may be absent or null. Columns not named are ignored (published files carry more).
    """
    optional = optional or {}
    problems: list[Problem] = []
    if not table.rows:
        raise DataError(Problem(table.file, None, None, in_split(table.split, "no rows; the split is empty")))
    present = set().union(*(r.keys() for r in table.rows if isinstance(r, dict)))
    for col in required:
        if col not in present:
            problems.append(Problem(table.file, None, col, in_split(
                table.split, f"missing column '{col}' ({_TYPES[required[col]]}); columns present: "
                             f"{', '.join(sorted(present)) or 'none'}")))
    if problems:
        raise DataError(problems, limit=ERROR_LIMIT)
    total = 0
    for row, ln in zip(table.rows, table.lines):
        if not isinstance(row, dict):
            total += 1
            problems.append(Problem(table.file, ln, None, in_split(table.split, f"expected a record, got {_show(row)}")))
            continue
        for col, kind in [*required.items(), *optional.items()]:
            v = row.get(col)
            if col in optional and v is None:
                continue
            if not _type_ok(kind, v):
                total += 1
                if len(problems) < ERROR_LIMIT:
                    problems.append(Problem(table.file, ln, col, in_split(
                        table.split, f"expected {_TYPES[kind]}, got {type(v).__name__} {_show(v)}")))
    if problems:
        raise DataError(problems, limit=ERROR_LIMIT, total=total)


def wrong_answers(gold: str, options: Sequence[str], table: SplitTable, line: int, column: str,
                  warnings: list[Problem]) -> list[str]:
    """``options`` without those equal to ``gold`` (normalised) or repeated; each drop is a warning.

    froc's schema forbids a perturbed answer equal to the gold one; a published file is not the
    user's to fix, so such an option is dropped and reported instead of rejected.
    """
    g = normalize_text(gold)
    out, seen = [], set()
    for j, o in enumerate(options):
        n = normalize_text(o)
        if n == g or n in seen:
            why = "equals the gold answer" if n == g else "repeats an earlier option"
            warnings.append(Problem(table.file, line, column, in_split(table.split, f"element {j} {_show(o)} {why}; "
                                                                                    "dropped from the wrong answers")))
            continue
        seen.add(n)
        out.append(o)
    return out


_PARA = re.compile(r"\n\s*\n")


def chunk_text(text: str, max_chars: int) -> list[str]:
    """Split raw text into passages of at most ``max_chars`` characters at paragraph breaks (blank
    lines); a longer paragraph is cut at the last whitespace before the limit. Whitespace-only
    passages are dropped. Deterministic and tokenizer-free."""
    out: list[str] = []
    cur = ""
    for para in (p.strip() for p in _PARA.split(text)):
        if not para:
            continue
        while len(para) > max_chars:
            cut = para.rfind(" ", 0, max_chars)
            cut = cut if cut > 0 else max_chars
            if cur:
                out.append(cur)
                cur = ""
            out.append(para[:cut].strip())
            para = para[cut:].strip()
        if cur and len(cur) + 2 + len(para) > max_chars:
            out.append(cur)
            cur = ""
        cur = f"{cur}\n\n{para}" if cur else para
    if cur:
        out.append(cur)
    return [c for c in out if c.strip()]
