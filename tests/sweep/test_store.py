"""The DuckDB store: one transaction per configuration (all or nothing), reopening, retry rules."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

from froc.sweep.store import Store
from sweep_helpers import behaviour_scores, probe_frame


def _write(st: Store, cid: str, *, status="ok", scores="good", metrics=None):
    st.write_config(config_id=cid, train_key=cid.rsplit("-", 1)[0], method="graddiff", hparams={"lr": 0.001}, steps=5,
                    status=status, diverged_at=None, train_seconds=1.5, score_seconds=0.5, metrics=metrics or {"a": 1.0},
                    scores=None if scores is None else behaviour_scores(scores))


def test_roundtrip_and_reopen(tmp_path):
    path = tmp_path / "s" / "froc.duckdb"
    with Store(path) as st:
        _write(st, "graddiff-aaa-s5")
        st.set_meta("fingerprint", {"x": 1})
        before = st.table("graddiff-aaa-s5")
    with Store(path) as st:  # reopening keeps everything
        assert st.done_configs() == {"graddiff-aaa-s5"}
        assert json.loads(st.get_meta("fingerprint")) == {"x": 1}
        after = st.table("graddiff-aaa-s5")
        cfgs = st.configs()
    pd.testing.assert_frame_equal(before, after)
    assert len(after) == len(probe_frame())
    assert after["probe_id"].tolist() == probe_frame()["probe_id"].tolist()  # scoring order is kept
    src = behaviour_scores("good")
    assert after["knowledge"].tolist() == src["knowledge"].tolist()  # exact doubles
    assert after["perturbed_logp_mean"].map(list).tolist() == src["perturbed_logp_mean"].tolist()
    row = cfgs.iloc[0]
    assert row["hparams"] == {"lr": 0.001} and row["metrics"] == {"a": 1.0} and row["status"] == "ok"
    assert not pd.isna(row["completed_at"])
    with Store(path, read_only=True) as ro:  # read-only access for inspection (no writer running)
        assert ro.done_configs() == {"graddiff-aaa-s5"}
    with pytest.raises(FileNotFoundError):
        Store(tmp_path / "nope.duckdb", read_only=True)


def test_a_configuration_is_all_or_nothing(tmp_path):
    with Store(tmp_path / "froc.duckdb") as st:
        _write(st, "graddiff-aaa-s5")
        n = st.con.execute("SELECT count(*) FROM scores").fetchone()[0]
        # an exception after the scores were inserted (metrics that cannot be serialised) rolls everything back
        with pytest.raises(TypeError):
            _write(st, "graddiff-bbb-s5", metrics={"bad": object()})
        assert st.done_configs() == {"graddiff-aaa-s5"}
        assert st.con.execute("SELECT count(*) FROM scores").fetchone()[0] == n
        assert st.scores(["graddiff-bbb-s5"]).empty
        # a failed rewrite of a stored configuration keeps the old rows (its DELETE is rolled back too)
        with pytest.raises(TypeError):
            _write(st, "graddiff-aaa-s5", scores="nothing", metrics={"bad": object()})
        assert st.table("graddiff-aaa-s5")["knowledge"].tolist() == behaviour_scores("good")["knowledge"].tolist()
        # KeyboardInterrupt (Ctrl-C) inside the transaction: same
        with pytest.raises(KeyboardInterrupt):
            with st.transaction() as con:
                con.execute("DELETE FROM scores")
                raise KeyboardInterrupt
        assert st.con.execute("SELECT count(*) FROM scores").fetchone()[0] == n
        _write(st, "graddiff-bbb-s5")  # the store is still usable
        assert st.done_configs() == {"graddiff-aaa-s5", "graddiff-bbb-s5"}


def test_failed_configs_are_retried_diverged_are_not(tmp_path):
    with Store(tmp_path / "froc.duckdb") as st:
        _write(st, "graddiff-ok-s5")
        _write(st, "graddiff-div-s5", status="diverged", scores=None)
        _write(st, "graddiff-fail-s5", status="failed", scores=None)
        assert st.done_configs() == {"graddiff-ok-s5", "graddiff-div-s5"}
        _write(st, "graddiff-fail-s5")  # the retry replaces the failed row
        assert "graddiff-fail-s5" in st.done_configs()
        assert (st.configs()["config_id"] == "graddiff-fail-s5").sum() == 1
        assert len(st.scores(["graddiff-fail-s5"])) == len(probe_frame())


def test_attacks_roundtrip(tmp_path):
    with Store(tmp_path / "froc.duckdb") as st:
        st.write_attack(config_id="c1", attack="relearn", status="ok", seconds=1.0, details={"steps": 3},
                        scores=behaviour_scores("half"))
        st.write_attack(config_id="c1", attack="quantize_4bit", status="failed", seconds=0.1, details={"error": "x"},
                        scores=None)
        assert st.done_attacks() == {("c1", "relearn"), ("c1", "quantize_4bit")}
        assert len(st.attack_scores()) == len(probe_frame())
        assert st.attacks().set_index("attack").loc["relearn", "details"] == {"steps": 3}


WRITER = textwrap.dedent("""
    import contextlib, sys, time
    from froc.sweep.store import Store
    sys.path.insert(0, {helpers!r})
    from sweep_helpers import behaviour_scores
    scores = behaviour_scores("good")
    MOMENT = {moment!r}
    real = Store.transaction
    current = [None]

    @contextlib.contextmanager
    def gated(self):  # the fourth configuration's transaction stops before its COMMIT, every row inserted
        with real(self) as con:
            yield con
            if MOMENT == "inside" and current[0] == "c0003":
                print("waiting", flush=True)
                time.sleep(3600)

    Store.transaction = gated
    with Store({path!r}) as st:
        for i in range(4):
            current[0] = f"c{{i:04d}}"
            st.write_config(config_id=current[0], train_key="k", method="m", hparams={{}}, steps=1, status="ok",
                            diverged_at=None, train_seconds=0.0, score_seconds=0.0, metrics={{}}, scores=scores)
        print("waiting", flush=True)  # "between": the fourth transaction committed, nothing in progress
        time.sleep(3600)
