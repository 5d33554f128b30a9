"""Certification from a hand-made store whose right answer is known (no model involved).

Expected values are derived by hand from the store's construction (sweep_helpers): e.g. n zero binary
losses have the exact binomial upper bound 1 - delta^(1/n) (P(Bin(n, a) = 0) = (1-a)^n = delta).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from froc.records import SweepSummary
from froc.report.data import load_summary
from froc.sweep.certify import certify_sweep
from froc.sweep.losses import LossBuilder
from froc.sweep.store import Store
from sweep_helpers import SIZES, build_store, model_scores, sweep_cfg

DELTA = 0.1
N_CAL = SIZES[("forget", "cal")]
N_TEST = SIZES[("forget", "test")]


def _certify(tmp_path, cfg, **kw):
    kinds = build_store(tmp_path / "froc.duckdb", cfg, **kw)
    with Store(tmp_path / "froc.duckdb") as st:
        summary = certify_sweep(st, cfg).to_dict()
    by_kind = {}
    for c in summary["configs"]:
        by_kind.setdefault(kinds[c["config_id"]], []).append(c)
    return summary, by_kind, kinds


def test_binary_losses_known_answer(tmp_path):
    cfg = sweep_cfg(losses={"tau_forget": "chance"})
    summary, by, kinds = _certify(tmp_path, cfg)
    assert len(summary["configs"]) == 6
    good, = [c for c in by["good"] if c["steps"] == 5]
    # forgets every forget probe and keeps every utility probe: zero empirical risks, certified
    for c in by["good"]:
        assert c["certified"] and c["status"] == "ok"
        assert c["risk_forget_cal"] == 0.0 and c["risk_forget_test"] == 0.0
        assert c["risk_utility_cal"] == 0.0 and c["risk_utility_test"] == 0.0
        # pointwise CUR of n zero binary losses: the exact binomial bound 1 - delta^(1/n)
        assert c["cur"] == pytest.approx(1 - DELTA ** (1 / N_CAL), abs=1e-6)
        # simultaneous over the 6 configurations of the grid: Bonferroni, 1 - (delta/6)^(1/n)
        assert c["cur_simultaneous"] == pytest.approx(1 - (DELTA / 6) ** (1 / N_CAL), abs=1e-6)
        assert set(c["cur_by_form"]) == {"qa", "cloze"}
        assert c["risk_by_group"] == {"forget": 0.0, "retain": 0.0, "world": 0.0}
    c, = by["nothing"]
    assert not c["certified"] and c["risk_forget_cal"] == 1.0 and c["risk_forget_test"] == 1.0 and c["cur"] == 1.0
    c, = by["half"]
    assert not c["certified"] and c["risk_forget_cal"] == pytest.approx(0.5, abs=0.02) and c["cur"] > 0.5
    c, = by["broken"]
    assert not c["certified"] and c["risk_forget_cal"] == 0.0 and c["risk_utility_cal"] == 1.0
    assert c["utility_ucb"] == 1.0 and c["p_utility"] > c["p_forget"]
    # why: the Holm level each p-value faced (the two good ones share the two smallest p-values: delta/6, delta/5)
    assert sorted(c["fwer_level"] for c in by["good"]) == pytest.approx([DELTA / 6, DELTA / 5])
    assert all("<=" in c["why"] for c in by["good"]) and ">" in by["half"][0]["why"]
    c, = by["diverged"]
    assert c["status"] == "diverged" and c["diverged_at"] == 3 and not c["certified"] and "diverged" in c["why"]
    assert c["risk_forget_cal"] is None and c["risk_forget_test"] is None
    assert sorted(summary["certified"]) == sorted(c["config_id"] for c in by["good"])
    # the recommendation: ties on utility go to the smaller lr x steps; its quoted bound is on the TEST split
    rec = summary["recommendation"]
    assert rec["config_id"] == good["config_id"]
    assert rec["bound_forget"] == pytest.approx(1 - DELTA ** (1 / N_TEST), abs=1e-6)
    assert "graddiff" in rec["reason"] and "5 steps" in rec["reason"] and "test split" in rec["reason"]
    v = summary["validity"]
    assert (v["n_certified"], v["test_checked"], v["test_exceed"]) == (2, 2, 0)
    # references: the original knows everything (fails), p-values reported
    orig = summary["reference"]["original"]
    assert orig["risk_forget_cal"] == 1.0 and orig["risk_utility_cal"] == 0.0 and orig["certified"] is False
    assert orig["p_forget"] == pytest.approx(1.0)
    with Store(tmp_path / "froc.duckdb") as st:
        orc = st.scores(["__oracle__"])
    for split in ("cal", "test"):
        k = orc[(orc["side"] == "forget") & (orc["split"] == split)]["knowledge"]
        assert summary["reference"]["oracle"][f"risk_forget_{split}"] == pytest.approx(np.mean(k > 0.25))
    assert summary["budget"]["tau_forget"] == "chance" and "chance" in summary["budget"]["tau_forget_used"]
    assert summary["budget"]["tau_forget_fallback"] is False
    json.dumps(summary, allow_nan=False)
    assert SweepSummary.from_dict(json.loads(json.dumps(summary))).to_dict() == summary


def test_oracle_passes_and_original_fails(tmp_path):
    """The references are tested like a configuration, at the family's strictest level delta/K.

    Deliberate bug caught: references marked certified without a test, or tested at level delta.
    With tau = 0.5 the oracle (k spread over [0, 0.45]) has zero forget losses; with 60 calibration probes
    its binomial p-value at alpha = 0.2 is 0.8^60 = 1.5e-6 < 0.1/6, so it passes; the original fails."""
    cfg = sweep_cfg(losses={"tau_forget": 0.5})
    summary, _, _ = _certify(tmp_path, cfg)
    orc, orig = summary["reference"]["oracle"], summary["reference"]["original"]
    assert orc["risk_forget_cal"] == 0.0 and orc["p_forget"] == pytest.approx(0.8 ** N_CAL, rel=1e-6)
    assert orc["certified"] is True and orig["certified"] is False


def test_violation_on_the_test_split_is_counted(tmp_path):
    """A configuration that looks perfect on calibration but knows every test probe.

    Deliberate bug caught: held-out violations no longer counted (test_exceed stays 0), or the
    recommendation's bound taken from calibration data (it would be 1 - delta^(1/60) = 0.037, not 1)."""
    cfg = sweep_cfg(losses={"tau_forget": "chance"})
    kinds = build_store(tmp_path / "froc.duckdb", cfg)
    cid = next(c for c, k in kinds.items() if k == "good" and c.endswith("-s5"))
    cheat = model_scores(forget_k=lambda d: np.where(d["split"] == "test", 0.9, 0.05), utility_known=True)
    with Store(tmp_path / "froc.duckdb") as st:
        st.write_config(config_id=cid, train_key=cid[:-3], method="graddiff", hparams={"lr": 0.001}, steps=5,
                        status="ok", diverged_at=None, train_seconds=0.0, score_seconds=0.0, metrics={}, scores=cheat)
        s = certify_sweep(st, cfg).to_dict()
    c = next(c for c in s["configs"] if c["config_id"] == cid)
    assert c["certified"] and c["risk_forget_cal"] == 0.0 and c["risk_forget_test"] == 1.0
    assert s["validity"]["test_checked"] == 2 and s["validity"]["test_exceed"] == 1
    assert s["recommendation"]["config_id"] == cid and s["recommendation"]["bound_forget"] == 1.0


