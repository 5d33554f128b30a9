"""The page says what the summary holds, and only that (issues 12 §3, 14 §2, 17 §3/§5).

Expected strings are written by hand from the values put into the summary, not produced by the report.
"""

from __future__ import annotations

import dataclasses
import re
import warnings

import pytest
from markupsafe import escape

from froc.records import (
    AttackRecord,
    Budget,
    ConfigRecord,
    Recommendation,
    SweepSummary,
    Validity,
)
from froc.report import render_report
from froc.report.data import METRIC_ORDER, config_labels, load_summary, metric_info
from froc.report.html import ERROR_CLASS
from froc.report.sections import P_LABELS


def _render(summary, tmp_path) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a section that falls back to its error note warns
        text = render_report(summary, tmp_path).read_text(encoding="utf-8")
    assert f'class="{ERROR_CLASS}"' not in text
    return text


def _section(text: str, sid: str) -> str:
    return text.split(f'<section id="{sid}">')[1].split("</section>")[0]


@pytest.fixture(scope="module")
def page(base_summary, tmp_path_factory) -> str:
    """The full fixture rendered once (read-only tests)."""
    return _render(base_summary, tmp_path_factory.mktemp("page"))


@pytest.fixture
def small(summary) -> dict:
    """The fixture cut to gd and rmu (2 certified, 1 failed run): fast to render, for tests that change it."""
    s = summary
    s["configs"] = [c for c in s["configs"] if c["method"] in ("gd", "rmu")]
    keep = [c["config_id"] for c in s["configs"]]
    s["certified"] = [c for c in s["certified"] if c in keep]
    s["recommendation"]["config_id"] = s["certified"][0]
    s["grid"]["methods"] = {m: v for m, v in s["grid"]["methods"].items() if m in ("gd", "rmu")}
    s["attacks_certified"] = {a: [c for c in ids if c in keep] for a, ids in s["attacks_certified"].items()}
    s["calibration_size"]["config_id"] = s["certified"][0]
    return s


def _full_record() -> SweepSummary:
    attack = AttackRecord(status="statusxq", cur=0.0121, risk_forget_cal=0.0122, risk_forget_test=0.0123, n_test=417,
                          p_value=0.0124, certified=True, details={"detailxq": 7})
    cfg = ConfigRecord(
        config_id="cfg-xq-1", method="methxq", hparams={"lr": 0.000333, "betaxq": 0.777}, steps=2347, status="ok",
        diverged_at=1999, error="errxq", train_seconds=12.3, score_seconds=4.56, certified=True,
        p_forget=0.0101, p_utility=0.0102, p_value=0.0103, fwer_level=0.0118, why="whyxq", cur=0.0104, utility_ucb=0.0105, cur_simultaneous=0.0106,
        utility_ucb_simultaneous=0.0107, risk_forget_tune=0.0108, risk_forget_cal=0.0109, risk_forget_test=0.0111,
        risk_utility_tune=0.0112, risk_utility_cal=0.0113, risk_utility_test=0.0114, cur_by_form={"formxq": 0.0115},
        risk_by_group={"groupxq": 0.0116}, metrics={"metricxq": 0.0117}, attacks={"attackxq": attack})
    failed = ConfigRecord(config_id="cfg-xq-2", method="methxq", hparams=cfg.hparams, steps=2347, status="failedxq")
    original = ConfigRecord(config_id="original", method="reference", cur=0.0131, p_value=0.0132, certified=False)
    return SweepSummary(
        froc_version="9.8.7xq", created="2031-01-02T03:04:05Z", question="Question xq?", seconds=5025.0,
        timings={"stagexq": 61.0},
        budget=Budget(alpha_forget=0.123, alpha_utility=0.0987, delta=0.0456, pvalue="hbxq", fwer="holmxq",
                      unit="subjectxq", forget_loss="lossfxq", utility_loss="lossuxq", tau_forget="oracle_q0.77",
                      tau_forget_used="chancexq", tau_forget_fallback=True),
        data={"source": "userxq", "n_forget_cal": 4321}, model={"path": "/models/xq", "params": 1234567},
        grid={"methods": {"methxq": {"lr": [0.000333]}}, "steps": [2347]}, order={"learned_on": "tunexq"},
        configs=[cfg, failed], reference={"original": original}, certified=["cfg-xq-1"],
        recommendation=Recommendation(config_id="cfg-xq-1", reason="reason xq", bound_forget=0.0201,
                                      bound_utility=0.0202, n_test_forget=2031, n_test_utility=2032,
                                      covers="covers-rec-xq"),
        validity=Validity(n_certified=3, test_checked=2, test_exceed=1,
                          resplit={"resplits": 77, "significant_exceed_rate": 0.0303, "heldout_exceed_rate": 0.0505,
                                   "expected_at_most": 0.0606, "mean_certified": 2.5, "note": "notexq"}),
        attacks_certified={"attackxq": ["cfg-xq-1"]},
        calibration_size={"config_id": "cfg-xq-1", "sizes": [111, 222], "n_utility": [333, 444],
                          "mean_cur": [0.0401, 0.0402], "sd_cur": [0.0403, 0.0404], "mean_certified": [0.5, 1.5],
                          "reps": 19, "note": "ncal-note-xq"},
        covers={"certified": "covers-cert-xq", "cur": "covers-cur-xq", "cur_simultaneous": "covers-sim-xq",
                "recommendation": "covers-rec-default-xq", "attack": "covers-attack-xq"},
        notes=["note xq"],
    )


