"""The report: one self-contained HTML page (plus PNG files) from a sweep's summary.json.

    from froc.report import render_report
    render_report(json.loads(Path("run/summary.json").read_text()), Path("run/report"))

Modules: `data` (normalised, defensive view of the summary), `plots` (one pure
function per figure), `html` (page assembly, escaping, embedding), `fmt` (numbers).
"""

from __future__ import annotations

import json
from pathlib import Path

from froc.report.data import ReportData, load_summary
from froc.report.html import render_report

__all__ = ["render_report", "render_summary_file", "load_summary", "ReportData"]


def render_summary_file(summary_path: str | Path, out_dir: str | Path | None = None,
                        extra: dict | None = None) -> Path:
    """Render `summary.json` (NaN/Infinity allowed) to `out_dir` (default: the folder holding it)."""
    summary_path = Path(summary_path)
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    return render_report(summary, summary_path.parent if out_dir is None else Path(out_dir), extra)
