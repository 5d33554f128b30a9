"""Helpers of the hardening tests: run the real CLI in-process and check that a failure is clean."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from pathlib import Path

from typer.testing import CliRunner

from froc.cli import app


def run_cli(args: list[str], env: dict | None = None):
    """``froc ARGS`` in-process; returns typer's Result (exit_code, output, exception)."""
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def _flat(text: str) -> tuple[str, str]:
    # rich wraps long lines at spaces (and folds words longer than the width): compare both ways
    return text.replace("\n", " "), text.replace("\n", "")


def assert_clean_failure(res, *needles: str, exit_codes=(1, 2)) -> str:
    """A clean failure: a non-zero exit, no traceback, no escaped exception, and every needle (a file name,
    ``file:line``, a field) in the message. Returns the flattened output."""
    out = res.output
    assert res.exit_code in exit_codes, f"exit {res.exit_code}, output:\n{out}\nexception: {res.exception!r}"
    assert res.exception is None or isinstance(res.exception, SystemExit), f"escaped exception {res.exception!r}"
    assert "Traceback" not in out, out
    spaced, joined = _flat(out)
    for n in needles:
        assert str(n) in spaced or str(n) in joined, f"{n!r} not in the message:\n{out}"
    return spaced


def has_line(text: str, path: str | Path, line: int | None = None) -> bool:
    """``path:LINE`` (or ``path:N`` for any N) in the flattened ``text``."""
    pat = re.escape(str(path)) + (rf":{line}\b" if line is not None else r":\d+")
    return any(re.search(pat, t) for t in _flat(text))


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "1m", readonly: bool = False):
    """Mount a tmpfs of ``size`` at ``path`` (root only); yields False where mounting is not possible."""
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if readonly else "")
    ok = os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)],
                                               capture_output=True).returncode == 0
    try:
        yield ok
    finally:
        if ok:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)
