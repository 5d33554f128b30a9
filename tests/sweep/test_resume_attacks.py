"""Every stage's selection is a pure function of the stored scores (issue 18, section 3): a sweep with an attack
and ``attack_top: 1``, interrupted in the grid and again in the attack stage, then resumed, attacks the same
configuration and certifies the same list under attack as an uninterrupted run.

The issue's failure: after a resume, a second configuration was attacked despite ``attack_top: 1`` (164 attack
rows instead of 82) and a different list was certified under attack.
"""

from __future__ import annotations

import errno

import pandas as pd
import pytest
from sweep_helpers import TINY_SWEEP, write_sweep

import froc.sweep.runner as runner
from froc.sweep.runner import run_sweep
from froc.sweep.store import Store

# a budget loose enough that several configurations are certified, so attack_top: 1 has to choose
ATTACK_SWEEP = TINY_SWEEP.replace("budget: {alpha_forget: 0.5, alpha_utility: 0.5, delta: 0.2}",
                                  "budget: {alpha_forget: 0.95, alpha_utility: 0.95, delta: 0.5}") \
    + "attacks: [quantize_8bit]\nattack_top: 1\n"


def outcome(res, out):
    """What the attack stage selected and concluded, and every stored attack score."""
    s = res.summary
    attacks = {(c.config_id, name): (a.status, a.cur, a.certified, a.n_test)
               for c in s.configs for name, a in c.attacks.items()}
    with Store(out / "froc.duckdb", read_only=True) as st:
        rows = st.attack_scores().sort_values(["config_id", "attack", "probe_id"]).reset_index(drop=True)
    return {"certified": list(s.certified), "recommended": s.recommended,
            "attacked": sorted(c.config_id for c in s.configs if c.attacks), "attacks": attacks,
            "attacks_certified": {k: list(v) for k, v in s.attacks_certified.items()}}, rows


@pytest.fixture(scope="module")
def reference(tiny_cache, tmp_path_factory):
    """(sweep file, outcome, attack score rows) of an uninterrupted run of the attacked tiny sweep."""
    d = tmp_path_factory.mktemp("attacked")
    sweep = write_sweep(d, ATTACK_SWEEP)
    res = run_sweep(sweep, d / "uninterrupted", cache_dir=tiny_cache, progress=False, report=False)
    want, rows = outcome(res, d / "uninterrupted")
    assert len(want["certified"]) >= 2, want  # attack_top: 1 really selects one of several
    assert len(want["attacked"]) == 1 and want["attacks"][(want["attacked"][0], "quantize_8bit")][0] == "ok"
    assert rows.config_id.unique().tolist() == want["attacked"] and len(rows) > 0
    return sweep, want, rows


def test_interrupted_and_resumed_sweep_attacks_what_an_uninterrupted_one_does(reference, tiny_cache, tmp_path,
                                                                               monkeypatch):
    """Catches a selection that depends on anything but the stored scores (what this call computed, the order
    of commits, a summary written before the resume)."""
    sweep, want, want_rows = reference
    out = tmp_path / "out"
    # 1. Ctrl-C after the second grid configuration is committed (the hook runs right after each commit)
    real_event, grid_commits = runner._event, []

    def interrupt_after_two(**fields):
        real_event(**fields)
        if not str(fields.get("config_id", "")).startswith("__"):
            grid_commits.append(fields["config_id"])
            if len(grid_commits) == 2:
                raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_event", interrupt_after_two)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(sweep, out, cache_dir=tiny_cache, progress=False, report=False)
    monkeypatch.undo()
    with Store(out / "froc.duckdb", read_only=True) as st:
        assert st.done_configs() >= set(grid_commits) and len(st.done_configs() - {"__original__", "__oracle__"}) == 2
        assert len(st.attacks()) == 0

    # 2. resume; Ctrl-C inside the attack stage, as the first attack result is about to be stored
    def interrupted(self, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(Store, "write_attack", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(sweep, out, cache_dir=tiny_cache, progress=False, report=False)
    monkeypatch.undo()
    with Store(out / "froc.duckdb", read_only=True) as st:
        assert len(st.attacks()) == 0 and len(st.attack_scores()) == 0

    # 3. resume to the end: the same selection, the same attack, the same conclusions
    res = run_sweep(sweep, out, cache_dir=tiny_cache, progress=False, report=False)
    got, got_rows = outcome(res, out)
    assert got == want
    pd.testing.assert_frame_equal(got_rows, want_rows, check_exact=True)

    # 4. and once more: nothing is attacked again, nothing changes
    again, again_rows = outcome(run_sweep(sweep, out, cache_dir=tiny_cache, progress=False, report=False), out)
    assert again == want
    pd.testing.assert_frame_equal(again_rows, want_rows, check_exact=True)


def test_one_off_failure_of_the_attacked_configuration_changes_nothing(reference, tiny_cache, tmp_path, monkeypatch):
    """A one-off failure of the machine (here: disk full) while training the configuration an uninterrupted run
    attacks stops the run; it is not recorded as a failed configuration (which would certify and attack
    others, and after a resume attack a second one: the issue's 164 rows instead of 82). The resumed run
    ends exactly like the uninterrupted one. Catches a catch-all that records the failure as a result."""
    import froc.sweep.training as training
    from froc.sweep.config import expand_grid, load_sweep

    sweep, want, want_rows = reference
    target = want["attacked"][0]
    key = next(c["train_key"] for c in expand_grid(load_sweep(sweep)) if c["config_id"] == target)
    real_setup, failed = training._setup, []

    def full_disk_once(cfg, group, steps, checkpoints, fmt=None):
        if checkpoints and group[0]["train_key"] == key and not failed:  # training (not the attack's rebuild)
            failed.append(key)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_setup(cfg, group, steps, checkpoints, fmt)

    monkeypatch.setattr(training, "_setup", full_disk_once)
    out = tmp_path / "out"
    with pytest.raises(OSError, match="No space left"):
        run_sweep(sweep, out, cache_dir=tiny_cache, progress=False, report=False)
    assert failed == [key]
    with Store(out / "froc.duckdb", read_only=True) as st:
        assert (st.configs().status == "failed").sum() == 0 and target not in st.done_configs()
        assert len(st.attacks()) == 0
    res = run_sweep(sweep, out, cache_dir=tiny_cache, progress=False, report=False)
    got, got_rows = outcome(res, out)
    assert got == want
    pd.testing.assert_frame_equal(got_rows, want_rows, check_exact=True)
