"""Session-wide fixtures: the built-in benchmark at a reduced size, trained once per test session.

Set FROC_TEST_CACHE to a folder to keep the trained models between local test runs.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("FROC_NO_PROGRESS", "1")


@pytest.fixture(scope="session")
def builtin_small(tmp_path_factory):
    """Target + retain oracle of a 20-person benchmark ('mini' Llama), memorised to >= 95% exact match."""
    from froc.models.builtin import BuiltinConfig, ensure_benchmark_models

    cache = os.environ.get("FROC_TEST_CACHE") or str(tmp_path_factory.mktemp("froc_cache"))
    cfg = BuiltinConfig(n_people=20, arch="mini", forget_split="forget10")
    return ensure_benchmark_models(cache, cfg)
