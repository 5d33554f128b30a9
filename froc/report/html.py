"""The report page: context building for the Jinja2 template ``templates/report.html``.

No HTML is written here. The template autoescapes every value, so text from the data (config ids,
method names, the question, notes) is always shown as text. The page is self-contained: inline CSS,
figures embedded as base64 PNG data URIs (and also written to ``out_dir/plots/``). A section that
fails to build (a bug, or data too odd to draw) is replaced by a visible error note and a warning, so
a long sweep never ends without its report.

The first screen puts the original model, the retain oracle and the certified configurations side
by side, then says in plain words what the certificate covers (``SweepSummary.covers``): the
certified set simultaneously, per-configuration and per-form bounds pointwise, the recommended
configuration's bound after selection, attacks re-certified on the test split.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable, Mapping

import jinja2

from froc.records import Budget, SweepSummary
from froc.report import checks, sections, tables
from froc.report.blocks import FIGURE_NAME, Figures, b, code, error, flag, table
from froc.report.data import ReportData, closest_configs, load_summary
from froc.report.fmt import fmt, fmt_int, fmt_seconds, pct
from froc.report.sections import statistics_line, wording
from froc.safe_write import own_dir, write_text

ERROR_CLASS = "froc-section-error"
MAX_COMPARED = 4  # certified configurations shown side by side on the first screen
Builder = Callable[[ReportData, Figures, Mapping[str, Any] | None], "list | None"]
SECTIONS: tuple[tuple[str, str, Builder], ...] = (
    ("run", "Run", sections.sec_run),
    ("recommendation", "Recommendation", sections.sec_recommendation),
    ("certified", "Certified set", sections.sec_certified),
    ("landscapes", "Risk landscapes", sections.sec_landscapes),
    ("tradeoff", "Forgetting vs utility", sections.sec_tradeoff),
    ("shift", "Semantic shift", sections.sec_shift),
    ("calibration-size", "Calibration size", checks.sec_calibration_size),
    ("test", "Test-split check", checks.sec_test),
    ("attacks", "Attacks", checks.sec_attacks),
    ("metrics", "Unlearning metrics", tables.sec_metrics),
    ("configs", "All configurations", tables.sec_configs),
    ("timings", "Timings", tables.sec_timings),
)


# ---- plain words ----


def budget_sentence(bd: Budget) -> str:
    """The certificate in one sentence (plain text)."""
    parts = []
    if bd.alpha_forget is not None:
        parts.append(f"forget risk ≤ {pct(bd.alpha_forget)}")
    if bd.alpha_utility is not None:
        parts.append(f"utility risk ≤ {pct(bd.alpha_utility)}")
    if not parts:
        return "The risk budget is not recorded in this summary."
    claim = "every certified configuration has " + " and ".join(parts)
    if bd.delta is not None:
        return f"With probability at least {pct(1 - bd.delta)} over the calibration sample, {claim}."
    return f"{claim[0].upper()}{claim[1:]} (the confidence level is not recorded)."


def risk_definitions(bd: Budget, builtin: bool = False) -> list[str]:
    """Plain-words definitions of forget risk, utility risk and CUR for this budget's losses and data source."""
    w = wording(builtin)
    tau = bd.tau_forget_used or bd.tau_forget
    tau = f" τ_f = {tau}" if tau else " τ_f"
    if bd.forget_loss in (None, "binary"):
        forget = f"Forget risk = the probability that {w['forget_probe']} is still known: its score is above{tau}."
    else:
        forget = (f"Forget risk = the mean per-sample forget loss (the '{bd.forget_loss}' loss, in [0, 1]) on held-out "
                  "forget probes.")
    if bd.utility_loss in (None, "binary"):
        utility = f"Utility risk = the probability that {w['utility_probe']} is no longer known."
    else:
        utility = (f"Utility risk = the mean per-sample utility loss (the '{bd.utility_loss}' loss, in [0, 1]) on "
                   "utility probes.")
    conf = f" at confidence {pct(1 - bd.delta)}" if bd.delta is not None else ""
    cur = (f"CUR (Conformal Unlearning Risk) = the upper confidence bound on the forget risk{conf}; the utility bound "
           "is the same for the utility risk. Both are pointwise: each holds for one configuration fixed in advance.")
    return [forget, utility, cur]


