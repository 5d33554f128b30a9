"""The rendered page: sections, embedding, no external resources, escaping, degraded summaries."""

from __future__ import annotations

import copy
import json
import math
import re
import warnings

import pytest

from froc.report import load_summary, render_report, render_summary_file
from froc.report.html import ERROR_CLASS, SECTIONS, budget_sentence

HOSTILE = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def rendered(base_summary, tmp_path_factory):
    """The full fixture rendered once: (summary, html text, out dir)."""
    summary = copy.deepcopy(base_summary)
    out = tmp_path_factory.mktemp("report")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a section falling back to its error note warns: fail loudly here
        path = render_report(summary, out, extra={"git_commit": "abc123", "command": "froc run sweep.yaml"})
    assert summary == base_summary  # the renderer does not touch its input
    return summary, path.read_text(encoding="utf-8"), out


def _small(summary: dict, methods=("gd",), lrs=(3e-4,)) -> dict:
    """The fixture cut to a few methods and learning rates (fast to render). The default keeps gd at
    lr 3e-4: 3 configurations (10, 20, 40 steps), the one at 40 steps certified and attacked."""
    s = copy.deepcopy(summary)
    s["configs"] = [c for c in s["configs"] if c["method"] in methods and (lrs is None or c["hparams"]["lr"] in lrs)]
    keep = {c["config_id"] for c in s["configs"]}
    s["certified"] = [c for c in s["certified"] if c in keep]
    if s["recommendation"]["config_id"] not in keep:
        s["recommendation"]["config_id"] = s["certified"][0] if s["certified"] else None
    s["grid"]["methods"] = {m: v for m, v in s["grid"]["methods"].items() if m in methods}
    s["attacks_certified"] = {a: [c for c in ids if c in keep] for a, ids in s["attacks_certified"].items()}
    return s


def _render(summary, tmp_path, **kw) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = render_report(summary, tmp_path, **kw)
    text = path.read_text(encoding="utf-8")
    assert f'class="{ERROR_CLASS}"' not in text
    return text


def _assert_self_contained(text: str) -> None:
    assert "<script" not in text.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", text, re.I)
    assert "@import" not in text


def test_fixture_page_has_every_section_and_embedded_pngs(rendered):
    summary, text, out = rendered
    for _, title, _ in SECTIONS:
        assert f". {title}</h2>" in text, title
    assert f'class="{ERROR_CLASS}"' not in text
    pngs = sorted((out / "plots").glob("*.png"))
    # 5 landscapes + tradeoff + cur-by-form + risk-by-group + calibration-size + test-check + attacks
    assert len(pngs) == 11
    assert text.count('src="data:image/png;base64,') == len(pngs)
    for p in pngs:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    _assert_self_contained(text)
    assert len(text.encode()) < 3_000_000
    # plain-words budget and the recommendation
    assert "With probability at least 90% over the calibration sample, every certified configuration has " \
           "forget risk ≤ 20% and utility risk ≤ 15%." in text
    rec = summary["recommendation"]["config_id"]
    assert f"<code>{rec}</code>" in text.split('<section id="overview">')[0]  # in the banner, above the fold
    assert "abc123" in text  # extra provenance
    for cid in summary["certified"]:
        assert cid in text
    # one row per configuration (plus the two reference models) in the all-configurations table
    configs_section = text.split('<section id="configs">')[1].split("</section>")[0]
    assert configs_section.count("<tr") == 1 + len(summary["configs"]) + 2


def test_sections_follow_the_required_order(rendered):
    _, text, _ = rendered
    positions = [text.index(f'<section id="{sid}">') for sid in ["overview"] + [sid for sid, _, _ in SECTIONS]]
    assert positions == sorted(positions)


