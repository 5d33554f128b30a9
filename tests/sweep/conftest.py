"""Fixtures of the sweep tests: a tiny built-in benchmark trained once per session.

The cache (benchmark + target + retain oracle: 10 people, the 2-layer ``tiny`` architecture, one
epoch — untrained for practical purposes, which is all these tests need) is built once per
session; set ``FROC_TEST_SWEEP_CACHE`` to a folder to keep it between sessions.
"""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("FROC_NO_PROGRESS", "1")
sys.path.insert(0, str(Path(__file__).parent))  # sweep_helpers

# Two methods x one lr x steps [1, 2]: 4 configurations in 2 training runs.
TINY_SWEEP = textwrap.dedent("""\
    name: tiny
    model: builtin
    builtin: {people: 10, forget_split: 10, arch: tiny, epochs: 1}
    methods:
      graddiff: {lr: [1.0e-3]}
      npo: {lr: [1.0e-3], beta: [0.1]}
    steps: [1, 2]
    batch_size: 4
    probes_per_group: {forget: 24, neighbour: 6, retain: 6, world: 4}
    splits: {tune: 0.2, cal: 0.4, test: 0.4}
    budget: {alpha_forget: 0.5, alpha_utility: 0.5, delta: 0.2}
    max_new_tokens: 4
    score_batch_size: 32
    resplits: 5
    """)


def write_sweep(folder: Path, text: str = TINY_SWEEP, name: str = "sweep.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text(text)
    return p


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
