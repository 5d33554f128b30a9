"""Certification of a sweep from its store alone: stored scores -> loss matrices -> ``froc.risk`` -> summary.

Everything here reads the DuckDB store (scores carry their ``side`` and ``split``), so
``froc report DIR`` can rebuild the summary without recomputing any score. The statistics (p-values,
the FWER procedure and the order it tests in, pointwise / simultaneous / after-selection bounds, the
references' tests, attack re-certification, re-split diagnostics, the calibration-size curve) are all
calls into :mod:`froc.risk`; this module only pivots scores (:mod:`froc.sweep.losses`) and fills the
typed records of :mod:`froc.records`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from froc.records import AttackRecord, ConfigRecord, Recommendation, SweepSummary, Validity
from froc.risk.explain import explain
from froc.risk import certify_grid, cluster_means, ncal_curve, recertify_on_test, resplit_check, ucb
from froc.sweep.config import SweepConfig, expand_grid
from froc.sweep.losses import ORACLE, ORIGINAL, REFERENCES, SPLITS, LossBuilder, loss_types
from froc.sweep.scores import config_metrics
from froc.sweep.summary import budget_record, context_block, recommendation_reason



def _mean(x) -> float | None:
    x = np.asarray(x, dtype=float)
    return None if x.size == 0 or np.isnan(x).any() else float(x.mean())


class _Losses:
    """The loss matrices of the grid and of the references, per side and split, in the sampling unit."""

    def __init__(self, lb: LossBuilder, ids: list[str], refs: list[str]):
        self.lb = lb
        self.unified = lb.cfg.losses.forget == "unified"
        if self.unified:
            self.F, self.norm = lb.unified(ids)
            self.U = None
            self.ref = {r: (lb.unified([r], self.norm)[0], None) for r in refs}
            self.Fp = self.Up = None
        else:
            self.Fp, self.Up = lb.forget_probe_losses(ids), lb.utility_probe_losses(ids)
            self.F = lb.split_dict(self.Fp, "forget")
            self.U = lb.split_dict(self.Up, "utility") if lb.has_utility else None  # None: forget-only
            self.ref = {}
            for r in refs:
                fp, up = lb.forget_probe_losses([r]), lb.utility_probe_losses([r])
                self.ref[r] = (lb.split_dict(fp, "forget"), lb.split_dict(up, "utility") if lb.has_utility else None,
                               fp, up)


def _by_form_and_group(lb: LossBuilder, fp: np.ndarray, up: np.ndarray, delta: float, pvalue: str, binary: bool):
    """Pointwise CUR per probe form (calibration probes) and mean risk per probe group (cal + test)."""
    cal = lb.mask("forget", "cal")
    by_form = {}
    for f in sorted(set(lb.form[lb.side == "forget"])):
        sel = cal & (lb.form == f)
        x = fp[:, sel] if lb.unit == "probe" else cluster_means(fp[:, sel], lb.subject[sel])[0]
        by_form[f] = None if x.size == 0 or np.isnan(x).any() else float(ucb(x, delta, pvalue, binary=binary)[0])
    held = np.isin(lb.split, ("cal", "test"))
    by_group = {g: _mean((fp if g == "forget" else up)[0, (lb.group == g) & held]) for g in sorted(set(lb.group))}
    return by_form, by_group


def _record(c: dict, row, cert, i: int, L: _Losses) -> ConfigRecord:
    metrics = row["metrics"] if isinstance(row["metrics"], dict) else {}
    rec = ConfigRecord(
        config_id=c["config_id"], method=c["method"], hparams=c["hparams"], steps=c["steps"], status=row["status"],
        diverged_at=None if pd.isna(row["diverged_at"]) else int(row["diverged_at"]), error=metrics.get("error"),
        train_seconds=float(row["train_seconds"]), score_seconds=float(row["score_seconds"]),
        certified=bool(cert.certified[i]), p_forget=cert.p_forget[i],
        p_utility=None if cert.p_utility is None else cert.p_utility[i], p_value=cert.p_values[i],
        cur=cert.cur[i], utility_ucb=None if cert.utility_ucb is None else cert.utility_ucb[i],
        cur_simultaneous=cert.cur_simultaneous[i],
        utility_ucb_simultaneous=None if cert.utility_ucb_simultaneous is None else cert.utility_ucb_simultaneous[i],
        metrics={k: v for k, v in metrics.items() if k != "error"})
    for s in SPLITS:
        setattr(rec, f"risk_forget_{s}", _mean(L.F[s][i]))
        if L.U is not None:
            setattr(rec, f"risk_utility_{s}", _mean(L.U[s][i]))
    return rec


def certify_sweep(store, cfg: SweepConfig, prep=None) -> SweepSummary:
    """Certify every stored configuration of ``cfg``'s grid and build the typed summary."""
    configs = store.configs()
    have = set(configs["config_id"])
    grid = [c for c in expand_grid(cfg) if c["config_id"] in have]
    ids = [c["config_id"] for c in grid]
    refs = [cid for cid in REFERENCES.values() if cid in have]
    scores = store.scores()
    scores = scores[scores["config_id"].isin(ids + refs)]
    lb = LossBuilder(scores, cfg)
    L = _Losses(lb, ids, refs)
    b = cfg.budget
    alpha_u = None if L.unified or L.U is None else b.alpha_utility
    bin_f, bin_u = lb.binary()
    tie = np.array([float(c["hparams"].get("lr", 1.0)) * c["steps"] for c in grid])
    references = {}
    for name, cid in REFERENCES.items():
        if cid in L.ref:
            f = L.ref[cid][0]
            references[name] = {"forget": f, "utility": None if L.unified or L.U is None else L.ref[cid][1]}

    summary = SweepSummary(budget=budget_record(cfg, lb.tau_used, lb.tau_fallback), notes=list(lb.notes))
    n_units = {f"n_{side}_{s}": lb.n_units(side, s) for side in ("forget", "utility") for s in SPLITS}
    ctx = context_block(cfg, n_units, store, prep)
    for k, v in ctx.items():
        setattr(summary, k, v)
    if not ids:
        summary.recommendation = Recommendation(reason="No configuration of the grid has been computed yet.")
        return summary

    cert = certify_grid(forget=L.F, utility=L.U, alpha_forget=b.alpha_forget, alpha_utility=alpha_u, delta=b.delta,
                        pvalue=cfg.pvalue, fwer=cfg.fwer, binary_forget=bin_f, binary_utility=bin_u, tie_break=tie,
                        names=ids, references=references or None)
    crow = configs.set_index("config_id")
    reasons = explain(cert.p_values, cert.certified, b.delta, cfg.fwer, cert.order)
    for i, c in enumerate(grid):
        rec = _record(c, crow.loc[c["config_id"]], cert, i, L)
        rec.fwer_level, rec.why = reasons[i]["level"], reasons[i]["why"]
        if rec.status != "ok":
            rec.fwer_level, rec.why = None, f"not certified: the run {rec.status}" + (
                f" at step {rec.diverged_at}" if rec.diverged_at is not None else "")
        if not L.unified:
            rec.cur_by_form, rec.risk_by_group = _by_form_and_group(
                lb, L.Fp[i:i + 1], L.Up[i:i + 1], b.delta, cfg.pvalue, bin_f)
        summary.configs.append(rec)
    summary.certified = [ids[i] for i in np.flatnonzero(cert.certified)]
    summary.order = {"procedure": cfg.fwer, "learned_on": "tune" if cert.order is not None else None,
                     "order": None if cert.order is None else [ids[i] for i in cert.order]}

    for name, cid in REFERENCES.items():
        if cid not in L.ref:
            continue
        r = cert.references[name]
        rec = ConfigRecord(config_id=name, method="reference", hparams={"path": str(crow.loc[cid]["hparams"])},
                           certified=bool(r["certified"]), p_forget=r["p_forget"], p_utility=r.get("p_utility"),
                           p_value=r["p_value"], cur=r["cur"], utility_ucb=r.get("utility_ucb"),
                           metrics=_ref_metrics(store, cid))
        for s in SPLITS:
            rec.__setattr__(f"risk_forget_{s}", _mean(references[name]["forget"][s]))
            if references[name]["utility"] is not None:
                rec.__setattr__(f"risk_utility_{s}", _mean(references[name]["utility"][s]))
        if not L.unified:
            rec.cur_by_form, rec.risk_by_group = _by_form_and_group(lb, L.ref[cid][2], L.ref[cid][3], b.delta,
                                                                    cfg.pvalue, bin_f)
        summary.reference[name] = rec

    best = None if cert.best is None else summary.configs[cert.best]
    summary.recommendation = Recommendation(
        config_id=None if best is None else best.config_id,
        reason=recommendation_reason(best, len(summary.certified), cfg, cert.best_bound, cert.best_bound_utility),
        bound_forget=cert.best_bound, bound_utility=cert.best_bound_utility,
        n_test_forget=n_units["n_forget_test"], n_test_utility=n_units["n_utility_test"])

    checked = [c for c in summary.configs if c.certified]
    exceed = [c for c in checked if (c.risk_forget_test or 0) > b.alpha_forget
              or (alpha_u is not None and (c.risk_utility_test or 0) > alpha_u)]
    summary.validity = Validity(n_certified=len(checked), test_checked=len(checked), test_exceed=len(exceed))
    if cfg.resplits > 0:
        summary.validity.resplit = resplit_check(
            L.F, L.U, alpha_forget=b.alpha_forget, alpha_utility=alpha_u, delta=b.delta, pvalue=cfg.pvalue,
            fwer=cfg.fwer, binary_forget=bin_f, binary_utility=bin_u, reps=cfg.resplits, seed=cfg.seed)
    focus = cert.best if cert.best is not None else int(np.argmin(np.where(np.isnan(cert.cur), np.inf, cert.cur)))
    summary.calibration_size = {"config_id": ids[focus], **ncal_curve(
        L.F["cal"], None if L.U is None else L.U["cal"], focus=focus, alpha_forget=b.alpha_forget,
        alpha_utility=alpha_u, delta=b.delta, pvalue=cfg.pvalue, fwer="holm" if cert.order is not None else cfg.fwer,
        binary_forget=bin_f, binary_utility=bin_u, seed=cfg.seed)}
    _attack_summary(store, cfg, lb, summary, ids, bin_f)
    return summary


