"""``froc data check``: validate item files and summarise them (counts per kind, form, meta.group, meta.split)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from froc.data.loaders import LoadedItems, load_items
from froc.data.request import load_request
from froc.errors import DataError, Problem

SUMMARY_META_KEYS = ("group", "split", "template_split")


@dataclass
class FileSummary:
    path: str
    kind: str
    n: int
    by_form: dict[str, int]
    by_meta: dict[str, dict[str, int]]  # meta key -> value -> count (only keys present in the file)
    warnings: list[Problem]


@dataclass
class CheckReport:
    files: list[FileSummary] = field(default_factory=list)
    errors: list[DataError] = field(default_factory=list)
    request_warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def summarize(loaded: LoadedItems) -> FileSummary:
    forms = Counter(getattr(it, "form", None) for it in loaded.items)
    forms.pop(None, None)
    by_meta: dict[str, dict[str, int]] = {}
    for key in SUMMARY_META_KEYS:
        c = Counter(str(m[key]) for it in loaded.items if key in (m := getattr(it, "meta", {})))
        if c:
            by_meta[key] = dict(sorted(c.items()))
    return FileSummary(path=loaded.path, kind=loaded.kind, n=len(loaded), by_form=dict(sorted(forms.items())),
                       by_meta=by_meta, warnings=loaded.warnings)


def check(paths: list[str | Path], kind: str | None = None, *, forget: str | Path | None = None,
          retain: str | Path | None = None, probes: str | Path | None = None,
          max_answer_chars: int | None = None) -> CheckReport:
    """Validate every file (all of them, not stopping at the first bad one) and, given ``forget`` and
    ``retain``, the rules across a request's files (see :func:`froc.data.request.load_request`)."""
    if (forget is None) != (retain is None):
        raise DataError(Problem("<arguments>", None, None, "give --forget and --retain together"))
    report = CheckReport()
    request = {Path(x).resolve() for x in (forget, retain, probes) if x is not None}
    paths = [p for p in paths if Path(p).resolve() not in request]  # shown once, with the request's checks
    for p in paths:
        try:
            report.files.append(summarize(load_items(p, kind, max_answer_chars=max_answer_chars)))
        except DataError as e:
            report.errors.append(e)
    if forget is not None:
        try:
            req = load_request(forget, retain, probes, max_answer_chars=max_answer_chars)
        except DataError as e:
            report.errors.append(e)
        else:
            for loaded in (req.forget, req.retain, req.probes):
                if loaded is not None:
                    report.files.append(summarize(loaded))
            report.request_warnings = req.warnings
    return report
