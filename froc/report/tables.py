"""Report sections that are reference tables: unlearning metrics, every configuration, timings."""

from __future__ import annotations

from froc.records import ConfigRecord
from froc.report.blocks import Figures, bar, code, flag, para, table
from froc.report.data import METRIC_ORDER, ReportData, metric_info, ordered_keys
from froc.report.fmt import MISSING, fmt, fmt_hparams, fmt_seconds, fmt_value, pct
from froc.report.sections import BETTER, P_LABELS, P_MEANING

ARROW = {True: " ↑", False: " ↓", None: ""}


def sec_metrics(d: ReportData, figs: Figures, extra) -> list | None:
    """The usual unlearning metrics of the recommended configuration next to the reference models."""
    models = ([("recommended: " + d.label(d.recommended), d.recommended)] if d.recommended else []) + \
             [(d.label(r), r) for r in d.reference.values()]
    keys = ordered_keys([r.metrics for _, r in models], METRIC_ORDER)
    if not keys:
        return None
    rows = []
    for k in keys:
        hib, meaning = metric_info(k)
        rows.append([code(k), BETTER[hib], meaning or MISSING] + [fmt(r.metrics.get(k)) for _, r in models])
    return [para("For context only: these metrics are not certified. 'better' is the direction of a good unlearning "
                 "result (— where the ideal is a point, e.g. PrivLeak 0, or the number is descriptive); directions "
                 "and meanings come from froc's metric registry (froc.metrics.registry.METRICS).", cls="small"),
            table(["metric", "better", "meaning"] + [lab for lab, _ in models], rows,
                  numeric=range(3, 3 + len(models)), wide=True)]


def _sort_key(d: ReportData):
    order = {m: i for i, m in enumerate(d.methods)}

    def key(r: ConfigRecord):
        lr = r.hparams.get("lr")
        return (order.get(r.method, len(order)), str(r.method), lr if isinstance(lr, (int, float)) else 0.0,
                tuple((k, fmt_value(v)) for k, v in sorted(r.hparams.items())), r.steps if r.steps is not None else 0)
    return key


COLUMNS = ("configuration", "config id", "method", "hyperparameters", "steps", "status", "certified", "why",
           P_LABELS["p_forget"], P_LABELS["p_utility"], P_LABELS["p_value"], "FWER level", "CUR (pointwise)",
           "CUR (simultaneous)", "utility bound (pointwise)", "utility bound (simultaneous)", "forget risk tune",
           "forget risk cal", "forget risk test", "utility risk tune", "utility risk cal", "utility risk test",
           "train time", "score time")


def _cells(d: ReportData, r: ConfigRecord) -> list:
    ref = r.method == "reference"
    status = r.status + (f" at step {fmt_value(r.diverged_at)}" if r.diverged_at is not None else "")
    if r.error:
        status += f": {r.error}"
    shown = r.certified or (ref and r.p_value is not None)  # a plain configuration's ✗ would only add noise
    return [d.label(r) + (" ★" if r is d.recommended else ""), MISSING if ref else code(r.config_id),
            r.method, fmt_hparams(r.hparams), fmt_value(r.steps), status, flag(r.certified) if shown else "",
            getattr(r, "why", None) or "", fmt(r.p_forget), fmt(r.p_utility), fmt(r.p_value),
            fmt(getattr(r, "fwer_level", None)), fmt(r.cur), fmt(r.cur_simultaneous),
            fmt(r.utility_ucb), fmt(r.utility_ucb_simultaneous), fmt(r.risk_forget_tune), fmt(r.risk_forget_cal),
            fmt(r.risk_forget_test), fmt(r.risk_utility_tune), fmt(r.risk_utility_cal), fmt(r.risk_utility_test),
            fmt_seconds(r.train_seconds), fmt_seconds(r.score_seconds)]


def sec_configs(d: ReportData, figs: Figures, extra) -> list:
    if not d.configs and not d.reference:
        return [para("No configurations in this summary.", cls="note")]
    refs = list(d.reference.values())
    keys = ordered_keys([r.metrics for r in d.configs + refs], METRIC_ORDER)
    head = list(COLUMNS) + [k + ARROW[metric_info(k)[0]] for k in keys]
    rows, classes = [], []
    for r in refs + sorted(d.configs, key=_sort_key(d)):
        rows.append(_cells(d, r) + [fmt(r.metrics.get(k)) for k in keys])
        classes.append("ref" if r.method == "reference" else " ".join(
            c for c, on in (("cert", r.certified), ("rec", r is d.recommended), ("bad", not r.ok)) if on))
    note = para("Every configuration of the grid (reference models first, in italics). Certified rows are green, "
                "★ = recommended, diverged/failed runs grey. CUR and utility bound are POINTWISE upper bounds from "
                "the calibration split; the simultaneous ones hold for the whole grid at once. Metrics (↑ higher / "
                "↓ lower is better) are the usual unlearning metrics, for context only (not certified). "
                + P_MEANING, cls="small")
    return [note, table(head, rows, numeric=list(range(8, len(COLUMNS))) + list(range(len(COLUMNS), len(head))),
                        classes=classes, wide=True)]


def sec_timings(d: ReportData, figs: Figures, extra) -> list:
    t, total = d.summary.timings, d.summary.seconds
    if not t and total is None:
        return [para("No timings in this summary.", cls="note")]
    rows = []
    for stage, v in t.items():
        share = v / total if v is not None and total else None
        rows.append([stage, fmt_seconds(v), pct(share), bar(max(1, round(240 * min(share, 1.0)))) if share else ""])
    if total is not None:
        rows.append(["total (the whole run, across resumes)", fmt_seconds(total), "", ""])
    else:
        rows.append(["sum of the stages above (the run's total time is not recorded)",
                     fmt_seconds(sum(v for v in t.values() if v is not None)), "", ""])
    return [table(["stage", "time", "share", ""], rows, numeric=(1, 2))]
