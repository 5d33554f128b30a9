"""ROUGE-L (vs rouge-score), answer containment, form spread, linear CKA and over-forgetting, by hand."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from rouge_score import rouge_scorer

from froc.metrics import forms as F
from froc.metrics import overforget as O
from froc.metrics import representation as R
from froc.metrics.text import contains_answer, normalize_answer, rouge_l


def test_rouge_l_by_hand_and_vs_package():
    """ref 'the cat sat on the mat' vs 'the cat lay on a mat': LCS = the cat on mat = 4 -> R = P = F = 4/6.
    ref 'Marrow Bay' vs 'born in Marrow Bay yesterday': LCS 2 -> R = 1, P = 2/5, F = 2*0.4/1.4 = 0.5714.
    An empty generation scores 0."""
    preds = ["the cat lay on a mat", "born in Marrow Bay yesterday", "", "Running dogs"]
    refs = ["the cat sat on the mat", "Marrow Bay", "Marrow Bay", "the dog runs"]
    rec, f1 = rouge_l(preds, refs)
    assert_allclose(rec[:3], [4 / 6, 1.0, 0.0])
    assert_allclose(f1[:3], [4 / 6, 0.8 / 1.4, 0.0])
    sc = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    for i, (p, r) in enumerate(zip(preds, refs)):
        s = sc.score(r, p)["rougeL"]
        assert_allclose([rec[i], f1[i]], [s.recall, s.fmeasure])
    with pytest.raises(ValueError):
        rouge_l(["a"], [])


def test_contains_answer_normalised_on_word_boundaries():
    assert normalize_answer("  The  Silver-Quill! ") == "the silver quill"
    assert contains_answer("It was the Silver Quill.", "the silver quill")
    assert contains_answer("Marrow Bay", "Marrow Bay")
    assert not contains_answer("fourteen", "four")  # not a word-level match
    assert not contains_answer("", "four")  # empty generation
    assert not contains_answer("anything", "!!")  # an answer without content is never contained


def test_form_spread_by_hand():
    """qa (1, 0) -> 0.5, cloze 0.5, mcq 0.2 (NaN skipped): range 0.3; std: mean 0.4, deviations
    (0.1, 0.1, -0.2) -> var (0.01+0.01+0.04)/3 = 0.02 -> std 0.141421."""
    s = F.form_spread(["qa", "qa", "cloze", "mcq", "mcq"], np.array([1.0, 0.0, 0.5, 0.2, np.nan]))
    assert s.per_form == pytest.approx({"cloze": 0.5, "mcq": 0.2, "qa": 0.5})
    assert_allclose([s.range, s.std], [0.3, np.sqrt(0.02)])
    one = F.form_spread(["qa"], np.array([0.7]))
    assert (one.range, one.std) == (0.0, 0.0)
    assert np.isnan(F.form_spread([], np.array([])).range)
    assert set(s.as_dict()) == {"form/cloze", "form/mcq", "form/qa", "range", "std"}


def test_linear_cka_by_hand():
    """1-D features: CKA = squared correlation. x=[1,2,3], y=[1,3,2]: centred x=[-1,0,1], y=[-1,1,0];
    <x,y>=1, |x|^2=|y|^2=2 -> 1/(2*2) = 0.25. y=[1,0,1] centred [1/3,-2/3,1/3] is orthogonal to x -> 0."""
    x = np.array([[1.0], [2.0], [3.0]])
    assert_allclose(R.linear_cka(x, np.array([[1.0], [3.0], [2.0]])), 0.25)
    assert_allclose(R.linear_cka(x, np.array([[1.0], [0.0], [1.0]])), 0.0, atol=1e-15)
    assert np.isnan(R.linear_cka(x, np.ones((3, 2))))


def test_linear_cka_invariances_and_per_layer():
    """Identical -> 1; invariant to an orthogonal rotation, isotropic scaling and a shift."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20, 5))
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    assert_allclose(R.linear_cka(a, a), 1.0)
    assert_allclose(R.linear_cka(a, 3.0 * a @ q + 7.0), 1.0)
    per = R.cka_per_layer({1: a, 2: a}, {2: a @ q, 3: a}, rows=np.arange(10))
    assert list(per) == [2] and per[2] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        R.linear_cka(a, a[:5])


def test_over_forgetting_by_hand():
    """Row 4 dropped (NaN). target [1,0,1], original [1,1,0]: acc 2/3 both, drop 0;
    original knew rows 1,2, target lost row 2 -> forgotten rate 1/2."""
    r = O.over_forgetting(np.array([1.0, 0.0, 1.0, np.nan]), np.array([1.0, 1.0, 0.0, 1.0]))
    assert_allclose([r.accuracy, r.original_accuracy, r.drop, r.forgotten_rate], [2 / 3, 2 / 3, 0.0, 0.5])
    assert_allclose(O.accuracy(np.array([1.0, 0.0, np.nan, 1.0])), 2 / 3)
    assert np.isnan(O.over_forgetting(np.array([np.nan]), np.array([1.0])).accuracy)
