"""`froc report DIR` re-renders from summary.json alone; `froc run` / `froc report` fail clearly."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from froc.sweep.runner import rerender


def _cli(*args) -> subprocess.CompletedProcess:
    """The real command in a subprocess."""
    return subprocess.run([sys.executable, "-m", "froc.cli", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"}, timeout=300)


def _cli_inproc(*args) -> tuple[int, str]:
    """The command in this process (fast): exit code and output without line breaks."""
    from typer.testing import CliRunner

    from froc.cli import app

    r = CliRunner().invoke(app, [str(a) for a in args])
    return r.exit_code, "".join(r.output.split())


def test_report_rerenders_without_the_store(uninterrupted, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(uninterrupted, out)
    (out / "froc.duckdb").unlink()  # nothing to recompute from: the summary alone is enough
    (out / "report.html").unlink()
    summary = (out / "summary.json").read_bytes()
    path = rerender(out)
    assert path == out / "report.html" and path.is_file()
    html = path.read_text()
    assert "<html" in html.lower() and "graddiff" in html and "npo" in html
    assert (out / "summary.json").read_bytes() == summary  # untouched
    assert not (out / "froc.duckdb").exists()


def test_report_command(uninterrupted, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(uninterrupted, out)
    r = _cli("report", out)
    assert r.returncode == 0, r.stdout + r.stderr
    assert str(out / "report.html") in "".join((r.stdout + r.stderr).split())
    # a folder without a summary, a missing folder, a broken summary: a clear error, no traceback
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "summary.json").write_text("{not json")
    for folder, msg in ((empty, "nosummary.json"), (tmp_path / "missing", "notafolder"),
                        (tmp_path / "broken", "notavalidsummary")):
        code, text = _cli_inproc("report", folder)
        assert code == 2 and msg in text and "Traceback" not in text, text


def test_run_command_rejects_a_bad_sweep_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("methods:\n  npo: {lr: [1.0e-3]}\nstepz: [1]\n")
    code, text = _cli_inproc("run", bad, "--out", tmp_path / "out")
    assert code == 2 and f"{bad}:3" in text and "stepz" in text, text
    assert "Traceback" not in text
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("executor", ["dask"])
def test_run_rejects_unknown_executor(tmp_path, executor):
    from froc.errors import ConfigError
    from froc.sweep.runner import run_sweep

    with pytest.raises(ConfigError, match="executor"):
        run_sweep(tmp_path / "nope.yaml", tmp_path / "out", executor=executor)
    assert not (tmp_path / "out").exists()
