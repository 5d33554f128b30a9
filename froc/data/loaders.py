"""Load and validate item files: ``load_items`` (one file), ``save_items``, ``write_jsonl`` (requests: froc.data.request).

Formats, chosen by extension:

- ``.jsonl`` / ``.json``: one JSON object per line; a ``.json`` file may also hold one list of objects
  (or a single object). Blank lines are skipped.
- ``.csv``: a header row with field names; ``perturbed_answers`` is a JSON list string and ``meta``
  a JSON object string; empty cells count as absent.
- ``.parquet``: one row per record; list/struct columns or JSON strings as in CSV.
- a directory written by ``datasets`` ``save_to_disk``; for a ``DatasetDict`` name the split as
  ``path::split``.
- ``.txt``: refusals, one per line.

Blank lines (JSONL, CSV, TXT) hold no record and are skipped.

In columnar formats (CSV, Parquet, HF datasets) a null optional field counts as absent, and null
keys inside a struct ``meta`` are dropped (struct columns fill keys missing from a row with null).

Bad input raises :class:`froc.errors.DataError` listing every offending line (file, line or row,
field, expectation); nothing is dropped silently. Non-fatal findings come back as
``LoadedItems.warnings``.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from froc.data.schema import (
    FIELDS,
    ITEM_CLASSES,
    KINDS,
    Item,
    QAItem,
    RefusalItem,
    file_kind,
    normalize_text,
    validate_records,
)
from froc.errors import DataError, Problem

ERROR_LIMIT = 50
FORMATS = (".jsonl", ".json", ".csv", ".parquet", ".txt", "<datasets save_to_disk folder>")
_JSON_FIELDS = ("perturbed_answers", "meta")  # stored as JSON strings in CSV (and accepted so in Parquet/HF)
MAX_DEPTH = 32  # nesting levels of a record (a QA record has 3: record > meta > a list in meta)


class TooDeep(ValueError):
    """A JSON value nested deeper than MAX_DEPTH (json would raise RecursionError long before a real record)."""

    def __init__(self, field: str | None = None):
        super().__init__(f"nested more than {MAX_DEPTH} levels deep; a record holds flat fields, a list of strings "
                         "and a shallow meta object")
        self.field = field


def _depth_field(obj: Any) -> str | None:
    """The top-level field of ``obj`` holding a value nested deeper than MAX_DEPTH ("" for ``obj`` itself),
    None when within bounds. Iterative, so it cannot itself exhaust the stack."""
    stack = [(obj, 1, None)]
    while stack:
        x, d, top = stack.pop()
        if d > MAX_DEPTH:
            return top or ""
        if isinstance(x, dict):
            stack.extend((v, d + 1, top if top is not None else str(k)) for k, v in x.items())
        elif isinstance(x, list):
            stack.extend((v, d + 1, top) for v in x)
    return None


def json_loads_bounded(text: str, *, raw_at: int | None = None, dec: json.JSONDecoder | None = None):
    """``json.loads`` (or ``raw_decode`` from ``raw_at``) that turns deep nesting into :class:`TooDeep`
    instead of a RecursionError, and refuses parsed values nested deeper than MAX_DEPTH."""
    try:
        out = (dec or json.JSONDecoder()).raw_decode(text, raw_at) if raw_at is not None else json.loads(text)
    except RecursionError:
        raise TooDeep() from None
    obj = out[0] if raw_at is not None else out
    if (where := _depth_field(obj)) is not None:
        raise TooDeep(where or None)
    return out


@dataclass
class LoadedItems(Sequence):
    """The validated items of one file. Behaves like a list of items."""

    path: str
    kind: str
    items: list[Item]
    lines: list[int] = field(default_factory=list)  # line (JSONL/CSV/TXT) or 1-based row (Parquet/HF) per item
    warnings: list[Problem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]

    def __iter__(self) -> Iterator[Item]:
        return iter(self.items)


# ---------------------------------------------------------------- readers: path -> (line, raw record) + problems


def _decode_lines(data: bytes, file: str, problems: list[Problem]) -> tuple[list[str], set[int]]:
    """Split bytes into lines and decode each as UTF-8.

    Returns the lines (an undecodable line is decoded with replacement characters, so the file's
    structure survives) and the set of 1-based numbers of undecodable lines, each also a Problem.
    Records starting on such a line are skipped by the readers (already reported).
    """
    offset = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    raw_lines = data[offset:].split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    lines, bad = [], set()
    for i, raw in enumerate(raw_lines, start=1):
        raw_line = raw.removesuffix(b"\r")
        try:
            lines.append(raw_line.decode("utf-8"))
        except UnicodeDecodeError as e:
            problems.append(Problem(file, i, None, f"not valid UTF-8: byte 0x{raw_line[e.start]:02x} at byte {e.start} "
                                                   f"of the line (byte offset {offset + e.start} in the file); "
                                                   "save the file as UTF-8"))
            lines.append(raw_line.decode("utf-8", errors="replace"))
            bad.add(i)
        offset += len(raw) + 1
    return lines, bad


def _read_json_document(text: str, file: str, problems: list[Problem]) -> list[tuple[int, Any]] | None:
    """A ``.json`` file holding one list (or one object). None when it is not a single JSON document."""
    stripped = text.lstrip()
    if not stripped.startswith("["):
        try:
            obj = json_loads_bounded(text)
        except json.JSONDecodeError:
            return None  # JSON lines
        except TooDeep as e:
            problems.append(Problem(file, text[: len(text) - len(stripped)].count("\n") + 1, e.field, str(e)))
            return []
        return [(text[: len(text) - len(stripped)].count("\n") + 1, obj)] if isinstance(obj, dict) else None
    dec = json.JSONDecoder()
    out: list[tuple[int, Any]] = []
    i = len(text) - len(stripped) + 1
    try:
        while True:
            while i < len(text) and text[i] in " \t\r\n,":
                i += 1
            if i >= len(text):
                raise json.JSONDecodeError("unterminated list, expected ']'", text, i)
            if text[i] == "]":
                break
            obj, end = json_loads_bounded(text, raw_at=i, dec=dec)
            out.append((text.count("\n", 0, i) + 1, obj))
            i = end
    except TooDeep as e:
        problems.append(Problem(file, text.count("\n", 0, i) + 1, e.field, str(e)))
        return []
    except json.JSONDecodeError as e:
        problems.append(Problem(file, e.lineno, None, f"malformed JSON at column {e.colno}: {e.msg}"))
        return []
    if text[i + 1:].strip():
        ln = text.count("\n", 0, i + 1) + 1
        problems.append(Problem(file, ln, None, "malformed JSON: extra data after the closing ']'"))
    return out


def _read_jsonl(path: Path, file: str, problems: list[Problem]) -> list[tuple[int, Any]]:
    lines, bad = _decode_lines(path.read_bytes(), file, problems)
    if path.suffix.lower() == ".json":
        doc = _read_json_document("\n".join(lines), file, problems)
        if doc is not None:
            return [(ln, rec) for ln, rec in doc if ln not in bad]
    out = []
    for ln, text in enumerate(lines, start=1):
        if ln in bad or not text.strip():
            continue
        try:
            out.append((ln, json_loads_bounded(text)))
        except json.JSONDecodeError as e:
            problems.append(Problem(file, ln, None, f"malformed JSON at column {e.colno}: {e.msg}"))
        except TooDeep as e:
            problems.append(Problem(file, ln, e.field, str(e)))
    return out


def _decode_json_cells(rec: dict, ln: int, file: str, problems: list[Problem], unit: str) -> dict | None:
    """Parse ``perturbed_answers``/``meta`` given as JSON strings; drop null optional cells."""
    out = {}
    ok = True
    for k, v in rec.items():
        if v is None or (isinstance(v, str) and v == ""):
            continue  # absent; required fields are reported missing by validation
        if k in _JSON_FIELDS and isinstance(v, str):
            try:
                v = json_loads_bounded(v)
            except TooDeep as e:
                problems.append(Problem(file, ln, k, f"the {unit}'s JSON is {e}"))
                ok = False
                continue
            except json.JSONDecodeError as e:
                want = "a JSON list of strings" if k == "perturbed_answers" else "a JSON object"
                problems.append(Problem(file, ln, k, f"expected {want} in the {unit}, got malformed JSON "
                                                     f"(column {e.colno}: {e.msg}): {v[:40]!r}"))
                ok = False
                continue
        if _depth_field(v) is not None:  # a nested struct/list column (Parquet, datasets)
            problems.append(Problem(file, ln, k, f"the {unit}'s value is {TooDeep()}"))
            ok = False
            continue
        if k == "meta" and isinstance(v, dict):
            v = {mk: mv for mk, mv in v.items() if mv is not None}
        out[k] = v
    return out if ok else None


def _read_csv(path: Path, file: str, problems: list[Problem]) -> list[tuple[int, Any]]:
    lines, bad = _decode_lines(path.read_bytes(), file, problems)
    reader = csv.reader(io.StringIO("\n".join(lines), newline=""))
    out = []
    try:
        header = next(reader, None)
        if header is None:
            return out
        start = reader.line_num + 1
        for row in reader:
            ln, start = start, reader.line_num + 1
            if ln in bad or not row:
                continue
            if len(row) != len(header):
                problems.append(Problem(file, ln, None, f"{len(row)} cell(s) but the header has {len(header)} "
                                                        f"columns ({', '.join(header)})"))
                continue
            rec = _decode_json_cells(dict(zip(header, row)), ln, file, problems, "cell")
            if rec is not None:
                out.append((ln, rec))
    except csv.Error as e:
        problems.append(Problem(file, reader.line_num, None, f"malformed CSV: {e}"))
    return out


def _rows_from_table(rows: list[dict], file: str, problems: list[Problem]) -> list[tuple[int, Any]]:
    out = []
    for i, row in enumerate(rows, start=1):
        rec = _decode_json_cells(row, i, file, problems, "row")
        if rec is not None:
            out.append((i, rec))
    return out


def _read_parquet(path: Path, file: str, problems: list[Problem]) -> list[tuple[int, Any]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several types for corrupt files
        raise DataError(Problem(file, None, None, f"cannot read Parquet file: {e}")) from e
    return _rows_from_table(table.to_pylist(), file, problems)


def _read_hf(path: Path, split: str | None, file: str, problems: list[Problem]) -> list[tuple[int, Any]]:
    import datasets

    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as e:
        raise DataError(Problem(file, None, None, f"not a folder written by datasets' save_to_disk: {e}")) from e
    if isinstance(ds, datasets.DatasetDict):
        names = ", ".join(ds.keys())
        if split is None:
            raise DataError(Problem(file, None, None, f"holds a DatasetDict with splits {names}; "
                                                      f"say which one as '{path}::SPLIT'"))
        if split not in ds:
            raise DataError(Problem(file, None, None, f"no split {split!r}; valid splits: {names}"))
        ds = ds[split]
    elif split is not None:
        raise DataError(Problem(file, None, None, f"holds a single Dataset, not a DatasetDict; drop '::{split}'"))
    return _rows_from_table(ds.to_list(), file, problems)


def _read_txt(path: Path, file: str, problems: list[Problem]) -> list[tuple[int, Any]]:
    lines, bad = _decode_lines(path.read_bytes(), file, problems)
    return [(ln, {"id": f"refusal-{ln}", "text": t.strip()}) for ln, t in enumerate(lines, start=1)
            if ln not in bad and t.strip()]


def _split_path(path: str | Path) -> tuple[Path, str | None]:
    s = str(path)
    if "::" in s:
        base, split = s.rsplit("::", 1)
        return Path(base), split
    return Path(s), None


# ---------------------------------------------------------------- public API


def load_items(path: str | Path, kind: str | None = None, *, max_answer_chars: int | None = None,
               allow_empty: bool = False) -> LoadedItems:
    """Load and validate one file of items (kind ``qa``, ``text`` or ``refusal``).

    Args:
        path: a ``.jsonl``/``.json``/``.csv``/``.parquet``/``.txt`` file or a ``save_to_disk`` folder
            (``folder::split`` for a DatasetDict).
        kind: the expected kind; None infers it from the first record (``.txt`` is always ``refusal``).
        max_answer_chars: QA answers (gold, paraphrased, perturbed) longer than this are truncated,
            each with a warning.
        allow_empty: return an empty result instead of raising on a file without records.

    Raises:
        DataError: listing every offending line/row (first 50 shown, total counted).
    """
    p, split = _split_path(path)
    file = str(path)
    if kind is not None and kind not in KINDS:
        raise DataError(Problem(file, None, None, f"unknown kind {kind!r}; valid kinds: {', '.join(KINDS)}"))
    if not p.exists():
        raise DataError(Problem(file, None, None, "no such file or folder"))
    problems: list[Problem] = []
    suffix = p.suffix.lower()
    if p.is_dir():
        raw = _read_hf(p, split, file, problems)
    elif split is not None:
        raise DataError(Problem(file, None, None, "the 'path::split' syntax is only for datasets save_to_disk folders"))
    elif suffix in (".jsonl", ".json"):
        raw = _read_jsonl(p, file, problems)
    elif suffix == ".csv":
        raw = _read_csv(p, file, problems)
    elif suffix == ".parquet":
        raw = _read_parquet(p, file, problems)
    elif suffix == ".txt":
        if kind not in (None, "refusal"):
            raise DataError(Problem(file, None, None, f".txt files hold refusals (one per line), not {kind!r} items"))
        kind = "refusal"
        raw = _read_txt(p, file, problems)
    else:
        raise DataError(Problem(file, None, None, f"unsupported format {suffix or '(no extension)'!r}; "
                                                  f"supported: {', '.join(FORMATS)}"))
    if not raw and not problems:
        if allow_empty:
            return LoadedItems(path=file, kind=kind or "qa", items=[])
        raise DataError(Problem(file, None, None, "no records; the file is empty"))

    kind_source = "given as kind"
    if kind is None and raw:
        kind, kind_source, problem = file_kind(raw[0][1], raw[0][0], file)
        problems += [problem] if problem else []
    if kind is not None and raw:
        problems += validate_records([r for _, r in raw], kind, file, lines=[ln for ln, _ in raw], kind_source=kind_source)
    if problems:
        problems.sort(key=lambda pr: (pr.line if pr.line is not None else -1))
        raise DataError(problems, limit=ERROR_LIMIT)

    items = [ITEM_CLASSES[kind].from_dict(r) for _, r in raw]
    lines = [ln for ln, _ in raw]
    warnings = _warnings(items, lines, file, max_answer_chars)
    return LoadedItems(path=file, kind=kind, items=items, lines=lines, warnings=warnings)


def _warnings(items: list[Item], lines: list[int], file: str, max_answer_chars: int | None) -> list[Problem]:
    """Non-fatal findings; truncates over-long QA answers in place (each truncation is a warning)."""
    out: list[Problem] = []
    questions: dict[str, tuple[int, str]] = {}
    for it, ln in zip(items, lines):
        if not isinstance(it, QAItem):
            continue
        seen_wrong: dict[str, int] = {}
        for j, w in enumerate(it.perturbed_answers):
            key = normalize_text(w)
            if key in seen_wrong:
                out.append(Problem(file, ln, "perturbed_answers", f"element {j} repeats the wrong answer {w!r} "
                                                                  f"(element {seen_wrong[key]})"))
            seen_wrong.setdefault(key, j)
        q = normalize_text(it.question)
        if q in questions and questions[q][1] != normalize_text(it.answer):
            out.append(Problem(file, ln, "question", f"same question as line/row {questions[q][0]} with another answer"))
        questions.setdefault(q, (ln, normalize_text(it.answer)))
        if max_answer_chars is None:
            continue
        for name in ("answer", "paraphrased_answer"):
            v = getattr(it, name)
            if v is not None and len(v) > max_answer_chars:
                out.append(Problem(file, ln, name, f"{len(v)} characters, longer than max_answer_chars="
                                                   f"{max_answer_chars}; truncated"))
                setattr(it, name, v[:max_answer_chars])
        for j, v in enumerate(it.perturbed_answers):
            if len(v) > max_answer_chars:
                out.append(Problem(file, ln, "perturbed_answers", f"element {j} has {len(v)} characters, longer than "
                                                                  f"max_answer_chars={max_answer_chars}; truncated"))
                it.perturbed_answers[j] = v[:max_answer_chars]
    return out


def write_jsonl(records: Sequence[dict], path: str | Path) -> Path:
    """Write dicts as JSON lines, byte-deterministic: sorted keys, UTF-8, ``\\n`` line ends."""
    path = Path(path)
    text = "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in records)
    path.write_text(text, encoding="utf-8", newline="\n")
    return path


def save_items(items: Sequence[Item], path: str | Path) -> Path:
    """Write items in the format given by the extension (``.jsonl``/``.json``/``.csv``/``.parquet``/``.txt``).

    Output is deterministic (sorted keys, UTF-8, ``\\n`` line ends) and loads back with :func:`load_items`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    dicts = [it.to_dict() for it in items]
    if suffix in (".jsonl", ".json"):
        write_jsonl(dicts, path)
    elif suffix == ".txt":
        if not all(isinstance(it, RefusalItem) and "\n" not in it.text for it in items):
            raise DataError(Problem(str(path), None, None, ".txt holds refusals only, one line each"))
        path.write_text("".join(it.text + "\n" for it in items), encoding="utf-8", newline="\n")
    elif suffix in (".csv", ".parquet"):
        kind = items[0].kind if items else "qa"
        cols = [f for f in FIELDS[kind] if any(f in d for d in dicts)]
        rows = [{c: (json.dumps(d[c], sort_keys=True, ensure_ascii=False) if c in _JSON_FIELDS else d[c])
                 if c in d else None for c in cols} for d in dicts]
        if suffix == ".csv":
            buf = io.StringIO(newline="")
            w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
            path.write_text(buf.getvalue(), encoding="utf-8", newline="")
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(rows, schema=pa.schema([(c, pa.string()) for c in cols])), path)
    else:
        raise DataError(Problem(str(path), None, None, f"unsupported format {suffix!r}; "
                                                       "supported: .jsonl, .json, .csv, .parquet, .txt"))
    return path