def _ref_metrics(store, cid: str) -> dict:
    try:
        return config_metrics(store.table(cid), {})
    except (ValueError, KeyError, TypeError):  # metrics of references are informative only
        return {}


def _attack_summary(store, cfg: SweepConfig, lb: LossBuilder, summary: SweepSummary, ids: list[str], binary: bool):
    """Post-attack forget risk and re-certification under each attack, on the held-out TEST split.

    The attacked configurations were chosen with calibration results, so re-testing them on the
    calibration probes would not be covered by Learn-then-Test; the test split was not used to choose
    them (:func:`froc.risk.recertify_on_test`)."""
    att = store.attack_scores()
    by_id = {c.config_id: c for c in summary.configs}
    if not att.empty:
        b = cfg.budget
        for name in sorted(att["attack"].unique()):
            a = att[att["attack"] == name]
            cids = sorted(set(a["config_id"]) & set(ids))
            if not cids:
                continue
            fp = lb.forget_probe_losses(cids, a)
            scored = ~np.isnan(fp).any(axis=0)  # probes the attack scored for every config (relearn drops some)
            fp = np.where(scored[None, :], fp, np.nan)
            test = lb.mask("forget", "test") & scored
            cal = lb.mask("forget", "cal") & scored
            x = lb.units(fp, "forget", "test")  # unscored probes are NaN: dropped (whole clusters with them)
            x = x[:, ~np.isnan(x).any(axis=0)]
            r = recertify_on_test(x, alpha_forget=b.alpha_forget, delta=b.delta, pvalue=cfg.pvalue, fwer="holm",
                                  binary=binary)
            before = np.array([by_id[c].certified for c in cids])
            still = np.asarray(r.certified, dtype=bool) & before
            summary.attacks_certified[name] = [c for c, s in zip(cids, still) if s]
            for j, c in enumerate(cids):
                by_id[c].attacks[name] = AttackRecord(
                    cur=float(r.cur[j]), p_value=float(r.p_values[j]), risk_forget_cal=_mean(fp[j, cal]),
                    risk_forget_test=_mean(fp[j, test]), n_test=int(x.shape[1]), certified=bool(still[j]))
    for _, r in store.attacks().iterrows():
        if r["config_id"] in by_id:
            rec = by_id[r["config_id"]].attacks.setdefault(r["attack"], AttackRecord())
            rec.status, rec.details = r["status"], r["details"] if isinstance(r["details"], dict) else {}


