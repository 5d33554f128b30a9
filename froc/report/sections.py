"""The report's sections below the first screen, as template context (lists of blocks, see ``blocks``).

Each builder takes the report data, the figure writer and the optional ``extra`` provenance and
returns a list of blocks, or None when the section does not apply (it is then left out of the page
and of the table of contents). Every configuration is named by its label (method + the
hyperparameters that vary); the full config id is shown next to it where a user may need it.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from froc.records import ConfigRecord
from froc.report import plots
from froc.report.blocks import (
    Figures,
    b,
    box,
    code,
    h3,
    para,
    table,
)
from froc.report.data import (
    FORM_ORDER,
    GROUP_ORDER,
    ReportData,
    closest_configs,
    landscape_panels,
    ordered_keys,
    shift_series,
    swept_extras,
)
from froc.report.fmt import (
    MISSING,
    fmt,
    fmt_hparams,
    fmt_int,
    fmt_params,
    fmt_seconds,
    fmt_value,
    num,
)

PVALUE_NAMES = {"hb": "Hoeffding–Bentkus", "hoeffding": "Hoeffding", "bentkus": "Bentkus",
                "binomial": "exact binomial", "wsr": "Waudby-Smith–Ramdas (betting)"}
FWER_NAMES = {"holm": "Holm step-down", "bonferroni": "Bonferroni", "fixed_sequence": "fixed-sequence",
              "fixed-sequence": "fixed-sequence", "graph": "graph-based", "pareto": "Pareto Testing", "none": "no"}
DATA_LABELS = {"source": "data source", "forget_people": "people to forget", "people": "people in the benchmark",
               "forget_request": "items in the forget request", "retain": "retain items",
               "n_forget_cal": "forget samples, calibration", "n_forget_test": "forget samples, test",
               "n_utility_cal": "utility samples, calibration", "n_utility_test": "utility samples, test",
               "n_tune": "tune samples", "n_forget_tune": "forget samples, tune",
               "n_utility_tune": "utility samples, tune", "unit": "sample unit"}
# the p-values of a ConfigRecord (a test checks these are exactly its p_* fields)
P_LABELS = {"p_forget": "p forget", "p_utility": "p utility", "p_value": "p tested"}
P_MEANING = ("p forget: the p-value of the null hypothesis 'forget risk > α_f'; p utility: of 'utility risk > α_u'; "
             "p tested: the larger of the two, the one the family-wise procedure tests; FWER level: the level it "
             "had to pass there (— where the procedure stopped before reaching it).")
BETTER = {True: "higher", False: "lower", None: MISSING}


def wording(builtin: bool) -> dict[str, str]:
    """Phrases that depend on the data source: the built-in benchmark's people, or the user's own data."""
    if builtin:
        return {"forget_probe": "a held-out probe about a forgotten person (other phrasings and forms than the "
                                "forget request)",
                "utility_probe": "something the original model knew (retained people, neighbours of the forgotten "
                                 "people, world knowledge)",
                "neighbours": "neighbours (people who share a family name, city or employer with a forgotten "
                              "person)"}
    return {"forget_probe": "a held-out forget probe (a question about the forget data that the unlearning method did "
                            "not see)",
            "utility_probe": "a utility probe (retain, neighbour and world groups of the probe file) that the "
                             "original model knew",
            "neighbours": "neighbour probes (items close to the forget data)"}


def json_text(v: Any, limit: int = 2000) -> str:
    s = v if isinstance(v, str) else json.dumps(v, default=str, ensure_ascii=False)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def within(value: float | None, alpha: float | None) -> bool | None:
    return None if value is None or alpha is None else value <= alpha


def status_counts(rows: Sequence[ConfigRecord]) -> str:
    counts: dict[str, int] = {}
    for r in rows:
        if not r.ok:
            counts[r.status] = counts.get(r.status, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


def name_cell(d: ReportData, r: ConfigRecord) -> list:
    """A configuration's label with its full id underneath (references: their name only)."""
    if r.method == "reference":
        return [d.label(r)]
    return [d.label(r), {"br": True}, code(r.config_id)]


