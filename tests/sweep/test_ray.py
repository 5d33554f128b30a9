"""The Ray executor on a local 2-CPU Ray instance gives the same store as the local executor; the
driver alone writes the store."""

from __future__ import annotations

import os

import pytest
from sweep_helpers import write_sweep
from test_resume import assert_same_results, read_events

from froc.sweep.runner import EVENTS_ENV, run_sweep

ray = pytest.importorskip("ray")


def test_ray_matches_local(uninterrupted, tiny_cache, tmp_path, monkeypatch):
    write_sweep(tmp_path)
    events = tmp_path / "events.jsonl"
    monkeypatch.setenv(EVENTS_ENV, str(events))
    # workers must import froc and see the same settings as the driver
    monkeypatch.setenv("FROC_NO_PROGRESS", "1")
    try:
        res = run_sweep(tmp_path / "sweep.yaml", tmp_path / "ray", executor="ray", num_cpus=2, cache_dir=tiny_cache,
                        progress=False, attacks=False, report=False)
        assert not ray.is_initialized(), "run_sweep started Ray, so it must shut it down"
    finally:
        ray.shutdown()
    assert {c.status for c in res.summary.configs} == {"ok"}
    ev = read_events(events)
    assert len(ev) == 2 + 4 and {e["pid"] for e in ev} == {os.getpid()}  # every commit by the driver
    assert_same_results(uninterrupted, tmp_path / "ray")

