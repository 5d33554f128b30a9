"""Resume: kill `froc run` (kill -9, Ctrl-C), run the same command again, get the uninterrupted results.

"Killing `froc run` at any moment and running the same command again continues where it stopped,
recomputes nothing that was complete, loses nothing, and gives results identical to an
uninterrupted run. Changing the sweep file and re-running reuses the configurations that did not change."
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from sweep_helpers import TINY_SWEEP, write_sweep

from froc.errors import ConfigError
from froc.sweep.config import expand_grid, load_sweep
from froc.sweep.runner import EVENTS_ENV, run_sweep
from froc.sweep.store import Store

VOLATILE_SUMMARY = ("created", "timings", "seconds")
VOLATILE_CONFIG = ("train_seconds", "score_seconds")


# ----------------------------------------------------------------------------- helpers


def read_events(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:  # a line being written
            pass
    return out


def grid_events(path: Path, pid: int | None = None) -> list[str]:
    return [e["config_id"] for e in read_events(path)
            if not e["config_id"].startswith("__") and (pid is None or e["pid"] == pid)]


# `froc run` whose progress event for a grid configuration (written right after that configuration's store commit)
# then blocks: a signal the test sends once it sees the event lands after the commit and before anything else,
# whatever the load of the machine (the run can neither finish first nor commit a second configuration)
GATED = textwrap.dedent("""
    import runpy, sys, time
    import froc.sweep.runner as runner
    real = runner._event
    def gated(**fields):
        real(**fields)
        if not str(fields.get("config_id", "")).startswith("__"):
            time.sleep(3600)
    runner._event = gated
    sys.argv = ["froc", *sys.argv[1:]]
    runpy.run_module("froc.cli", run_name="__main__", alter_sys=True)
