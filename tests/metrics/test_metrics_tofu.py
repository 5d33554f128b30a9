"""TOFU metrics against values worked out by hand (and KS against scipy)."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.stats import ks_2samp

from froc.metrics import knowledge as K
from froc.metrics import tofu as T

L = math.log


def test_probability_is_mean_length_normalised_probability():
    """exp(log 0.5) = 0.5, exp(log 0.25) = 0.25 -> mean 0.375; a NaN sample is skipped."""
    assert_allclose(T.probability(np.array([L(0.5), L(0.25), np.nan])), 0.375)


def test_normalised_probability_by_hand():
    """0.5/(0.5+0.25+0.25) = 0.5; 0.6/(0.6+0.2) = 0.75; no options -> NaN.

    Stability: gold -1000, perturbed -1001 -> 1/(1+e^-1) = 0.7310585786 (plain exp would give 0/0).
    """
    k = K.knowledge_scores(np.array([L(0.5), L(0.6), L(0.3), -1000.0]),
                          [[L(0.25), L(0.25)], [L(0.2)], [], [-1001.0]])
    assert_allclose(k[[0, 1, 3]], [0.5, 0.75, 1 / (1 + math.exp(-1))], rtol=1e-12)
    assert np.isnan(k[2])


def test_correct_choice_strict_and_nan_without_options():
    """gold beats max perturbed strictly -> 1; a tie -> 0; no options -> NaN."""
    c = K.correct_choice(np.array([-1.0, -2.0, -1.0]), [[-1.5, -3.0], [-2.0], []])
    assert c[0] == 1.0 and c[1] == 0.0 and np.isnan(c[2])


def test_truth_ratio_by_hand():
    """Sample 0: P(para)=0.5, P(pert)=0.25, 0.0625 -> geomean sqrt(0.25*0.0625)=0.125 -> TR=0.25.
    Sample 1: P(para)=0.2, P(pert)=0.4 -> TR=2.
    Forget score: mean(min(TR,1/TR)) = mean(0.25, 0.5) = 0.375.
    Retain score: mean(max(0, 1-TR)) = mean(0.75, 0) = 0.375.
    """
    tr = T.truth_ratio([[L(0.25), L(0.0625)], [L(0.4)]], np.array([L(0.5), L(0.2)]))
    assert_allclose(tr.values, [0.25, 2.0], rtol=1e-12)
    assert tr.n_gold_fallback == 0
    assert_allclose(T.truth_ratio_score(tr.values, forget=True), 0.375)
    assert_allclose(T.truth_ratio_score(tr.values, forget=False), 0.375)


def test_truth_ratio_falls_back_to_gold_without_paraphrase():
    """No paraphrase: gold P=0.5 stands in; P(pert)=0.25 -> TR=0.5, used_gold flagged.
    No perturbed answers -> NaN and not flagged. Without a gold array the TR is NaN."""
    tr = T.truth_ratio([[L(0.25)], []], np.array([np.nan, np.nan]), np.array([L(0.5), L(0.5)]))
    assert_allclose(tr.values[0], 0.5)
    assert np.isnan(tr.values[1])
    assert tr.used_gold.tolist() == [True, False]
    assert np.isnan(T.truth_ratio([[L(0.25)]], np.array([np.nan])).values[0])


def test_forget_quality_identical_is_one_and_matches_scipy():
    """Identical samples -> KS p = 1. [1,2,3] vs [4,5,6]: D=1; exact two-sided p = 2/C(6,3) = 0.1."""
    a = np.array([0.1, 0.5, 0.9, 0.3])
    assert T.forget_quality(a, a.copy()) == 1.0
    assert_allclose(T.forget_quality(np.array([1.0, 2, 3]), np.array([4.0, 5, 6])), 0.1)
    rng = np.random.default_rng(0)
    x, y = rng.random(40), rng.random(30) * 0.8
    assert_allclose(T.forget_quality(x, y), ks_2samp(x, y).pvalue)


def test_forget_quality_drops_nan_and_rejects_empty():
    assert T.forget_quality(np.array([1.0, np.nan]), np.array([1.0])) == 1.0
    with pytest.raises(ValueError, match="truth ratios"):
        T.forget_quality(np.array([np.nan]), np.array([1.0]))


def test_model_utility_harmonic_mean_by_hand():
    """H(0.5, 1, 0.25) = 3 / (2 + 1 + 4) = 3/7; any zero component -> 0."""
    assert_allclose(T.model_utility([0.5, 1.0, 0.25]), 3 / 7)
    assert T.model_utility([0.5, 0.0]) == 0.0
    with pytest.raises(ValueError):
        T.model_utility([0.5, float("nan")])
    with pytest.raises(ValueError):
        T.model_utility([])