# what each field of _full_record() must show on the page (formatted by hand: 3 significant digits, etc.)
EXPECTED = {
    "froc_version": "9.8.7xq", "created": "2031-01-02T03:04:05Z", "question": "Question xq?", "seconds": "1 h 23 min",
    "timings": ["stagexq", "1 min 1 s"],
    "budget.alpha_forget": "forget risk ≤ 12.3%", "budget.alpha_utility": "utility risk ≤ 9.87%",
    "budget.delta": "at least 95.4%", "budget.pvalue": "hbxq", "budget.fwer": "holmxq", "budget.unit": "subjectxq",
    "budget.forget_loss": "lossfxq", "budget.utility_loss": "lossuxq", "budget.tau_forget": "oracle_q0.77",
    "budget.tau_forget_used": "used τ_f = chancexq", "budget.tau_forget_fallback": "Forget threshold: ", "data": ["userxq", "4,321"], "model": ["/models/xq", "1.23M"],
    "grid": "methxq", "order": "tunexq", "certified": "cfg-xq-1",
    "configs.config_id": "cfg-xq-1", "configs.method": "methxq", "configs.hparams": ["betaxq=0.777", "lr=3.33e-4"],
    "configs.steps": "2347", "configs.status": "failedxq", "configs.diverged_at": "at step 1999", "configs.error": "errxq",
    "configs.train_seconds": "12.3 s", "configs.score_seconds": "4.56 s", "configs.certified": "✓",
    "configs.fwer_level": "0.0118", "configs.why": "whyxq",
    **{f"configs.{k}": f"0.0{v}" for k, v in (
        ("p_forget", 101), ("p_utility", 102), ("p_value", 103), ("cur", 104), ("utility_ucb", 105),
        ("cur_simultaneous", 106), ("utility_ucb_simultaneous", 107), ("risk_forget_tune", 108),
        ("risk_forget_cal", 109), ("risk_forget_test", 111), ("risk_utility_tune", 112), ("risk_utility_cal", 113),
        ("risk_utility_test", 114))},
    "configs.cur_by_form": ["formxq", "0.0115"], "configs.risk_by_group": ["groupxq", "0.0116"],
    "configs.metrics": ["metricxq", "0.0117"], "configs.attacks": "attackxq", "attacks.status": "statusxq", "attacks.cur": "0.0121",
    "attacks.risk_forget_cal": "0.0122", "attacks.risk_forget_test": "0.0123", "attacks.n_test": "417",
    "attacks.p_value": "0.0124", "attacks.certified": "1 of 1 attacked certified", "attacks.details": "detailxq",
    "reference": ["original model", "0.0131", "0.0132"],
    "recommendation.config_id": "<code>cfg-xq-1</code>", "recommendation.reason": "reason xq",
    "recommendation.bound_forget": "forget risk ≤ 0.0201", "recommendation.bound_utility": "utility risk ≤ 0.0202",
    "recommendation.n_test_forget": "2,031", "recommendation.n_test_utility": "2,032",
    "recommendation.covers": "covers-rec-xq", "validity.test_checked": "1 of 2 certified configurations",
    "validity.n_certified": "3 configurations are certified; 2 were checked", "validity.test_exceed": "1 of 2",
    "validity.resplit": ["over 77 random", "3.03%", "5.05%", "6.06%", "notexq"], "attacks_certified": "attackxq",
    "calibration_size": ["111", "222", "333", "444", "0.0401", "0.0402", "0.0403", "0.0404", "1.5", "19 random",
                         "ncal-note-xq"],
    "covers": ["covers-cert-xq", "covers-cur-xq", "covers-sim-xq", "overs-attack-xq"], "notes": "note xq",
}