def test_attack_that_revokes_and_one_that_does_not(tmp_path):
    """Re-certification under attack, on the held-out test split.

    Deliberate bugs caught: attacks that can never revoke a certificate (the relearned model knows every
    test probe again, so it must lose it), and re-testing on calibration probes (the "cal-only" attack
    leaves test probes forgotten: re-tested on test it keeps the certificate)."""
    cfg = sweep_cfg(losses={"tau_forget": "chance"})
    kinds = build_store(tmp_path / "froc.duckdb", cfg)
    cid = next(c for c, k in kinds.items() if k == "good" and c.endswith("-s5"))
    relearned = model_scores(forget_k=0.9, utility_known=True)
    cal_only = model_scores(forget_k=lambda d: np.where(d["split"] == "cal", 0.9, 0.05), utility_known=True)
    with Store(tmp_path / "froc.duckdb") as st:
        st.write_attack(config_id=cid, attack="relearn", status="ok", seconds=1.0, details={}, scores=relearned)
        st.write_attack(config_id=cid, attack="cal_only", status="ok", seconds=1.0, details={}, scores=cal_only)
        s = certify_sweep(st, cfg).to_dict()
    c = next(c for c in s["configs"] if c["config_id"] == cid)
    assert c["attacks"]["relearn"]["certified"] is False and c["attacks"]["relearn"]["risk_forget_test"] == 1.0
    assert c["attacks"]["relearn"]["n_test"] == N_TEST
    assert c["attacks"]["cal_only"]["certified"] is True and c["attacks"]["cal_only"]["risk_forget_test"] == 0.0
    assert s["attacks_certified"] == {"cal_only": [cid], "relearn": []}


