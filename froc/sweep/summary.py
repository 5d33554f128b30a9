"""The texts and descriptive blocks of a sweep's summary (one place for every sentence the report and
the terminal quote about a certificate). Pure: no torch, no store writes."""

from __future__ import annotations

import math

import pandas as pd

from froc.records import Budget, ConfigRecord
from froc.sweep.config import SweepConfig


def pct(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def fmt_hparams(hp: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(hp.items()))


def budget_record(cfg: SweepConfig, tau_used: str, fallback: bool = False) -> Budget:
    b = cfg.budget
    return Budget(alpha_forget=b.alpha_forget, alpha_utility=None if cfg.losses.forget == "unified" else b.alpha_utility,
                  delta=b.delta, pvalue=cfg.pvalue, fwer=cfg.fwer, unit=cfg.splits.by, forget_loss=cfg.losses.forget,
                  utility_loss=cfg.losses.utility, tau_forget=str(cfg.losses.tau_forget), tau_forget_used=tau_used,
                  tau_forget_fallback=fallback)


def recommendation_reason(best: ConfigRecord | None, n_certified: int, cfg: SweepConfig,
                          bound_forget: float | None, bound_utility: float | None) -> str:
    if best is None:
        return "No configuration meets the budget with the requested confidence."
    return (f"Among the {n_certified} certified configurations, {best.method} ({fmt_hparams(best.hparams)}, "
            f"{best.steps} steps) has the lowest empirical utility risk on calibration ({pct(best.risk_utility_cal)}); "
            f"ties go to the smallest change (lr x steps). On the held-out test split, which this choice did not see, "
            f"its forget risk is at most {pct(bound_forget)} and its utility risk at most {pct(bound_utility)} "
            f"with probability >= {pct(1 - cfg.budget.delta)} (forget budget {pct(cfg.budget.alpha_forget)}).")


def context_block(cfg: SweepConfig, n_units: dict, store, prep=None) -> dict:
    """Version, time stamp, question, data sizes, model and grid of the summary."""
    import json

    from froc import __version__

    info = json.loads(store.get_meta("data_info", "{}"))
    question = store.get_meta("question", "")
    if prep is not None:
        info = {k: v for k, v in prep.data_info.items() if k != "training"}
        question = prep.question
        store.set_meta("data_info", info)
        store.set_meta("question", question)
    unit = "probes" if cfg.splits.by == "probe" else f"{cfg.splits.by}s"
    return {
        "froc_version": __version__,
        "created": pd.Timestamp.now("UTC").isoformat(timespec="seconds"),
        "question": question or None,
        "data": {**info, "source": "builtin" if cfg.model == "builtin" else "user", "unit": unit, **n_units},
        "model": {"path": cfg.model if cfg.model != "builtin" else "built-in benchmark target",
                  "oracle": cfg.oracle or ("built-in retain oracle" if cfg.model == "builtin" else None)},
        "grid": {"methods": cfg.methods, "steps": cfg.steps},
    }