def statistics_line(d: ReportData) -> str | None:
    bd = d.budget
    bits = []
    if bd.pvalue:
        bits.append(f"{PVALUE_NAMES.get(bd.pvalue.lower(), bd.pvalue)} p-values")
    if bd.fwer:
        n = len(d.configs)
        bits.append(f"{FWER_NAMES.get(bd.fwer.lower(), bd.fwer)} family-wise error control over {n} "
                    f"configuration{'s' if n != 1 else ''}")
    if bd.unit:
        bits.append("one sample per probe" if bd.unit == "probe" else
                    f"sampling unit: the {bd.unit} (one loss per {bd.unit}, n counts {bd.unit}s)")
    return ("Statistics: " + ", ".join(bits) + " (Learn-then-Test).") if bits else None


# ---- run ----


def sec_run(d: ReportData, figs: Figures, extra: Mapping[str, Any] | None) -> list:
    s, facts = d.summary, []
    if s.model:
        path, params = s.model.get("path"), num(s.model.get("params"))
        facts.append(("model", [code(path if path is not None else MISSING)]
                      + ([f" ({fmt_params(params)} parameters)"] if params is not None else [])))
        facts += [(f"model {k}", json_text(v)) for k, v in s.model.items() if k not in ("path", "params")]
    for k, v in s.data.items():
        facts.append((DATA_LABELS.get(k, k.replace("_", " ")), fmt_int(v) if num(v) is not None else json_text(v)))
    if d.configs:
        bad = status_counts(d.configs)
        facts.append(("grid", f"{len(d.configs)} configurations over {len(d.methods)} method"
                              f"{'s' if len(d.methods) != 1 else ''}" + (f" ({bad})" if bad else "")))
    listed = lambda x: ", ".join(json_text(e) for e in (x if isinstance(x, list) else [x]))  # noqa: E731
    for k, v in s.grid.items():
        if k == "methods" and isinstance(v, Mapping) and all(isinstance(g, Mapping) for g in v.values()):
            # one row per method: "lr = 0.002, 0.003; retain_weight = 2, 5" (the values it sweeps)
            facts += [(f"grid: {m}", "; ".join(f"{h} = {listed(x)}" for h, x in g.items()) or "(defaults)")
                      for m, g in v.items()]
        else:
            facts.append((f"grid {k}", listed(v)))
    if s.order:  # {"procedure", "learned_on", "order"}: the keys with a value, in words
        order = s.order if isinstance(s.order, Mapping) else {"order": s.order}
        facts.append(("testing order", "; ".join(f"{k.replace('_', ' ')}: {json_text(v)}" for k, v in order.items()
                                                 if v is not None) or "-"))
    bd = d.budget
    for label, v in (("forget loss", bd.forget_loss), ("utility loss", bd.utility_loss),
                     ("p-value", bd.pvalue), ("FWER procedure", bd.fwer), ("sampling unit", bd.unit)):
        if v:
            facts.append((label, v))
    facts += [(k, v) for k, v in (("froc version", s.froc_version), ("created", s.created)) if v]
    if s.seconds is not None:
        facts.append(("total time", f"{fmt_seconds(s.seconds)} (the whole run, across resumes)"))
    out = [table(["", "value"], facts)] if facts else [para("No run information in this summary.", cls="note")]
    if extra:
        out += [h3("Additional information"), table(["", "value"], [(str(k), json_text(v)) for k, v in extra.items()])]
    return out


# ---- recommendation ----