def preflight(cfg: SweepConfig, prep) -> dict:
    """Feasibility before any compute: can a configuration with zero empirical risk be certified with the
    calibration samples this sweep has (in its sampling unit), for its budget, grid size, p-value and FWER
    procedure? (:func:`froc.risk.feasibility.feasibility`)."""
    from froc.risk.feasibility import feasibility

    def n_cal(side: str) -> int:
        sel = [p for p in prep.probes if p.meta.get("side") == side and p.meta.get("split") == "cal"]
        return len(sel) if cfg.splits.by == "probe" else len({p.subject for p in sel})

    unified = cfg.losses.forget == "unified"
    bin_f, bin_u = loss_types(cfg)
    return feasibility(n_cal("forget") if not unified else min(n_cal("forget"), n_cal("utility")),
                       None if unified else n_cal("utility"), alpha_forget=cfg.budget.alpha_forget,
                       alpha_utility=None if unified else cfg.budget.alpha_utility, delta=cfg.budget.delta,
                       n_configs=len(expand_grid(cfg)), pvalue=cfg.pvalue, fwer=cfg.fwer,
                       binary_forget=bin_f, binary_utility=bin_u)


def oracle_check(store, cfg: SweepConfig) -> str | None:
    """Does the retain oracle (exact unlearning by retraining) itself meet the forget budget? A sentence to
    print before the grid is trained, or None without an oracle."""
    have = set(store.configs()["config_id"])
    if ORACLE not in have or cfg.losses.forget == "unified":
        return None
    lb = LossBuilder(store.scores([ORIGINAL, ORACLE]), cfg)
    bin_f, _ = lb.binary()
    f = lb.units(lb.forget_probe_losses([ORACLE]), "forget", "cal")
    if np.isnan(f).any() or f.shape[1] == 0:
        return None
    bound = float(ucb(f, cfg.budget.delta, cfg.pvalue, binary=bin_f)[0])
    a = cfg.budget.alpha_forget
    verdict = ("within the forget budget" if bound <= a else
               "ABOVE the forget budget: the budget is stricter than exact retraining can meet, so expect no "
               "configuration to be certified; loosen alpha_forget or change losses.tau_forget")
    return (f"retain oracle: forget risk {float(f.mean()):.3f} on calibration, CUR {bound:.3f} vs alpha_forget {a}: "
            f"{verdict}")
