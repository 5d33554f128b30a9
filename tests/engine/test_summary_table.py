"""The terminal certification table (froc.cli.summary_table): the "* recommended" mark and its legend."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

from rich.console import Console

from froc.cli.summary_table import summary_table
from froc.records import SweepSummary


def _fixture_summary() -> SweepSummary:
    """The report tests' realistic grid (tests/report/conftest.py, loaded by path: it is another folder's conftest)."""
    path = Path(__file__).resolve().parents[1] / "report" / "conftest.py"
    spec = importlib.util.spec_from_file_location("report_fixture", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.make_record()


def _text(s: SweepSummary) -> str:
    console = Console(width=80, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(summary_table(s, {c.config_id: c.config_id for c in s.configs}))
    return console.export_text()


def test_recommended_row_is_marked_and_the_legend_explains_it():
    s = _fixture_summary()
    assert s.recommended is not None
    text = _text(s)
    assert text.count("yes *") == 1 and "* recommended" in text
    assert max(map(len, text.splitlines())) <= 80


def test_no_recommendation_means_no_mark_and_no_legend():
    """Nothing certified, nothing recommended: no row carries "*" (not even a reference whose id is None), so
    the legend is not printed."""
    s = copy.deepcopy(_fixture_summary())
    for c in s.configs:
        c.certified = False
    s.certified = []
    s.recommendation.config_id = None
    text = _text(s)
    assert "*" not in text and "recommended" not in text
