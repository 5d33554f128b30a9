"""A realistic synthetic summary.json for the report tests.

`make_summary()` builds the grid a real sweep would produce: ga, gd, simnpo and rmu
over 3 lr x 3 steps, plus npo which also sweeps beta (27 configurations), 63 in all.
Stronger unlearning (higher lr x steps) lowers the forget risk and raises the
utility damage; ga diverges at the largest lr, one rmu run failed. Calibration and
test risks are binomial draws around the true risk; CUR / utility bound are the
Hoeffding upper confidence bounds at delta; a configuration is certified when both
bounds are within budget. Attacks are run on the certified ones.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math

import numpy as np
import pytest

ALPHA_F, ALPHA_U, DELTA = 0.2, 0.15, 0.1
N_F_CAL, N_F_TEST, N_U_CAL, N_U_TEST = 300, 300, 400, 400
LRS, STEPS = [1e-4, 3e-4, 1e-3], [10, 20, 40]
FORMS = {"qa": 1.0, "paraphrase": 1.15, "cloze": 1.4, "mcq": 2.0, "yesno": 2.6, "reverse": 1.7}
# method: (forgetting efficiency, utility damage)
METHODS = {"ga": (9.0, 0.9), "gd": (7.0, 0.35), "npo": (6.0, 0.2), "simnpo": (6.5, 0.22), "rmu": (10.0, 0.3)}
BETAS = [0.05, 0.1, 0.5]


def _kl(a: float, b: float) -> float:
    a = min(max(a, 1e-12), 1 - 1e-12)
    return a * math.log(a / b) + (1 - a) * math.log((1 - a) / (1 - b))


def hoeffding_ucb(r: float, n: int, delta: float = DELTA) -> float:
    """Smallest a >= r with exp(-n * kl(r, a)) <= delta (bisection)."""
    lo, hi = r, 1.0
    if n * _kl(r, 1 - 1e-12) < math.log(1 / delta):
        return 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if n * _kl(r, mid) >= math.log(1 / delta):
            hi = mid
        else:
            lo = mid
    return hi


def hoeffding_p(r: float, n: int, alpha: float) -> float:
    return math.exp(-n * _kl(min(r, alpha), alpha))


def _config_id(method: str, hparams: dict, steps: int) -> str:
    h = hashlib.sha1(json.dumps([method, hparams, steps], sort_keys=True).encode()).hexdigest()[:6]
    return f"{method}-{h}"


def _row(rng, method: str, hparams: dict, steps: int) -> dict:
    eff, dmg = METHODS[method]
    if method == "npo":
        eff *= {0.05: 1.25, 0.1: 1.0, 0.5: 0.7}[hparams["beta"]]
        dmg *= {0.05: 1.3, 0.1: 1.0, 0.5: 0.8}[hparams["beta"]]
    effort = hparams["lr"] * steps / (1e-3 * 40)  # (0.025 .. 1]
    rf = 0.04 + 0.92 * math.exp(-eff * effort)
    ru = min(0.95, 0.01 + dmg * effort ** 1.3)
    cid = _config_id(method, hparams, steps)
    diverged = method == "ga" and hparams["lr"] == 1e-3 and steps >= 20
    failed = method == "rmu" and hparams["lr"] == 1e-3 and steps == 10
    base = {"config_id": cid, "method": method, "hparams": hparams, "steps": steps, "diverged_at": None,
            "attacks": {}}
    if failed:
        return {**base, "status": "failed", "cur": None, "utility_ucb": None, "certified": False, "metrics": {}}
    if diverged:
        rf, ru = 0.0, 0.97
    rfc, rft = rng.binomial(N_F_CAL, rf) / N_F_CAL, rng.binomial(N_F_TEST, rf) / N_F_TEST
    ruc, rut = rng.binomial(N_U_CAL, ru) / N_U_CAL, rng.binomial(N_U_TEST, ru) / N_U_TEST
    cur, uucb = hoeffding_ucb(rfc, N_F_CAL), hoeffding_ucb(ruc, N_U_CAL)
    pf, pu = hoeffding_p(rfc, N_F_CAL, ALPHA_F), hoeffding_p(ruc, N_U_CAL, ALPHA_U)
    certified = (not diverged) and cur <= ALPHA_F and uucb <= ALPHA_U
    row = {
        **base, "status": "diverged" if diverged else "ok",
        "diverged_at": int(steps * 0.6) if diverged else None,
        "cur": cur, "utility_ucb": uucb,
        "risk_forget_cal": rfc, "risk_utility_cal": ruc, "risk_forget_test": rft, "risk_utility_test": rut,
        "p_forget": pf, "p_utility": pu, "p_value": max(pf, pu), "certified": certified,
        "metrics": {
            "forget_quality": float(math.exp(-12 * abs(rf - 0.1))),
            "model_utility": 0.62 * (1 - ru),
            "privleak": float(-100 * (rf - 0.1) / 0.9),
            "forget_knowledge": rf,
            "retain_accuracy": 0.93 * (1 - ru),
            "neighbour_accuracy": 0.88 * (1 - min(1.0, 1.4 * ru)),
            "forget_rouge": 0.08 + 0.8 * rf,
        },
        "cur_by_form": {f: min(1.0, cur * m + 0.02 * (m - 1)) for f, m in FORMS.items()},
        "risk_by_group": {"forget": rft, "neighbour": min(1.0, 1.6 * rut), "retain": rut, "world": 0.4 * rut},
    }
    return row


def make_summary(seed: int = 0) -> dict:
    """A realistic summary.json dict (see the module docstring)."""
    rng = np.random.default_rng(seed)
    configs = []
    grid = {"methods": {}, "steps": STEPS}
    for method in METHODS:
        extra = {"beta": BETAS} if method == "npo" else {}
        grid["methods"][method] = {"lr": LRS, **extra}
        for lr in LRS:
            for beta in extra.get("beta", [None]):
                for steps in STEPS:
                    hp = {"lr": lr} if beta is None else {"lr": lr, "beta": beta, "retain_weight": 1.0}
                    configs.append(_row(rng, method, hp, steps))
    certified = [c["config_id"] for c in configs if c["certified"]]
    for c in configs:
        if c["certified"]:
            relearn = min(1.0, c["cur"] + 0.22 + 0.1 * rng.random())
            quant = c["cur"] + 0.02 + 0.04 * rng.random()
            c["attacks"] = {
                "relearn": {"cur": relearn, "risk_forget_test": relearn - 0.04, "certified": relearn <= ALPHA_F},
                "quantize_4bit": {"cur": quant, "risk_forget_test": quant - 0.04, "certified": quant <= ALPHA_F},
            }
    cert_rows = sorted((c for c in configs if c["certified"]), key=lambda c: (c["utility_ucb"], c["cur"]))
    recommended = cert_rows[0]["config_id"] if cert_rows else None
    test_violations = sum(1 for c in cert_rows
                          if c["risk_forget_test"] > ALPHA_F or c["risk_utility_test"] > ALPHA_U)
    ref_metrics = {"forget_quality": 1e-6, "model_utility": 0.62, "privleak": -95.0, "forget_knowledge": 0.95,
                   "retain_accuracy": 0.93, "neighbour_accuracy": 0.88, "forget_rouge": 0.9}
    return {
        "froc_version": "0.1.0",
        "created": "2026-11-22T03:10:00Z",
        "seconds": 468.3,
        "question": "Remove 20 people (10% of 200) from the built-in benchmark model (froc-small, 900k parameters)",
        "budget": {"alpha_forget": ALPHA_F, "alpha_utility": ALPHA_U, "delta": DELTA, "pvalue": "hb",
                   "fwer": "holm", "forget_loss": "binary", "utility_loss": "binary", "tau_forget": "oracle_q0.9"},
        "data": {"forget_people": 20, "n_forget_cal": N_F_CAL, "n_forget_test": N_F_TEST, "n_utility_cal": N_U_CAL,
                 "n_utility_test": N_U_TEST, "n_tune": 200},
        "model": {"path": "~/.cache/froc/models/target-small", "params": 900000},
        "grid": grid,
        "configs": configs,
        "certified": certified,
        "recommended": recommended,
        "recommendation_reason": "lowest utility risk bound among certified; ties broken by the smaller change "
                                 "from the original model (lower lr x steps)",
        "reference": {
            "original": {"risk_forget_cal": 0.95, "cur": 0.972, "risk_utility_cal": 0.0, "utility_ucb": 0.0057,
                         "metrics": ref_metrics,
                         "cur_by_form": {f: min(1.0, 0.97 - 0.03 * (m - 1)) for f, m in FORMS.items()},
                         "risk_by_group": {"forget": 0.95, "neighbour": 0.0, "retain": 0.0, "world": 0.0}},
            "oracle": {"risk_forget_cal": 0.1, "cur": 0.138, "risk_utility_cal": 0.02, "utility_ucb": 0.043,
                       "metrics": {**ref_metrics, "forget_quality": 1.0, "privleak": 0.0, "forget_knowledge": 0.1,
                                   "forget_rouge": 0.16},
                       "cur_by_form": {f: min(1.0, 0.12 * m) for f, m in FORMS.items()},
                       "risk_by_group": {"forget": 0.1, "neighbour": 0.03, "retain": 0.02, "world": 0.01}},
        },
        "validity": {"test_violations": test_violations, "n_certified": len(certified), "resplits": 200,
                     "violation_rate": 0.035, "delta": DELTA},
        "attacks_certified": {a: [c["config_id"] for c in cert_rows if c["attacks"][a]["certified"]]
                              for a in ("relearn", "quantize_4bit")},
        "timings": {"benchmark": 1.2, "train_models": 80.1, "sweep": 300.2, "certify": 0.3, "attacks": 40.0,
                    "report": 2.0},
    }


@pytest.fixture(scope="session")
def base_summary() -> dict:
    """The fixture summary, built once per session; do not mutate (use `summary`)."""
    return make_summary(0)


@pytest.fixture
def summary(base_summary) -> dict:
    """A fresh deep copy of the fixture summary; tests may mutate it."""
    return copy.deepcopy(base_summary)
