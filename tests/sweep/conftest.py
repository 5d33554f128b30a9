"""Fixtures of the sweep tests: a tiny built-in benchmark trained once per session.

The cache (benchmark + target + retain oracle: 10 people, the 2-layer ``tiny`` architecture, one
epoch — untrained for practical purposes, which is all these tests need) is built once per
session; set ``FROC_TEST_SWEEP_CACHE`` to a folder to keep it between sessions.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("FROC_NO_PROGRESS", "1")
sys.path.insert(0, str(Path(__file__).parent))  # sweep_helpers

from sweep_helpers import TINY_SWEEP, write_sweep  # noqa: E402


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory) -> Path:
    """A cache folder holding the tiny benchmark and its trained target and oracle."""
    from froc.sweep.config import parse_sweep
    from froc.sweep.prepare import prepare

    cache = Path(os.environ.get("FROC_TEST_SWEEP_CACHE") or tmp_path_factory.mktemp("sweep_cache"))
    prepare(parse_sweep(yaml.safe_load(TINY_SWEEP)), cache)
    return cache


@pytest.fixture(scope="session")
def tiny_prep(tiny_cache):
    """(config, prepared inputs) of the tiny sweep."""
    from froc.sweep.config import parse_sweep
    from froc.sweep.prepare import prepare

    cfg = parse_sweep(yaml.safe_load(TINY_SWEEP))
    return cfg, prepare(cfg, tiny_cache)


@pytest.fixture(scope="session")
def uninterrupted(tiny_cache, tmp_path_factory) -> Path:
    """The output folder of an uninterrupted local run of the tiny sweep (with its report)."""
    from froc.sweep.runner import run_sweep

    d = tmp_path_factory.mktemp("uninterrupted")
    res = run_sweep(write_sweep(d), d / "out", cache_dir=tiny_cache, progress=False, attacks=False)
    assert res.report is not None and res.report.is_file()
    return d / "out"
