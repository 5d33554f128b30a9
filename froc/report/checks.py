"""Report sections that check the certificate: calibration size, the held-out test split, attacks.

An empty check says "nothing to check", never a pass. Descriptive checks (the re-split study, test
risks of single configurations) are labelled as such: they are not tests of the guarantee.
"""

from __future__ import annotations

from typing import Any

from froc.report import plots
from froc.report.blocks import Figures, b, flag, h3, para, table
from froc.report.data import ReportData
from froc.report.fmt import MISSING, fmt, fmt_int, num, pct
from froc.report.sections import json_text, name_cell, within


def _series(x: Any) -> list[float | None]:
    return [num(v) for v in x] if isinstance(x, (list, tuple)) else []


NCAL_KEYS = {"cur": ("mean_cur", "cur"), "sd": ("sd_cur",), "n_cert": ("mean_certified", "n_certified"),
             "n_utility": ("n_utility",)}  # froc.risk.ncal_curve's names first, then older ones


def _column(cs: dict, key: str, n: int) -> list[float | None]:
    got = next((cs[k] for k in NCAL_KEYS[key] if k in cs), None)
    return (_series(got) + [None] * n)[:n]


def sec_calibration_size(d: ReportData, figs: Figures, extra) -> list | None:
    """CUR and certified-set size against n_cal (``summary.calibration_size``, the output of
    :func:`froc.risk.ncal_curve` plus ``config_id``; None when absent or unreadable)."""
    cs = d.summary.calibration_size
    sizes = _series(cs.get("sizes"))
    if not sizes or None in sizes:
        return None
    n = len(sizes)
    cur, sd, n_cert, n_u = (_column(cs, k, n) for k in ("cur", "sd", "n_cert", "n_utility"))
    cid = cs.get("config_id")
    r = d.by_id(str(cid)) if cid is not None else None
    who = d.label(r) if r is not None else (str(cid) if cid is not None else "the configuration studied")
    reps = f" {cs['reps']} random subsamples per size," if num(cs.get("reps")) is not None else ""
    fig = plots.plot_calibration_size(sizes, cur, n_cert, d.budget.alpha_forget, who, sd=sd)
    out = [figs.figure(fig, "calibration-size", "CUR and certified-set size against calibration size",
                       f"Stored calibration scores subsampled to each forget calibration size n_cal (no retraining;"
                       f"{reps} utility side in proportion): the mean CUR (pointwise, ± one standard deviation "
                       f"shaded) of {who} and the mean number of certified configurations. Where the CUR curve "
                       "meets α_f is about the calibration size this budget needs.")]
    out.append(table(["n_cal (forget)", "n_cal (utility)", f"mean CUR of {who}", "sd of CUR",
                      "mean certified configurations"],
                     [[fmt_int(s), fmt_int(u), fmt(c), fmt(e), fmt(k)] for s, u, c, e, k in zip(sizes, n_u, cur, sd, n_cert)],
                     numeric=range(5)))
    if cs.get("note"):
        out.append(para(str(cs["note"]), cls="small"))
    known = {"sizes", "config_id", "focus", "reps", "note"} | {k for ks in NCAL_KEYS.values() for k in ks}
    rest = [(str(k), json_text(v)) for k, v in cs.items() if k not in known]
    if rest:
        out.append(table(["", "value"], rest))
    return out


def _validity(d: ReportData) -> list:
    v = d.summary.validity
    out = [h3("Validity")]
    if v.test_checked is None:
        out.append(para("Test split: the number of configurations checked is not recorded.", cls="note"))
    elif v.test_checked <= 0:
        out.append(para("Test split: nothing to check (no certified configuration was checked on the test split)."))
    else:
        out.append(para(f"Test split: {fmt_int(v.test_exceed)} of {v.test_checked} certified configurations have an "
                        "empirical test risk above the budget (descriptive: a single configuration's test risk is "
                        "noisy; the guarantee allows some with probability up to δ)."))
    if v.n_certified is not None and v.test_checked is not None and v.n_certified != v.test_checked:
        out.append(para(f"{v.n_certified} configurations are certified; {v.test_checked} were checked on the test "
                        "split.", cls="small"))
    return out + _resplit(v.resplit)


