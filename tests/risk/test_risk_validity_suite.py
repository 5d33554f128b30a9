"""Validity of the whole certificate through its entry points (froc.risk.simulate).

Fast versions run by default; the slow suite (`-m slow`) covers every combination
p-value x FWER x sampling unit x loss type, each with post-selection bound of the best
configuration and attack re-certification on test, at >= 1000 repetitions.
benchmarks/validity_table.py runs the same simulations and writes docs/VALIDITY.md.
"""

import itertools

import pytest

from froc.risk import simulate as sim

REPS_SLOW = 1000


def _show(label, out):
    print(f"\n{label}: " + ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in out.items()))


def test_holm_exact_binomial_at_the_boundary_fast():
    """hb x holm x probe x binary, 1000 repetitions (about 3 s), nulls AT and just above alpha.

    Deliberate bugs caught (each tried once by editing the code, see the issue-12 report):
    Holm run at 3 * delta in froc/risk/fwer.py, and hb p-values divided by 3 in pvalues.py: each
    makes this test fail (the harness version below measures 0.154 for both, limit 0.1285); the
    correct code measures 0.035."""
    out = sim.simulate("hb", "holm", "probe", "binary", reps=1000, seed=101)
    _show("hb/holm/probe/binary", out)
    assert out["ok"], out
    assert out["certified"] >= 3.0  # not vacuous: the four good configurations are usually certified


def test_harness_detects_a_loss_of_level():
    """The check itself has power: the same simulation with the bug injected (Holm at 3 delta, or
    p-values / 3) must FAIL at 1000 repetitions (limit delta + 3 SE = 0.128)."""
    for kw in ({"delta_scale": 3.0}, {"p_scale": 1 / 3}):
        out = sim.simulate("hb", "holm", "probe", "binary", reps=1000, seed=7, attack=False, **kw)
        _show(f"bug {kw}", out)
        assert not out["ok"] and out["fwer"] > out["limit"], out


@pytest.mark.parametrize(
    "pvalue, fwer, unit, loss",
    [("bentkus", "fixed_sequence", "probe", "continuous"), ("wsr", "pareto", "probe", "unified"),
     ("hb", "graph", "cluster", "binary"), ("hoeffding", "bonferroni", "probe", "binary"),
     ("hb", "pareto", "probe", "binary")],
)
def test_combinations_fast(pvalue, fwer, unit, loss):
    """Deliberate bug caught: the testing order learned on cal instead of tune in grid.py (the
    configurations that look best on the same data are tested first at full level): both pareto
    cases fail. Every combination also checks best_bound and attack re-certification on test."""
    out = sim.simulate(pvalue, fwer, unit, loss, reps=300, seed=17)
    _show(f"{pvalue}/{fwer}/{unit}/{loss}", out)
    assert out["ok"], out


@pytest.mark.parametrize("pvalue", ["hb", "wsr"])
@pytest.mark.parametrize("loss", ["binary", "continuous", "unified"])
def test_cur_pointwise_coverage_fast(pvalue, loss):
    """P(true risk > CUR) <= delta for a configuration fixed in advance, true risk = alpha.
    Deliberate bug caught: CUR from the CLT (asymptotic) or from a fixed-start solver."""
    reps = 1000 if pvalue == "hb" else 300
    rate = sim.cur_coverage(pvalue, loss, reps, seed=3)
    assert rate <= sim.limit(sim.DELTA, reps), rate


def test_selected_best_naive_cur_fails_best_bound_holds():
    """Issue 12, point 3. Deliberate bug caught: quoting the recommended configuration's cal CUR
    (selected on the same data) as a 1 - delta bound. 20 configurations of equal risk 0.05: the
    naive CUR of the lowest-cal-risk one misses far more often than delta; best_bound (test split)
    stays within delta + 3 SE. Computing best_bound on cal in grid.py makes this fail."""
    out = sim.selected_coverage("hb", reps=300, seed=5)
    lim = sim.limit(sim.DELTA, out["n"])
    assert out["naive"] > lim and out["best_bound"] <= lim, out


def test_negative_controls_fail():
    """The check can fail: CLT without correction, and probe-level treatment of clustered data
    (issue 12's 20 subjects x 25 probes, 8 in cal) both exceed delta + 3 SE; cluster level holds."""
    reps = 500
    assert sim.negative_clt(reps, seed=9) > sim.limit(sim.DELTA, reps)
    neg = sim.negative_probe_level(reps, seed=9)
    assert neg["probe_level"] > sim.limit(sim.DELTA, reps) >= neg["cluster_level"], neg


@pytest.mark.slow
@pytest.mark.parametrize("pvalue, fwer, unit, loss", list(itertools.product(
    sim.PVALUE_NAMES, sim.FWER_NAMES, sim.UNITS, sim.LOSSES)))
def test_every_combination_slow(pvalue, fwer, unit, loss):
    out = sim.simulate(pvalue, fwer, unit, loss, reps=REPS_SLOW, seed=1000)
    _show(f"{pvalue}/{fwer}/{unit}/{loss}", out)
    assert out["ok"], out


@pytest.mark.slow
@pytest.mark.parametrize("pvalue", sim.PVALUE_NAMES)
@pytest.mark.parametrize("loss", sim.LOSSES)
def test_cur_coverage_slow(pvalue, loss):
    rate = sim.cur_coverage(pvalue, loss, REPS_SLOW, seed=11)
    assert rate <= sim.limit(sim.DELTA, REPS_SLOW), rate


@pytest.mark.slow
def test_selection_and_negative_controls_slow():
    out = sim.selected_coverage("hb", reps=REPS_SLOW, seed=12)
    lim = sim.limit(sim.DELTA, out["n"])
    assert out["naive"] > lim and out["best_bound"] <= lim, out
    assert sim.negative_clt(REPS_SLOW, seed=13) > sim.limit(sim.DELTA, REPS_SLOW)
    neg = sim.negative_probe_level(REPS_SLOW, seed=13)
    assert neg["probe_level"] > sim.limit(sim.DELTA, REPS_SLOW) >= neg["cluster_level"]
