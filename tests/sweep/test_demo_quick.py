"""`froc demo --quick` end to end: benchmark, models, sweep, certification, attacks, report."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from froc.cli import app


@pytest.mark.slow
def test_demo_quick_end_to_end(tmp_path):
    out = tmp_path / "demo"
    res = CliRunner().invoke(app, ["demo", "--quick", "--out", str(out), "--cache", str(tmp_path / "cache")])
    assert res.exit_code == 0, res.output
    s = json.loads((out / "summary.json").read_text())
    assert len(s["configs"]) == 12 and all(c["status"] in ("ok", "diverged") for c in s["configs"])
    assert s["reference"]["original"]["risk_forget_cal"] > s["reference"]["oracle"]["risk_forget_cal"]
    assert "report" in res.output and (out / "report.html").stat().st_size > 10_000
    assert set(s["timings"]) >= {"certify", "report"}