def test_subject_unit_counts_subjects(tmp_path):
    """With splits.by = subject the sample is the subject: n = number of subjects, losses are subject means.

    Deliberate bug caught: probes of a clustered split treated as independent samples (n would be 60).
    The store's probes belong to 7 subjects (s0..s6), so each split has at most 7 units and even zero
    risk cannot be certified at alpha 0.2 with delta 0.1: (1 - 0.2)^7 = 0.21 > 0.1."""
    cfg = sweep_cfg(losses={"tau_forget": "chance"}, splits={"tune": 0.2, "cal": 0.4, "test": 0.4, "by": "subject"})
    summary, by, _ = _certify(tmp_path, cfg)
    assert summary["data"]["n_forget_cal"] == 7
    assert summary["certified"] == []
    for c in by["good"]:
        assert c["risk_forget_cal"] == 0.0 and c["cur"] == pytest.approx(1 - DELTA ** (1 / 7), abs=1e-6)


def test_summary_is_what_the_report_reads(tmp_path):
    cfg = sweep_cfg(losses={"tau_forget": "chance"})
    summary, by, _ = _certify(tmp_path, cfg)
    d = load_summary(json.loads(json.dumps(summary)))
    assert len(d.configs) == 6 and d.methods == ["graddiff", "npo"]
    assert d.recommended is not None and d.recommended.config_id == summary["recommendation"]["config_id"]
    assert {r.config_id for r in d.certified} == set(summary["certified"])
    assert d.budget.alpha_forget == 0.2 and d.budget.delta == DELTA and d.budget.pvalue == "hb"
    assert set(d.reference) == {"original", "oracle"}


def test_tau_forget_variants(tmp_path):
    cfg = sweep_cfg()
    build_store(tmp_path / "froc.duckdb", cfg)
    with Store(tmp_path / "froc.duckdb") as st:
        scores = st.scores()
        lb = LossBuilder(scores, cfg)
        orc = scores[scores["config_id"] == "__oracle__"].set_index("probe_id").reindex(lb.probes)
        tune = lb.mask("forget", "tune")
        for form in ("qa", "cloze"):
            sel = tune & (lb.form == form)
            expected = np.quantile(orc["knowledge"].to_numpy()[sel], 0.9)
            assert np.allclose(lb.tau[lb.form == form], expected)
        half = sweep_cfg(losses={"tau_forget": "oracle_q0.5"})
        assert LossBuilder(scores, half).tau[tune].mean() < lb.tau[tune].mean()
        assert np.all(LossBuilder(scores, sweep_cfg(losses={"tau_forget": 0.95})).tau == 0.95)
        assert np.allclose(LossBuilder(scores, sweep_cfg(losses={"tau_forget": "chance"})).tau, 0.25)
        s = certify_sweep(st, sweep_cfg(losses={"tau_forget": 0.95})).to_dict()
        assert all(c["risk_forget_cal"] in (0.0, None) for c in s["configs"])
        s = certify_sweep(st, cfg).to_dict()
        assert s["reference"]["oracle"]["risk_forget_cal"] <= 0.2
        assert s["budget"]["tau_forget"] == "oracle_q0.9" and "quantile" in s["budget"]["tau_forget_used"]


def test_tau_oracle_without_oracle_falls_back_to_chance(tmp_path):
    cfg = sweep_cfg()
    build_store(tmp_path / "froc.duckdb", cfg, oracle=False)
    with Store(tmp_path / "froc.duckdb") as st:
        s = certify_sweep(st, cfg).to_dict()
    assert any("chance" in n for n in s["notes"])
    assert "fallback" in s["budget"]["tau_forget_used"] and s["budget"]["tau_forget_fallback"] is True
    assert set(s["reference"]) == {"original"}
    assert len(s["certified"]) == 2