# a certified configuration has status "ok" (the default); a second configuration shows another status
DEFAULT_ON_PURPOSE = {"configs.status"}


def _unset_fields(obj, prefix: str = "") -> list[str]:
    """Fields of a record (recursively) still at their default: the test below must set every one."""
    out = []
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if v == default and prefix + f.name not in DEFAULT_ON_PURPOSE:
            out.append(prefix + f.name)
        if dataclasses.is_dataclass(v):
            out += _unset_fields(v, f"{prefix}{f.name}.")
    return out


def test_every_summary_field_is_set_and_shown(tmp_path):
    """A field renamed or added in froc.records fails here: the record below stops building (renamed),
    `_unset_fields` names it (added), or its value is missing from the page (the report reads the old name)."""
    rec = _full_record()
    cfg, attack = rec.configs[0], rec.configs[0].attacks["attackxq"]
    unset = _unset_fields(rec) + _unset_fields(cfg, "configs.") + _unset_fields(attack, "attacks.")
    assert unset == [], f"set these fields in _full_record and show them in the report: {unset}"
    checked = {k.split(".")[0] for k in EXPECTED}
    checked |= {k for k in EXPECTED}
    names = [f.name for f in dataclasses.fields(SweepSummary)]
    names += [f"{p}.{f.name}" for p, cls in (("budget", Budget), ("configs", ConfigRecord), ("attacks", AttackRecord),
                                             ("recommendation", Recommendation), ("validity", Validity))
              for f in dataclasses.fields(cls)]
    assert [n for n in names if n not in checked] == []
    text = _render(rec.to_dict(), tmp_path)  # through JSON and SweepSummary.from_dict, as `froc report` reads it
    missing = {k: v for k, v in EXPECTED.items() for s in ([v] if isinstance(v, str) else v) if s not in text}
    assert missing == {}


def test_p_value_labels_are_the_record_fields():
    assert set(P_LABELS) == {f.name for f in dataclasses.fields(ConfigRecord) if f.name.startswith("p_")}


def test_metric_order_names_are_registered_metrics():
    from froc.metrics.registry import METRICS

    assert [m for m in METRIC_ORDER if m not in METRICS] == []


def test_metric_direction_and_meaning_from_the_registry(page):
    # by definition of unlearning: less forget knowledge is better, more retain knowledge is better;
    # PrivLeak's ideal is 0 (a point), so it has no direction
    assert metric_info("knowledge/forget")[0] is False and metric_info("knowledge/retain")[0] is True
    assert metric_info("muse/privleak")[0] is None
    assert metric_info("forms/forget_per_form/form/qa")[0] is False  # a flattened name: its registered prefix
    assert metric_info("not/a_metric") == (None, None)
    sec = _section(page, "metrics")
    row = sec.split("<code>knowledge/forget</code>")[1].split("</tr>")[0]
    assert "<td>lower</td>" in row and "knowledge score" in row.lower()
    assert "<td>higher</td>" in sec.split("<code>knowledge/retain</code>")[1].split("</tr>")[0]