def _bounds_table(d: ReportData, r: ConfigRecord) -> dict:
    rec = d.summary.recommendation
    return table(["", "forget", "utility"], [
        ["bound after selection (test split)", fmt(rec.bound_forget), fmt(rec.bound_utility)],
        ["test samples", fmt_int(rec.n_test_forget), fmt_int(rec.n_test_utility)],
        ["CUR / utility bound (pointwise, calibration)", fmt(r.cur), fmt(r.utility_ucb)],
        ["simultaneous bound (whole grid)", fmt(r.cur_simultaneous), fmt(r.utility_ucb_simultaneous)],
        ["empirical risk, calibration / test", f"{fmt(r.risk_forget_cal)} / {fmt(r.risk_forget_test)}",
         f"{fmt(r.risk_utility_cal)} / {fmt(r.risk_utility_test)}"],
        ["p-value (p forget, p utility)", fmt(r.p_forget), fmt(r.p_utility)],
    ], numeric=(1, 2))


def _not_certified_within(d: ReportData) -> list:
    """Why configurations whose pointwise bounds are within budget were not certified."""
    bd = d.budget
    rows = [r for r in d.configs if r.ok and not r.certified and within(r.cur, bd.alpha_forget)
            and (bd.alpha_utility is None or within(r.utility_ucb, bd.alpha_utility))]
    if not rows:
        return []
    how = FWER_NAMES.get((bd.fwer or "").lower(), bd.fwer or "the family-wise")
    return [para(f"{len(rows)} configuration{'s have' if len(rows) != 1 else ' has'} CUR ≤ α_f and a utility bound "
                 f"≤ α_u but {'were' if len(rows) != 1 else 'was'} not certified: those bounds are pointwise (δ for "
                 f"one configuration), while certification tests each p-value after {how} correction over "
                 f"{len(d.configs)} configurations. The p-values that decided it:", cls="small"),
            table(["configuration", P_LABELS["p_forget"], P_LABELS["p_utility"], P_LABELS["p_value"],
                   "FWER level", "why"],  # the level p tested had to pass (None: the procedure stopped before it)
                  [[name_cell(d, r), fmt(r.p_forget), fmt(r.p_utility), fmt(r.p_value),
                    fmt(getattr(r, "fwer_level", None)), getattr(r, "why", None) or MISSING] for r in rows[:10]],
                  numeric=(1, 2, 3, 4)),
            para(P_MEANING, cls="small")]


