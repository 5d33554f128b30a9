"""p-values for H0: mean risk > alpha, checked against closed forms worked out by hand."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from froc.errors import ConfigError
from froc.risk import (
    PVALUES,
    bentkus,
    bentkus_from_mean,
    clt,
    get_pvalue,
    hb,
    hb_from_mean,
    hoeffding,
    hoeffding_from_mean,
    wsr,
)


def test_hoeffding_closed_form():
    """n = 100, R^ = 0.1, alpha = 0.2.

    h(0.1, 0.2) = 0.1 ln(0.1/0.2) + 0.9 ln(0.9/0.8)
                = 0.1 (-0.693147) + 0.9 (0.117783) = -0.0693147 + 0.1060047 = 0.0366900
    p = exp(-100 * 0.0366900) = exp(-3.66900) = 0.025502
    """
    assert_allclose(hoeffding_from_mean(0.1, 100, 0.2), 0.025502, rtol=1e-4)
    losses = np.r_[np.ones(10), np.zeros(90)]
    assert_allclose(hoeffding(losses, 0.2), 0.025502, rtol=1e-4)


def test_hoeffding_is_one_when_mean_above_alpha_and_power_at_zero():
    """R^ >= alpha -> h(alpha, alpha) = 0 -> p = 1.  R^ = 0 -> h(0, a) = ln(1/(1-a)) -> p = (1-a)^n."""
    assert hoeffding_from_mean(0.3, 50, 0.2) == 1.0
    assert hoeffding_from_mean(0.2, 50, 0.2) == 1.0
    assert_allclose(hoeffding_from_mean(0.0, 50, 0.2), 0.8**50, rtol=1e-12)


def test_bentkus_exact_binomial_small_n():
    """n = 5, losses (0,0,0,0,1): R^ = 0.2, alpha = 0.5.

    Binary (exact binomial): P(Binom(5, 1/2) <= 1) = (C(5,0) + C(5,1)) / 32 = 6/32 = 0.1875.
    Continuous version: e * P(Binom(5, 1/2) <= ceil(5 * 0.2) = 1) = e * 0.1875 = 0.509684.
    Hoeffding: h(0.2, 0.5) = 0.2 ln 0.4 + 0.8 ln 1.6 = -0.183258 + 0.376003 = 0.192745 (x5 = 0.963724),
    p = exp(-0.963724) = 0.381470;  HB (binary) = min(0.381470, 0.1875) = 0.1875.
    """
    losses = np.array([0.0, 0, 0, 0, 1])
    assert_allclose(bentkus(losses, 0.5, binary=True), 0.1875, rtol=1e-12)
    assert_allclose(bentkus(losses, 0.5, binary=False), math.e * 0.1875, rtol=1e-12)
    assert_allclose(hoeffding(losses, 0.5), 0.381470, rtol=1e-5)
    assert_allclose(hb(losses, 0.5, binary=True), 0.1875, rtol=1e-12)
    assert_allclose(hb(losses, 0.5, binary=False), 0.381470, rtol=1e-5)


def test_bentkus_continuous_uses_ceil():
    """n = 10, R^ = 0.15: ceil(1.5) = 2, p = e * P(Binom(10, 1/2) <= 2) = e * (1 + 10 + 45)/1024 = 0.148653."""
    assert_allclose(bentkus_from_mean(0.15, 10, 0.5), math.e * 56 / 1024, rtol=1e-12)
    losses = np.full(10, 0.15)  # not binary -> continuous version
    assert_allclose(bentkus(losses, 0.5), math.e * 56 / 1024, rtol=1e-12)


def test_loss_type_is_explicit_never_detected():
    """Deliberate bug caught: data-dependent switching. A continuous loss whose sample happens
    to be all 0/1 (here (0,0,0,0,1)) must get the general test: with binary=None (default) the
    Bentkus p-value is e * P(Binom(5, 1/2) <= 1) = e * 6/32 (hand-derived), not the exact
    binomial 6/32. Restoring auto-detection in _checks.resolve_binary makes this fail."""
    m = np.array([[0.0, 0, 0, 0, 1], [0.0, 0, 0, 0, 0]])
    assert_allclose(bentkus(m, 0.5), [math.e * 0.1875, min(1.0, math.e / 32)], rtol=1e-12)
    assert_allclose(bentkus(m[0], 0.5, binary=None), math.e * 0.1875, rtol=1e-12)
    assert_allclose(bentkus(m[0], 0.5, binary=True), 0.1875, rtol=1e-12)
    with pytest.raises(ValueError, match="other than 0 and 1"):
        hb(np.array([[0.0, 1.0], [0.0, 0.5]]), 0.5, binary=True)


def test_hb_is_min_and_vectorised():
    rng = np.random.default_rng(0)
    losses = rng.random((7, 40)) * 0.6
    for alpha in (0.2, np.linspace(0.25, 0.5, 7)):
        p = hb(losses, alpha)
        assert p.shape == (7,)
        assert_allclose(p, np.minimum(hoeffding(losses, alpha), bentkus(losses, alpha)))
        # row-by-row equals vectorised
        a = np.broadcast_to(alpha, (7,))
        assert_allclose(p, [hb(losses[i], a[i], binary=False) for i in range(7)])
    assert_allclose(hb_from_mean(0.1, 100, 0.2, binary=True), hb(np.r_[np.ones(10), np.zeros(90)], 0.2, binary=True))


def test_nan_row_and_empty_samples_give_one():
    m = np.array([[0.0, 0.0, 0.0], [0.0, np.nan, 0.0]])
    for name, f in PVALUES.items():
        p = f(m, 0.5)
        assert p[1] == 1.0, name
        assert p[0] < 1.0, name
        assert np.all(f(np.zeros((3, 0)), 0.5) == 1.0), name


def test_input_validation():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        hb(np.array([0.1, 1.5]), 0.2)
    with pytest.raises(ValueError, match="finite"):
        hb(np.array([0.1, np.inf]), 0.2)
    with pytest.raises(ConfigError):
        hb(np.array([0.1, 0.2]), 1.0)
    with pytest.raises(ValueError, match="shape"):
        hb(np.zeros((2, 2, 2)), 0.2)
    with pytest.raises(ValueError, match="binary=True"):
        bentkus(np.array([0.0, 0.5]), 0.2, binary=True)
    with pytest.raises(ValueError, match="r_hat"):
        hb_from_mean(1.2, 10, 0.2)
    with pytest.raises(ValueError, match="sample size"):
        hoeffding_from_mean(0.1, -3, 0.2)


def test_registry_and_unknown_name():
    assert set(PVALUES) == {"hoeffding", "bentkus", "hb", "wsr", "clt"}
    assert get_pvalue("HB") is hb
    f = lambda losses, alpha, *, binary=None: np.zeros(len(losses))  # noqa: E731
    assert get_pvalue(f) is f
    with pytest.raises(ConfigError, match="bentkus, clt, hb, hoeffding, wsr"):
        get_pvalue("bonferroni")


def _wsr_reference(x, alpha, seed=0, tune_level=0.01, max_bet=0.75):
    """Loop implementation of the WSR capital process, written from the formulas."""
    x = np.asarray(x, float)[np.random.default_rng(seed).permutation(len(x))]
    n = len(x)
    mu_sum, var_sum, var_prev, log_k, best = 0.0, 0.0, 0.25, 0.0, 0.0
    for t, xi in enumerate(x, start=1):
        lam = min(math.sqrt(2 * math.log(1 / tune_level) / (n * var_prev)), max_bet / (1 - alpha))
        log_k += math.log(1 + lam * (alpha - xi))
        best = max(best, log_k)
        mu_sum += xi
        mu_t = (0.5 + mu_sum) / (t + 1)
        var_sum += (xi - mu_t) ** 2
        var_prev = (0.25 + var_sum) / (t + 1)
    return min(1.0, math.exp(-best))


def test_wsr_matches_loop_reference_and_is_deterministic():
    rng = np.random.default_rng(1)
    x = rng.beta(1, 8, size=(3, 200))
    p0 = wsr(x, 0.2, seed=0)
    assert_allclose(p0, [_wsr_reference(row, 0.2, seed=0) for row in x], rtol=1e-10)
    assert_allclose(p0, wsr(x, 0.2, seed=0))
    assert_allclose(wsr(x, 0.2, seed=5), [_wsr_reference(row, 0.2, seed=5) for row in x], rtol=1e-10)
    assert np.all((p0 > 0) & (p0 <= 1))


def test_wsr_monotone_in_alpha_and_one_when_mean_above():
    rng = np.random.default_rng(2)
    x = rng.beta(2, 8, size=300)  # mean 0.2
    alphas = np.linspace(0.05, 0.6, 30)
    ps = np.array([wsr(x, a) for a in alphas])
    assert np.all(np.diff(ps) <= 1e-15)
    assert wsr(x, 0.1) > 0.5  # mean 0.2 > 0.1: the capital never grows much
    assert wsr(x, 0.4) < 1e-6


def test_wsr_beats_hb_on_low_variance_losses():
    """WSR adapts to the variance: losses ~ 0.15 +- 0.02 vs alpha = 0.2 with n = 300.

    HB only sees the mean: Hoeffding h(0.15, 0.2) = 0.00838 -> p ~ exp(-2.5) ~ 0.08.
    WSR can bet up to 0.75/0.8 per sample and wins ~log(1 + 0.94 * 0.05) each time.
    """
    x = np.clip(np.random.default_rng(3).normal(0.15, 0.02, 300), 0, 1)
    assert wsr(x, 0.2) < 1e-4 < 0.01 < hb(x, 0.2)


def test_clt_is_the_normal_approximation():
    """losses (0, 1, 0, 1): R^ = 0.5, s = sqrt(1/3), se = s/2 = 0.288675; z = (0.8 - 0.5)/se = 1.03923,
    p = 1 - Phi(1.03923) = 0.149348."""
    assert_allclose(clt(np.array([0.0, 1, 0, 1]), 0.8), 0.149348, rtol=1e-5)
    assert "DIAGNOSTICS ONLY" in clt.__doc__