def test_tau_fallback_is_stated_as_what_was_used(small, tmp_path):
    small["budget"].update(tau_forget="oracle_q0.9", tau_forget_used="chance", tau_forget_fallback=True)
    small["notes"] = ["tau_forget: no oracle in the store, fell back to chance level"]
    text = _render(small, tmp_path)
    assert "used τ_f = chance" in text and "(configured: oracle_q0.9)" in text
    assert "above τ_f = chance." in text and "above τ_f = oracle_q0.9" not in text
    assert "fell back to chance level" in text
    # a run whose rule applied (no fallback) shows no "what was actually used" box for the threshold
    small["budget"].update(tau_forget_used="per form, the 0.9-quantile", tau_forget_fallback=False)
    small["notes"] = []
    assert "used τ_f =" not in _render(small, tmp_path / "ok")


def test_empty_checks_say_nothing_to_check(small, tmp_path):
    """Issue 17 §3: "0 of 0 certified ... consistent with the guarantee" was shown as a pass."""
    for c in small["configs"]:
        c["certified"] = False
    small["certified"], small["recommendation"]["config_id"] = [], None
    small["validity"].update(n_certified=0, test_checked=0, test_exceed=0)
    text = _render(small, tmp_path)
    assert "0 of 0" not in text and "consistent with the guarantee" not in text
    assert "nothing to check" in _section(text, "test")
    attacks = _section(text, "attacks")
    assert "nothing to re-certify" in attacks and "stay certified" not in attacks


def test_total_time_is_the_whole_run(small, tmp_path):
    small["seconds"] = 4000.0  # the whole run across resumes; the stages of the last part sum to 4.8 s
    small["timings"] = {"certify": 2.8, "report": 2.0}
    sec = _section(_render(small, tmp_path), "timings")
    assert "1 h 6 min" in sec and "4.8 s" not in sec


def test_wording_follows_the_data_source(page, small, tmp_path):
    assert "a forgotten person" in page and "family name, city or employer" in page
    small["data"]["source"] = "user"
    small["question"] = "Remove the 12 items of acme.jsonl from ./acme-model."
    user = _render(small, tmp_path)
    for phrase in ("forgotten person", "forgotten people", "family name, city or employer", "fictitious"):
        assert phrase not in user, phrase
    assert "a held-out forget probe" in user


def test_labels_name_method_and_varying_hyperparameters():
    rows = [ConfigRecord("npo-0123456789ab-s10", "npo", {"lr": 1e-4, "beta": 0.1, "rw": 1.0}, 10),
            ConfigRecord("npo-0123456789ac-s20", "npo", {"lr": 1e-3, "beta": 0.1, "rw": 1.0}, 20),
            ConfigRecord("ga-1", "ga", {"lr": 1e-4}, 10), ConfigRecord("ga-2", "ga", {"lr": 1e-4}, 10)]
    assert config_labels(rows) == {"npo-0123456789ab-s10": "npo lr=1e-4, 10 steps",
                                   "npo-0123456789ac-s20": "npo lr=1e-3, 20 steps",
                                   "ga-1": "ga 10 steps (ga-1)", "ga-2": "ga 10 steps (ga-2)"}  # same settings


def test_figures_and_tables_use_labels_not_cut_hashes(summary, page):
    from froc.report import plots

    d = load_summary(summary)
    shown = d.certified[:3]
    fig = plots.plot_test_check(shown, 0.2, 0.15, labels=[d.label(r) for r in shown])
    ticks = [t.get_text().replace("\n", " ") for t in fig.axes[1].get_xticklabels()]
    assert ticks == [d.labels[r.config_id] for r in shown] and not any("…" in t for t in ticks)
    text = page
    rec = d.recommended
    head = _section(text, "overview").split("</thead>")[0]
    assert "★ recommended: " + d.labels[rec.config_id] in head and "original model" in head and "retain oracle" in head
    assert re.search(r"[0-9a-f]{6}…", text) is None


