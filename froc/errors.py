"""Errors raised on bad user input. Messages name the file, line/row, field and what was expected."""

from __future__ import annotations

from dataclasses import dataclass


class FrocError(Exception):
    """Base class of froc's own errors."""


@dataclass(frozen=True)
class Problem:
    """One offending place in an input file."""

    file: str
    line: int | None  # 1-based line (JSONL/CSV) or row (Parquet/HF); None for whole-file problems
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
        if self.field:
            where += f" field '{self.field}'"
        return f"{where}: {self.message}"


class DataError(FrocError, ValueError):
    """Invalid data. Carries every problem found (up to a limit) so users can fix them in one go."""

    def __init__(self, problems: list[Problem] | Problem | str, *, limit: int = 50, total: int | None = None):
        if isinstance(problems, str):
            problems = [Problem(file="<input>", line=None, field=None, message=problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = list(problems)
        self.total = total if total is not None else len(self.problems)
        shown = self.problems[:limit]
        lines = [str(p) for p in shown]
        if self.total > len(shown):
            lines.append(f"... and {self.total - len(shown)} more problem(s)")
        super().__init__("\n".join(lines))


class ConfigError(FrocError, ValueError):
    """Invalid configuration (unknown key, method, hyperparameter, bad value)."""


def unknown_choice(kind: str, name: str, valid) -> ConfigError:
    """Error for an unknown name: the closest valid names first ("did you mean"), then every valid choice."""
    import difflib

    valid = sorted(valid)
    close = difflib.get_close_matches(str(name), valid, n=3, cutoff=0.75)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return ConfigError(f"unknown {kind} '{name}'{hint}; valid {kind}s: {', '.join(valid)}")


def describe_os_error(e: OSError) -> str:
    """An operating-system error (read-only folder, full disk, a file where a folder should be) in words,
    naming the path(s) it is about: ``cannot write '/out/x': Read-only file system``."""
    import errno

    what = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
            errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
            errno.EPERM: "operation not permitted", errno.ENOTDIR: "a part of the path is a file, not a folder",
            errno.EEXIST: "it already exists", errno.EISDIR: "it is a folder, not a file",
            errno.ENOENT: "no such file or folder", errno.ELOOP: "too many symbolic links"}
    reason = what.get(e.errno) or e.strerror or type(e).__name__
    paths = [str(p) for p in (e.filename, getattr(e, "filename2", None)) if p is not None]
    if paths:
        return f"cannot use {' -> '.join(repr(p) for p in paths)}: {reason} ({e.strerror or e})"
    return f"{reason} ({e.strerror or e}); nothing more was written"
