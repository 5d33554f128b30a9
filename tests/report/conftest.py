"""A realistic synthetic summary.json for the report tests.

`make_summary()` builds the grid a real sweep would produce: ga, gd, simnpo and rmu
over 3 lr x 3 steps, plus npo which also sweeps beta (27 configurations), 63 in all.
Stronger unlearning (higher lr x steps) lowers the forget risk and raises the
utility damage; ga diverges at the largest lr, one rmu run failed. Calibration and
test risks are binomial draws around the true risk; CUR / utility bound are the
Hoeffding upper confidence bounds at delta; a configuration is certified when both
bounds are within budget (a stand-in for Holm: enough for the report, which only reads the
flags). Attacks are run on the certified ones; the recommended configuration's bound after selection is
the Hoeffding bound on its test risk. Built as froc.records.SweepSummary, so the fixture has the shape the
sweep writes (a renamed record field fails here first).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math

import numpy as np
import pytest

from froc.records import (
    AttackRecord,
    Budget,
    ConfigRecord,
    Recommendation,
    SweepSummary,
    Validity,
)

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
    h = hashlib.sha1(json.dumps([method, hparams, steps], sort_keys=True).encode()).hexdigest()[:12]
    return f"{method}-{h}-s{steps}"


def _true_risks(method: str, hparams: dict, steps: int) -> tuple[float, float]:
    eff, dmg = METHODS[method]
    if method == "npo":
        eff *= {0.05: 1.25, 0.1: 1.0, 0.5: 0.7}[hparams["beta"]]
        dmg *= {0.05: 1.3, 0.1: 1.0, 0.5: 0.8}[hparams["beta"]]
    effort = hparams["lr"] * steps / (1e-3 * 40)  # (0.025 .. 1]
    return 0.04 + 0.92 * math.exp(-eff * effort), min(0.95, 0.01 + dmg * effort ** 1.3)


def _record(rng, method: str, hparams: dict, steps: int, n_grid: int) -> ConfigRecord:
    rf, ru = _true_risks(method, hparams, steps)
    cid = _config_id(method, hparams, steps)
    diverged = method == "ga" and hparams["lr"] == 1e-3 and steps >= 20
    base = dict(config_id=cid, method=method, hparams=hparams, steps=steps, train_seconds=2.0 + steps / 10,
                score_seconds=1.5)
    if method == "rmu" and hparams["lr"] == 1e-3 and steps == 10:
        return ConfigRecord(**base, status="failed", error="RuntimeError: CUDA out of memory")
    if diverged:
        rf, ru = 0.0, 0.97
    draw = lambda n, r: rng.binomial(n, r) / n  # noqa: E731
    rft_, rfc, rft = draw(100, rf), draw(N_F_CAL, rf), draw(N_F_TEST, rf)
    rut_, ruc, rut = draw(100, ru), draw(N_U_CAL, ru), draw(N_U_TEST, ru)
    cur, uucb = hoeffding_ucb(rfc, N_F_CAL), hoeffding_ucb(ruc, N_U_CAL)
    pf, pu = hoeffding_p(rfc, N_F_CAL, ALPHA_F), hoeffding_p(ruc, N_U_CAL, ALPHA_U)
    return ConfigRecord(
        **base, status="diverged" if diverged else "ok", diverged_at=int(steps * 0.6) if diverged else None,
        certified=(not diverged) and cur <= ALPHA_F and uucb <= ALPHA_U,
        p_forget=pf, p_utility=pu, p_value=max(pf, pu), cur=cur, utility_ucb=uucb,
        cur_simultaneous=hoeffding_ucb(rfc, N_F_CAL, DELTA / n_grid),
        utility_ucb_simultaneous=hoeffding_ucb(ruc, N_U_CAL, DELTA / n_grid),
        risk_forget_tune=rft_, risk_forget_cal=rfc, risk_forget_test=rft,
        risk_utility_tune=rut_, risk_utility_cal=ruc, risk_utility_test=rut,
        cur_by_form={f: min(1.0, cur * m + 0.02 * (m - 1)) for f, m in FORMS.items()},
        risk_by_group={"forget": rft, "neighbour": min(1.0, 1.6 * rut), "retain": rut, "world": 0.4 * rut},
        metrics={
            "tofu/forget_quality": float(math.exp(-12 * abs(rf - 0.1))),
            "tofu/model_utility": 0.62 * (1 - ru),
            "muse/privleak": float(-100 * (rf - 0.1) / 0.9),
            "knowledge/forget": rf,
            "knowledge/retain": 0.93 * (1 - ru),
            "knowledge/neighbour": 0.88 * (1 - min(1.0, 1.4 * ru)),
            "tofu/forget_rouge": 0.08 + 0.8 * rf,
        },
    )


def _attack(rng, r: ConfigRecord, jump: float, status: str = "ok") -> AttackRecord:
    rt = min(1.0, r.risk_forget_test + jump)
    cur = hoeffding_ucb(rt, N_F_TEST)
    return AttackRecord(status=status, cur=cur, risk_forget_cal=min(1.0, r.risk_forget_cal + jump),
                        risk_forget_test=rt, n_test=N_F_TEST, p_value=hoeffding_p(rt, N_F_TEST, ALPHA_F),
                        certified=cur <= ALPHA_F, details={"steps": 20, "lr": 1e-4} if jump > 0.1 else {})


def make_record(seed: int = 0) -> SweepSummary:
    """A realistic sweep summary as the typed record (see the module docstring)."""
    rng = np.random.default_rng(seed)
    grid = {"methods": {m: {"lr": LRS, **({"beta": BETAS} if m == "npo" else {})} for m in METHODS}, "steps": STEPS}
    combos = [(m, {"lr": lr} if m != "npo" else {"lr": lr, "beta": beta, "retain_weight": 1.0}, st)
              for m in METHODS for lr in LRS for beta in (BETAS if m == "npo" else [None]) for st in STEPS]
    configs = [_record(rng, m, hp, st, len(combos)) for m, hp, st in combos]
    cert = sorted((c for c in configs if c.certified), key=lambda c: (c.utility_ucb, c.cur))
    for c in cert:
        c.attacks = {"relearn": _attack(rng, c, 0.22 + 0.1 * rng.random()),
                     "quantize_4bit": _attack(rng, c, 0.02 + 0.04 * rng.random())}
    best = cert[0]
    rec = Recommendation(config_id=best.config_id, reason="lowest empirical utility risk on calibration among the "
                         "certified configurations; ties go to the smallest change (lr x steps)",
                         bound_forget=hoeffding_ucb(best.risk_forget_test, N_F_TEST),
                         bound_utility=hoeffding_ucb(best.risk_utility_test, N_U_TEST),
                         n_test_forget=N_F_TEST, n_test_utility=N_U_TEST)
    exceed = sum(1 for c in cert if c.risk_forget_test > ALPHA_F or c.risk_utility_test > ALPHA_U)
    ref_metrics = {"tofu/forget_quality": 1e-6, "tofu/model_utility": 0.62, "muse/privleak": -95.0,
                   "knowledge/forget": 0.95, "knowledge/retain": 0.93, "knowledge/neighbour": 0.88,
                   "tofu/forget_rouge": 0.9}
    original = ConfigRecord(config_id="original", method="reference", risk_forget_cal=0.95, risk_forget_test=0.94,
                            cur=0.972, risk_utility_cal=0.0, risk_utility_test=0.0, utility_ucb=0.0057,
                            p_forget=1.0, p_utility=1e-9, p_value=1.0, certified=False, metrics=ref_metrics,
                            cur_by_form={f: min(1.0, 0.97 - 0.03 * (m - 1)) for f, m in FORMS.items()},
                            risk_by_group={"forget": 0.95, "neighbour": 0.0, "retain": 0.0, "world": 0.0})
    oracle = ConfigRecord(config_id="oracle", method="reference", risk_forget_cal=0.1, risk_forget_test=0.11,
                          cur=0.138, risk_utility_cal=0.02, risk_utility_test=0.025, utility_ucb=0.043,
                          p_forget=3e-6, p_utility=2e-9, p_value=3e-6, certified=True,
                          metrics={**ref_metrics, "tofu/forget_quality": 1.0, "muse/privleak": 0.0,
                                   "knowledge/forget": 0.1, "tofu/forget_rouge": 0.16},
                          cur_by_form={f: min(1.0, 0.12 * m) for f, m in FORMS.items()},
                          risk_by_group={"forget": 0.1, "neighbour": 0.03, "retain": 0.02, "world": 0.01})
    sizes = [25, 50, 100, 200, N_F_CAL]
    ncal = {"config_id": best.config_id, "sizes": sizes, "n_utility": [round(n * N_U_CAL / N_F_CAL) for n in sizes],
            "mean_cur": [hoeffding_ucb(best.risk_forget_cal, n) for n in sizes],
            "sd_cur": [0.4 / math.sqrt(n) for n in sizes],
            "mean_certified": [float(sum(1 for c in configs if c.ok and c.risk_forget_cal is not None
                                         and hoeffding_ucb(c.risk_forget_cal, n) <= ALPHA_F
                                         and hoeffding_ucb(c.risk_utility_cal, n) <= ALPHA_U)) for n in sizes],
            "focus": configs.index(best), "reps": 20,
            "note": "subsamples of the stored cal losses without replacement; CUR is pointwise"}  # ncal_curve's keys
    return SweepSummary(
        froc_version="0.1.0", created="2026-11-22T03:10:00Z", seconds=468.3,
        question="Remove everything the model knows about 20 fictitious people (10% of 200) while keeping the rest.",
        timings={"prepare (benchmark + models)": 81.3, "sweep (unlearning + scoring)": 300.2, "certify": 0.3,
                 "attacks": 40.0, "report": 2.0},
        budget=Budget(alpha_forget=ALPHA_F, alpha_utility=ALPHA_U, delta=DELTA, pvalue="hb", fwer="holm",
                      unit="probe", forget_loss="binary", utility_loss="binary", tau_forget="oracle_q0.9",
                      tau_forget_used="oracle_q0.9"),
        data={"source": "builtin", "forget_people": 20, "people": 200, "n_forget_cal": N_F_CAL,
              "n_forget_test": N_F_TEST, "n_utility_cal": N_U_CAL, "n_utility_test": N_U_TEST, "n_tune": 200},
        model={"path": "~/.cache/froc/models/target-mini", "params": 280000, "oracle": "built-in retain oracle"},
        grid=grid, configs=configs, reference={"original": original, "oracle": oracle},
        certified=[c.config_id for c in configs if c.certified], recommendation=rec,
        validity=Validity(n_certified=len(cert), test_checked=len(cert), test_exceed=exceed,
                          resplit={"kind": "descriptive", "resplits": 200, "heldout_exceed_rate": 0.21,
                                   "significant_exceed_rate": 0.035, "expected_at_most": DELTA + 0.05,
                                   "markov_pvalue": None, "mean_certified": 5.4, "heldout_delta": 0.05,
                                   "note": "descriptive diagnostic, not part of the certificate"}),
        attacks_certified={a: [c.config_id for c in cert if c.attacks[a].certified]
                           for a in ("relearn", "quantize_4bit")},
        calibration_size=ncal,
    )


def make_summary(seed: int = 0) -> dict:
    """The realistic summary as the parsed summary.json dict (``SweepSummary.to_dict()``)."""
    return make_record(seed).to_dict()


@pytest.fixture(scope="session")
def base_summary() -> dict:
    """The fixture summary, built once per session; do not mutate (use `summary`)."""
    return make_summary(0)


@pytest.fixture
def summary(base_summary) -> dict:
    """A fresh deep copy of the fixture summary; tests may mutate it."""
    return copy.deepcopy(base_summary)
