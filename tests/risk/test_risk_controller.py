"""RiskController: certification decisions, NaN rows, the choice of `best`, input validation."""

import numpy as np
import pytest

from froc.errors import ConfigError
from froc.risk import RiskController, hb, shifted_alpha, ucb


def _bern(risks, n, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((len(risks), n)) < np.asarray(risks)[:, None]).astype(float)


def test_certifies_low_refuses_high_and_nan():
    f = _bern([0.01, 0.5, 0.02, 0.03], 400)
    u = _bern([0.02, 0.01, 0.6, 0.04], 400, seed=1)
    f[3, 5] = np.nan  # diverged configuration
    rc = RiskController(alpha_forget=0.1, alpha_utility=0.1, delta=0.1, binary_forget=True, binary_utility=True)
    rc.calibrate(f, u)
    assert rc.certify() is rc
    np.testing.assert_array_equal(rc.certified, [True, False, False, False])
    np.testing.assert_array_equal(rc.valid_params, [0])
    assert rc.best == 0
    assert rc.diverged.tolist() == [False, False, False, True]
    assert rc.p_values[3] == 1.0 and rc.p_forget[3] == 1.0 and rc.cur[3] == 1.0
    assert np.isnan(rc.risk_forget[3])
    np.testing.assert_allclose(rc.p_values, np.maximum(rc.p_forget, rc.p_utility))
    np.testing.assert_allclose(rc.p_forget[:3], hb(f[:3], 0.1, binary=True))
    np.testing.assert_allclose(rc.cur[:3], ucb(f[:3], 0.1, binary=True))
    np.testing.assert_allclose(rc.risk_utility[:3], u[:3].mean(axis=1))
    assert np.all(rc.cur[:3] >= rc.risk_forget[:3])
    assert np.all(rc.utility_ucb >= rc.risk_utility)
    rows = rc.results()
    assert rows[0]["certified"] and rows[0]["best"] and rows[3]["diverged"]


def test_best_lowest_utility_then_tie_break_then_index():
    f = np.zeros((4, 300))  # forget risk 0 everywhere: all certified
    u = np.zeros((4, 300))
    u[0, :6] = 1  # utility risk 0.02
    u[1, :3] = 1  # 0.01
    u[2, :3] = 1  # 0.01 (tie with 1)
    u[3, :3] = 1  # 0.01 (tie with 1 and 2)
    rc = RiskController(0.1, 0.1, 0.1).calibrate(f, u).certify()
    assert rc.certified.all()
    assert rc.best == 1  # ties -> lowest index
    rc = RiskController(0.1, 0.1, 0.1).calibrate(f, u, tie_break=[0.0, 5.0, 2.0, 2.0]).certify()
    assert rc.best == 2  # ties -> lowest tie_break (2.0), then lowest index among 2 and 3
    rc = RiskController(0.1, 0.1, 0.1).calibrate(f, u, tie_break=[0.0, np.nan, 3.0, 2.0]).certify()
    assert rc.best == 3  # NaN tie_break counts as +inf


def test_best_is_none_when_nothing_certified():
    rc = RiskController(0.05, None, 0.1).calibrate(_bern([0.5, 0.6], 100)).certify()
    assert rc.best is None and rc.valid_params.size == 0


def test_forget_only_mode():
    """alpha_utility=None: utility not tested (p_utility None) but, if given, used to pick best."""
    f = np.zeros((3, 200))
    u = np.zeros((3, 200))
    u[0, :100] = 1  # utility risk 0.5 -- would fail any utility test
    u[1, :10] = 1
    rc = RiskController(0.1, None, 0.1).calibrate(f, u).certify()
    assert rc.p_utility is None
    np.testing.assert_allclose(rc.p_values, rc.p_forget)
    assert rc.certified.all()
    assert rc.best == 2
    rc = RiskController(0.1, None, 0.1).calibrate(f).certify()
    assert rc.risk_utility is None and rc.utility_ucb is None and rc.best == 0


def test_fixed_sequence_uses_order():
    f = _bern([0.5, 0.01, 0.01], 300)
    rc = RiskController(0.1, None, 0.1, fwer="fixed_sequence", order=[0, 1, 2]).calibrate(f).certify()
    assert not rc.certified.any()  # the grid order starts with the bad configuration and stops
    rc = RiskController(0.1, None, 0.1, fwer="fixed_sequence", order=[2, 1, 0]).calibrate(f).certify()
    np.testing.assert_array_equal(rc.certified, [False, True, True])
    rc = RiskController(0.1, None, 0.1, fwer="graph", order=[2, 1, 0]).calibrate(f).certify()
    np.testing.assert_array_equal(rc.certified, [False, True, True])


@pytest.mark.parametrize("pvalue", ["hoeffding", "bentkus", "hb", "wsr"])
def test_every_pvalue_certifies_a_clear_case(pvalue):
    rng = np.random.default_rng(4)
    f = np.clip(rng.beta(1, 30, (2, 500)), 0, 1)  # mean ~0.03
    f[1] = np.clip(f[1] + 0.5, 0, 1)  # mean ~0.53
    rc = RiskController(0.15, None, 0.05, pvalue=pvalue).calibrate(f).certify()
    np.testing.assert_array_equal(rc.certified, [True, False])


