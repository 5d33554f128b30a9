"""Assemble the self-contained HTML report from a sweep's summary.json.

One page, no external resources: inline CSS, figures embedded as base64 PNG data
URIs (and also written to `out_dir/plots/`). Every piece of text that comes from
the data goes through `esc` (html.escape); HTML built here is wrapped in `H` so the
table helpers know not to escape it twice. A section that fails to render (a bug
or data too odd to draw) is replaced by a visible error note and a warning, so a
long sweep never ends without its report.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from matplotlib.figure import Figure

from froc.report import plots
from froc.report.data import (
    FORM_ORDER, GROUP_ORDER, METRIC_ORDER, Budget, ConfigRow, ReportData, closest_configs, landscape_panels,
    load_summary, ordered_keys, shift_series, swept_extras,
)
from froc.report.fmt import MISSING, fmt, fmt_hparams, fmt_int, fmt_params, fmt_seconds, fmt_value, num, pct

DPI = 100
ERROR_CLASS = "froc-section-error"
SECTIONS: tuple[tuple[str, str], ...] = (
    ("question", "Question and budget"),
    ("recommendation", "Recommendation"),
    ("certified", "Certified set"),
    ("landscapes", "Risk landscapes"),
    ("tradeoff", "Forgetting vs utility"),
    ("shift", "Semantic shift"),
    ("test", "Test-split check"),
    ("attacks", "Attacks"),
    ("configs", "All configurations"),
    ("timings", "Timings"),
)
PVALUE_NAMES = {"hb": "Hoeffding–Bentkus", "hoeffding": "Hoeffding", "bentkus": "Bentkus",
                "binomial": "exact binomial", "wsr": "Waudby-Smith–Ramdas (betting)"}
FWER_NAMES = {"holm": "Holm step-down", "bonferroni": "Bonferroni", "fixed_sequence": "fixed-sequence",
              "fixed-sequence": "fixed-sequence", "graph": "graph-based", "none": "no"}
DATA_LABELS = {"forget_people": "people to forget", "n_forget_cal": "forget probes, calibration",
               "n_forget_test": "forget probes, test", "n_utility_cal": "utility probes, calibration",
               "n_utility_test": "utility probes, test", "n_tune": "tune probes"}
YES, NO, UNKNOWN = "✓", "✗", "?"

CSS = """
body{font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif;color:#1d1d1f;
 background:#fafafa;margin:0;line-height:1.45;font-size:15px}
main{max-width:1120px;margin:0 auto;padding:24px 28px 60px;background:#fff}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:36px 0 10px;padding-top:8px;border-top:1px solid #ddd}
h3{font-size:16px;margin:16px 0 6px}
.sub{color:#555;margin:0 0 10px}.question{font-size:17px;margin:10px 0}
.banner{padding:10px 14px;border-radius:6px;margin:12px 0;font-weight:600}
.banner.ok,.card.ok{background:#e8f5e9;border-left:5px solid #2e7d32}
.banner.warn,.card.warn{background:#fff4e5;border-left:5px solid #ef6c00}
.card{padding:10px 16px;border-radius:6px;margin:10px 0}.card h3{margin-top:6px}
.guarantee{background:#f1f5fb;border-left:5px solid #1f5fbf;padding:8px 16px;border-radius:6px}
nav ol{columns:2;margin:6px 0 0;padding-left:22px;font-size:14px}nav a{color:#1f5fbf;text-decoration:none}
table{border-collapse:collapse;margin:8px 0 12px;font-size:13px}
th,td{padding:3px 9px;border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:top}
th{background:#f3f3f3;font-weight:600;position:sticky;top:0}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.cert td{background:#eef7ee}tr.rec td{font-weight:600}tr.bad td{color:#888}
tr.ref td{background:#f5f5f5;font-style:italic}
.wide{overflow-x:auto;max-height:640px;overflow-y:auto;border:1px solid #eee}
figure{margin:12px 0 20px}figure img{max-width:100%;height:auto;display:block}
figcaption{font-size:13px;color:#444;max-width:900px;margin-top:4px}
.note{color:#555;font-size:14px}.small{font-size:13px;color:#555}
.yes{color:#2e7d32;font-weight:700}.no{color:#c62828;font-weight:700}
.bar{background:#7aa6de;height:10px;border-radius:2px}
code{font-size:13px;background:#f3f3f3;padding:0 3px;border-radius:3px}
.froc-section-error{color:#b00020;background:#fdecea;padding:8px;border-radius:4px}
footer{margin-top:40px;color:#777;font-size:12px}
"""


class H(str):
    """A string that is already HTML (built here, data inside escaped); not escaped again."""


def esc(x: Any) -> H:
    """HTML-escape any value (quotes too)."""
    if isinstance(x, H):
        return x
    return H(html.escape("" if x is None else str(x), quote=True))


def _cell(x: Any) -> H:
    return x if isinstance(x, H) else esc(x)


def _cls(cls: str) -> str:
    return f' class="{cls}"' if cls else ""


def _table(headers: Sequence[Any], rows: Iterable[Sequence[Any]], *, numeric: Iterable[int] = (),
           row_classes: Sequence[str] | None = None, wide: bool = False) -> H:
    """A plain table. Cells are text (escaped) or `H`; columns in `numeric` are right-aligned."""
    numeric = set(numeric)
    head = "".join(f'<th{_cls("n" if i in numeric else "")}>{_cell(h)}</th>' for i, h in enumerate(headers))
    body = []
    for k, row in enumerate(rows):
        cls = row_classes[k] if row_classes and row_classes[k] else ""
        tds = "".join(f'<td{_cls("n" if i in numeric else "")}>{_cell(c)}</td>' for i, c in enumerate(row))
        body.append(f"<tr{_cls(cls)}>{tds}</tr>")
    t = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return H(f'<div class="wide">{t}</div>' if wide else t)


def _p(text: Any, cls: str = "") -> H:
    return H(f"<p{_cls(cls)}>{_cell(text)}</p>")


def _flag(x: bool | None) -> H:
    if x is None:
        return H(UNKNOWN)
    return H(f'<span class="yes">{YES}</span>' if x else f'<span class="no">{NO}</span>')


def _within(value: float | None, alpha: float | None) -> bool | None:
    return None if value is None or alpha is None else value <= alpha


_FIGURE_NAME = re.compile(r"\d\d-[a-z0-9-]+\.png")


class _Page:
    """Collects the figures: writes each PNG to plots/ and returns its <figure> with a data URI."""

    def __init__(self, plots_dir: Path):
        self.plots_dir = plots_dir
        self.count = 0
        self.files: list[Path] = []

    def figure(self, fig: Figure, name: str, alt: str, caption: H | str) -> H:
        self.count += 1
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "figure"
        path = self.plots_dir / f"{self.count:02d}-{slug}.png"
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
        png = buf.getvalue()
        path.write_bytes(png)
        self.files.append(path)
        uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        return H(f'<figure><img src="{uri}" alt="{esc(alt)}"><figcaption>{_cell(caption)}</figcaption></figure>')


# ---- plain words ----


def budget_sentence(b: Budget) -> str:
    """The certificate in one sentence (plain text)."""
    parts = []
    if b.alpha_forget is not None:
        parts.append(f"forget risk ≤ {pct(b.alpha_forget)}")
    if b.alpha_utility is not None:
        parts.append(f"utility risk ≤ {pct(b.alpha_utility)}")
    if not parts:
        return "The risk budget is not recorded in this summary."
    claim = "every certified configuration has " + " and ".join(parts)
    if b.delta is not None:
        return f"With probability at least {pct(1 - b.delta)} over the calibration sample, {claim}."
    return f"{claim[0].upper()}{claim[1:]} (the confidence level is not recorded)."


def risk_definitions(b: Budget) -> list[str]:
    """Plain-words definitions of forget risk, utility risk and CUR for this budget's losses (plain text)."""
    tau = f" τ_f = {b.tau_forget}" if b.tau_forget else " τ_f"
    if b.forget_loss in (None, "binary"):
        forget = ("Forget risk = the probability that a forgotten fact is still known: a held-out probe about a "
                  "forgotten person (other phrasings and forms than the forget request) scores above the "
                  f"threshold{tau}.")
    else:
        forget = (f"Forget risk = the mean per-probe forget loss (the '{b.forget_loss}' loss, in [0, 1]) on "
                  "held-out probes about the forgotten people.")
    if b.utility_loss in (None, "binary"):
        utility = ("Utility risk = the probability that something the original model knew (retained people, "
                   "neighbours of the forgotten people, world knowledge) is no longer known.")
    else:
        utility = (f"Utility risk = the mean per-probe utility loss (the '{b.utility_loss}' loss, in [0, 1]) on "
                   "retain, neighbour and world-knowledge probes.")
    conf = f" at confidence {pct(1 - b.delta)}" if b.delta is not None else ""
    cur = (f"CUR (Conformal Unlearning Risk) = the upper confidence bound on the forget risk{conf}; the utility "
           "bound is the same for the utility risk. A configuration is certified when both risks are shown to be "
           "within budget after a family-wise correction over the whole grid, so the guarantee covers the "
           "certified set as a whole.")
    return [forget, utility, cur]


def _method_line(b: Budget, n_configs: int) -> str | None:
    bits = []
    if b.pvalue:
        bits.append(f"{PVALUE_NAMES.get(b.pvalue.lower(), b.pvalue)} p-values")
    if b.fwer:
        bits.append(f"{FWER_NAMES.get(b.fwer.lower(), b.fwer)} family-wise error control over "
                    f"{n_configs} configuration{'s' if n_configs != 1 else ''}")
    return ("Statistics: " + ", ".join(bits) + " (Learn-then-Test).") if bits else None


def _json_text(v: Any, limit: int = 2000) -> str:
    s = v if isinstance(v, str) else json.dumps(v, default=str, ensure_ascii=False)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _status_counts(rows: Sequence[ConfigRow]) -> str:
    counts: dict[str, int] = {}
    for r in rows:
        if not r.ok:
            counts[r.status] = counts.get(r.status, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


# ---- sections ----


def _sec_question(d: ReportData, page: _Page, extra: Mapping[str, Any] | None) -> H:
    out = []
    if d.question:
        out.append(_p(d.question, "question"))
    guar = [H(f"<p><strong>Guarantee.</strong> {esc(budget_sentence(d.budget))}</p>")]
    guar += [_p(s) for s in risk_definitions(d.budget)]
    line = _method_line(d.budget, len(d.configs))
    if line:
        guar.append(_p(line, "small"))
    out.append(H('<div class="guarantee">' + "".join(guar) + "</div>"))

    facts: list[tuple[str, Any]] = []
    if d.model:
        path = d.model.get("path")
        params = num(d.model.get("params"))
        facts.append(("model", H(f"<code>{esc(path if path is not None else MISSING)}</code>"
                                 + (f" ({esc(fmt_params(params))} parameters)" if params is not None else ""))))
        for k, v in d.model.items():
            if k not in ("path", "params"):
                facts.append((f"model {k}", _json_text(v)))
    for k, v in d.data_sizes.items():
        facts.append((DATA_LABELS.get(k, k.replace("_", " ")), fmt_int(v) if num(v) is not None else _json_text(v)))
    if d.configs:
        bad = _status_counts(d.configs)
        facts.append(("grid", f"{len(d.configs)} configurations over {len(d.methods)} method"
                              f"{'s' if len(d.methods) != 1 else ''}" + (f" ({bad})" if bad else "")))
    if d.froc_version:
        facts.append(("froc version", d.froc_version))
    if d.created:
        facts.append(("created", d.created))
    if d.seconds is not None:
        facts.append(("total time", fmt_seconds(d.seconds)))
    if facts:
        out.append(H("<h3>Run</h3>"))
        out.append(_table(["", "value"], facts))
    if extra:
        out.append(H("<h3>Additional information</h3>"))
        out.append(_table(["", "value"], [(str(k), _json_text(v)) for k, v in extra.items()]))
    return H("".join(out))


def _risk_table(r: ConfigRow) -> H:
    return _table(
        ["CUR (forget bound)", "utility bound", "forget risk cal / test", "utility risk cal / test", "p-value"],
        [[fmt(r.cur), fmt(r.utility_ucb), f"{fmt(r.risk_forget_cal)} / {fmt(r.risk_forget_test)}",
          f"{fmt(r.risk_utility_cal)} / {fmt(r.risk_utility_test)}", fmt(r.p_value)]],
        numeric=range(5))


def _config_line(r: ConfigRow) -> H:
    steps = f", {fmt_value(r.steps)} steps" if r.steps is not None else ""
    return H(f"method <strong>{esc(r.method)}</strong>, {esc(fmt_hparams(r.hparams))}{esc(steps)}")


def _sec_recommendation(d: ReportData, page: _Page, extra) -> H:
    b = d.budget
    out = []
    n, k = len(d.configs), len(d.certified)
    if d.recommended is not None:
        r = d.recommended
        body = [H(f"<h3>Recommended: <code>{esc(r.config_id)}</code></h3>"), _p(_config_line(r)), _risk_table(r)]
        if d.recommendation_reason:
            body.append(H(f"<p><strong>Why:</strong> {esc(d.recommendation_reason)}</p>"))
        body.append(_p(f"{k} of {n} configurations are certified.", "small"))
        over = [name for name, v, a in (("forget", r.risk_forget_test, b.alpha_forget),
                                        ("utility", r.risk_utility_test, b.alpha_utility)) if _within(v, a) is False]
        if over:
            body.append(_p(f"Note: on the held-out test split its {' and '.join(over)} risk exceeds the budget. "
                           "The guarantee allows this with probability up to δ; see the test-split check.", "small"))
        out.append(H('<div class="card ok">' + "".join(body) + "</div>"))
        refs = [("recommended", r)] + [(name, x) for name, x in d.reference.items()]
        keys = ordered_keys([x.metrics for _, x in refs], METRIC_ORDER)
        if keys and len(refs) > 1:
            out.append(H("<h3>Metrics: recommended vs reference models</h3>"))
            out.append(_table(["metric"] + [name for name, _ in refs],
                              [[k] + [fmt(x.metrics.get(k)) for _, x in refs] for k in keys],
                              numeric=range(1, len(refs) + 1)))
        return H("".join(out))
    if d.recommended_id:
        out.append(_p(f"The summary recommends '{d.recommended_id}', which is not among its configurations.", "note"))
    if d.certified:
        out.append(H('<div class="card ok">' + _p(f"The summary names no recommended configuration, but {k} of {n} "
                                                  "configurations are certified: see the certified set.") + "</div>"))
        return H("".join(out))
    af, au = b.alpha_forget, b.alpha_utility
    scored = [r for r in d.configs if r.ok and r.cur is not None and r.utility_ucb is not None]
    bits = []
    if af is not None:
        bits.append(f"{sum(r.cur <= af for r in scored)} have CUR ≤ α_f = {fmt(af)}")
    if au is not None:
        bits.append(f"{sum(r.utility_ucb <= au for r in scored)} have a utility bound ≤ α_u = {fmt(au)}")
    both = sum(1 for r in scored if _within(r.cur, af) and _within(r.utility_ucb, au))
    body = [H("<h3>No configuration meets the budget</h3>"),
            _p(f"None of the {n} configurations could be certified"
               + (f" ({_status_counts(d.configs)})" if _status_counts(d.configs) else "") + ". "
               + (f"Of the {len(scored)} scored ones, " + " and ".join(bits) + "." if bits and scored else ""))]
    if both:
        body.append(_p(f"{both} are within both bounds individually but were not certified after the family-wise "
                       "correction over the grid.", "small"))
    closest = closest_configs(d.configs, b)
    if closest:
        body.append(H("<h3>Closest configurations</h3>"))
        body.append(_table(["criterion", "config", "method", "hyperparameters", "steps", "CUR", "utility bound"],
                           [[c.criterion, c.row.config_id, c.row.method, fmt_hparams(c.row.hparams),
                             fmt_value(c.row.steps), fmt(c.row.cur), fmt(c.row.utility_ucb)] for c in closest],
                           numeric=(4, 5, 6)))
    body.append(_p("What can help: a larger calibration sample (the bounds tighten roughly as 1/√n), a looser "
                   "budget, or extending the grid where the landscapes below come closest to the budget.", "small"))
    out.append(H('<div class="card warn">' + "".join(body) + "</div>"))
    return H("".join(out))


def _sec_certified(d: ReportData, page: _Page, extra) -> H:
    if not d.certified:
        return _p("No configuration is certified.", "note")
    rows, classes = [], []
    for r in d.certified:
        rec = r is d.recommended
        rows.append([H("★") if rec else "", r.config_id, r.method, fmt_hparams(r.hparams), fmt_value(r.steps),
                     fmt(r.cur), fmt(r.utility_ucb), fmt(r.risk_forget_test), fmt(r.risk_utility_test), fmt(r.p_value)])
        classes.append("rec cert" if rec else "cert")
    return H(_p(f"{len(d.certified)} of {len(d.configs)} configurations are certified; sorted by utility bound "
                "(★ = recommended). CUR and the utility bound come from the calibration split, the test risks from "
                "the held-out test split.", "small")
             + _table(["", "config", "method", "hyperparameters", "steps", "CUR", "utility bound", "forget risk (test)",
                       "utility risk (test)", "p-value"], rows, numeric=range(4, 10), row_classes=classes, wide=True))


def _sec_landscapes(d: ReportData, page: _Page, extra) -> H:
    if not d.methods:
        return _p("No configurations to draw.", "note")
    af = d.budget.alpha_forget
    out = [_p("Colour = CUR on a fixed 0–1 scale for every method (light = low risk). The dashed blue line is the "
              f"CUR = α_f{' = ' + fmt(af) if af is not None else ''} contour, interpolated between cells; on grids "
              "with gaps (diverged, failed, not run) or of a single cell it outlines the cells with CUR ≤ α_f. "
              "Black border and blue star = certified (both risks within budget after the family-wise "
              "correction). Grey hatched = diverged (div.) or failed; white = not run.", "small")]
    for m in d.methods:
        panels = landscape_panels(d.configs, m)
        if not panels:
            continue
        mode = panels[0].mode
        extras = swept_extras([r for r in d.configs if r.method == m])
        if mode == "per-value":
            how = f" One panel per value of {', '.join(extras)}."
        elif mode == "best-over":
            how = (f" Too many combinations of {', '.join(extras)} to draw one panel each: every cell shows the "
                   "lowest CUR over them and is marked certified when any configuration in it is.")
        else:
            how = ""
        n_cert = sum(r.certified for r in d.configs if r.method == m)
        caption = H(f"<strong>{esc(m)}</strong>: CUR over learning rate × steps; {n_cert} certified.{esc(how)}")
        fig = plots.plot_landscape(panels, af, title=f"{m}")
        out.append(page.figure(fig, f"landscape-{m}", f"CUR landscape of {m}", caption))
    return H("".join(out))


def _sec_tradeoff(d: ReportData, page: _Page, extra) -> H:
    pts = [r for r in d.configs if r.cur is not None and r.utility_ucb is not None]
    if not pts:
        return _p("No configuration has both a CUR and a utility bound.", "note")
    b = d.budget
    fig = plots.plot_tradeoff(d.configs, d.methods, b.alpha_forget, b.alpha_utility, d.reference, d.recommended_id)
    caption = ("Each point is one configuration: how much may still be known (CUR, x) against how much utility may "
               "be lost (utility bound, y); both are upper bounds, lower is better. The green box is the budget; "
               "certified configurations are stars (a point inside the box that is not a star was not certified "
               "after the family-wise correction). Crosses diverged or failed.")
    refs = [text for name, text in (("original", "square = original model"),
                                    ("oracle", "diamond = retain oracle (trained without the forgotten people)"))
            if name in d.reference]
    if refs:
        caption += " Reference models: " + "; ".join(refs) + "."
    return page.figure(fig, "tradeoff", "forgetting vs utility scatter", caption)


def _sec_shift(d: ReportData, page: _Page, extra) -> H:
    series = shift_series(d)
    out = []
    who = ("the recommended and top certified configurations" if d.certified else
           "the configurations closest to the budget (none is certified)")
    forms = ordered_keys([r.cur_by_form for _, r in series], FORM_ORDER)
    if forms and any(v is not None for _, r in series for v in r.cur_by_form.values()):
        fig = plots.plot_cur_by_form(series, forms, d.budget.alpha_forget)
        out.append(page.figure(fig, "cur-by-form", "CUR by probe form",
                               f"CUR per probe form for {who}, next to the reference models. Forms further from "
                               "the forget request's question–answer pairs (cloze, multiple choice, yes/no, reverse "
                               "question) reveal knowledge that survives a shallow unlearning; bars above the dashed "
                               "α_f line mean the guarantee does not extend to that form on its own."))
        out.append(_table(["model"] + forms,
                          [[label] + [fmt(r.cur_by_form.get(f)) for f in forms] for label, r in series],
                          numeric=range(1, len(forms) + 1)))
    groups = ordered_keys([r.risk_by_group for _, r in series], GROUP_ORDER)
    if groups and any(v is not None for _, r in series for v in r.risk_by_group.values()):
        fig = plots.plot_risk_by_group(series, groups, d.budget.alpha_forget, d.budget.alpha_utility)
        out.append(page.figure(fig, "risk-by-group", "risk by probe group",
                               "Empirical loss rate per probe group. forget: share of forget probes still known "
                               "(forget loss); neighbour, retain, world: share of probes the original model knew "
                               "and this one no longer does (utility loss). Damage to neighbours (people who share "
                               "a family name, city or employer with a forgotten person) is the first sign of "
                               "over-forgetting. Dashed: α_f over forget, α_u (a pooled budget) over the others."))
        out.append(_table(["model"] + groups, [[label] + [fmt(r.risk_by_group.get(g)) for g in groups]
                                               for label, r in series], numeric=range(1, len(groups) + 1)))
    return H("".join(out)) if out else _p("No per-form or per-group risks in this summary.", "note")


def _validity_block(d: ReportData) -> H:
    v = d.validity
    if not v:
        return _p("No validity section in this summary (the re-split check was not run).", "note")
    out = [H("<h3>Validity</h3>")]
    tv, nc = num(v.get("test_violations")), num(v.get("n_certified"))
    if tv is not None:
        of = fmt_int(nc) if nc is not None else len(d.certified)
        out.append(_p(f"Test split: {fmt_int(tv)} of {of} certified configurations exceed a budget on the held-out "
                      "test split."))
    rate, rs = num(v.get("violation_rate")), num(v.get("resplits"))
    delta = num(v.get("delta"))
    delta = delta if delta is not None else d.budget.delta
    if rate is not None:
        over = f"over {fmt_int(rs)} random" if rs is not None else "over repeated random"
        text = f"Re-splits: {over} calibration/test re-splits, the share with a violation was {pct(rate)}"
        if delta is not None and 0 < delta < 1 and rs:
            limit = delta + 3 * math.sqrt(delta * (1 - delta) / rs)  # binomial sampling error of the share
            verdict = ("✓ consistent with the guarantee" if rate <= limit else
                       "✗ exceeds the guarantee: investigate before trusting the certificate")
            text += f" (δ = {pct(delta)}; allowed up to δ + 3 standard errors = {pct(limit)}) {verdict}"
        elif delta is not None:
            text += f" (δ = {pct(delta)}) " + ("✓" if rate <= delta else "✗ above δ")
        out.append(_p(text + "."))
    known = {"test_violations", "n_certified", "violation_rate", "resplits", "delta"}
    rest = [(k, _json_text(x) if num(x) is None else fmt(x)) for k, x in v.items() if k not in known]
    if rest:
        out.append(_table(["", "value"], rest))
    return H("".join(out))


def _sec_test(d: ReportData, page: _Page, extra) -> H:
    b = d.budget
    out = []
    if d.certified:
        shown = d.certified[: plots.MAX_BAR_GROUPS]
        fig = plots.plot_test_check(shown, b.alpha_forget, b.alpha_utility)
        more = f" Showing {len(shown)} of {len(d.certified)} (lowest utility bound first)." \
            if len(d.certified) > len(shown) else ""
        out.append(page.figure(fig, "test-check", "calibration vs test risk",
                               "For each certified configuration: the risk measured on the calibration split, the "
                               "risk on the held-out test split, and the upper bound (CUR / utility bound) computed "
                               "from calibration. The test risk should rarely exceed the budget (dashed red)." + more))
        rows, n_over = [], 0
        for r in d.certified:
            wf, wu = _within(r.risk_forget_test, b.alpha_forget), _within(r.risk_utility_test, b.alpha_utility)
            n_over += (wf is False) or (wu is False)
            rows.append([r.config_id, fmt(r.risk_forget_cal), fmt(r.risk_forget_test), fmt(r.cur), _flag(wf),
                         fmt(r.risk_utility_cal), fmt(r.risk_utility_test), fmt(r.utility_ucb), _flag(wu)])
        out.append(_table(["config", "forget cal", "forget test", "CUR", "test ≤ α_f", "utility cal", "utility test",
                           "utility bound", "test ≤ α_u"], rows, numeric=(1, 2, 3, 5, 6, 7), wide=True))
        out.append(_p(f"{n_over} of {len(d.certified)} certified configurations exceed a budget on the test split.",
                      "small"))
    else:
        out.append(_p("No certified configuration to check.", "note"))
    out.append(_validity_block(d))
    return H("".join(out))


def _sec_attacks(d: ReportData, page: _Page, extra) -> H | None:
    if not d.attack_names:
        return None
    rows = [r for r in d.certified if r.attacks] or [r for r in d.configs if r.attacks]
    out = []
    summary = []
    for a in d.attack_names:
        if d.certified:
            attacked = sum(1 for r in d.certified if a in r.attacks) or len(d.certified)
            kept = (len(d.attacks_certified[a]) if a in d.attacks_certified
                    else sum(1 for r in d.certified if a in r.attacks and r.attacks[a].certified))
            text = f"{kept} of {attacked} certified configurations stay certified under this attack."
        else:
            text = f"run on {sum(1 for r in d.configs if a in r.attacks)} configurations (none is certified)."
        summary.append(H(f"<li><strong>{esc(a)}</strong>: {esc(text)}</li>"))
    out.append(H("<ul>" + "".join(summary) + "</ul>"))
    if not rows:
        return H("".join(out))
    if not d.certified:
        out.append(_p("No configuration is certified; showing the attacked ones.", "note"))
    shown = rows[: plots.MAX_BAR_GROUPS]
    fig = plots.plot_attacks(shown, d.attack_names, d.budget.alpha_forget)
    more = f" Showing {len(shown)} of {len(rows)}." if len(rows) > len(shown) else ""
    out.append(page.figure(fig, "attacks", "CUR before and after attacks",
                           "CUR of each configuration before and after each attack (e.g. relearning on a few "
                           "forgotten facts, 4-bit quantisation). Hatched bars: no longer certified after the "
                           "attack; the knowledge was hidden rather than removed." + more))
    body = []
    for r in rows:
        cells = [r.config_id, fmt(r.cur)]
        for a in d.attack_names:
            x = r.attacks.get(a)
            cells.append(H(f"{esc(fmt(x.cur))} {_flag(x.certified)}") if x else MISSING)
        body.append(cells)
    out.append(_table(["config", "CUR before"] + [f"CUR after {a} (certified?)" for a in d.attack_names], body,
                      numeric=range(1, len(d.attack_names) + 2), wide=True))
    return H("".join(out))


def _config_sort_key(d: ReportData):
    order = {m: i for i, m in enumerate(d.methods)}

    def key(r: ConfigRow):
        hp = tuple((k, str(fmt_value(v))) for k, v in sorted(r.hparams.items()))
        lr = num(r.hparams.get("lr"))
        return (order.get(r.method, len(order)), str(r.method), lr if lr is not None else 0.0, hp,
                num(r.steps) if num(r.steps) is not None else 0.0)
    return key


def _sec_configs(d: ReportData, page: _Page, extra) -> H:
    if not d.configs and not d.reference:
        return _p("No configurations in this summary.", "note")
    refs = list(d.reference.values())
    metric_keys = ordered_keys([r.metrics for r in d.configs + refs], METRIC_ORDER)
    head = ["config", "method", "hyperparameters", "steps", "status", "certified", "CUR", "utility bound",
            "forget risk (test)", "utility risk (test)", "p-value"] + metric_keys
    rows, classes = [], []
    for r in refs:
        rows.append([r.config_id, "reference", MISSING, MISSING, "reference", "", fmt(r.cur), fmt(r.utility_ucb),
                     fmt(r.risk_forget_test), fmt(r.risk_utility_test), MISSING]
                    + [fmt(r.metrics.get(k)) for k in metric_keys])
        classes.append("ref")
    for r in sorted(d.configs, key=_config_sort_key(d)):
        status = r.status + (f" at {fmt_value(r.diverged_at)}" if r.diverged_at is not None and not r.ok else "")
        rows.append([r.config_id + (" ★" if r is d.recommended else ""), r.method, fmt_hparams(r.hparams),
                     fmt_value(r.steps), status, _flag(True) if r.certified else "", fmt(r.cur), fmt(r.utility_ucb),
                     fmt(r.risk_forget_test), fmt(r.risk_utility_test), fmt(r.p_value)]
                    + [fmt(r.metrics.get(k)) for k in metric_keys])
        classes.append(" ".join(c for c, on in (("cert", r.certified), ("rec", r is d.recommended), ("bad", not r.ok))
                                if on))
    note = _p("Every configuration of the grid (reference models first, in italics). Certified rows are green, "
              "★ = recommended, diverged/failed runs grey. CUR and utility bound are upper bounds from the "
              "calibration split; metrics are the usual unlearning metrics, for context only (not certified).", "small")
    return H(note + _table(head, rows, numeric=[6, 7, 8, 9, 10] + list(range(11, len(head))), row_classes=classes,
                           wide=True))


def _sec_timings(d: ReportData, page: _Page, extra) -> H:
    t = {k: v for k, v in d.timings.items()}
    if not t:
        return _p("No timings in this summary.", "note")
    known = sum(v for v in t.values() if v is not None)
    total = d.seconds if d.seconds is not None else known
    rows = []
    for stage, v in t.items():
        share = v / total if v is not None and total else None
        bar = H(f'<div class="bar" style="width:{max(1, round(240 * min(share, 1.0)))}px"></div>') \
            if share is not None else ""
        rows.append([stage, fmt_seconds(v), pct(share), bar])
    rows.append([H("<strong>total</strong>"), fmt_seconds(total), "", ""])
    return _table(["stage", "time", "share", ""], rows, numeric=(1, 2))


_BUILDERS: dict[str, Callable[[ReportData, _Page, Mapping[str, Any] | None], H | None]] = {
    "question": _sec_question, "recommendation": _sec_recommendation, "certified": _sec_certified,
    "landscapes": _sec_landscapes, "tradeoff": _sec_tradeoff, "shift": _sec_shift, "test": _sec_test,
    "attacks": _sec_attacks, "configs": _sec_configs, "timings": _sec_timings,
}


def _banner(d: ReportData) -> H:
    if d.recommended is not None:
        return H(f'<div class="banner ok">{len(d.certified)} of {len(d.configs)} configurations certified. '
                 f'Recommended: <code>{esc(d.recommended.config_id)}</code> ({esc(d.recommended.method)}, '
                 f'{esc(fmt_hparams(d.recommended.hparams))}, {esc(fmt_value(d.recommended.steps))} steps).</div>')
    if d.certified:
        return H(f'<div class="banner ok">{len(d.certified)} of {len(d.configs)} configurations certified.</div>')
    return H(f'<div class="banner warn">No configuration meets the budget ({len(d.configs)} evaluated).</div>')


def build_html(summary: Mapping[str, Any], plots_dir: Path, extra: Mapping[str, Any] | None = None) -> str:
    """The report page as a string; figures are written to `plots_dir` as a side effect."""
    d = load_summary(summary)
    page = _Page(plots_dir)
    sections, nav = [], []
    for n, (sid, title) in enumerate(SECTIONS, start=1):
        try:
            inner = _BUILDERS[sid](d, page, extra)
        except Exception as e:  # noqa: BLE001 -- one bad section must not cost the whole report
            warnings.warn(f"froc report: section '{title}' could not be rendered: {e!r}", RuntimeWarning,
                          stacklevel=2)
            inner = H(f'<p class="{ERROR_CLASS}">This section could not be rendered '
                      f'({esc(type(e).__name__)}: {esc(e)}).</p>')
        if inner is None:
            continue
        number = len(nav) + 1
        nav.append(f'<li><a href="#{sid}">{esc(title)}</a></li>')
        sections.append(f'<section id="{sid}"><h2>{number}. {esc(title)}</h2>{inner}</section>')
    subtitle = " · ".join(x for x in (
        f"froc {esc(d.froc_version)}" if d.froc_version else "", esc(d.created) if d.created else "",
        f"{esc(fmt_seconds(d.seconds))} in total" if d.seconds is not None else "") if x)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>froc report{': ' + esc(d.question[:80]) if d.question else ''}</title><style>{CSS}</style></head>\n"
        "<body><main><header><h1>froc report: risk-controlled unlearning</h1>"
        f"<p class=\"sub\">{subtitle}</p>{_banner(d)}<nav><ol>{''.join(nav)}</ol></nav></header>\n"
        + "\n".join(sections)
        + "\n<footer>Generated by froc's report renderer from summary.json. Figures are also saved as PNG files "
          "in plots/ next to this page.</footer></main></body></html>\n"
    )


def render_report(summary: Mapping[str, Any], out_dir: str | Path, extra: Mapping[str, Any] | None = None) -> Path:
    """Render a sweep's summary as one self-contained HTML page.

    Args:
        summary: the parsed `summary.json` written by the sweep (schema in the sweep docs). Any key may be
            missing, None or NaN; what exists is rendered, the rest is skipped or noted.
        out_dir: folder to write to; created if needed.
        extra: optional provenance to show under "Additional information" (e.g. the git commit, the command
            line, the resolved config); values are shown as text (containers as JSON), escaped.

    Returns:
        The path of `out_dir/report.html`. The figures are also written as `out_dir/plots/NN-name.png`.
    """
    out_dir = Path(out_dir)
    plots_dir = out_dir / "plots"
    plots_dir.mkdir(parents=True, exist_ok=True)
    for old in plots_dir.glob("*.png"):  # figures of an earlier render (only the names this module writes)
        if _FIGURE_NAME.fullmatch(old.name):
            old.unlink()
    page = build_html(summary, plots_dir, extra)
    path = out_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