def _statement(d: ReportData) -> list:
    s, bd, cov = d.summary, d.budget, d.summary.covers
    out = []
    if d.certified:
        out.append([b("Certified set (simultaneous). "), budget_sentence(bd), f" Covers {cov.get('certified', '')}."])
    else:
        out.append([b("No configuration is certified, "), "so nothing is claimed about any configuration. ",
                    f"Budget: {budget_sentence(bd)}"])
    rec = s.recommendation
    if d.recommended is not None:
        if rec.bound_forget is not None or rec.bound_utility is not None:
            out.append([b("Recommended configuration (valid after selection). "),
                        f"For {d.label(d.recommended)}, quote forget risk ≤ {fmt(rec.bound_forget)} and utility risk "
                        f"≤ {fmt(rec.bound_utility)}: {rec.covers or cov.get('recommendation', '')} "
                        f"({fmt_int(rec.n_test_forget)} forget and {fmt_int(rec.n_test_utility)} utility test "
                        "samples)."])
        else:
            out.append([b("Recommended configuration. "), "This summary has no bound for it that is valid after "
                        "selection; its calibration CUR is pointwise and must not be quoted as a 1-δ bound."])
    out.append([b("Per-configuration and per-form CURs are POINTWISE. "),
                f"CUR and utility bounds of single configurations and per probe form: {cov.get('cur', '')}."])
    if any(r.cur_simultaneous is not None for r in d.configs):
        out.append([b("Simultaneous bounds "), f"(all-configurations table): {cov.get('cur_simultaneous', '')}."])
    if d.attack_names:
        out.append([b("Attacks. "), f"{cov.get('attack', '')[:1].upper()}{cov.get('attack', '')[1:]}."])
    for name, r in d.reference.items():
        if r.p_value is None:
            continue
        who = d.label(r)
        if name == "oracle":
            out.append([b(f"The {who} "), "(exact retraining without the forget data) "
                        + ("passes the same test at this budget" if r.certified else
                           "does NOT pass the same test: this budget is stricter than exact retraining meets")
                        + f" (p = {fmt(r.p_value)}, CUR {fmt(r.cur)})."])
        elif name == "original":
            out.append([b(f"The {who} "), ("does not pass the test, as expected" if not r.certified else
                                           "PASSES the test: the forget probes do not tell it from an unlearned "
                                           "model, so the forget side of this certificate means little")
                        + f" (p = {fmt(r.p_value)}, CUR {fmt(r.cur)})."])
    return out


def _fallbacks(d: ReportData) -> list:
    bd, out = d.budget, []
    fell_back = getattr(bd, "tau_forget_fallback", None)  # None: not recorded, so any difference is shown
    if bd.tau_forget_used and bd.tau_forget_used != bd.tau_forget and fell_back is not False:
        out.append(["Forget threshold: ", b(f"used τ_f = {bd.tau_forget_used}"),
                    f" (configured: {bd.tau_forget or 'not recorded'})."])
    if "oracle" not in d.reference:
        out.append("No retain oracle in this run: the report cannot say whether exact retraining meets the budget.")
    return out + list(d.summary.notes)


# ---- first screen ----


def _compare(d: ReportData) -> tuple[dict | None, str | None]:
    """The side-by-side table: original, oracle, certified configurations (recommended first)."""
    cols = [(d.label(r), r) for r in d.reference.values()]
    shown = d.certified[:MAX_COMPARED]
    for r in shown:
        cols.append(([("★ recommended: " if r is d.recommended else "") + d.label(r)], r))
    note = None
    if len(d.certified) > len(shown):
        note = f"{len(d.certified) - len(shown)} more certified configurations: see the certified set."
    if not d.certified:
        closest = closest_configs(d.configs, d.budget)
        if closest:
            cols.append(([f"closest, not certified: {d.label(closest[-1].row)}"], closest[-1].row))
            note = "No configuration is certified; the closest one is shown (see the recommendation)."
    if not cols:
        return None, None
    rows = [("certified", lambda r: flag(r.certified if r.p_value is not None or r.method != "reference" else None)),
            ("p-value tested (max of forget, utility)", lambda r: fmt(r.p_value)),
            ("CUR, forget (pointwise)", lambda r: fmt(r.cur)),
            ("utility bound (pointwise)", lambda r: fmt(r.utility_ucb)),
            ("forget risk, test split", lambda r: fmt(r.risk_forget_test)),
            ("utility risk, test split", lambda r: fmt(r.risk_utility_test))]
    return table([""] + [h for h, _ in cols], [[name] + [get(r) for _, r in cols] for name, get in rows],
                 numeric=range(1, len(cols) + 1), cls="compare"), note