def test_data_text_is_escaped(summary, tmp_path):
    s = _small(summary)
    assert s["certified"] == [s["configs"][2]["config_id"]]
    s["configs"][0]["method"] = HOSTILE
    s["configs"][1]["hparams"]["lr"] = HOSTILE
    s["configs"][1]["hparams"]["note$"] = "$\\frac{1}{0}$"  # mathtext in a plot label must not break matplotlib
    s["configs"][2]["config_id"] = '"><img src=x onerror=alert(2)>'  # the certified, recommended one
    s["certified"] = [s["configs"][2]["config_id"]]
    s["recommendation"]["config_id"] = s["configs"][2]["config_id"]
    s["model"]["path"] = "<b>model</b>"
    s["question"] = "Forget <i>Ann</i> & co"
    s["recommendation"]["reason"] = HOSTILE
    s["notes"] = [HOSTILE]
    s["budget"]["tau_forget_used"] = HOSTILE
    s["timings"][HOSTILE] = 1.0
    s["attacks_certified"] = {HOSTILE: []}
    text = _render(s, tmp_path, extra={HOSTILE: HOSTILE})
    assert HOSTILE not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<img src=x" not in text and "&lt;img src=x onerror=alert(2)&gt;" in text
    assert "<b>model</b>" not in text and "<i>Ann</i>" not in text
    assert "Forget &lt;i&gt;Ann&lt;/i&gt; &amp; co" in text
    _assert_self_contained(text)
    # figure files get safe names whatever the method is called
    for p in (tmp_path / "plots").iterdir():
        assert re.fullmatch(r"\d\d-[a-z0-9-]+\.png", p.name), p.name


def test_no_attacks_and_no_oracle(summary, tmp_path):
    s = _small(summary)
    for c in s["configs"]:
        c["attacks"] = {}
    del s["attacks_certified"]
    del s["reference"]["oracle"]
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "10-attacks.png").write_bytes(b"stale figure of an earlier render")
    (tmp_path / "plots" / "mine.png").write_bytes(b"a user's file")
    text = _render(s, tmp_path)
    assert not (tmp_path / "plots" / "10-attacks.png").exists()
    assert (tmp_path / "plots" / "mine.png").exists()
    assert '<section id="attacks">' not in text
    assert "Attacks</a>" not in text  # not in the table of contents either
    assert ". Timings</h2>" in text
    assert "No retain oracle in this run" in text and "The retain oracle" not in text
    assert "retain oracle</th>" not in text and "original model</th>" in text


def test_no_certified_configuration_shows_the_closest(summary, tmp_path):
    s = _small(summary)
    for c in s["configs"]:
        c["certified"] = False
        c.pop("attacks", None)
    s["certified"], s["recommendation"]["config_id"] = [], None
    s.pop("attacks_certified")
    text = _render(s, tmp_path)
    assert "No configuration meets the budget" in text
    assert "Closest configurations" in text
    assert "lowest CUR with utility bound ≤ α_u" in text
    assert "No configuration is certified." in text
    # issue 17 §3: inside both pointwise bounds yet not certified is explained, with the p-values that decided it
    assert "1 configuration has CUR ≤ α_f and a utility bound ≤ α_u but was not certified" in text


def test_all_diverged(summary, tmp_path):
    s = _small(summary)
    for c in s["configs"]:
        c.update(status="diverged", certified=False, cur=None, utility_ucb=None, attacks={}, cur_by_form={},
                 risk_by_group={}, diverged_at=3)
    s["certified"], s["recommendation"]["config_id"] = [], None
    s.pop("attacks_certified")
    s.pop("validity")
    text = _render(s, tmp_path)
    assert "No configuration meets the budget" in text
    assert "diverged at step 3" in text
    assert "Re-split study: not run." in text


def test_single_lr_single_step_method(summary, tmp_path):
    s = _small(summary)
    one = next(c for c in s["configs"] if c["certified"])
    one.update(method="solo", config_id="solo-1", attacks={})
    s["configs"] = [one]
    s["certified"], s["recommendation"]["config_id"] = ["solo-1"], "solo-1"
    s.pop("reference"), s.pop("attacks_certified"), s.pop("calibration_size")
    text = _render(s, tmp_path)
    assert "Recommended: solo <code>solo-1</code>" in text
    assert [p.name for p in sorted((tmp_path / "plots").iterdir())][0] == "01-landscape-solo.png"


