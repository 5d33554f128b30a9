"""Trajectory sharing must not change results: the scores of (method, hparams, steps=s) are the same
whether s was a checkpoint of a longer run, the only checkpoint, or a run of exactly s steps."""

from __future__ import annotations

import pandas as pd
import pytest

from froc.errors import ConfigError

from froc.sweep.config import expand_grid
from froc.sweep.scores import score_model
from froc.sweep.training import load_unlearned, run_group


def _run(group, pending, prep, cfg) -> dict[int, dict]:
    out: list[dict] = []
    run_group(group, pending, prep, cfg, out.append, progress=False)
    return {r["steps"]: r for r in out}


def _assert_same_scores(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_exact=True)


def test_checkpoints_do_not_change_scores(tiny_prep):
    cfg, prep = tiny_prep
    groups: dict[str, list] = {}
    for c in expand_grid(cfg):
        groups.setdefault(c["train_key"], []).append(c)
    group = next(g for g in groups.values() if g[0]["method"] == "npo")  # npo: reference log-probs + retain term
    both = _run(group, [1, 2], prep, cfg)
    last = _run(group, [2], prep, cfg)
    assert {s: r["status"] for s, r in both.items()} == {1: "ok", 2: "ok"}
    assert set(last) == {2}
    _assert_same_scores(both[2]["scores"], last[2]["scores"])
    # and both equal a plain run of exactly 2 steps (how the attack stage rebuilds a configuration)
    model, tok, _ = load_unlearned(group, 2, prep, cfg)
    _assert_same_scores(both[2]["scores"], score_model(model, tok, prep.probes, cfg))
    # a run of 1 step is the trajectory's first checkpoint
    model, tok, _ = load_unlearned(group, 1, prep, cfg)
    _assert_same_scores(both[1]["scores"], score_model(model, tok, prep.probes, cfg))
    # the two checkpoints differ (the test would be vacuous otherwise)
    assert not both[1]["scores"]["gold_logp_mean"].equals(both[2]["scores"]["gold_logp_mean"])


def test_results_do_not_depend_on_the_callers_thread_count(tiny_prep):
    """CPU training results depend on torch's thread count; the runner pins it (``threads``, default 1),
    so a ray worker, a resumed run on another machine and the local executor compute the same weights."""
    import torch

    cfg, prep = tiny_prep
    group = [c for c in expand_grid(cfg) if c["method"] == "graddiff"]
    prev = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        a = _run(group, [1], prep, cfg)
        torch.set_num_threads(1)
        b = _run(group, [1], prep, cfg)
    finally:
        torch.set_num_threads(prev)
    _assert_same_scores(a[1]["scores"], b[1]["scores"])
    assert torch.get_num_threads() == prev


def _group(cfg, method, hparams):
    from froc.sweep.config import parse_sweep

    c = parse_sweep({**cfg.model_dump(), "methods": {method: {k: [v] for k, v in hparams.items()}}})
    return c, expand_grid(c)


def test_training_free_method_gives_every_step_its_scores(tiny_prep):
    """mrp edits the model in its setup (no step is taken, no checkpoint is reached): every step count
    gets the edited model's scores, not an empty 'completed' row."""
    cfg, prep = tiny_prep
    c, group = _group(cfg, "mrp", {})
    recs = _run(group, [1, 2], prep, c)
    assert {s: r["status"] for s, r in recs.items()} == {1: "ok", 2: "ok"}
    _assert_same_scores(recs[1]["scores"], recs[2]["scores"])
    assert len(recs[1]["scores"]) == len(prep.probes)


def test_diverged_and_failed_runs(tiny_prep):
    cfg, prep = tiny_prep
    c, group = _group(cfg, "graddiff", {"lr": 1e-3, "divergence_bound": 1e-6})  # any loss counts as divergence
    recs = _run(group, [1, 2], prep, c)
    assert [(r["status"], r["diverged_at"], r["scores"]) for r in recs.values()] == [("diverged", 1, None)] * 2
    # a hyperparameter of the wrong type is refused when the sweep is validated, before anything runs
    with pytest.raises(ConfigError, match="beta"):
        _group(cfg, "npo", {"lr": 1e-3, "beta": "abc"})
    # a configuration that fails inside its own run (here: a method error at the first step) is a result
    c, group = _group(cfg, "npo", {"lr": 1e-3})

    def boom(*a, **k):
        raise RuntimeError("loss exploded")

    import froc.methods.npo as npo

    orig = npo.npo_loss
    npo.npo_loss = boom
    try:
        recs = _run(group, [1, 2], prep, c)
    finally:
        npo.npo_loss = orig
    assert {r["status"] for r in recs.values()} == {"failed"}
    assert all("loss exploded" in r["error"] and r["scores"] is None for r in recs.values())


def test_storage_error_stops_the_run(tiny_prep):
    """A failing store write (a full disk) is not a failed configuration: it stops the run (issue 18 §3).

    Deliberate bug caught: a catch-all that records the configuration as "failed" and goes on."""
    cfg, prep = tiny_prep
    group = [c for c in expand_grid(cfg) if c["method"] == "graddiff"]
    seen = []

    def full_disk(rec):
        seen.append(rec["status"])
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        run_group(group, [1, 2], prep, cfg, full_disk, progress=False)
    assert seen == ["ok"]  # the first checkpoint's write failed; nothing was recorded as failed
