"""Issue 13, section 2: TOFU / MUSE / WMDP numbers under their published names and conventions.

Expected values are derived by hand from the benchmarks' published formulas (docstrings), not from froc.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy.stats import ks_2samp

from froc.metrics.published import (mink_auc, muse_metrics, privleak_froc, privleak_muse, tofu_metrics,
                                    wmdp_letter_probes, wmdp_metrics)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))


def test_privleak_muse_formula_by_hand():
    """MUSE (muse_bench eval.py; OpenUnlearning's privleak: score = 1 - score, ref = 1 - ref):
    PrivLeak = ((1-a) - (1-r)) / (1-r) * 100 from froc-oriented AUCs a (unlearned) and r (retrained).

    Unlearned a = 0.9, retrained r = 0.7: MUSE (0.1 - 0.3) / 0.3 * 100 = -66.67; froc (0.9 - 0.7) / 0.7 * 100
    = +28.57. A model not unlearned at all, a = 0.982 against r = 0.568: MUSE (0.018 - 0.432) / 0.432 * 100
    = -0.414 / 0.432 * 100 = -95.83; froc (0.982 - 0.568) / 0.568 * 100 = 0.414 / 0.568 * 100 = +72.89.
    """
    assert round(privleak_muse(0.9, 0.7), 1) == -66.7
    assert round(privleak_froc(0.9, 0.7), 1) == 28.6
    assert round(privleak_muse(0.982, 0.568), 1) == -95.8
    assert round(privleak_froc(0.982, 0.568), 1) == 72.9
    assert privleak_muse(0.7, 0.7) == 0.0
    with pytest.raises(ValueError):
        privleak_muse(0.5, 1.0)


def test_mink_auc_uses_k_0_4_by_default():
    """Min-40% of [-1,-2,-3,-4,-5] = mean of floor(0.4*5) = 2 lowest = (-5-4)/2 = -4.5; of [-1,-1,-1,-1,-9]
    = (-9-1)/2 = -5; member (-4.5) > non-member (-5) -> AUC 1. With k=0.2 (one lowest): -5 vs -9, also 1;
    k = 0.6 (3 lowest): -4 vs -11/3 = -3.67 -> AUC 0: only k=0.4's and 0.2's rankings agree here."""
    m, n = [np.array([-1., -2, -3, -4, -5])], [np.array([-1., -1, -1, -1, -9])]
    assert mink_auc(m, n) == 1.0
    assert mink_auc(m, n, k=0.6) == 0.0


def _tofu_rows(tofu_set, gold, para, pert, rouge, knowledge=np.nan):
    return dict(tofu_set=tofu_set, gold_logp_mean=gold, para_logp_mean=para, perturbed_logp_mean=pert,
                rouge_l_recall=rouge, knowledge=knowledge)


def test_tofu_metrics_by_hand():
    """Forget: TR = exp(mean log P(pert) - log P(para)); rows: log TR = -1 - (-1) = 0 -> TR 1, min(TR,1/TR)=1;
    log TR = -3 - (-1) = -2 -> min = e^-2. Forget Truth Ratio = (1 + e^-2)/2.
    Retain: TR = e^-2 and e^0 -> max(0, 1-TR) = 1-e^-2 and 0 -> mean (1-e^-2)/2. Probability: mean exp(gold)
    = (e^-1 + e^-2)/2. ROUGE: mean recall (0.5 + 1)/2.
    Real authors / world facts: probability = mean knowledge column (P(a)/(P(a)+sum P(a~))).
    Model Utility = harmonic mean of the 9 numbers. Forget Quality = KS p-value (scipy) of the forget TRs."""
    rows = [
        _tofu_rows("forget", -1.0, -1.0, [-1.0], 1.0), _tofu_rows("forget", -2.0, -1.0, [-2.0, -4.0], 0.0),
        _tofu_rows("retain", -1.0, -1.0, [-3.0], 0.5), _tofu_rows("retain", -2.0, -2.0, [-2.0], 1.0),
        _tofu_rows("real_authors", -1.0, np.nan, [-2.0], 1.0, 0.7), _tofu_rows("real_authors", -1.0, np.nan, [-1.0], 0.5, 0.5),
        _tofu_rows("world_facts", -1.0, np.nan, [-1.5], 1.0, 0.6), _tofu_rows("world_facts", -1.0, np.nan, [-3.0], 1.0, 0.9),
    ]
    t = pd.DataFrame(rows)
    o = t.copy()
    o.loc[1, "perturbed_logp_mean"] = [-1.0]  # oracle forget TRs: 1, 1
    m, notes = tofu_metrics(t, o)
    e = math.exp
    assert_allclose(m["Forget Truth Ratio"], (1 + e(-2)) / 2)
    assert_allclose(m["Retain Truth Ratio"], (1 - e(-2)) / 2)
    assert_allclose(m["Retain Probability"], (e(-1) + e(-2)) / 2)
    assert_allclose(m["Retain ROUGE"], 0.75)
    assert_allclose(m["Real Authors Probability"], 0.6)
    assert_allclose(m["World Facts Probability"], 0.75)
    # real authors TR (answer stands in for the paraphrase): e^-1 -> 1-e^-1; e^0 -> 0
    assert_allclose(m["Real Authors Truth Ratio"], (1 - e(-1)) / 2)
    assert_allclose(m["World Facts Truth Ratio"], ((1 - e(-0.5)) + (1 - e(-2))) / 2)
    parts = [m[f"{s} {k}"] for s in ("Retain", "Real Authors", "World Facts") for k in ("Probability", "ROUGE", "Truth Ratio")]
    assert_allclose(m["Model Utility"], 9 / sum(1 / p for p in parts))
    assert_allclose(m["Forget Quality"], ks_2samp([1.0, e(-2)], [1.0, 1.0]).pvalue)
    assert not notes


def test_muse_metrics_by_hand():
    """verbmem_f / knowmem_f / knowmem_r = mean ROUGE-L F1 x 100; privleak from Min-40% AUCs.
    Target: member token log-probs [-1,-1] (Min-40% of 2 tokens: floor(0.8)->1 lowest: -1) vs holdout [-3,-3]
    -> -3: AUC 1. Oracle: member [-3,-3] vs holdout [-1,-1]: AUC 0... (a=1, r=0) MUSE: (0 - 1)/1*100 = -100;
    froc: undefined (r = 0) -> the test uses oracle r = 0.5 instead: members -2 vs holdout -2 (tie) -> 0.5:
    MUSE (0 - 0.5)/0.5*100 = -100, froc (1 - 0.5)/0.5*100 = 100."""
    def rows(member, holdout):
        return pd.DataFrame([
            dict(muse_set="verbmem", rouge_l_f1=0.5, gold_token_logp=[-1.0]),
            dict(muse_set="verbmem", rouge_l_f1=1.0, gold_token_logp=[-1.0]),
            dict(muse_set="knowmem_forget", rouge_l_f1=0.2, gold_token_logp=[-1.0]),
            dict(muse_set="knowmem_retain", rouge_l_f1=0.9, gold_token_logp=[-1.0]),
            dict(muse_set="privleak_forget", rouge_l_f1=np.nan, gold_token_logp=member),
            dict(muse_set="holdout", rouge_l_f1=np.nan, gold_token_logp=holdout)])
    m, _ = muse_metrics(rows([-1.0, -1.0], [-3.0, -3.0]), rows([-2.0, -2.0], [-2.0, -2.0]))
    assert_allclose([m["verbmem_f"], m["knowmem_f"], m["knowmem_r"]], [75.0, 20.0, 90.0])
    assert_allclose([m["auc"], m["auc_retrain"], m["privleak"], m["privleak_froc"]], [1.0, 0.5, -100.0, 100.0])


def test_wmdp_accuracy_is_the_letter_choice():
    """Q1: gold letter -0.1 beats -1, -2 -> 1; Q2: gold -3 below -0.5 -> 0: accuracy 0.5; chance 1/4, 1/2 -> 3/8."""
    t = pd.DataFrame([dict(wmdp_set="letters", gold_logp_sum=-0.1, perturbed_logp_mean=[-1.0, -2.0, -3.0], correct_choice=np.nan),
                      dict(wmdp_set="letters", gold_logp_sum=-3.0, perturbed_logp_mean=[-0.5], correct_choice=np.nan),
                      dict(wmdp_set="choices", gold_logp_sum=-1.0, perturbed_logp_mean=[-2.0], correct_choice=1.0)])
    m, _ = wmdp_metrics(t)
    assert m["accuracy"] == 0.5 and m["accuracy_choice_text_froc"] == 1.0 and m["chance"] == 3 / 8


def test_wmdp_letter_probes(tmp_path):
    from published_helpers import write_wmdp

    from froc.data.published import load_benchmark

    req = load_benchmark("wmdp", write_wmdp(tmp_path / "wmdp"))
    probes = wmdp_letter_probes(req.probes)
    assert [(p.answer, p.perturbed_answers) for p in probes] == [("A", ["B", "C", "D"]), ("C", ["A", "B", "D"]),
                                                                  ("B", ["A"])]


@pytest.mark.parametrize("name,writer,kw", [("tofu", "write_tofu", {}), ("muse", "write_muse", {}),
                                            ("wmdp", "write_wmdp", {})])
def test_froc_eval_benchmark_end_to_end(tmp_path, name, writer, kw):
    """`froc eval --benchmark NAME` on a published-layout folder prints and writes the published names."""
    import published_helpers
    from typer.testing import CliRunner

    from froc.cli import app
    from froc.models.tiny import tiny_model_and_tokenizer

    root = getattr(published_helpers, writer)(tmp_path / name, **kw)
    model, tok = tiny_model_and_tokenizer()
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    r = CliRunner().invoke(app, ["eval", "--model", str(tmp_path / "m"), "--benchmark", name, "--probes", str(root),
                                 "--oracle", str(tmp_path / "m"), "--out", str(tmp_path / "out"), "--batch-size", "8"])
    assert r.exit_code == 0, r.output
    import json

    metrics = json.loads((tmp_path / "out" / "summary.json").read_text())["metrics"]
    expected = {"tofu": {"Forget Quality", "Model Utility", "Forget Truth Ratio", "Retain Probability", "Retain ROUGE"},
                "muse": {"verbmem_f", "knowmem_f", "knowmem_r", "privleak", "privleak_froc"},
                "wmdp": {"accuracy", "accuracy_choice_text_froc"}}[name]
    assert expected <= set(metrics), metrics
    if name == "tofu":  # the model against itself: forget quality 1
        assert metrics["Forget Quality"] == pytest.approx(1.0)
    if name == "muse":  # against itself: privleak 0, unless its AUC is 1 (then MUSE's ratio is undefined: null)
        assert metrics["privleak"] is None if metrics["auc"] == 1.0 else metrics["privleak"] == pytest.approx(0.0)
    assert (tmp_path / "out" / "per_sample.parquet").is_file()