def test_continuous_utility_loss(tmp_path):
    cfg = sweep_cfg(losses={"tau_forget": "chance", "utility": "continuous", "utility_bound": 2.0},
                    budget={"alpha_forget": 0.2, "alpha_utility": 0.3, "delta": 0.1})
    summary, by, _ = _certify(tmp_path, cfg)
    # good: log-prob drops from -1.0 to -1.2 on every utility probe -> loss 0.2 / 2 = 0.1 each
    for c in by["good"]:
        assert c["risk_utility_cal"] == pytest.approx(0.1) and c["risk_utility_test"] == pytest.approx(0.1)
        assert c["certified"]
    assert by["nothing"][0]["risk_utility_cal"] == 0.0
    assert by["broken"][0]["risk_utility_cal"] == 1.0 and not by["broken"][0]["certified"]
    assert summary["budget"]["utility_loss"] == "continuous"


def test_unified_forget_loss(tmp_path):
    cfg = sweep_cfg(losses={"forget": "unified"}, budget={"alpha_forget": 0.5, "alpha_utility": 0.2, "delta": 0.1})
    summary, by, _ = _certify(tmp_path, cfg)
    assert summary["budget"]["forget_loss"] == "unified" and summary["budget"]["alpha_utility"] is None
    for c in summary["configs"]:
        assert c["risk_utility_cal"] is None and c["p_utility"] is None
    risk = {k: v[0]["risk_forget_cal"] for k, v in by.items() if k != "diverged"}
    assert all(0.0 <= r <= 1.0 for r in risk.values())
    assert risk["good"] < risk["nothing"] and risk["good"] < risk["broken"]
    assert not by["diverged"][0]["certified"]
    assert set(summary["certified"]) <= {c["config_id"] for c in by["good"] + by["half"]}


def test_certify_only_configs_of_the_current_grid(tmp_path):
    """A configuration stored by an earlier version of the sweep file is not part of the certified family."""
    cfg = sweep_cfg(losses={"tau_forget": "chance"})
    build_store(tmp_path / "froc.duckdb", cfg)
    smaller = sweep_cfg(losses={"tau_forget": "chance"}, methods={"graddiff": {"lr": [0.001, 0.01]}})
    with Store(tmp_path / "froc.duckdb") as st:
        s = certify_sweep(st, smaller).to_dict()
    assert {c["method"] for c in s["configs"]} == {"graddiff"} and len(s["configs"]) == 4


@pytest.mark.parametrize("fwer", ["bonferroni", "holm", "fixed_sequence", "graph", "pareto"])
def test_fwer_procedures(tmp_path, fwer):
    """Sequence procedures test in an order learned on the tune split (most likely to pass first), so the
    two good configurations come first and both are certified, whatever their lr x steps."""
    cfg = sweep_cfg(losses={"tau_forget": "chance"}, fwer=fwer, resplits=0)
    summary, by, _ = _certify(tmp_path, cfg)
    good = sorted(c["config_id"] for c in by["good"])
    assert sorted(summary["certified"]) == good
    if fwer in ("bonferroni", "holm"):
        assert summary["order"]["order"] is None
    else:
        assert summary["order"]["learned_on"] == "tune" and sorted(summary["order"]["order"][:2]) == good
    assert summary["validity"]["resplit"] == {}


def test_tau_separate_is_fitted_on_tune_only(tmp_path):
    """tau_forget 'separate': per form, the threshold maximising original-known minus oracle-known on the tune
    forget probes, the middle of the best interval. In the store the original has k = 0.9 everywhere and the
    oracle k spread over [0, 0.45], so every tau in [m, 0.9) separates them perfectly on tune, with m the
    oracle's largest tune k of that form: tau = (m + 0.9) / 2.

    Deliberate bug caught: fitting on calibration probes (changing calibration scores would move tau)."""
    cfg = sweep_cfg(losses={"tau_forget": "separate"})
    build_store(tmp_path / "froc.duckdb", cfg)
    with Store(tmp_path / "froc.duckdb") as st:
        scores = st.scores()
    lb = LossBuilder(scores, cfg)
    orc = scores[scores["config_id"] == "__oracle__"].set_index("probe_id").reindex(lb.probes)["knowledge"].to_numpy()
    tune = lb.mask("forget", "tune")
    for form in ("qa", "cloze"):
        m = orc[tune & (lb.form == form)].max()
        assert np.allclose(lb.tau[(lb.form == form) & (lb.side == "forget")], (m + 0.9) / 2)
    assert "separates" in lb.tau_used and not lb.tau_fallback
    moved = scores.copy()
    cal = moved["probe_id"].isin(np.array(lb.probes)[lb.mask("forget", "cal")])
    moved.loc[cal, "knowledge"] = 0.5
    assert np.array_equal(LossBuilder(moved, cfg).tau, lb.tau)