@pytest.mark.parametrize("case", ["empty", "only_configs", "nan_everywhere", "junk_types"])
def test_degenerate_summaries_render(summary, tmp_path, case):
    if case == "empty":
        s = {}
    elif case == "only_configs":
        s = {"configs": [{**c, "attacks": {}} for c in _small(summary)["configs"]]}
    elif case == "nan_everywhere":
        s = _small(summary)
        s["budget"] = {k: math.nan for k in s["budget"]}
        s["seconds"] = math.nan
        s["reference"]["original"]["cur_by_form"] = {"qa": None}
        for c in s["configs"]:
            for k in ("cur", "utility_ucb", "risk_forget_test", "p_value"):
                c[k] = math.nan
            c["metrics"] = {k: None for k in c.get("metrics", {})}
            c["hparams"] = None
            c["steps"] = None
        s["validity"] = {"test_checked": math.nan, "resplit": {"violation_rate": math.nan, "resplits": None}}
        s["timings"] = {"sweep": None}
    else:
        s = {"configs": [1, "x", {"method": None, "hparams": [1, 2], "attacks": {"a": None}}], "budget": "hb",
             "certified": None, "reference": {"original": 3}, "validity": [], "timings": {"x": "fast"},
             "data": {"n_forget_cal": "300"}, "model": "m", "grid": 7}
    text = _render(s, tmp_path)
    assert ". Run</h2>" in text and ". Timings</h2>" in text
    _assert_self_contained(text)


def test_render_summary_file_accepts_nan_json(summary, tmp_path):
    s = {"configs": [{**summary["configs"][0], "cur": math.nan}], "timings": {"sweep": math.inf}}
    (tmp_path / "summary.json").write_text(json.dumps(s))  # writes NaN and Infinity literally
    path = render_summary_file(tmp_path / "summary.json")
    assert path == tmp_path / "report.html" and path.exists()


def test_budget_sentence_in_plain_words():
    b = load_summary({"budget": {"alpha_forget": 0.2, "alpha_utility": 0.15, "delta": 0.05}}).budget
    assert budget_sentence(b) == ("With probability at least 95% over the calibration sample, every certified "
                                  "configuration has forget risk ≤ 20% and utility risk ≤ 15%.")
    assert "not recorded" in budget_sentence(load_summary({}).budget)
    assert budget_sentence(load_summary({"budget": {"alpha_forget": 0.1}}).budget).startswith(
        "Every certified configuration has forget risk ≤ 10%")


def test_rejects_non_dict_summary(tmp_path):
    with pytest.raises(TypeError, match="summary must be a dict"):
        render_report([1, 2], tmp_path)


def test_resplit_study_is_descriptive_never_a_verdict(summary, tmp_path):
    """Issue 12 §6: the re-split study's limit assumed independent re-splits; the page must not call it a
    pass or a failure of the guarantee (the old page printed "consistent with the guarantee")."""
    s = _small(summary)
    s["validity"]["resplit"].update(significant_exceed_rate=0.32, expected_at_most=0.15)
    text = _render(s, tmp_path)
    assert "consistent with the guarantee" not in text and "exceeds the guarantee" not in text
    assert "Re-split study (descriptive, not a test of the guarantee" in text
    assert "above the budget in 32% of them (at most 15% expected when the certificate is valid)" in text
    s["validity"]["resplit"].update(resplits=0, significant_exceed_rate=None, heldout_exceed_rate=None)
    assert "nothing to check (no test split to re-split)" in _render(s, tmp_path)


def test_run_section_lists_each_methods_swept_values_in_words(summary, tmp_path):
    """The grid's methods appear one row each with the values they sweep (the fixture: npo lr 1e-4, 3e-4, 1e-3
    and beta 0.05, 0.1, 0.5), not as one JSON blob."""
    text = _render(_small(summary, methods=("npo", "gd"), lrs=None), tmp_path)
    assert "<tr><td>grid: npo</td><td>lr = 0.0001, 0.0003, 0.001; beta = 0.05, 0.1, 0.5</td></tr>" in text
    assert "<tr><td>grid: gd</td><td>lr = 0.0001, 0.0003, 0.001</td></tr>" in text and '{"lr"' not in text
    assert "<tr><td>grid steps</td><td>10, 20, 40</td></tr>" in text  # the fixture's STEPS, not "[10, 20, 40]"
