"""Certification of a sweep from its store alone: per-sample losses -> Learn-then-Test -> summary.

Everything here reads the DuckDB store (scores carry their ``side`` and ``split``), so
``froc report DIR`` can rebuild the summary without recomputing any score.

Loss definitions (``SweepConfig.losses``; each in [0, 1], per probe):
- forget, ``binary`` (default): ``1[k_i > tau_i]`` with ``k_i`` the knowledge score
  P(a)/(P(a)+sum P(a~)); ``tau_forget``: ``oracle_qQ`` (default ``oracle_q0.9``: per probe form,
  the Q-quantile of the retain oracle's k on the *tune* forget probes, so the oracle itself has
  forget risk ~ 1-Q), ``chance`` (1/(1+#perturbed)), or a number. Probes without perturbed answers
  use greedy-answer correctness.
- forget, ``unified``: the FROC unified continuous score (froc.risk.losses), normalisers fitted on
  the tune split; then there is a single risk (the utility constraint is inside the score).
- utility, ``binary`` (default): ``1[original prefers the true answer and the configuration no longer
  does]``; ``continuous``: ``clip((logP_orig - logP_cfg) / B, 0, 1)`` on mean answer log-probs.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from froc.errors import ConfigError
from froc.risk import RiskController, fit_unified_normalisers, froc_unified_losses, ucb
from froc.sweep.config import _TAU, SweepConfig, expand_grid

REFS = ("__original__", "__oracle__")


def _pivot(scores: pd.DataFrame, col: str, ids: list[str], probes: list[str]) -> np.ndarray:
    """(K, N) matrix of ``col`` for configs ``ids`` over probes ``probes`` (NaN where absent)."""
    if scores.empty:
        return np.full((len(ids), len(probes)), np.nan)
    p = scores.pivot_table(index="config_id", columns="probe_id", values=col, aggfunc="first", dropna=False)
    return p.reindex(index=ids, columns=probes).to_numpy(dtype=np.float64, na_value=np.nan)


class LossBuilder:
    """Turns stored per-sample scores into forget / utility loss matrices for any set of configs."""

    def __init__(self, scores: pd.DataFrame, cfg: SweepConfig):
        self.cfg = cfg
        orig = scores[scores["config_id"] == "__original__"].sort_values("probe_id")
        if orig.empty:
            raise ConfigError("the store has no scores of the original model")
        self.probes = orig["probe_id"].tolist()
        self.side = orig["side"].to_numpy()
        self.split = orig["split"].to_numpy()
        self.form = orig["form"].astype(str).to_numpy()
        self.group = orig["grp"].astype(str).to_numpy()
        self.n_pert = orig["n_perturbed"].to_numpy(dtype=float) if "n_perturbed" in orig else np.full(len(orig), 3.0)
        self.scores = scores
        self.orig_known = self._known(orig.set_index("probe_id").reindex(self.probes))
        self.orig_logp = orig["gold_logp_mean"].to_numpy(dtype=float)
        self.tau = self._tau()
        self.notes: list[str] = []

    @staticmethod
    def _known(df: pd.DataFrame) -> np.ndarray:
        cc = df["correct_choice"].astype("float64").to_numpy()
        gc = df["gen_correct"].astype("float64").to_numpy()
        return np.where(np.isnan(cc), gc, cc)

    def mask(self, side: str, split: str | tuple[str, ...]) -> np.ndarray:
        splits = (split,) if isinstance(split, str) else split
        return (self.side == side) & np.isin(self.split, splits)

    def _tau(self) -> np.ndarray:
        t = self.cfg.losses.tau_forget
        chance = 1.0 / (1.0 + np.where(np.isnan(self.n_pert), 3.0, self.n_pert))
        if isinstance(t, (int, float)):
            return np.full(len(self.probes), float(t))
        if t == "chance":
            return chance
        m = _TAU.fullmatch(str(t))
        if not m:
            raise ConfigError(f"losses.tau_forget must be 'chance', 'oracle_qQ' (e.g. oracle_q0.9) or a number, got {t!r}")
        q = float(m.group(1))
        oracle = self.scores[self.scores["config_id"] == "__oracle__"]
        if oracle.empty:
            self._fallback = True
            return chance
        k = _pivot(oracle, "knowledge", ["__oracle__"], self.probes)[0]
        tune = self.mask("forget", "tune")
        tau = chance.copy()
        overall = np.nanquantile(k[tune], q) if np.isfinite(k[tune]).any() else np.nan
        for f in np.unique(self.form):
            sel = tune & (self.form == f) & np.isfinite(k)
            v = np.nanquantile(k[sel], q) if sel.sum() >= 10 else overall
            tau[self.form == f] = v if np.isfinite(v) else chance[self.form == f]
        return tau

    def forget(self, ids: list[str], table: pd.DataFrame | None = None) -> np.ndarray:
        """(K, N) binary forget losses over all probes (NaN for absent / diverged)."""
        tab = self.scores if table is None else table
        k = _pivot(tab, "knowledge", ids, self.probes)
        gen = _pivot(tab, "gen_correct", ids, self.probes) if "gen_correct" in tab else np.full_like(k, np.nan)
        known = np.where(np.isnan(k), gen, (k > self.tau[None, :]).astype(float))
        return np.where(np.isnan(k) & np.isnan(gen), np.nan, known)

    def utility(self, ids: list[str]) -> np.ndarray:
        if self.cfg.losses.utility == "continuous":
            lp = _pivot(self.scores, "gold_logp_mean", ids, self.probes)
            return np.clip((self.orig_logp[None, :] - lp) / self.cfg.losses.utility_bound, 0.0, 1.0)
        cc = _pivot(self.scores, "correct_choice", ids, self.probes)
        gc = _pivot(self.scores, "gen_correct", ids, self.probes)
        known = np.where(np.isnan(cc), gc, cc)
        loss = (self.orig_known[None, :] == 1) & (known == 0)
        return np.where(np.isnan(known), np.nan, loss.astype(float))

    def unified(self, ids: list[str], split: str, norm=None):
        """FROC unified per-unit losses on ``split`` (and the normalisers, fitted on tune when None)."""
        nll = -_pivot(self.scores, "gold_logp_mean", ids, self.probes)
        acc = _pivot(self.scores, "correct_choice", ids, self.probes)
        acc = np.where(np.isnan(acc), 0.0, acc)

        def parts(sp):
            f, u = self.mask("forget", sp), self.mask("utility", sp)
            return nll[:, f], acc[:, f], nll[:, u], acc[:, u]

        if norm is None:
            ok = np.isfinite(nll).all(axis=1)
            if not ok.any():
                raise ConfigError("no configuration has finite scores on the tune split")
            lf, af, lu, au = parts("tune")
            norm = fit_unified_normalisers(lf[ok], af[ok], lu[ok], au[ok], seed=self.cfg.seed)
        lf, af, lu, au = parts(split)
        out = np.full((len(ids), min(lf.shape[1], lu.shape[1])), np.nan)
        for i in range(len(ids)):
            if np.isfinite(lf[i]).all() and np.isfinite(lu[i]).all():
                out[i] = froc_unified_losses(lf[i], af[i], lu[i], au[i], norm, seed=self.cfg.seed)
        return out, norm


def _mean(x: np.ndarray) -> float | None:
    x = np.asarray(x, dtype=float)
    if x.size == 0 or np.isnan(x).any():
        return None
    return float(x.mean())


def _ucb1(x: np.ndarray, delta: float, pvalue: str) -> float | None:
    x = np.asarray(x, dtype=float)
    if x.size == 0 or np.isnan(x).any():
        return None
    return float(ucb(x[None, :], delta, pvalue)[0])


def certify_sweep(store, cfg: SweepConfig, prep=None, groups=None) -> dict:
    """Certify every stored configuration of ``cfg``'s grid and build the summary dict."""
    grid = expand_grid(cfg)
    configs = store.configs()
    have = set(configs["config_id"])
    grid = [c for c in grid if c["config_id"] in have]
    ids = [c["config_id"] for c in grid]
    scores = store.scores()
    scores = scores[scores["config_id"].isin(ids + list(REFS))]
    lb = LossBuilder(scores, cfg)
    b = cfg.budget
    unified = cfg.losses.forget == "unified"
    crow = configs.set_index("config_id")

    fcal, ftest = lb.mask("forget", "cal"), lb.mask("forget", "test")
    ucal, utest = lb.mask("utility", "cal"), lb.mask("utility", "test")
    if unified:
        F_cal, norm = lb.unified(ids, "cal")
        F_test, _ = lb.unified(ids, "test", norm)
        U_all = None
        alpha_u = None
    else:
        F_all = lb.forget(ids)
        U_all = lb.utility(ids)
        F_cal, F_test = F_all[:, fcal], F_all[:, ftest]
        alpha_u = b.alpha_utility
    U_cal = None if U_all is None or alpha_u is None else U_all[:, ucal]
    U_test = None if U_all is None else U_all[:, utest]

    tie = np.array([float(c["hparams"].get("lr", 1.0)) * c["steps"] for c in grid])
    order = list(np.argsort(tie, kind="stable"))  # fixed before calibration: smallest change first
    summary: dict = {"configs": [], "certified": [], "recommended": None}
    ctrl = None
    if ids:
        ctrl = RiskController(b.alpha_forget, alpha_u, b.delta, pvalue=cfg.pvalue, fwer=cfg.fwer, order=order)
        ctrl.calibrate(F_cal, U_cal, param_names=ids, tie_break=tie).certify()

    forms = sorted(set(lb.form[lb.side == "forget"]))
    groups_ = sorted(set(lb.group))
    results = ctrl.results() if ctrl is not None else []
    for i, c in enumerate(grid):
        row = crow.loc[c["config_id"]]
        rec = {"config_id": c["config_id"], "method": c["method"], "hparams": c["hparams"], "steps": c["steps"],
               "status": row["status"], "diverged_at": None if pd.isna(row["diverged_at"]) else int(row["diverged_at"]),
               "train_seconds": float(row["train_seconds"]), "score_seconds": float(row["score_seconds"])}
        r = results[i]
        rec.update({"cur": r["cur"], "utility_ucb": r["utility_ucb"], "risk_forget_cal": _mean(F_cal[i]),
                    "risk_utility_cal": None if U_cal is None else _mean(U_cal[i]),
                    "risk_forget_test": _mean(F_test[i]), "risk_utility_test": None if U_test is None else _mean(U_test[i]),
                    "p_forget": r["p_forget"], "p_utility": r["p_utility"], "p_value": r["p_value"],
                    "certified": r["certified"]})
        if alpha_u is None and U_all is not None:
            rec["utility_ucb"] = _ucb1(U_all[i, ucal], b.delta, cfg.pvalue)
        if not unified:
            rec["cur_by_form"] = {f: _ucb1(F_all[i, fcal & (lb.form == f)], b.delta, cfg.pvalue) for f in forms}
            rec["risk_by_group"] = {g: _mean((F_all if g == "forget" else U_all)[i, (lb.group == g) & np.isin(lb.split, ("cal", "test"))])
                                    for g in groups_}
        rec["metrics"] = row["metrics"] if isinstance(row["metrics"], dict) else {}
        summary["configs"].append(rec)
    summary["certified"] = [ids[i] for i in (ctrl.valid_params if ctrl is not None else [])]
    if ctrl is not None and ctrl.best is not None:
        best = summary["configs"][ctrl.best]
        summary["recommended"] = best["config_id"]
        summary["recommendation_reason"] = (
            f"Among the {len(summary['certified'])} certified configurations, {best['method']} "
            f"({_fmt_hp(best['hparams'])}, {best['steps']} steps) has the lowest empirical utility risk on calibration "
            f"({_pct(best['risk_utility_cal'])}); ties go to the smallest change (lr x steps). Its CUR is {_pct(best['cur'])} "
            f"(forget budget {_pct(b.alpha_forget)}).")
    else:
        summary["recommendation_reason"] = "No configuration meets the budget with the requested confidence."

    # references (not part of the certified family)
    summary["reference"] = {}
    for name, cid in (("original", "__original__"), ("oracle", "__oracle__")):
        if cid not in have:
            continue
        ref: dict = {"metrics": _ref_metrics(scores, cid)}
        if not unified:
            fr, ur = lb.forget([cid])[0], lb.utility([cid])[0]
            ref.update({"risk_forget_cal": _mean(fr[fcal]), "risk_forget_test": _mean(fr[ftest]),
                        "cur": _ucb1(fr[fcal], b.delta, cfg.pvalue), "risk_utility_cal": _mean(ur[ucal]),
                        "utility_ucb": _ucb1(ur[ucal], b.delta, cfg.pvalue),
                        "cur_by_form": {f: _ucb1(fr[fcal & (lb.form == f)], b.delta, cfg.pvalue) for f in forms},
                        "risk_by_group": {g: _mean((fr if g == "forget" else ur)[(lb.group == g) & np.isin(lb.split, ("cal", "test"))])
                                          for g in groups_}})
        summary["reference"][name] = ref

    # validity: held-out test check of the certified set and repeated random re-splits
    cert = np.asarray(ctrl.certified if ctrl is not None else [], dtype=bool)
    viol_test = 0
    for i in np.flatnonzero(cert):
        c = summary["configs"][i]
        if (c["risk_forget_test"] or 0) > b.alpha_forget or (alpha_u is not None and (c["risk_utility_test"] or 0) > alpha_u):
            viol_test += 1
    summary["validity"] = {"test_violations": viol_test, "n_certified": int(cert.sum()), "delta": b.delta,
                           **(_resplits(F_cal, F_test, U_cal, U_test, cfg, order, tie) if ids else {})}

    summary.update(_budget_block(cfg, lb, prep, store))
    summary["attacks_certified"] = {}
    _attack_summary(store, cfg, lb, summary, ids)
    summary["notes"] = lb.notes + (["tau_forget: no oracle in the store, fell back to chance level"]
                                   if getattr(lb, "_fallback", False) else [])
    return summary


