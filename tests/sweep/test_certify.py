"""Certification from a hand-made store whose right answer is known (no model involved)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from froc.report.data import load_summary
from froc.risk import ucb
from froc.sweep.certify import LossBuilder, certify_sweep
from froc.sweep.store import Store
from sweep_helpers import SIZES, build_store, sweep_cfg

DELTA = 0.1
N_CAL = SIZES[("forget", "cal")]


def _certify(tmp_path, cfg, **kw):
    kinds = build_store(tmp_path / "froc.duckdb", cfg, **kw)
    with Store(tmp_path / "froc.duckdb") as st:
        summary = certify_sweep(st, cfg)
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
        # CUR of n zero losses: the exact binomial bound 1 - delta^(1/n) (hb never worse than it)
        assert c["cur"] == pytest.approx(1 - DELTA ** (1 / N_CAL), abs=2e-3)
        assert c["cur"] == pytest.approx(float(ucb(np.zeros((1, N_CAL)), DELTA, "hb")[0]))
        assert set(c["cur_by_form"]) == {"qa", "cloze"}
        assert c["risk_by_group"] == {"forget": 0.0, "retain": 0.0, "world": 0.0}
    # forgets nothing: forget risk 1 everywhere
    c, = by["nothing"]
    assert not c["certified"] and c["risk_forget_cal"] == 1.0 and c["risk_forget_test"] == 1.0 and c["cur"] == 1.0
    assert c["risk_utility_cal"] == 0.0
    # forgets half: forget risk 0.5 > alpha
    c, = by["half"]
    assert not c["certified"] and c["risk_forget_cal"] == pytest.approx(0.5, abs=0.02) and c["cur"] > 0.5
    # forgets but destroys utility: utility risk 1
    c, = by["broken"]
    assert not c["certified"] and c["risk_forget_cal"] == 0.0 and c["risk_utility_cal"] == 1.0
    assert c["utility_ucb"] == 1.0 and c["p_utility"] > c["p_forget"]
    # diverged: never certified, no risks
    c, = by["diverged"]
    assert c["status"] == "diverged" and c["diverged_at"] == 3 and not c["certified"]
    assert c["risk_forget_cal"] is None and c["risk_forget_test"] is None
    # the certified set and the recommendation: both good ones; ties on utility go to the smaller lr x steps
    assert sorted(summary["certified"]) == sorted(c["config_id"] for c in by["good"])
    assert summary["recommended"] == good["config_id"]
    assert "graddiff" in summary["recommendation_reason"] and "5 steps" in summary["recommendation_reason"]
    # validity: certified configurations are fine on test, and on every re-split
    v = summary["validity"]
    assert v == {"test_violations": 0, "n_certified": 2, "delta": DELTA, "resplits": 30, "violation_rate": 0.0}
    # references
    assert summary["reference"]["original"]["risk_forget_cal"] == 1.0
    assert summary["reference"]["original"]["risk_utility_cal"] == 0.0
    # chance tau = 1/(1+3) = 0.25: the oracle "knows" the probes where its k > 0.25
    with Store(tmp_path / "froc.duckdb") as st:
        orc = st.scores(["__oracle__"])
    for split in ("cal", "test"):
        k = orc[(orc["side"] == "forget") & (orc["split"] == split)]["knowledge"]
        assert summary["reference"]["oracle"][f"risk_forget_{split}"] == pytest.approx(np.mean(k > 0.25))
    assert summary["budget"]["tau_forget"] == "chance"
    json.dumps(summary)  # JSON-able


def test_summary_is_what_the_report_reads(tmp_path):
    cfg = sweep_cfg(losses={"tau_forget": "chance"})
    summary, by, _ = _certify(tmp_path, cfg)
    d = load_summary(json.loads(json.dumps(summary)))
    assert len(d.configs) == 6 and d.methods == ["graddiff", "npo"]
    assert d.recommended is not None and d.recommended.config_id == summary["recommended"]
    assert {r.config_id for r in d.certified} == set(summary["certified"])
    assert d.budget.alpha_forget == 0.2 and d.budget.delta == DELTA and d.budget.pvalue == "hb"
    assert set(d.reference) == {"original", "oracle"}
    assert d.validity["n_certified"] == 2
    assert d.data_sizes["n_forget_cal"] == N_CAL and d.data_sizes["n_utility_test"] == SIZES[("utility", "test")]
    good = d.by_id(by["good"][0]["config_id"])
    assert good.cur is not None and good.cur_by_form and good.risk_by_group
    assert d.by_id(by["diverged"][0]["config_id"]).status == "diverged"


def test_tau_forget_variants(tmp_path):
    cfg = sweep_cfg()
    build_store(tmp_path / "froc.duckdb", cfg)
    with Store(tmp_path / "froc.duckdb") as st:
        scores = st.scores()
        # oracle quantile: per form, the Q-quantile of the oracle's k on the tune forget probes
        lb = LossBuilder(scores, cfg)
        orc = scores[scores["config_id"] == "__oracle__"].set_index("probe_id").reindex(lb.probes)
        tune = lb.mask("forget", "tune")
        for form in ("qa", "cloze"):
            sel = tune & (lb.form == form)
            expected = np.quantile(orc["knowledge"].to_numpy()[sel], 0.9)
            assert np.allclose(lb.tau[lb.form == form], expected)
        half = sweep_cfg(losses={"tau_forget": "oracle_q0.5"})
        assert LossBuilder(scores, half).tau[tune].mean() < lb.tau[tune].mean()
        # a number
        assert np.all(LossBuilder(scores, sweep_cfg(losses={"tau_forget": 0.95})).tau == 0.95)
        # chance: 1 / (1 + number of perturbed answers)
        assert np.allclose(LossBuilder(scores, sweep_cfg(losses={"tau_forget": "chance"})).tau, 0.25)
        # with tau = 0.95 nothing counts as known: even "forgets nothing" has zero forget risk
        s = certify_sweep(st, sweep_cfg(losses={"tau_forget": 0.95}))
        assert all(c["risk_forget_cal"] in (0.0, None) for c in s["configs"])
        # the oracle's own forget risk under its q0.9 threshold is about 10%
        s = certify_sweep(st, cfg)
        assert s["reference"]["oracle"]["risk_forget_cal"] <= 0.2
        assert s["budget"]["tau_forget"] == "oracle_q0.9"


def test_tau_oracle_without_oracle_falls_back_to_chance(tmp_path):
    cfg = sweep_cfg()
    build_store(tmp_path / "froc.duckdb", cfg, oracle=False)
    with Store(tmp_path / "froc.duckdb") as st:
        s = certify_sweep(st, cfg)
    assert any("chance" in n for n in s["notes"])
    assert set(s["reference"]) == {"original"}
    assert len(s["certified"]) == 2


def test_continuous_utility_loss(tmp_path):
    cfg = sweep_cfg(losses={"tau_forget": "chance", "utility": "continuous", "utility_bound": 2.0},
                    budget={"alpha_forget": 0.2, "alpha_utility": 0.3, "delta": 0.1})
    summary, by, _ = _certify(tmp_path, cfg)
    # good: log-prob drops from -1.0 to -1.2 on every utility probe -> loss 0.2 / 2 = 0.1 each
    for c in by["good"]:
        assert c["risk_utility_cal"] == pytest.approx(0.1) and c["risk_utility_test"] == pytest.approx(0.1)
        assert c["certified"]  # 0.1 on each of 60 probes is well under 0.3
    # nothing: no drop -> 0; broken: drop of 5 nats -> clipped to 1
    assert by["nothing"][0]["risk_utility_cal"] == 0.0
    assert by["broken"][0]["risk_utility_cal"] == 1.0 and not by["broken"][0]["certified"]
    assert summary["budget"]["utility_loss"] == "continuous"


def test_unified_forget_loss(tmp_path):
    cfg = sweep_cfg(losses={"forget": "unified"}, budget={"alpha_forget": 0.5, "alpha_utility": 0.2, "delta": 0.1})
    summary, by, _ = _certify(tmp_path, cfg)
    assert summary["budget"]["forget_loss"] == "unified"
    for c in summary["configs"]:
        assert c["risk_utility_cal"] is None and c["p_utility"] is None  # a single risk: utility is inside the score
        assert "cur_by_form" not in c
    risk = {k: v[0]["risk_forget_cal"] for k, v in by.items() if k != "diverged"}
    assert all(0.0 <= r <= 1.0 for r in risk.values())
    # forgetting and keeping utility scores better than forgetting nothing, or forgetting and breaking utility
    assert risk["good"] < risk["nothing"] and risk["good"] < risk["broken"]
    assert not by["diverged"][0]["certified"]
    assert set(summary["certified"]) <= {c["config_id"] for c in by["good"] + by["half"]}
    assert summary["recommended"] in summary["certified"] or summary["recommended"] is None


def test_certify_only_configs_of_the_current_grid(tmp_path):
    """A configuration stored by an earlier version of the sweep file is not part of the certified family."""
    cfg = sweep_cfg(losses={"tau_forget": "chance"})
    build_store(tmp_path / "froc.duckdb", cfg)
    smaller = sweep_cfg(losses={"tau_forget": "chance"}, methods={"graddiff": {"lr": [0.001, 0.01]}})
    with Store(tmp_path / "froc.duckdb") as st:
        s = certify_sweep(st, smaller)
    assert {c["method"] for c in s["configs"]} == {"graddiff"} and len(s["configs"]) == 4


@pytest.mark.parametrize("fwer", ["bonferroni", "holm", "fixed_sequence", "graph"])
def test_fwer_procedures(tmp_path, fwer):
    cfg = sweep_cfg(losses={"tau_forget": "chance"}, fwer=fwer, resplits=0)
    summary, by, _ = _certify(tmp_path, cfg)
    good = sorted(c["config_id"] for c in by["good"])
    if fwer in ("bonferroni", "holm"):
        assert sorted(summary["certified"]) == good
    else:
        # the sequence runs by lr x steps, smallest first: graddiff lr=0.001 5 steps (good), then npo lr=0.001
        # 5 steps (forgets nothing), where it stops
        assert summary["certified"] == [c["config_id"] for c in by["good"] if c["steps"] == 5]
    assert "violation_rate" not in summary["validity"]
