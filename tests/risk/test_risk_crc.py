"""Conformal risk control on a monotone knob."""

import warnings

import numpy as np
import pytest

from froc.errors import ConfigError
from froc.risk import crc, crc_adjusted_risk

LOSSES = np.array(
    [
        [1.0, 1.0, 1.0, 0.0],  # knob 0: mean 0.75
        [1.0, 0.0, 0.0, 0.0],  # knob 1: mean 0.25
        [0.0, 0.0, 0.0, 0.0],  # knob 2: mean 0
    ]
)


def test_crc_by_hand():
    """n = 4, B = 1: stat = 4/5 mean + 1/5 = (0.8, 0.4, 0.2). alpha = 0.5 -> first index 1;
    alpha = 0.2 -> index 2; alpha = 0.1 -> nothing passes -> None."""
    np.testing.assert_allclose(crc_adjusted_risk(LOSSES), [0.8, 0.4, 0.2])
    assert crc(LOSSES, 0.5) == 1
    assert crc(LOSSES, 0.2) == 2
    assert crc(LOSSES, 0.1) is None


def test_crc_bound_B():
    """B = 2 and losses doubled: stat = 4/5 (1.5, 0.5, 0) + 2/5 = (1.6, 0.8, 0.4); alpha = 1 -> 1."""
    assert crc(2 * LOSSES, 1.0, B=2.0) == 1


def test_crc_checks_monotonicity():
    bad = LOSSES.copy()
    bad[2, 3] = 1.0  # sample 3 gets worse at the strongest knob
    with pytest.raises(ValueError, match="non-increasing"):
        crc(bad, 0.5)
    with pytest.warns(UserWarning, match="non-increasing"):
        assert crc(bad, 0.5, on_violation="warn") == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert crc(bad, 0.5, on_violation="ignore") == 1
    with pytest.raises(ConfigError):
        crc(LOSSES, 0.5, on_violation="maybe")


def test_crc_expected_risk_is_controlled():
    """Expectation-level guarantee: average test risk of the chosen knob over many draws <= alpha."""
    rng = np.random.default_rng(0)
    thresholds = np.linspace(0, 1, 41)  # knob: loss_i(k) = 1[score_i > threshold_k], non-increasing in k
    alpha, n, reps = 0.1, 50, 2000
    risks = []
    for _ in range(reps):
        scores = rng.random(n + 1)
        losses = (scores[None, :n] > thresholds[:, None]).astype(float)
        k = crc(losses, alpha)
        risks.append(float(scores[n] > thresholds[k]))
    mean = np.mean(risks)
    assert mean <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / reps)
    assert mean > 0.05  # not trivially conservative


def test_crc_input_validation():
    with pytest.raises(ValueError, match="shape"):
        crc(np.zeros(4), 0.5)
    with pytest.raises(ValueError, match=r"\[0, B\]"):
        crc(LOSSES * 2, 0.5)
    with pytest.raises(ConfigError):
        crc(LOSSES, 1.5)