def _resplits(F_cal, F_test, U_cal, U_test, cfg: SweepConfig, order, tie) -> dict:
    """Re-split cal+test at random ``cfg.resplits`` times; share of splits in which a certified
    configuration's held-out risk exceeds its budget (test risk stands in for the true risk, so this
    slightly overstates violations)."""
    R = cfg.resplits
    if R <= 0:
        return {}
    b = cfg.budget
    Fp = np.concatenate([F_cal, F_test], axis=1)
    Up = None if U_cal is None else np.concatenate([U_cal, U_test], axis=1)
    rng = np.random.default_rng(cfg.seed + 7919)
    viol = 0
    for _ in range(R):
        pf = rng.permutation(Fp.shape[1])
        cf, tf = Fp[:, pf[: F_cal.shape[1]]], Fp[:, pf[F_cal.shape[1]:]]
        if Up is not None:
            pu = rng.permutation(Up.shape[1])
            cu, tu = Up[:, pu[: U_cal.shape[1]]], Up[:, pu[U_cal.shape[1]:]]
        else:
            cu = tu = None
        ctrl = RiskController(b.alpha_forget, b.alpha_utility if Up is not None else None, b.delta, pvalue=cfg.pvalue,
                              fwer=cfg.fwer, order=order).calibrate(cf, cu, tie_break=tie).certify()
        bad = False
        for i in np.flatnonzero(ctrl.certified):
            if np.nanmean(tf[i]) > b.alpha_forget or (tu is not None and np.nanmean(tu[i]) > b.alpha_utility):
                bad = True
                break
        viol += bad
    return {"resplits": R, "violation_rate": viol / R}


