"""Per-sample loss builders: hand-computed values and the tune/cal separation of the unified score."""

import dataclasses
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from froc.risk import (
    UnifiedNormalisers,
    chance_level,
    fit_unified_normalisers,
    forget_loss_binary,
    froc_unified_losses,
    knowledge_score,
    pair_units,
    unified_components,
    utility_loss_binary,
    utility_loss_continuous,
)


def test_knowledge_score_by_hand_and_stable():
    """gold -1, perturbed (-2, -3): k = e^-1 / (e^-1 + e^-2 + e^-3) = 1 / (1 + e^-1 + e^-2)
    = 1 / (1 + 0.367879 + 0.135335) = 1 / 1.503215 = 0.665241.
    Shifting every log-prob by -1000 changes nothing (naive exp would give 0/0)."""
    assert_allclose(knowledge_score(-1.0, [-2.0, -3.0]), 0.665241, rtol=1e-6)
    assert_allclose(knowledge_score(-1001.0, [-1002.0, -1003.0]), 0.665241, rtol=1e-6)
    # equal probabilities -> chance level 1/(1+J); -inf pads a missing perturbed answer
    gold = np.log([0.5, 0.5])
    pert = np.log([[0.5, 0.5, 0.5], [0.5, 0.5, 1e-300]])
    pert[1, 2] = -np.inf
    assert_allclose(knowledge_score(gold, pert), [0.25, 1 / 3])
    with pytest.raises(ValueError, match="shape"):
        knowledge_score(np.zeros(3), np.zeros((2, 4)))


def test_chance_level_and_binary_forget_loss():
    """chance_level(3) = 1/4. Loss 1[k > tau]: k = tau is not 'known'."""
    assert chance_level(3) == 0.25
    assert_allclose(forget_loss_binary([0.2, 0.3, 0.25], n_perturbed=3), [0, 1, 0])
    assert_allclose(forget_loss_binary([0.2, 0.3], tau=[0.1, 0.5]), [1, 0])  # per-probe tau (e.g. oracle)
    with pytest.raises(ValueError, match="tau"):
        forget_loss_binary([0.2])


def test_utility_loss_binary():
    """1[known before and not after]: (1,1)->0, (1,0)->1, (0,1)->0, (0,0)->0."""
    assert_allclose(utility_loss_binary([1, 1, 0, 0], [1, 0, 1, 0]), [0, 1, 0, 0])
    assert_allclose(utility_loss_binary([0.9, 0.9, 0.1], [0.8, 0.2, 0.9], tau=0.5), [0, 1, 0])
    with pytest.raises(ValueError, match="boolean"):
        utility_loss_binary([0.9], [0.1])


def test_utility_loss_continuous():
    """B = 1.5: (-1 - -1.6)/1.5 = 0.4; (-1 - -4)/1.5 = 2 -> clip 1; improvement -> 0."""
    assert_allclose(utility_loss_continuous([-1.0, -1.0, -1.0], [-1.6, -4.0, -0.5], B=1.5), [0.4, 1.0, 0.0])
    assert_allclose(utility_loss_continuous(-1.0, -1.5), 0.5)  # default B = 1


def test_unified_loss_by_hand():
    """One unit. Normalisers: max Acc_F = 1, max Acc_R = 1, min Loss_R = 0.5, alpha_hat = 2, B = 4.
    Forget probe: Loss_F = e, Acc_F = 0.5  ->  s = ln e + 1 - 0.5 = 1.5.
    Utility probe: Loss_R = 1, Acc_R = 0.8 ->  r = ln 1 - ln 0.5 + 1 - 0.8 = 0.693147 + 0.2 = 0.893147.
    e = softplus(2 - 1.5) + softplus(0.893147) = ln(1 + e^0.5) + ln(1 + e^0.893147)
      = 0.974077 + 1.236287 = 2.210364;  loss = 2.210364 / 4 = 0.552591.
    With w_f = 0, w_u = 2: 2 * 1.236287 / 4 = 0.618143."""
    norm = UnifiedNormalisers(max_acc_f=1, max_acc_r=1, min_loss_r=0.5, alpha_hat=2, cap=4)
    assert_allclose(froc_unified_losses([math.e], [0.5], [1.0], [0.8], norm), [0.552591], rtol=1e-6)
    norm2 = dataclasses.replace(norm, w_f=0.0, w_u=2.0)
    assert_allclose(froc_unified_losses([math.e], [0.5], [1.0], [0.8], norm2), [0.618143], rtol=1e-6)
    small_cap = dataclasses.replace(norm, cap=1.0)
    assert froc_unified_losses([math.e], [0.5], [1.0], [0.8], small_cap)[0] == 1.0  # clipped