def test_first_screen_side_by_side_and_certificate_statement(summary, page):
    over = _section(page, "overview")
    d = load_summary(summary)
    rec = summary["recommendation"]
    # the quoted bound is the one after selection (test split), not the recommended configuration's CUR
    assert f"quote forget risk ≤ {rec['bound_forget']:.3g} and utility risk ≤ {rec['bound_utility']:.3g}" in over
    cov = {k: str(escape(v)) for k, v in summary["covers"].items()}
    assert "POINTWISE" in over and cov["cur"] in over and cov["certified"] in over and cov["attack"][1:] in over
    assert "The retain oracle </strong>(exact retraining without the forget data) passes the same test" in over
    assert "The original model </strong>does not pass the test" in over
    compare = over.split("<table")[1].split("</table>")[0]
    assert compare.count("</th>") == 1 + 2 + 4  # label column, original, oracle, 4 certified (recommended first)
    cert_row = compare.split("<td>certified</td>")[1].split("</tr>")[0]
    assert cert_row.count('class="no"') == 1 and cert_row.count('class="yes"') == 5  # original ✗; oracle + 4 ✓
    assert over.index("★ recommended: " + d.labels[rec["config_id"]]) < over.index(d.label(d.certified[1]))


def test_oracle_that_fails_the_budget_is_said(small, tmp_path):
    small["reference"]["oracle"].update(certified=False, p_value=0.4, cur=0.31)
    over = _section(_render(small, tmp_path), "overview")
    assert "does NOT pass the same test: this budget is stricter than exact retraining meets (p = 0.4, CUR 0.31)" in over


def test_calibration_size_plot_draws_the_summary_curve(small, tmp_path):
    from froc.report import plots

    cs = small["calibration_size"]  # froc.risk.ncal_curve's keys
    fig = plots.plot_calibration_size(cs["sizes"], cs["mean_cur"], cs["mean_certified"], 0.2, "x", sd=cs["sd_cur"])
    ax, ax2 = fig.axes
    (cur,) = [ln for ln in ax.lines if ln.get_gid() == "ncal-cur"]
    (cnt,) = [ln for ln in ax2.lines if ln.get_gid() == "ncal-count"]
    assert list(cur.get_xdata()) == cs["sizes"] and list(cur.get_ydata()) == pytest.approx(cs["mean_cur"])
    assert list(cnt.get_ydata()) == cs["mean_certified"]
    assert '<section id="calibration-size">' in _render(small, tmp_path / "ok")
    small["calibration_size"] = {"sizes": "many", "cur": None}
    assert '<section id="calibration-size">' not in _render(small, tmp_path / "junk")


def test_summaries_written_before_the_records_still_render(small, tmp_path):
    old = {k: v for k, v in small.items() if k not in ("recommendation", "validity")}
    old["recommended"] = small["recommendation"]["config_id"]
    old["recommendation_reason"] = "old reason xq"
    old["validity"] = {"test_violations": 1, "n_certified": 6, "resplits": 50, "violation_rate": 0.02}
    d = load_summary(old)
    assert d.recommended_id == old["recommended"] and d.summary.validity.test_checked == 6
    text = _render(old, tmp_path)
    assert "old reason xq" in text and "1 of 6 certified configurations" in text and "over 50 random" in text


def test_recommendation_prints_the_exact_export_command(small, tmp_path):
    """Issue 17 §1: the report prints the command that writes the certified model."""
    rec = _section(_render(small, tmp_path / "run dir"), "recommendation")
    command = f"froc export '{tmp_path}/run dir' --out '{tmp_path}/run dir/model'"  # shell-quoted: a space
    assert f"<code>{escape(command)}</code>" in rec
