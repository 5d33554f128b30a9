"""Membership scores, ROC-AUC (vs scikit-learn), MUSE PrivLeak/VerbMem/KnowMem, extraction, by hand."""

import math
import zlib

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.metrics import roc_auc_score

from froc.metrics import extraction as E
from froc.metrics import membership as M
from froc.metrics import muse as MU


def test_min_k_by_hand():
    """[-1..-5]: k=0.4 -> floor(2)=2 lowest (-5,-4) -> -4.5; k=0.2 -> 1 -> -5; k=0.1 -> floor(0.5)=0 -> at least 1 -> -5.
    One token (answer of length 1): Min-K% is that token. Empty -> NaN."""
    v = np.array([-1.0, -2.0, -3.0, -4.0, -5.0])
    assert M.min_k_mean(v, 0.4) == -4.5
    assert M.min_k_mean(v, 0.2) == -5.0
    assert M.min_k_mean(v, 0.1) == -5.0
    assert M.min_k_mean(np.array([-0.7]), 0.2) == -0.7
    assert np.isnan(M.min_k_mean(np.array([]), 0.2))
    assert_allclose(M.mink_score([v, np.array([-0.5, -0.1])], 0.4), [-4.5, -0.5])
    with pytest.raises(ValueError):
        M.n_lowest(5, 0.0)


def test_loss_zlib_reference_scores_by_hand():
    """zlib: -2 / 20 = -0.1; reference: -1 - (-3) = 2 (higher = member)."""
    assert_allclose(M.zlib_score(np.array([-2.0]), np.array([20])), [-0.1])
    assert M.zlib_length("abc") == len(zlib.compress(b"abc"))
    assert_allclose(M.reference_score(np.array([-1.0]), np.array([-3.0])), [2.0])
    assert_allclose(M.loss_score(np.array([-1.5])), [-1.5])


def test_roc_auc_by_hand_and_vs_sklearn():
    """members [3,2] vs non-members [1,2]: pairs 3>1, 3>2, 2>1 win, 2=2 tie (1/2) -> 3.5/4 = 0.875."""
    assert_allclose(M.roc_auc(np.array([3.0, 2.0]), np.array([1.0, 2.0])), 0.875)
    rng = np.random.default_rng(1)
    m, n = rng.normal(0.5, 1, 50).round(1), rng.normal(0, 1, 40).round(1)  # rounding makes ties
    y = np.r_[np.ones(50), np.zeros(40)]
    assert_allclose(M.roc_auc(m, n), roc_auc_score(y, np.r_[m, n]))


def test_roc_auc_all_ties_is_half_and_single_class_raises():
    assert M.roc_auc(np.ones(3), np.ones(4)) == 0.5
    with pytest.raises(ValueError, match="members and non-members"):
        M.roc_auc(np.array([1.0]), np.array([]))
    with pytest.raises(ValueError, match="NaN"):
        M.roc_auc(np.array([1.0, np.nan]), np.array([0.0]))


def test_privleak_by_hand():
    """(0.9 - 0.5)/0.5*100 = 80; same AUC -> 0; over-unlearned (0.3 vs 0.5) -> -40."""
    assert_allclose(MU.privleak(0.9, 0.5), 80.0)
    assert MU.privleak(0.5, 0.5) == 0.0
    assert_allclose(MU.privleak(0.3, 0.5), -40.0)
    with pytest.raises(ValueError):
        MU.privleak(0.5, 0.0)


def test_mink_auc_and_verbmem_knowmem():
    """Members' lowest tokens -0.1, -0.2 beat non-members' -3, -4 -> AUC 1. VerbMem/KnowMem = mean F1."""
    assert MU.mink_auc([[-0.1, -0.1], [-0.2]], [[-3.0], [-4.0, -0.1]], k=0.5) == 1.0
    assert_allclose(MU.verbmem(np.array([0.5, 1.0, np.nan])), 0.75)
    assert_allclose(MU.knowmem(np.array([0.0, 0.5])), 0.25)


@pytest.mark.parametrize("hits, es, em", [
    ([False, True, True], 1 - 1 / 3, 2 / 3),  # k* = 1: from the 2nd token on, argmax reproduces the rest
    ([True, False, True, True], 0.5, 0.75),  # k* = 2
    ([True, True, False], 0.0, 2 / 3),  # last token missed: k* = |y|
    ([True, True], 1.0, 1.0),  # k* = 0
    ([True], 1.0, 1.0),  # answer of length 1
    ([False], 0.0, 0.0),
])
def test_extraction_strength_and_exact_memorisation_by_hand(hits, es, em):
    assert_allclose(E.extraction_strength(np.array(hits)), es)
    assert_allclose(E.exact_memorisation(np.array(hits)), em)


def test_extraction_empty_and_aggregates():
    assert math.isnan(E.extraction_strength(np.array([], dtype=bool)))
    assert math.isnan(E.exact_memorisation(np.array([], dtype=bool)))
    assert_allclose(E.mean_extraction_strength([1.0, 0.0, float("nan")]), 0.5)
    assert_allclose(E.mean_exact_memorisation([0.25, 0.75]), 0.5)
