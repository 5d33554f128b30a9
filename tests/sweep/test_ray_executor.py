"""The Ray executor's packing, retries and streaming (froc.sweep.training.run_ray, froc.sweep.packing), on a local
Ray instance with fake resources (``num_gpus`` declared on a machine without GPUs: Ray schedules by declared
resources only; torch runs on the CPU)."""

from __future__ import annotations

import json
import os

import pytest
from sweep_helpers import write_sweep
from test_resume import assert_same_results, read_events

from froc.sweep.packing import CUDA_OVERHEAD, GIB, gpu_share, training_bytes, weight_bytes
from froc.sweep.runner import EVENTS_ENV, run_sweep

ray = pytest.importorskip("ray")


def test_training_bytes_by_hand():
    """W = 1 GiB of fp32 weights: full AdamW = 4 GiB (weights, gradients, two moments), +1 GiB for a reference copy,
    LoRA = 1.1 GiB; times 1.3 (activation margin), plus 1 GiB of CUDA overhead."""
    assert training_bytes(GIB, lora=False, reference_copy=False) == int(4 * GIB * 1.3) + CUDA_OVERHEAD
    assert training_bytes(GIB, lora=False, reference_copy=True) == int(5 * GIB * 1.3) + CUDA_OVERHEAD
    assert training_bytes(GIB, lora=True, reference_copy=False) == int(1.1 * GIB * 1.3) + CUDA_OVERHEAD


@pytest.mark.parametrize("need_gib,gpu_gib,share", [
    (10, 80, 0.125),   # 8 runs per GPU
    (30, 80, 0.5),     # 2 fit (60 GiB), 3 do not
    (25, 80, 0.3333),  # 3 fit: 1/3 rounded down to Ray's 1e-4 steps, so 3 x 0.3333 <= 1
    (80, 80, 1.0),     # exactly one
    (120, 80, 1.0),    # larger than a GPU: a whole one (no sharding in the sweep)
])
def test_gpu_share(need_gib, gpu_gib, share):
    assert gpu_share(need_gib * GIB, gpu_gib * GIB) == share


def test_weight_bytes(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"x" * 1000)
    (tmp_path / "model-2.bin").write_bytes(b"x" * 24)
    (tmp_path / "config.json").write_text("{}")
    assert weight_bytes(tmp_path) == 1024
    assert weight_bytes(tmp_path / "missing") is None


def test_runs_are_packed_on_fake_gpus(tiny_prep, monkeypatch):
    """The tiny model's run needs ~1 GiB (CUDA overhead dominates): with 4 GiB GPUs, 3 runs share one GPU
    (num_gpus 0.3333); without a GPU-memory figure each run asks for a whole GPU; on CPUs, ``threads`` CPUs."""
    from froc.sweep.config import expand_grid
    from froc.sweep.training import _resources

    cfg, prep = tiny_prep
    group = [c for c in expand_grid(cfg) if c["method"] == "npo"]
    need = training_bytes(weight_bytes(prep.model_path), lora=False, reference_copy=False)
    assert 1 * GIB < need < 4 * GIB / 3
    assert _resources(group, [1, 2], prep, cfg, 2, 4 * GIB) == {"num_gpus": 0.3333}
    assert _resources(group, [1, 2], prep, cfg, 2, None) == {"num_gpus": 1}
    assert _resources(group, [1, 2], prep, cfg, 0, None) == {"num_cpus": 1}


@pytest.fixture
def fake_gpu_ray(tmp_path, monkeypatch):
    import ray_faults

    ray.cloudpickle.register_pickle_by_value(ray_faults)
    monkeypatch.setenv(ray_faults.FAULTS_ENV, str(tmp_path))  # before ray.init: the local workers inherit it
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def test_sweep_on_fake_gpus_packed_matches_local(uninterrupted, tiny_cache, tmp_path, monkeypatch, fake_gpu_ray):
    """2 fake GPUs of 4 GiB: both training runs are packed (each task was assigned 0.3333 of a GPU) and the
    stored results equal the local executor's, bit for bit."""
    import ray_faults

    import froc.sweep.training as training

    monkeypatch.setenv("FROC_GPU_MEMORY_GB", "4")
    monkeypatch.setenv("FROC_NO_PROGRESS", "1")
    monkeypatch.setattr(training, "_ray_group", ray_faults.recording_group)
    res = run_sweep(write_sweep(tmp_path), tmp_path / "ray", executor="ray", cache_dir=tiny_cache, progress=False,
                    attacks=False, report=False)
    assert {c.status for c in res.summary.configs} == {"ok"}
    assigned = [json.loads(line) for line in (tmp_path / "resources.jsonl").read_text().splitlines()]
    assert len(assigned) == 2 and all(a.get("GPU") == pytest.approx(0.3333) for a in assigned), assigned
    assert_same_results(uninterrupted, tmp_path / "ray")


def test_a_run_whose_worker_died_is_resubmitted_without_losing_stored_configurations(
        uninterrupted, tiny_cache, tmp_path, monkeypatch):
    """One training run's worker dies (os._exit) right after its first configuration was streamed and committed:
    the run is resubmitted with only its other step, every configuration is committed exactly once, by the
    driver, and the stored results equal an uninterrupted local run's."""
    import ray_faults

    import froc.sweep.training as training

    ray.cloudpickle.register_pickle_by_value(ray_faults)
    faults = tmp_path / "faults"
    faults.mkdir()
    events = tmp_path / "events.jsonl"
    monkeypatch.setenv(ray_faults.FAULTS_ENV, str(faults))  # set before ray.init: the local workers inherit them
    monkeypatch.setenv(EVENTS_ENV, str(events))
    monkeypatch.setenv("FROC_NO_PROGRESS", "1")
    monkeypatch.setattr(training, "_ray_group", ray_faults.dying_group)
    try:
        res = run_sweep(write_sweep(tmp_path), tmp_path / "ray", executor="ray", num_cpus=2, cache_dir=tiny_cache,
                        progress=False, attacks=False, report=False)
    finally:
        ray.shutdown()
    assert {c.status for c in res.summary.configs} == {"ok"}
    died = json.loads((faults / "died").read_text())
    attempts = [json.loads(line) for line in (faults / "attempts.jsonl").read_text().splitlines()]
    mine = [a["pending"] for a in attempts if a["key"] == died["key"]]
    assert mine == [[1, 2], [2]], "resubmitted with only the step not yet stored"
    assert len(attempts) == 3  # the other run: one attempt
    ev = read_events(events)
    configs = [e["config_id"] for e in ev if e.get("event") == "config"]
    assert len(configs) == 2 + 4 and len(set(configs)) == 6 and {e["pid"] for e in ev} == {os.getpid()}
    assert died["config_id"] in configs
    assert_same_results(uninterrupted, tmp_path / "ray")
