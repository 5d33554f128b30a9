"""The report: one self-contained HTML page (plus PNG files) from a sweep's summary.json.

    from froc.report import render_report
    render_report(json.loads(Path("run/summary.json").read_text()), Path("run/report"))

Modules: `data` (the report's view of a `froc.records.SweepSummary`: labels, selections),
`plots` (one pure function per figure), `html` (the page's context for the Jinja2 template
`templates/report.html`, which autoescapes), `sections` / `checks` / `tables` (the sections'
context), `blocks` (the plain-data building blocks and embedded figures), `fmt` (numbers).
"""

from __future__ import annotations

import json
from pathlib import Path

from froc.report.data import ReportData, load_summary
from froc.report.html import render_report

__all__ = ["render_report", "render_summary_file", "load_summary", "ReportData"]


def render_summary_file(summary_path: str | Path, out_dir: str | Path | None = None,
                        extra: dict | None = None) -> Path:
    """Render `summary.json` (NaN/Infinity allowed) to `out_dir` (default: the folder holding it, the run's folder)."""
    summary_path = Path(summary_path)
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    return render_report(summary, summary_path.parent if out_dir is None else Path(out_dir), extra,
                         run_dir=summary_path.parent)
