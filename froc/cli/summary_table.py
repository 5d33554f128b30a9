"""Terminal printing of the CLI: compact tables that read in an 80-column terminal.

User strings (ids, hyperparameter values, paths) are printed as data (``rich.text.Text``), never as
markup, so a value such as ``[/]`` is shown, not interpreted.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from froc.records import ConfigRecord, SweepSummary
from froc.report.data import REFERENCE_LABELS, config_labels


def _f(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def _marked(r: ConfigRecord, s: SweepSummary) -> bool:
    """Whether ``r`` is the recommended configuration (never when nothing is recommended)."""
    return s.recommended is not None and r.config_id == s.recommended


def summary_table(s: SweepSummary, labels: dict[str, str], *, limit: int = 12) -> Table:
    """References, then certified configurations (recommended first), then the closest others, up to ``limit``.
    ``labels``: configuration id -> readable name (:func:`froc.report.data.config_labels`, as in the report)."""
    t = Table(title="certification (full table in the report)", title_justify="left", pad_edge=False)
    for name, just in (("configuration", "left"), ("CUR", "right"), ("util. UB", "right"), ("p", "right"),
                       ("cert.", "center")):
        t.add_column(name, justify=just, no_wrap=name != "configuration", overflow="fold")
    rows: list[tuple[str, ConfigRecord]] = [(REFERENCE_LABELS.get(n, n), r) for n, r in s.reference.items()]
    cert = sorted((c for c in s.configs if c.certified),
                  key=lambda c: (c.config_id != s.recommended, c.risk_utility_cal or 0.0, c.config_id))
    rest = sorted((c for c in s.configs if not c.certified and c.ok), key=lambda c: (c.p_value or 1.0, c.config_id))
    shown = cert + rest
    for c in shown[: max(limit - len(rows), 0)]:
        rows.append((labels[c.config_id], c))
    for label, r in rows:
        cert = ("yes" if r.certified else "no") + (" *" if _marked(r, s) else "")
        t.add_row(Text(label), _f(r.cur), _f(r.utility_ucb), f"{r.p_value:.2g}" if r.p_value is not None else "-",
                  cert)
    hidden = len(shown) - (len(rows) - len(s.reference))
    notes = [f"{hidden} more configuration(s) in the report"] if hidden > 0 else []
    if any(_marked(r, s) for _, r in rows):  # the legend only when a row carries the mark
        notes.append("* recommended")
    t.caption = "; ".join(notes) or None
    return t


def print_summary(s: SweepSummary, console) -> None:
    """The certificate in a few lines: budget, table, recommendation with its after-selection bounds,
    attacks, notes and where the time went."""
    b = s.budget
    n = len(s.configs)
    labels = config_labels(s.configs)  # the report's names: method + the hyperparameters that vary
    console.print(Text(f"budget: forget risk <= {b.alpha_forget}, utility risk <= {b.alpha_utility}, with "
                       f"probability >= {1 - (b.delta or 0):.2f} ({b.pvalue} p-values, {b.fwer}; sampling unit: "
                       f"{b.unit}); {len(s.certified)} of {n} configurations certified"))
    console.print(summary_table(s, labels))
    for name, r in s.reference.items():
        if r.p_value is not None:
            verdict = "passes" if r.certified else "does not pass"
            console.print(Text(f"{REFERENCE_LABELS.get(name, name)} {verdict} the same test (p = {r.p_value:.2g})"))
    rec = s.recommendation
    if rec.config_id is None:
        console.print(Text(f"recommended: none. {rec.reason or ''}"))
    else:
        console.print(Text(f"recommended: {labels.get(rec.config_id, rec.config_id)} ({rec.config_id})"))
        console.print(Text(f"  after selection, on the held-out test split: forget risk <= {_f(rec.bound_forget)}, "
                           f"utility risk <= {_f(rec.bound_utility)}"))
    for c in s.configs:
        for name, a in c.attacks.items():
            if a.cur is None:
                console.print(Text(f"attack {name} on {c.config_id}: {a.status or 'no result'}"))
                continue
            still = "still certified" if a.certified else "certificate revoked"
            console.print(Text(f"attack {name} on {labels[c.config_id]}: forget risk "
                               f"{_f(a.risk_forget_test)} on test, CUR {_f(a.cur)}: {still}"))
    af, au = b.alpha_forget, b.alpha_utility
    for c in s.configs:
        inside = (c.cur is not None and af is not None and c.cur <= af
                  and (au is None or (c.utility_ucb is not None and c.utility_ucb <= au)))
        if inside and not c.certified and c.ok:
            console.print(Text(f"not certified although its pointwise bounds are inside the budget: "
                               f"{labels[c.config_id]}: {c.why}"))
    for note in s.notes:
        console.print(Text(f"note: {note}"))
    if s.timings:
        console.print(Text("time per stage: " + ", ".join(f"{k} {v:.1f}s" for k, v in s.timings.items() if v is not None)
                           + (f"; whole run {s.seconds:.1f}s" if s.seconds is not None else "")))
