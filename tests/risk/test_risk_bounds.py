"""UCB / CUR by p-value inversion: p(UCB) = delta, monotonicity, duality with the test, edge cases."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from froc.risk import PVALUES, cur, ucb

VALID = ["hoeffding", "bentkus", "hb", "wsr"]


def _samples():
    rng = np.random.default_rng(0)
    binary = (rng.random((4, 250)) < np.array([0.02, 0.1, 0.3, 0.6])[:, None]).astype(float)
    cont = np.clip(rng.beta(2, 10, size=(4, 250)) * np.array([0.3, 1.0, 2.0, 3.0])[:, None], 0, 1)
    return {"binary": binary, "continuous": cont}


@pytest.mark.parametrize("name", VALID)
@pytest.mark.parametrize("kind", ["binary", "continuous"])
def test_pvalue_at_ucb_equals_delta(name, kind):
    losses = _samples()[kind]
    delta = 0.1
    u = ucb(losses, delta, name, binary=(kind == "binary"))
    assert u.shape == (4,)
    assert np.all(u >= losses.mean(axis=1)) and np.all(u < 1)
    p_at_u = np.array([PVALUES[name](losses[i], u[i], binary=(kind == "binary")) for i in range(4)])
    assert_allclose(p_at_u, delta, atol=1e-8)


@pytest.mark.parametrize("name", VALID)
def test_ucb_is_dual_of_the_test(name):
    """p(alpha) <= delta  <=>  UCB <= alpha (p is non-increasing in alpha)."""
    losses = _samples()["continuous"]
    u = ucb(losses, 0.1, name)
    for alpha in np.linspace(0.05, 0.9, 35):
        p = PVALUES[name](losses, alpha)
        np.testing.assert_array_equal(p <= 0.1, u <= alpha)


@pytest.mark.parametrize("name", VALID)
def test_ucb_monotone_in_delta(name):
    losses = _samples()["binary"]
    us = np.array([ucb(losses, d, name, binary=True) for d in (0.01, 0.05, 0.1, 0.2, 0.4)])  # (5, K)
    assert np.all(np.diff(us, axis=0) <= 1e-12)
    assert np.all(np.diff(us, axis=0)[:, :3] < 0)  # strictly, away from the R^=0.6 row's p=1 plateau


@pytest.mark.parametrize("name", ["hoeffding", "bentkus", "hb"])
def test_ucb_monotone_in_n(name):
    """Same empirical mean 0.2 (pattern 1,0,0,0,0 tiled), more samples -> tighter bound.
    (Not asserted for WSR, whose capital depends on the sample path.)"""
    us = [ucb(np.tile([1.0, 0, 0, 0, 0], m), 0.1, name) for m in (4, 10, 40, 100, 400)]
    assert np.all(np.diff(us) < 0)
    assert us[-1] > 0.2


def test_edge_cases():
    delta = 0.1
    # n = 0 -> 1.0
    assert_allclose(ucb(np.zeros((3, 0)), delta), [1.0, 1.0, 1.0])
    # R^ = 1 -> 1.0 ; NaN row -> 1.0
    assert_allclose(ucb(np.array([[1.0, 1.0, 1.0], [np.nan, 0.0, 0.0]]), delta), [1.0, 1.0])
    # all zeros, binary HB: p(a) = (1 - a)^n = delta  ->  a = 1 - delta^(1/n)
    assert_allclose(ucb(np.zeros(100), delta, binary=True), 1 - delta ** (1 / 100), rtol=1e-10)
    # continuous HB at R^ = 0: min((1-a)^n, e (1-a)^n) = (1-a)^n, the same closed form
    assert_allclose(ucb(np.zeros(100), delta), 1 - delta ** (1 / 100), rtol=1e-10)
    # Hoeffding at R^ = 0 is the same closed form
    assert_allclose(ucb(np.zeros(100), delta, "hoeffding"), 1 - delta ** (1 / 100), rtol=1e-10)
    # p(R^) <= delta already (needs a large delta): n = 2, losses (0, 1), exact binomial at a = 0.5
    # P(Binom(2, 0.5) <= 1) = 0.75 <= 0.8  ->  UCB = R^ = 0.5
    assert ucb(np.array([0.0, 1.0]), 0.8, "bentkus", binary=True) == 0.5
    # p(1) > delta: WSR with one sample cannot reach 1/delta capital -> 1.0
    assert ucb(np.array([0.0]), delta, "wsr") == 1.0


def test_cur_is_ucb_of_forget_losses():
    losses = _samples()["binary"]
    assert_allclose(cur(losses, 0.05, binary=True), ucb(losses, 0.05, "hb", binary=True))
    assert isinstance(ucb(losses[0], 0.05), float)


@pytest.mark.parametrize("name", VALID)
@pytest.mark.parametrize("kind", ["binary", "continuous"])
def test_fast_inversion_path_equals_generic_path(name, kind):
    """ucb() re-implements the registry p-values per row for speed; a wrapping callable takes
    the generic path through the public function. Both must give the same bound."""
    losses = _samples()[kind]
    f = PVALUES[name]
    b = kind == "binary"
    generic = ucb(losses, 0.1, lambda x, a, *, binary=None: f(x, a, binary=binary), binary=b)
    np.testing.assert_allclose(ucb(losses, 0.1, name, binary=b), generic, atol=1e-10)


def test_ucb_refuses_asymptotic_clt():
    """Deliberate bug caught: a quoted bound computed from the CLT z-test (asymptotic, undercovers
    at small n / small risk) -- ucb must raise ConfigError instead."""
    from froc.errors import ConfigError

    with pytest.raises(ConfigError, match="asymptotic.*hoeffding, bentkus, hb, wsr"):
        ucb(np.zeros(10), 0.1, "clt")
    with pytest.raises(ConfigError, match="asymptotic"):
        ucb(np.zeros(10), 0.1, PVALUES["clt"])