def _banner(d: ReportData) -> dict:
    n, k = len(d.configs), len(d.certified)
    if d.recommended is not None:
        rec = d.summary.recommendation
        bound = (f" (after selection: forget risk ≤ {fmt(rec.bound_forget)}, utility risk ≤ {fmt(rec.bound_utility)})"
                 if rec.bound_forget is not None else "")
        return {"cls": "ok", "text": [f"{k} of {n} configurations certified. Recommended: {d.label(d.recommended)} ",
                                      code(d.recommended.config_id), bound + "."]}
    if k:
        return {"cls": "ok", "text": f"{k} of {n} configurations certified."}
    return {"cls": "warn", "text": f"No configuration meets the budget ({n} evaluated)."}


def build_context(summary: Mapping[str, Any] | SweepSummary, plots_dir: Path,
                  extra: Mapping[str, Any] | None = None, run_dir: str | Path | None = None) -> dict:
    """The template's context; figures are written to ``plots_dir`` as a side effect."""
    d = load_summary(summary)
    d.run_dir = None if run_dir is None else str(run_dir)
    s, figs = d.summary, Figures(plots_dir)
    built = []
    for sid, title, builder in SECTIONS:
        try:
            blocks = builder(d, figs, extra)
        except Exception as e:  # noqa: BLE001 -- one bad section must not cost the whole report
            warnings.warn(f"froc report: section '{title}' could not be rendered: {e!r}", RuntimeWarning, stacklevel=2)
            blocks = [error(f"{type(e).__name__}: {e}")]
        if blocks is not None:
            built.append({"id": sid, "title": title, "blocks": blocks})
    compare, compare_note = _compare(d)
    stats = statistics_line(d)
    return {
        "error_class": ERROR_CLASS,
        "question": s.question,
        "subtitle": [x for x in (f"froc {s.froc_version}" if s.froc_version else "", s.created or "",
                                 f"{fmt_seconds(s.seconds)} in total" if s.seconds is not None else "") if x],
        "banner": _banner(d),
        "compare": compare,
        "compare_note": compare_note,
        "statement": _statement(d),
        "definitions": risk_definitions(d.budget, d.builtin) + ([stats] if stats else []),
        "fallbacks": _fallbacks(d),
        "sections": built,
    }


_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                          autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def build_html(summary: Mapping[str, Any] | SweepSummary, plots_dir: Path,
               extra: Mapping[str, Any] | None = None, run_dir: str | Path | None = None) -> str:
    """The report page as a string; figures are written to ``plots_dir`` as a side effect."""
    return _ENV.get_template("report.html").render(**build_context(summary, plots_dir, extra, run_dir))


def render_report(summary: Mapping[str, Any] | SweepSummary, out_dir: str | Path,
                  extra: Mapping[str, Any] | None = None, run_dir: str | Path | None = None) -> Path:
    """Render a sweep's summary as one self-contained HTML page.

    Args:
        summary: the parsed ``summary.json`` (read through :class:`froc.records.SweepSummary`; summaries
            written before the typed records are upgraded) or the record itself. Any field may be
            missing, None or NaN; what exists is rendered, the rest is skipped or noted.
        out_dir: folder to write to; created if needed.
        extra: optional provenance shown under "Additional information" (e.g. the git commit, the command
            line); values are shown as text (containers as JSON), escaped.
        run_dir: the run's folder (``froc run --out``), for the exact ``froc export`` command of the
            recommended configuration; default ``out_dir`` (the run writes its report there).

    Returns:
        The path of ``out_dir/report.html``. The figures are also written as ``out_dir/plots/NN-name.png``.

    Raises:
        TypeError: ``summary`` is not a mapping (the parsed JSON object) or a SweepSummary.
    """
    out_dir = Path(out_dir)
    plots_dir = own_dir(out_dir / "plots")  # a 'plots' symlink is replaced by a folder; its target is untouched
    for old in plots_dir.glob("*.png"):  # figures of an earlier render (only the names this module writes)
        if FIGURE_NAME.fullmatch(old.name):
            old.unlink()
    page = build_html(summary, plots_dir, extra, out_dir if run_dir is None else run_dir)
    return write_text(out_dir / "report.html", page)  # atomic; a symlink is replaced, never written through