def test_shift_radius_makes_certification_stricter():
    f = _bern([0.01, 0.06], 2000)
    plain = RiskController(0.1, None, 0.1).calibrate(f).certify()
    shifted = RiskController(0.1, None, 0.1, rho=0.1).calibrate(f).certify()
    assert plain.certified.all()
    # shifted_alpha(0.1, 0.1) = 0.0321: only the 0.01 configuration stays certified
    assert 0.03 < shifted_alpha(0.1, 0.1) < 0.035
    np.testing.assert_array_equal(shifted.certified, [True, False])
    assert np.all(shifted.cur_shift > shifted.cur)
    np.testing.assert_allclose(plain.cur_shift, plain.cur)


def test_validation_errors():
    f = np.zeros((2, 10))
    for bad in (0.0, 1.0, -0.1, 1.5, "x"):
        with pytest.raises(ConfigError):
            RiskController(bad, 0.1, 0.1)
        with pytest.raises(ConfigError):
            RiskController(0.1, bad, 0.1)
        with pytest.raises(ConfigError):
            RiskController(0.1, 0.1, bad)
    with pytest.raises(ConfigError, match="bentkus, clt, hb, hoeffding, wsr"):
        RiskController(0.1, 0.1, 0.1, pvalue="student")
    with pytest.raises(ValueError, match="other than 0 and 1"):
        RiskController(0.1, 0.1, 0.1, binary_forget=True).calibrate(np.full((2, 10), 0.5), f)
    with pytest.raises(ConfigError, match="holm"):
        RiskController(0.1, 0.1, 0.1, fwer="hochberg")
    rc = RiskController(0.1, 0.1, 0.1)
    with pytest.raises(RuntimeError, match="calibrate"):
        rc.certify()
    with pytest.raises(ValueError, match="utility_losses are required"):
        rc.calibrate(f)
    with pytest.raises(ValueError, match="shape"):
        rc.calibrate(f, np.zeros((3, 10)))
    with pytest.raises(ValueError, match="shape"):
        rc.calibrate(np.zeros(10), np.zeros(10))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        rc.calibrate(f + 2, f)
    with pytest.raises(ValueError, match="finite"):
        rc.calibrate(f, np.full((2, 10), np.inf))
    with pytest.raises(ValueError, match="param_names"):
        rc.calibrate(f, f, param_names=["a"])
    with pytest.raises(ValueError, match="tie_break"):
        rc.calibrate(f, f, tie_break=[1.0])
    with pytest.raises(ValueError, match="outside"):
        RiskController(0.1, 0.1, 0.1, fwer="fixed_sequence", order=[0, 5]).calibrate(f, f).certify()


def test_refuses_asymptotic_clt_for_certification():
    """Deliberate bug caught: accepting pvalue='clt' for certification (in the issue's simulation
    the CLT certified a configuration of a 20-config grid with every true risk 0.12 > alpha = 0.1
    in 34% of runs). Removing the check in RiskController.__init__ makes this fail."""
    from froc.risk import CERTIFYING_PVALUES, clt

    for p in ("clt", "CLT", clt):
        with pytest.raises(ConfigError, match=r"asymptotic.*diagnostics only.*hoeffding, bentkus, hb, wsr"):
            RiskController(0.1, 0.1, 0.1, pvalue=p)
    assert CERTIFYING_PVALUES == ("hoeffding", "bentkus", "hb", "wsr")
    assert clt(np.zeros(10), 0.1) < 0.5  # still available as a labelled diagnostic


@pytest.mark.parametrize("fwer", ["fixed_sequence", "graph", "pareto"])
def test_ordered_procedures_refuse_the_grid_order(fwer):
    """Deliberate bug caught: falling back to the grid order (ascending lr x steps = weakest
    unlearning first) when no order is given. Must be a ConfigError."""
    with pytest.raises(ConfigError, match="order"):
        RiskController(0.1, 0.1, 0.1, fwer=fwer)
    RiskController(0.1, 0.1, 0.1, fwer=fwer, order=[1, 0])  # explicit order: accepted


def test_binary_options_are_explicit():
    """Deliberate bug caught: auto-detecting 0/1 forget losses. A continuous loss whose sample is
    all 0/1 must be tested with the general (e-factor) Bentkus p-value unless binary_forget=True:
    by hand, n = 5, losses (0,0,0,0,1), alpha = 0.5: continuous e * 6/32 = 0.5097 vs exact 0.1875."""
    f = np.array([[0.0, 0, 0, 0, 1]])
    rc = RiskController(0.5, None, 0.1, pvalue="bentkus").calibrate(f)
    np.testing.assert_allclose(rc.p_forget, [np.e * 6 / 32])
    rc = RiskController(0.5, None, 0.1, pvalue="bentkus", binary_forget=True).calibrate(f)
    np.testing.assert_allclose(rc.p_forget, [6 / 32])
