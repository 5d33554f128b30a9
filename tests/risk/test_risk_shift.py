"""Hellinger-radius shift bound (C-RAG / Weber et al.): closed form, tightness, validity, inverse."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from froc.risk import cur_under_shift, hellinger_shift_bound, shifted_alpha


def test_closed_form_by_hand():
    """R = 0.1, rho = 0.1: rho^2 (2 - rho^2) = 0.01 * 1.99 = 0.0199; (1 - 2R) = 0.8 -> 0.01592;
    2 rho (1 - rho^2) sqrt(2 - rho^2) = 0.2 * 0.99 * 1.410674 = 0.279313; sqrt(R(1-R)) = 0.3 -> 0.083794.
    R_rho = 0.1 + 0.01592 + 0.083794 = 0.199714."""
    assert_allclose(hellinger_shift_bound(0.1, 0.1), 0.199714, rtol=1e-5)
    assert hellinger_shift_bound(0.1, 0.0) == 0.1
    assert cur_under_shift(0.1, 0.1) == hellinger_shift_bound(0.1, 0.1)


def test_equals_angle_form_and_is_tight_for_bernoulli():
    """R_rho = sin^2(arcsin sqrt R + arccos(1 - rho^2)); Ber(R) and Ber(R_rho) are exactly rho apart."""
    r = np.linspace(0.0, 0.5, 11)
    for rho in (0.05, 0.1, 0.3):
        b = hellinger_shift_bound(r, rho)
        ok = np.sqrt(r) <= 1 - rho**2
        angle = np.sin(np.arcsin(np.sqrt(r)) + np.arccos(1 - rho**2)) ** 2
        assert_allclose(b[ok], angle[ok], rtol=1e-12)
        bc = np.sqrt(r * b) + np.sqrt((1 - r) * (1 - b))  # Bhattacharyya coefficient
        assert_allclose(np.sqrt(1 - bc[ok]), rho, rtol=1e-6)


def test_condition_violated_gives_one():
    """sqrt(R) > 1 - rho^2 -> trivial bound 1. R = 0.81, rho = 0.4: 1 - 0.16 = 0.84 < 0.9.
    (The raw formula would give a value below 1 there: the angle passed pi/2.)"""
    assert hellinger_shift_bound(0.81, 0.4) == 1.0
    raw = 0.81 + 0.16 * 1.84 * (1 - 1.62) + 2 * 0.4 * 0.84 * np.sqrt(1.84) * np.sqrt(0.81 * 0.19)
    assert raw < 1.0


def test_monotone_in_risk_and_rho():
    r = np.linspace(0, 1, 201)
    rhos = np.linspace(0, 1, 41)
    b = np.array([hellinger_shift_bound(r, rho) for rho in rhos])  # (41, 201)
    assert np.all(np.diff(b, axis=1) >= -1e-12) and np.all(np.diff(b, axis=0) >= -1e-12)
    assert np.all(b >= r - 1e-15) and np.all(b <= 1)


def test_bound_holds_for_random_distributions_and_losses():
    """Brute force: random P, Q on 6 points, random [0, 1] loss: E_Q l <= bound(E_P l, H(P, Q))."""
    rng = np.random.default_rng(0)
    m = 50000
    p = rng.dirichlet(np.ones(6), size=m)  # (m, 6)
    q = np.array([rng.dirichlet(np.ones(6) * c) for c in rng.uniform(0.2, 5, size=m)])  # (m, 6)
    loss = rng.random((m, 6)) ** rng.uniform(0.2, 5, size=(m, 1))  # (m, 6)
    h = np.sqrt(np.clip(1 - np.sum(np.sqrt(p * q), axis=1), 0, 1))
    gap = np.sum(q * loss, axis=1) - hellinger_shift_bound(np.sum(p * loss, axis=1).clip(0, 1), h)
    assert gap.max() <= 1e-12
    # and it is not vacuous: some pairs come close to the bound
    assert gap.max() > -0.05


def test_shifted_alpha_is_the_inverse():
    for alpha in (0.05, 0.1, 0.3):
        for rho in (0.0, 0.02, 0.1):
            a = shifted_alpha(alpha, rho)
            assert a <= alpha
            if a > 0:
                assert_allclose(hellinger_shift_bound(a, rho), alpha, rtol=1e-9)
    assert shifted_alpha(0.05, 0.3) == 0.0  # the shift alone can exceed alpha
    with pytest.raises(ValueError):
        hellinger_shift_bound(0.1, 1.5)