def test_pairing_is_seeded_shared_and_uses_min_length():
    i_f, i_u = pair_units(7, 4, seed=3)
    assert len(i_f) == len(i_u) == 4 and len(set(i_f)) == 4
    j_f, j_u = pair_units(7, 4, seed=3)
    np.testing.assert_array_equal(i_f, j_f)
    np.testing.assert_array_equal(i_u, j_u)
    rng = np.random.default_rng(0)
    lf, af = rng.random((3, 7)) + 0.1, rng.random((3, 7))
    lu, au = rng.random((3, 4)) + 0.1, rng.random((3, 4))
    s, r = unified_components(lf, af, lu, au, max_acc_f=1, max_acc_r=1, min_loss_r=0.1, seed=3)
    assert s.shape == r.shape == (3, 4)
    assert_allclose(s, np.log(lf[:, i_f]) + 1 - af[:, i_f])  # same pairing for every configuration


def _grid(seed, k=5, n=60, m=80):
    rng = np.random.default_rng(seed)
    return (rng.gamma(2.0, 1.0, (k, n)), rng.random((k, n)), rng.gamma(2.0, 0.5, (k, m)), rng.random((k, m)))


def test_normalisers_by_hand_and_from_tune_only():
    lf, af, lu, au = _grid(0)
    norm = fit_unified_normalisers(lf, af, lu, au)
    assert_allclose(norm.max_acc_f, af.mean(axis=1).max())
    assert_allclose(norm.max_acc_r, au.mean(axis=1).max())
    assert_allclose(norm.min_loss_r, lu.mean(axis=1).min())
    s, r = unified_components(
        lf, af, lu, au, max_acc_f=norm.max_acc_f, max_acc_r=norm.max_acc_r, min_loss_r=norm.min_loss_r
    )
    assert_allclose(norm.alpha_hat, np.median(s.mean(axis=1)))
    e = np.logaddexp(0, norm.alpha_hat - s) + np.logaddexp(0, r)
    assert_allclose(norm.cap, e.max())
    # tune losses are all <= 1 without clipping (cap = max of e on tune)
    assert froc_unified_losses(lf, af, lu, au, norm).max() == pytest.approx(1.0)

    # calibration data never changes the normalisers: compute losses on two different cal sets
    cal_a, cal_b = _grid(1), _grid(2)
    before = dataclasses.asdict(norm)
    la = froc_unified_losses(*cal_a, norm)
    lb = froc_unified_losses(*cal_b, norm)
    assert dataclasses.asdict(norm) == before
    assert la.shape == lb.shape == (5, 60) and not np.allclose(la, lb)
    assert np.all((la >= 0) & (la <= 1))
    # refitting on the same tune split gives identical normalisers whatever the cal data was
    assert fit_unified_normalisers(*_grid(0)) == norm
    # a change in ONE cal unit changes only that unit's loss
    lf2 = cal_a[0].copy()
    i_f, _ = pair_units(60, 80)
    lf2[:, i_f[0]] *= 3
    la2 = froc_unified_losses(lf2, *cal_a[1:], norm)
    assert np.all(la2[:, 1:] == la[:, 1:]) and not np.all(la2[:, 0] == la[:, 0])


def test_normaliser_overrides_and_validation():
    lf, af, lu, au = _grid(0)
    norm = fit_unified_normalisers(lf, af, lu, au, alpha_hat=1.0, cap=10.0, w_f=2.0, w_u=0.5)
    assert (norm.alpha_hat, norm.cap, norm.w_f, norm.w_u) == (1.0, 10.0, 2.0, 0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        norm.cap = 1.0
    with pytest.raises(ValueError, match="positive"):
        UnifiedNormalisers(1, 1, 0.5, 1, cap=0.0)
    with pytest.raises(ValueError, match="acc_forget"):
        fit_unified_normalisers(lf, af + 1, lu, au)
    with pytest.raises(ValueError, match="same shape"):
        fit_unified_normalisers(lf, af[:, :3], lu, au)