""")


def start_run(sweep: Path, out: Path, cache: Path, events: Path, *, gated: bool = False) -> subprocess.Popen:
    """``froc run`` in a subprocess; ``gated``: it stops for good after its first grid configuration's commit."""
    env = {**os.environ, "FROC_NO_PROGRESS": "1", EVENTS_ENV: str(events), "COLUMNS": "200"}
    head = [sys.executable, "-c", GATED] if gated else [sys.executable, "-m", "froc.cli"]
    return subprocess.Popen(
        [*head, "run", str(sweep), "--out", str(out), "--cache", str(cache), "--no-attacks"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # Ctrl-C must raise KeyboardInterrupt even when the test runs in a shell that ignores SIGINT
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for(proc: subprocess.Popen, cond, timeout: float = 600) -> bool:
    """Poll until ``cond()`` holds (True) or the process exits (False)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return True
        if proc.poll() is not None:
            return cond()
        time.sleep(0.05)
    proc.kill()
    raise TimeoutError("froc run did not get there in time")


def store_state(out: Path) -> tuple[dict[str, object], dict[str, int]]:
    """(completed_at per stored configuration, score rows per configuration); asserts consistency."""
    with Store(out / "froc.duckdb") as st:
        cfg = st.con.execute("SELECT config_id, completed_at FROM configs WHERE status <> 'failed'").fetchall()
        counts = dict(st.con.execute("SELECT config_id, count(*) FROM scores GROUP BY config_id").fetchall())
    done = dict(cfg)
    assert set(counts) <= set(done), "scores without their configuration row"
    assert all(c in counts for c in done), "a completed configuration without scores"
    assert len(set(counts.values())) <= 1, f"a configuration with missing score rows: {counts}"
    return done, counts


def results(out: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    with Store(out / "froc.duckdb", read_only=True) as st:
        configs = st.configs().drop(columns=["completed_at", *VOLATILE_CONFIG])
        scores = st.scores().sort_values(["config_id", "probe_id"]).reset_index(drop=True)
    summary = json.loads((out / "summary.json").read_text())
    for k in VOLATILE_SUMMARY:
        summary.pop(k, None)
    for c in summary["configs"]:
        for k in VOLATILE_CONFIG:
            c.pop(k, None)
    return configs.sort_values("config_id").reset_index(drop=True), scores, summary


def assert_same_results(a: Path, b: Path) -> None:
    ca, sa, ja = results(a)
    cb, sb, jb = results(b)
    pd.testing.assert_frame_equal(sa, sb, check_exact=True)  # every per-sample score of every configuration
    pd.testing.assert_frame_equal(ca, cb, check_exact=True)  # status, metrics, ...
    assert ja == jb  # CUR, risks, p-values, certified set, recommendation, validity


# ----------------------------------------------------------------------------- tests


def test_uninterrupted_run_outputs(uninterrupted):
    from froc.report.data import load_summary

    out = uninterrupted
    summary = json.loads((out / "summary.json").read_text())
    grid = expand_grid(load_sweep(out.parent / "sweep.yaml"))
    assert [c["config_id"] for c in summary["configs"]] == [c["config_id"] for c in grid]
    assert {c["status"] for c in summary["configs"]} == {"ok"}
    assert all(c["cur"] is not None for c in summary["configs"])
    assert set(summary["timings"]) >= {"prepare (benchmark + models)", "score references",
                                       "sweep (unlearning + scoring)", "certify", "report"}
    assert "total" not in summary["timings"] and summary["seconds"] >= max(summary["timings"].values())
    d = load_summary(summary)
    assert len(d.configs) == 4 and d.methods == ["graddiff", "npo"] and set(d.reference) == {"original", "oracle"}
    assert d.data_sizes["n_forget_cal"] > 0 and d.budget.delta == 0.2
    assert (out / "report.html").is_file() and (out / "sweep.resolved.yaml").is_file()
    state, counts = store_state(out)
    assert set(state) == {c["config_id"] for c in grid} | {"__original__", "__oracle__"}


def test_kill9_and_ctrl_c_then_resume_equals_uninterrupted(uninterrupted, tiny_cache, tmp_path):
    """Deterministic: each interrupted run blocks right after its first grid commit (GATED) until the signal,
    so kill -9 and Ctrl-C always land after one committed configuration and before the next, on any load."""
    sweep, out, events = write_sweep(tmp_path), tmp_path / "out", tmp_path / "events.jsonl"
    all_ids = {c["config_id"] for c in expand_grid(load_sweep(sweep))}
    refs = {"__original__", "__oracle__"}

    # 1. kill -9 right after the first configuration is committed
    p1 = start_run(sweep, out, tiny_cache, events, gated=True)
    assert wait_for(p1, lambda: grid_events(events)), p1.communicate()[0]
    p1.kill()
    p1.wait(timeout=60)
    assert p1.returncode == -signal.SIGKILL
    done1, _ = store_state(out)
    first = grid_events(events)
    assert len(first) == 1 and set(done1) == refs | set(first)  # exactly the references and that configuration

    # 2. the same command again; Ctrl-C right after it committed its first configuration
    p2 = start_run(sweep, out, tiny_cache, events, gated=True)
    assert wait_for(p2, lambda: grid_events(events, p2.pid)), p2.communicate()[0]
    p2.send_signal(signal.SIGINT)
    log2 = p2.communicate(timeout=120)[0]
    done2, _ = store_state(out)
    second = grid_events(events, p2.pid)
    assert len(second) == 1 and not set(second) & set(done1), "recomputed a configuration that was complete"
    assert set(done2) == set(done1) | set(second)
    assert {k: done2[k] for k in done1} == done1, "a completed configuration was rewritten"
    assert p2.returncode != 0, log2  # the run cannot have finished: it was blocked until the signal
    assert "interrupted" in log2 and "run the same command again" in log2, log2
    assert "Traceback" not in log2, log2

    # 3. the same command again, to the end
    p3 = start_run(sweep, out, tiny_cache, events)
    log3 = p3.communicate(timeout=900)[0]
    assert p3.returncode == 0, log3
    done3, _ = store_state(out)
    assert set(grid_events(events, p3.pid)) == all_ids - set(done2)
    assert {k: done3[k] for k in done2} == done2
    assert set(done3) == all_ids | {"__original__", "__oracle__"}
    # the command says where the report is and how long each stage took
    assert f"report: {out / 'report.html'}" in log3.replace("\n", "")
    assert "time per stage" in log3 and "certify" in log3

    # identical to the uninterrupted run
    assert_same_results(uninterrupted, out)


def test_changed_sweep_reuses_unchanged_configs(uninterrupted, tiny_cache, tmp_path, monkeypatch):
    """Add a method, and mark one configuration failed and one diverged: only the new ones and the
    failed one run; the failed one comes back with the same scores."""
    out = tmp_path / "out"
    shutil.copytree(uninterrupted, out)
    grid = expand_grid(load_sweep(uninterrupted.parent / "sweep.yaml"))
    failed, diverged = grid[1]["config_id"], grid[2]["config_id"]
    with Store(out / "froc.duckdb") as st:
        st.con.execute("UPDATE configs SET status = 'failed' WHERE config_id = ?", [failed])
        st.con.execute("DELETE FROM scores WHERE config_id = ?", [failed])
        st.con.execute("UPDATE configs SET status = 'diverged' WHERE config_id = ?", [diverged])
    before, _ = store_state(out)

    text = TINY_SWEEP.replace("methods:\n", "methods:\n  ga: {lr: [1.0e-3]}\n")
    sweep = write_sweep(tmp_path, text)
    events = tmp_path / "events.jsonl"
    monkeypatch.setenv(EVENTS_ENV, str(events))
    run_sweep(sweep, out, cache_dir=tiny_cache, progress=False, attacks=False, report=False)

    new_ids = {c["config_id"] for c in expand_grid(load_sweep(sweep)) if c["method"] == "ga"}
    assert len(new_ids) == 2
    ran = grid_events(events)
    assert sorted(ran) == sorted(new_ids | {failed})
    after, counts = store_state(out)
    assert {k: after[k] for k in before if k != failed} == {k: v for k, v in before.items() if k != failed}
    with Store(out / "froc.duckdb", read_only=True) as st, Store(uninterrupted / "froc.duckdb", read_only=True) as ref:
        pd.testing.assert_frame_equal(st.scores([failed]), ref.scores([failed]), check_exact=True)
        assert st.configs().set_index("config_id").loc[diverged, "status"] == "diverged"
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["configs"]) == 6 and "ga" in summary["grid"]["methods"]


def test_changed_probes_refuse_the_folder(uninterrupted, tiny_cache, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(uninterrupted, out)
    sweep = write_sweep(tmp_path, TINY_SWEEP.replace("world: 4", "world: 3"))
    with pytest.raises(ConfigError, match="new --out folder"):
        run_sweep(sweep, out, cache_dir=tiny_cache, progress=False, attacks=False, report=False)


def test_store_of_the_first_fingerprint_version_is_reused(uninterrupted, tiny_cache, tiny_prep, tmp_path, monkeypatch):
    """Stores written before the fingerprint covered the data keep working (and get the new fingerprint)."""
    cfg, prep = tiny_prep
    out = tmp_path / "out"
    shutil.copytree(uninterrupted, out)
    with Store(out / "froc.duckdb") as st:
        st.set_meta("fingerprint", {"probes": prep.legacy_fingerprint(), "max_new_tokens": cfg.max_new_tokens})
    events = tmp_path / "events.jsonl"
    monkeypatch.setenv(EVENTS_ENV, str(events))
    run_sweep(uninterrupted.parent / "sweep.yaml", out, cache_dir=tiny_cache, progress=False, attacks=False, report=False)
    assert read_events(events) == []  # nothing recomputed
    with Store(out / "froc.duckdb", read_only=True) as st:
        assert json.loads(st.get_meta("fingerprint"))["v"] == 2


def test_budget_change_and_attack_stage_reuse_everything(uninterrupted, tiny_cache, tmp_path, monkeypatch):
    """A new budget and an attack: no configuration is recomputed; the attack runs on the recommended
    configuration once, and a re-run reuses it."""
    out = tmp_path / "out"
    shutil.copytree(uninterrupted, out)
    text = TINY_SWEEP.replace("budget: {alpha_forget: 0.5, alpha_utility: 0.5, delta: 0.2}",
                              "budget: {alpha_forget: 0.95, alpha_utility: 0.95, delta: 0.5}")
    sweep = write_sweep(tmp_path, text + "attacks: [quantize_8bit]\nattack_top: 1\n")
    events = tmp_path / "events.jsonl"
    monkeypatch.setenv(EVENTS_ENV, str(events))
    res = run_sweep(sweep, out, cache_dir=tiny_cache, progress=False, report=False)
    assert read_events(events) == []
    rec = res.summary.recommended
    assert rec is not None and rec in res.summary.certified
    attacked = [c for c in res.summary.configs if c.attacks]
    assert [c.config_id for c in attacked] == [rec]
    a = attacked[0].attacks["quantize_8bit"]
    assert a.status == "ok" and 0 <= a.cur <= 1 and a.n_test > 0
    with Store(out / "froc.duckdb", read_only=True) as st:
        first = st.attacks()[["config_id", "attack", "completed_at"]]
    res2 = run_sweep(sweep, out, cache_dir=tiny_cache, progress=False, report=False)
    with Store(out / "froc.duckdb", read_only=True) as st:
        pd.testing.assert_frame_equal(st.attacks()[["config_id", "attack", "completed_at"]], first)
    assert res2.summary.attacks_certified == res.summary.attacks_certified


@pytest.mark.parametrize("error", [RuntimeError("Query interrupted"), "InterruptException"])
def test_ctrl_c_inside_a_duckdb_query_is_an_interruption(uninterrupted, tiny_cache, tmp_path, monkeypatch, capsys,
                                                       error):
    """DuckDB answers a Ctrl-C that lands in one of its queries with its own error, not KeyboardInterrupt:
    the run still stops as interrupted (with how to continue), and what was stored stays."""
    import duckdb

    if error == "InterruptException":
        error = duckdb.InterruptException("INTERRUPT Error: Interrupted!")
    out = tmp_path / "out"
    shutil.copytree(uninterrupted, out)
    text = TINY_SWEEP.replace("methods:\n", "methods:\n  ga: {lr: [1.0e-3]}\n")
    before, _ = store_state(out)

    def interrupted(self, **kw):
        raise error

    monkeypatch.setattr(Store, "write_config", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(write_sweep(tmp_path, text), out, cache_dir=tiny_cache, progress=False, attacks=False, report=False)
    assert "interrupted:" in capsys.readouterr().err.replace("\n", " ")
    monkeypatch.undo()
    assert store_state(out)[0] == before
