"""The field's benchmarks in their published layouts: TOFU, MUSE and WMDP (see docs/BENCHMARKS.md).

``load_benchmark(name, path, **options)`` reads a local copy (no downloads) into a
:class:`BenchmarkRequest` (forget items, retain items, probes with ``meta.group``, holdout);
``inspect_benchmark(name, path)`` lists every split found with its row count (``froc data check --format``).
"""

from __future__ import annotations

from pathlib import Path

from froc.data.published.common import BenchmarkRequest, SplitCount
from froc.errors import DataError, Problem

BENCHMARKS = ("tofu", "muse", "wmdp")
# the options each benchmark takes (name -> default), as in a sweep's data section
OPTIONS = {"tofu": {"forget_split": "forget10"}, "muse": {"corpus": "news"}, "wmdp": {"subset": "bio"}}


def _check_name(name: str, path) -> None:
    if name not in BENCHMARKS:
        raise DataError(Problem(str(path), None, "benchmark", f"unknown benchmark {name!r}; valid: {', '.join(BENCHMARKS)}"))


def load_benchmark(name: str, path: str | Path, **options) -> BenchmarkRequest:
    """Read benchmark ``name`` (tofu, muse, wmdp) from the local folder ``path``.

    Options: tofu ``forget_split`` (forget01/05/10); muse ``corpus`` (news/books), ``retain_split``;
    wmdp ``subset`` (bio/cyber/chem), ``corpora``. Raises DataError (file, row, column, split).
    """
    _check_name(name, path)
    if name == "tofu":
        from froc.data.published.tofu import load_tofu

        return load_tofu(path, **options)
    if name == "muse":
        from froc.data.published.muse import load_muse

        return load_muse(path, **options)
    from froc.data.published.wmdp import load_wmdp

    return load_wmdp(path, **options)


def inspect_benchmark(name: str, path: str | Path) -> tuple[list[SplitCount], list[DataError]]:
    """Every split of benchmark ``name`` found under ``path`` (with row counts) and each bad split's error."""
    _check_name(name, path)
    if not Path(path).is_dir():
        raise DataError(Problem(str(path), None, None, f"no such folder (a {name.upper()} folder)"))
    if name == "tofu":
        from froc.data.published.tofu import inspect_tofu

        return inspect_tofu(path)
    if name == "muse":
        from froc.data.published.muse import inspect_muse

        return inspect_muse(path)
    from froc.data.published.wmdp import inspect_wmdp

    return inspect_wmdp(path)


__all__ = ["BENCHMARKS", "OPTIONS", "BenchmarkRequest", "SplitCount", "inspect_benchmark", "load_benchmark"]