def sec_recommendation(d: ReportData, figs: Figures, extra) -> list:
    bd, n, k = d.budget, len(d.configs), len(d.certified)
    rec = d.summary.recommendation
    if d.recommended is not None:
        r = d.recommended
        body = [h3("Recommended: ", d.label(r)),
                para("config id ", code(r.config_id), f" · method {r.method}, {fmt_hparams(r.hparams)}, "
                     f"{fmt_value(r.steps)} step{'' if r.steps == 1 else 's'}"),
                _bounds_table(d, r)]
        if rec.reason:
            body.append(para(b("Why: "), rec.reason))
        if d.run_dir is not None:
            from froc.sweep.export import export_command

            body.append(para(b("Export this model: "), code(export_command(d.run_dir)),
                             " (re-trains it deterministically from the stored config, checks its scores against "
                             "the certified ones, and writes the weights with their certificate)."))
        body.append(para(f"{k} of {n} configurations are certified. The bound to quote is the first row ("
                         f"{rec.covers or d.summary.covers.get('recommendation', '')}); the CURs below it are "
                         "pointwise and were used to select this configuration. " + P_MEANING, cls="small"))
        over = [nm for nm, v, a in (("forget", r.risk_forget_test, bd.alpha_forget),
                                    ("utility", r.risk_utility_test, bd.alpha_utility)) if within(v, a) is False]
        if over:
            body.append(para(f"Note: on the held-out test split its {' and '.join(over)} risk exceeds the budget. "
                             "The guarantee allows this with probability up to δ; see the test-split check.",
                             cls="small"))
        return [box("card ok", *body)]
    out = []
    if rec.config_id:
        out.append(para(f"The summary recommends '{rec.config_id}', which is not among its configurations.",
                        cls="note"))
    if d.certified:
        return out + [box("card ok", para(f"The summary names no recommended configuration, but {k} of {n} "
                                          "configurations are certified: see the certified set."))]
    scored = [r for r in d.configs if r.ok and r.cur is not None and r.utility_ucb is not None]
    bits = []
    if bd.alpha_forget is not None:
        bits.append(f"{sum(r.cur <= bd.alpha_forget for r in scored)} have CUR ≤ α_f = {fmt(bd.alpha_forget)}")
    if bd.alpha_utility is not None:
        bits.append(f"{sum(r.utility_ucb <= bd.alpha_utility for r in scored)} have a utility bound ≤ α_u = "
                    f"{fmt(bd.alpha_utility)}")
    bad = status_counts(d.configs)
    body = [h3("No configuration meets the budget"),
            para(f"None of the {n} configurations could be certified" + (f" ({bad})" if bad else "") + ". "
                 + (f"Of the {len(scored)} scored ones, " + " and ".join(bits) + "." if bits and scored else ""))]
    if rec.reason:
        body.append(para(rec.reason, cls="small"))
    body += _not_certified_within(d)
    closest = closest_configs(d.configs, bd)
    if closest:
        body += [h3("Closest configurations"),
                 table(["criterion", "configuration", "CUR (pointwise)", "utility bound (pointwise)", "p-value"],
                       [[c.criterion, name_cell(d, c.row), fmt(c.row.cur), fmt(c.row.utility_ucb), fmt(c.row.p_value)]
                        for c in closest], numeric=(2, 3, 4))]
    body.append(para("What can help: a larger calibration sample (the bounds tighten roughly as 1/√n), a looser "
                     "budget, or extending the grid where the landscapes below come closest to the budget.",
                     cls="small"))
    return out + [box("card warn", *body)]


def sec_certified(d: ReportData, figs: Figures, extra) -> list:
    if not d.certified:
        return [para("No configuration is certified.", cls="note")]
    rows, classes = [], []
    for r in d.certified:
        is_rec = r is d.recommended
        rows.append([(["★ "] if is_rec else []) + name_cell(d, r), fmt(r.p_forget), fmt(r.p_utility), fmt(r.p_value),
                     fmt(r.cur), fmt(r.utility_ucb), fmt(r.risk_forget_test), fmt(r.risk_utility_test)])
        classes.append("rec cert" if is_rec else "cert")
    return [para(f"{len(d.certified)} of {len(d.configs)} configurations are certified (simultaneously, as a set); "
                 "sorted by utility bound, ★ = recommended. CUR and utility bound are POINTWISE bounds from the "
                 "calibration split; the test risks come from the held-out test split. " + P_MEANING, cls="small"),
            table(["configuration", P_LABELS["p_forget"], P_LABELS["p_utility"], P_LABELS["p_value"],
                   "CUR (pointwise)", "utility bound (pointwise)", "forget risk (test)", "utility risk (test)"],
                  rows, numeric=range(1, 8), classes=classes, wide=True)]


# ---- figures ----


def sec_landscapes(d: ReportData, figs: Figures, extra) -> list:
    if not d.methods:
        return [para("No configurations to draw.", cls="note")]
    af = d.budget.alpha_forget
    out = [para("Colour = CUR (pointwise) on a fixed 0–1 scale for every method (light = low risk). The dashed blue "
                f"line is the CUR = α_f{' = ' + fmt(af) if af is not None else ''} contour, interpolated between "
                "cells; on grids with gaps (diverged, failed, not run) or of a single cell it outlines the cells with "
                "CUR ≤ α_f. Black border and blue star = certified. Grey hatched = diverged (div.) or failed; "
                "white = not run.", cls="small")]
    for m in d.methods:
        panels = landscape_panels(d.configs, m)
        if not panels:
            continue
        extras = swept_extras([r for r in d.configs if r.method == m])
        how = {"per-value": f" One panel per value of {', '.join(extras)}.",
               "best-over": f" Too many combinations of {', '.join(extras)} to draw one panel each: every cell "
                            "shows the lowest CUR over them and is marked certified when any configuration in it is."
               }.get(panels[0].mode, "")
        n_cert = sum(r.certified for r in d.configs if r.method == m)
        out.append(figs.figure(plots.plot_landscape(panels, af, title=m), f"landscape-{m}", f"CUR landscape of {m}",
                               [b(m), f": CUR over learning rate × steps; {n_cert} certified.{how}"]))
    return out


