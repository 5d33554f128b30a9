"""A full disk must not change results (issue 18, section 3).

The tiny sweep of tests/sweep runs through the real CLI while the disk "fills up" at one of four moments:
the resolved sweep file, the store commit of the first grid configuration, summary.json and the report.
Each run must end in a clean message (exit 2, "the disk is full", no traceback), leave no temporary
file, and a resume on a roomy disk must give results identical to an uninterrupted run (every stored
per-sample score, every configuration row, the whole summary). Where the test runs as root, the same is
checked on a real 1 MB tmpfs.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest
from hardening_helpers import assert_clean_failure, run_cli, tmpfs

SWEEP_TESTS = Path(__file__).resolve().parents[1] / "sweep"
sys.path.insert(0, str(SWEEP_TESTS))

from sweep_helpers import write_sweep  # noqa: E402

_spec = importlib.util.spec_from_file_location("sweep_conftest", SWEEP_TESTS / "conftest.py")
_sweep_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_sweep_conftest)
tiny_cache = _sweep_conftest.tiny_cache  # the sweep tests' session fixtures (tiny benchmark, uninterrupted run)
uninterrupted = _sweep_conftest.uninterrupted

_spec = importlib.util.spec_from_file_location("sweep_resume", SWEEP_TESTS / "test_resume.py")
_resume = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_resume)
assert_same_results, store_state = _resume.assert_same_results, _resume.store_state

ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _full_on_replace(monkeypatch, name: str):
    """os.replace onto ``name`` fails with ENOSPC (after the temporary file was written, as on a full disk)."""
    real = os.replace

    def replace(src, dst, *a, **kw):
        if Path(dst).name == name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(src, dst, *a, **kw)

    monkeypatch.setattr(os, "replace", replace)


def _full_on_first_grid_commit(monkeypatch):
    from froc.sweep.store import Store

    real = Store.write_config

    def write_config(self, **row):
        if not row["config_id"].startswith("__"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, **row)

    monkeypatch.setattr(Store, "write_config", write_config)


MOMENTS = {
    "resolved_yaml": lambda mp: _full_on_replace(mp, "sweep.resolved.yaml"),
    "store_commit": _full_on_first_grid_commit,
    "summary_json": lambda mp: _full_on_replace(mp, "summary.json"),
    "report_html": lambda mp: _full_on_replace(mp, "report.html"),
}


def _leftovers(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if ".tmp" in p.name)


# two moments run by default (the store commit, the summary); the others are in the slow tier (test time)
@pytest.mark.parametrize("moment", [m if m in ("store_commit", "summary_json") else pytest.param(m, marks=pytest.mark.slow)
                                    for m in sorted(MOMENTS)])
def test_disk_full_stops_cleanly_and_resume_is_identical(moment, uninterrupted, tiny_cache, tmp_path, monkeypatch):
    sweep, out = write_sweep(tmp_path), tmp_path / "out"
    args = ["run", sweep, "--out", out, "--cache", tiny_cache, "--no-attacks"]
    with monkeypatch.context() as mp:
        MOMENTS[moment](mp)
        res = run_cli(args)
    assert_clean_failure(res, "the disk is full", exit_codes=(2,))
    assert _leftovers(out) == []
    if moment == "store_commit":  # a machine failure is not a result: nothing recorded as "failed"
        done, _ = store_state(out)
        assert set(done) == {"__original__", "__oracle__"}
    res = run_cli(args)  # the same command on a roomy disk
    assert res.exit_code == 0, res.output
    assert_same_results(uninterrupted, out)
    assert _leftovers(out) == []


@pytest.mark.parametrize("size", ["256k", pytest.param("1m", marks=pytest.mark.slow)])
def test_real_full_tmpfs_then_resume(size, uninterrupted, tiny_cache, tmp_path):
    mnt = tmp_path / "small"
    with tmpfs(mnt, size=size) as ok:
        if not ok:
            pytest.skip("mounting a tmpfs needs root")
        sweep, out = write_sweep(tmp_path), mnt / "out"
        args = ["run", sweep, "--out", out, "--cache", tiny_cache, "--no-attacks"]
        res = run_cli(args)
        if res.exit_code == 0:  # the run fitted after all (a smaller store than expected): nothing to test
            pytest.skip(f"the tiny sweep fits in {size}")
        assert_clean_failure(res, "disk is full", exit_codes=(2,))
        assert _leftovers(out) == []
        roomy = tmp_path / "roomy"
        shutil.copytree(out, roomy)  # move the interrupted run to a roomy disk and resume there
    res = run_cli(["run", sweep, "--out", roomy, "--cache", tiny_cache, "--no-attacks"])
    assert res.exit_code == 0, res.output
    assert_same_results(uninterrupted, roomy)