def _ref_metrics(scores: pd.DataFrame, cid: str) -> dict:
    from froc.sweep.runner import config_metrics

    t = scores[scores["config_id"] == cid].drop(columns=["config_id"]).rename(columns={"grp": "group"})
    for c in ("perturbed_logp_mean", "perturbed_mink", "perturbed_minkpp", "perturbed_zlib_len"):
        if c in t:
            t[c] = [list(v) if isinstance(v, (list, tuple)) or hasattr(v, "__len__") and not isinstance(v, str) else [] for v in t[c]]
    try:
        return config_metrics(t.reset_index(drop=True), {})
    except Exception:  # noqa: BLE001 - metrics of references are informative only
        return {}


def _fmt_hp(hp: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(hp.items()))


def _pct(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def _budget_block(cfg: SweepConfig, lb: LossBuilder, prep, store) -> dict:
    from froc import __version__

    b = cfg.budget
    info = json.loads(store.get_meta("data_info", "{}"))
    question = store.get_meta("question", "")
    if prep is not None:
        info = {k: v for k, v in prep.data_info.items() if k != "training"}
        question = prep.question
        store.set_meta("data_info", info)
        store.set_meta("question", question)
    n = lambda side, split: int(lb.mask(side, split).sum())  # noqa: E731
    return {
        "froc_version": __version__,
        "created": pd.Timestamp.now("UTC").isoformat(timespec="seconds"),
        "question": question,
        "budget": {"alpha_forget": b.alpha_forget, "alpha_utility": b.alpha_utility, "delta": b.delta,
                   "pvalue": cfg.pvalue, "fwer": cfg.fwer, "forget_loss": cfg.losses.forget,
                   "utility_loss": cfg.losses.utility, "tau_forget": str(cfg.losses.tau_forget)},
        "data": {**info, "n_forget_cal": n("forget", "cal"), "n_forget_test": n("forget", "test"),
                 "n_utility_cal": n("utility", "cal"), "n_utility_test": n("utility", "test"),
                 "n_tune": n("forget", "tune") + n("utility", "tune")},
        "model": {"path": cfg.model if cfg.model != "builtin" else "built-in benchmark target",
                  "oracle": cfg.oracle or ("built-in retain oracle" if cfg.model == "builtin" else None)},
        "grid": {"methods": cfg.methods, "steps": cfg.steps},
    }


def _attack_summary(store, cfg: SweepConfig, lb: LossBuilder, summary: dict, ids: list[str]) -> None:
    """Post-attack forget risk on the same cal/test probes; re-certification under each attack."""
    att = store.attack_scores()
    if att.empty:
        return
    b = cfg.budget
    fcal, ftest = lb.mask("forget", "cal"), lb.mask("forget", "test")
    by_id = {c["config_id"]: c for c in summary["configs"]}
    for name in sorted(att["attack"].unique()):
        a = att[att["attack"] == name]
        cids = sorted(set(a["config_id"]) & set(ids))
        if not cids:
            continue
        F = lb.forget(cids, a)
        ok_cal = fcal & ~np.isnan(F).any(axis=0)  # probes the attack scored for every config (relearn drops some)
        ok_test = ftest & ~np.isnan(F).any(axis=0)
        ctrl = RiskController(b.alpha_forget, None, b.delta, pvalue=cfg.pvalue, fwer=cfg.fwer).calibrate(F[:, ok_cal]).certify()
        certified_before = np.array([bool(by_id[c]["certified"]) for c in cids])
        still = ctrl.certified & certified_before
        summary["attacks_certified"][name] = [c for c, s in zip(cids, still) if s]
        for j, c in enumerate(cids):
            by_id[c].setdefault("attacks", {})[name] = {
                "cur": float(ctrl.cur[j]), "risk_forget_cal": _mean(F[j, ok_cal]), "risk_forget_test": _mean(F[j, ok_test]),
                "n_cal": int(ok_cal.sum()), "certified": bool(still[j])}
    det = store.attacks()
    for _, r in det.iterrows():
        if r["config_id"] in by_id:
            by_id[r["config_id"]].setdefault("attacks", {}).setdefault(r["attack"], {}).update(
                {"status": r["status"], "details": r["details"]})