""")


@pytest.mark.parametrize("moment", ["inside", "between"])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_writer_leaves_whole_configurations(tmp_path, sig, moment):
    """kill -9 / Ctrl-C of a process writing configurations, deterministically either inside the fourth
    configuration's transaction (its rows inserted, not committed) or between transactions (after the
    fourth commit): after reopening, exactly the committed configurations are stored, each with all its rows."""
    path = tmp_path / "froc.duckdb"
    script = WRITER.format(helpers=os.path.dirname(__file__), path=str(path), moment=moment)
    # SIGINT must raise KeyboardInterrupt even when the tests run in the background of a non-interactive shell,
    # which starts them with SIGINT ignored (Python then installs no handler and Ctrl-C would do nothing)
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert p.stdout.readline().strip() == "waiting", "writer died"  # blocked at the chosen moment
        p.send_signal(sig)
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode != 0
    with Store(path) as st:
        done = st.done_configs()
        counts = dict(st.con.execute("SELECT config_id, count(*) FROM scores GROUP BY config_id").fetchall())
    expected = {"c0000", "c0001", "c0002"} | ({"c0003"} if moment == "between" else set())
    assert done == expected
    assert set(counts) == done
    assert set(counts.values()) == {len(probe_frame())}


def test_a_store_in_use_is_a_clear_error(tmp_path):
    from froc.errors import ConfigError

    path = tmp_path / "froc.duckdb"
    script = f"from froc.sweep.store import Store\nst = Store({str(path)!r})\nprint('open', flush=True)\nimport time; time.sleep(120)"
    # SIGINT must raise KeyboardInterrupt even when the tests run in the background of a non-interactive shell,
    # which starts them with SIGINT ignored (Python then installs no handler and Ctrl-C would do nothing)
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert p.stdout.readline().strip() == "open"
        with pytest.raises(ConfigError, match="in use by another process"):
            Store(path)
        with pytest.raises(ConfigError, match="in use by another process"):
            Store(path, read_only=True)
    finally:
        p.kill()
        p.wait()