def _resplit(rs: dict) -> list:
    """The re-split study (froc.risk.resplit_check): descriptive, never a pass or a failure of the guarantee."""
    if not rs:
        return [para("Re-split study: not run.", cls="note")]
    count, cert = num(rs.get("resplits", rs.get("n_resplits"))), num(rs.get("mean_certified"))
    sig, raw = num(rs.get("significant_exceed_rate")), num(rs.get("heldout_exceed_rate", rs.get("violation_rate")))
    head = "Re-split study (descriptive, not a test of the guarantee: the re-splits share one pool of data): "
    if count == 0:
        text = head + "nothing to check (no test split to re-split)."
    elif cert == 0:
        text = head + f"nothing to check (no configuration was certified in any of the {fmt_int(count)} re-splits)."
    else:
        over = f"over {fmt_int(count)} random" if count is not None else "over repeated random"
        text = head + f"{over} calibration/test re-splits"
        if sig is not None:
            bound = num(rs.get("expected_at_most"))
            text += (f", a certified configuration's held-out lower confidence bound was above the budget in "
                     f"{pct(sig)} of them" + (f" (at most {pct(bound)} expected when the certificate is valid)"
                                              if bound is not None else ""))
        if raw is not None:
            text += (f"{';' if sig is not None else ','} a certified configuration's noisy held-out mean was above "
                     f"the budget in {pct(raw)} of them")
        text += "."
    out = [para(text)]
    if rs.get("note"):
        out.append(para(str(rs["note"]), cls="small"))
    out.append(table(["re-split study", "value"],
                     [(str(k), fmt(x) if num(x) is not None and not isinstance(x, bool) else json_text(x))
                      for k, x in rs.items() if k != "note"]))
    return out


def sec_test(d: ReportData, figs: Figures, extra) -> list:
    bd, out = d.budget, []
    if d.certified:
        shown = d.certified[: plots.MAX_BAR_GROUPS]
        fig = plots.plot_test_check(shown, bd.alpha_forget, bd.alpha_utility, labels=[d.label(r) for r in shown])
        more = (f" Showing {len(shown)} of {len(d.certified)} (lowest utility bound first)."
                if len(d.certified) > len(shown) else "")
        out.append(figs.figure(fig, "test-check", "calibration vs test risk",
                               "For each certified configuration: the risk measured on the calibration split, the "
                               "risk on the held-out test split, and the pointwise upper bound (CUR / utility bound) "
                               "from calibration. The test risk should rarely exceed the budget (dashed red)." + more))
        rows = []
        for r in d.certified:
            rows.append([name_cell(d, r), fmt(r.risk_forget_cal), fmt(r.risk_forget_test), fmt(r.cur),
                         flag(within(r.risk_forget_test, bd.alpha_forget)), fmt(r.risk_utility_cal),
                         fmt(r.risk_utility_test), fmt(r.utility_ucb), flag(within(r.risk_utility_test,
                                                                                    bd.alpha_utility))])
        out.append(table(["configuration", "forget cal", "forget test", "CUR", "test ≤ α_f", "utility cal",
                          "utility test", "utility bound", "test ≤ α_u"], rows, numeric=(1, 2, 3, 5, 6, 7),
                         wide=True))
    else:
        out.append(para("No certified configuration: nothing to check on the test split.", cls="note"))
    return out + _validity(d)


def sec_attacks(d: ReportData, figs: Figures, extra) -> list | None:
    if not d.attack_names:
        return None
    covers = d.summary.covers.get("attack", "")
    items = []
    for a in d.attack_names:
        attacked = [r for r in d.certified if a in r.attacks]
        if attacked:
            kept = (len(d.summary.attacks_certified[a]) if a in d.summary.attacks_certified
                    else sum(1 for r in attacked if r.attacks[a].certified))
            items.append([b(a), f": {kept} of {len(attacked)} attacked certified configurations stay certified "
                                 "(re-tested on the held-out test split)."])
        else:
            n = sum(1 for r in d.configs if a in r.attacks)
            items.append([b(a), ": no certified configuration was attacked: nothing to re-certify"
                          + (f" (run on {n} other configurations)." if n else ".")])
    out = [para(covers[:1].upper() + covers[1:] + ".", cls="small"),
           {"kind": "list", "items": items, "cls": ""}]
    rows = [r for r in d.certified if r.attacks] or [r for r in d.configs if r.attacks]
    if not rows:
        return out
    shown = rows[: plots.MAX_BAR_GROUPS]
    fig = plots.plot_attacks(shown, d.attack_names, d.budget.alpha_forget, labels=[d.label(r) for r in shown])
    more = f" Showing {len(shown)} of {len(rows)}." if len(rows) > len(shown) else ""
    out.append(figs.figure(fig, "attacks", "CUR before and after attacks",
                           "CUR of each configuration before (calibration, pointwise) and after each attack (held-out "
                           "test split). Hatched bars: no longer certified after the attack; the knowledge was hidden "
                           "rather than removed." + more))
    body = []
    for r in rows:
        for a in d.attack_names:
            x = r.attacks.get(a)
            if x is None:
                continue
            details = json_text(x.details, 300) if x.details else MISSING
            body.append([name_cell(d, r), a, x.status or MISSING, fmt(r.cur), fmt(x.cur), fmt(x.risk_forget_cal),
                         fmt(x.risk_forget_test), fmt_int(x.n_test), fmt(x.p_value), flag(x.certified), details])
    out.append(table(["configuration", "attack", "status", "CUR before", "CUR after (test)", "forget risk cal",
                      "forget risk test", "test samples", "p-value after attack", "still certified", "details"],
                     body, numeric=range(3, 9), wide=True))
    return out