def sec_tradeoff(d: ReportData, figs: Figures, extra) -> list:
    if not any(r.cur is not None and r.utility_ucb is not None for r in d.configs):
        return [para("No configuration has both a CUR and a utility bound.", cls="note")]
    bd = d.budget
    fig = plots.plot_tradeoff(d.configs, d.methods, bd.alpha_forget, bd.alpha_utility, d.reference, d.recommended_id)
    caption = ("Each point is one configuration: how much may still be known (CUR, x) against how much utility may "
               "be lost (utility bound, y); both are pointwise upper bounds, lower is better. The green box is the "
               "budget; certified configurations are stars (a point inside the box that is not a star was not "
               "certified after the family-wise correction). Crosses diverged or failed.")
    refs = [t for nm, t in (("original", "square = original model"),
                            ("oracle", "diamond = retain oracle (trained without the forget data)")) if nm in d.reference]
    if refs:
        caption += " Reference models: " + "; ".join(refs) + "."
    return [figs.figure(fig, "tradeoff", "forgetting vs utility scatter", caption)]


def sec_shift(d: ReportData, figs: Figures, extra) -> list:
    series = shift_series(d)
    out = []
    who = ("the recommended and top certified configurations" if d.certified else
           "the configurations closest to the budget (none is certified)")
    forms = ordered_keys([r.cur_by_form for _, r in series], FORM_ORDER)
    if forms and any(v is not None for _, r in series for v in r.cur_by_form.values()):
        out.append(figs.figure(plots.plot_cur_by_form(series, forms, d.budget.alpha_forget), "cur-by-form",
                               "CUR by probe form",
                               f"CUR per probe form (POINTWISE: one bound per form, not corrected for the number of "
                               f"forms) for {who}, next to the reference models. Forms further from the forget "
                               "request's question–answer pairs (cloze, multiple choice, yes/no, reverse question) "
                               "reveal knowledge that survives a shallow unlearning; bars above the dashed α_f line "
                               "mean the guarantee does not extend to that form on its own."))
        out.append(table(["model"] + forms, [[lab] + [fmt(r.cur_by_form.get(f)) for f in forms] for lab, r in series],
                         numeric=range(1, len(forms) + 1)))
    groups = ordered_keys([r.risk_by_group for _, r in series], GROUP_ORDER)
    if groups and any(v is not None for _, r in series for v in r.risk_by_group.values()):
        bd = d.budget
        out.append(figs.figure(plots.plot_risk_by_group(series, groups, bd.alpha_forget, bd.alpha_utility),
                               "risk-by-group", "risk by probe group",
                               "Empirical loss rate per probe group. forget: share of forget probes still known "
                               "(forget loss); neighbour, retain, world: share of probes the original model knew and "
                               f"this one no longer does (utility loss). Damage to {wording(d.builtin)['neighbours']} "
                               "is the first sign of over-forgetting. Dashed: α_f over forget, α_u (a pooled budget) "
                               "over the others."))
        out.append(table(["model"] + groups, [[lab] + [fmt(r.risk_by_group.get(g)) for g in groups]
                                              for lab, r in series], numeric=range(1, len(groups) + 1)))
    return out or [para("No per-form or per-group risks in this summary.", cls="note")]
