"""Statistical validity of Learn-then-Test: the family-wise error rate is at most delta.

Synthetic loss matrices with KNOWN true risks: K = 20 configurations, ten with true risk
below alpha = 0.2 (down to 0.195) and ten above (from 0.2005, i.e. nulls right at the
boundary where false certification is most likely). Calibration is repeated on fresh
samples; a repetition is a violation when some certified configuration has true risk
> alpha. For every valid p-value x FWER procedure the violation rate must be at most
delta + 3 standard errors, sqrt(delta (1 - delta) / reps).

The order for fixed-sequence / graph testing is fixed in advance and adversarial: the
three easiest configurations first, then the boundary null (0.2005), which is therefore
tested at the full level delta whenever the easy ones are certified.

A negative control (CLT p-values, no multiplicity correction) must FAIL the same check,
showing the check can detect an invalid procedure.
"""

from __future__ import annotations

import numpy as np
import pytest

from froc.risk import FWER, PVALUES, RiskController

ALPHA, DELTA = 0.2, 0.1
TRUE = np.array(
    [0.05, 0.08, 0.10, 0.12, 0.14, 0.16, 0.17, 0.18, 0.19, 0.195,
     0.2005, 0.201, 0.202, 0.205, 0.21, 0.22, 0.25, 0.30, 0.35, 0.50]
)  # fmt: skip
NULL = TRUE > ALPHA
_rest = [i for i in np.argsort(np.abs(TRUE - ALPHA), kind="stable") if i not in (0, 1, 2)]
ORDER = np.array([0, 1, 2] + _rest)  # easy configs, then the boundary null 0.2005, ...
assert ORDER[3] == 10
VALID_PVALUES = ["hoeffding", "bentkus", "hb", "wsr"]
PROCEDURES = ["bonferroni", "holm", "fixed_sequence", "graph"]


def _sample(dist: str, reps: int, n: int, rng: np.random.Generator, true=TRUE) -> np.ndarray:
    """Losses of shape (reps, K, n) with E[loss] = true[k] exactly."""
    m = true[None, :, None]
    if dist == "bernoulli":
        return (rng.random((reps, len(true), n)) < m).astype(float)
    conc = 5.0  # Beta(m c, (1 - m) c): continuous losses with mean m
    return rng.beta(m * conc, (1 - m) * conc, size=(reps, len(true), n))


def _violation_rates(dist: str, reps: int, n: int, seed: int, chunk: int = 200) -> dict:
    """Violation rate and mean number certified for every p-value x procedure pair."""
    rng = np.random.default_rng(seed)
    viol = {(pv, fw): 0 for pv in VALID_PVALUES for fw in PROCEDURES}
    n_cert = dict.fromkeys(viol, 0)
    done = 0
    while done < reps:
        r = min(chunk, reps - done)
        losses = _sample(dist, r, n, rng).reshape(r * len(TRUE), n)  # (r*K, n)
        for pv in VALID_PVALUES:
            p = PVALUES[pv](losses, ALPHA).reshape(r, len(TRUE))  # (r, K)
            for fw in PROCEDURES:
                for i in range(r):
                    mask = FWER[fw](p[i], DELTA, order=ORDER)
                    viol[(pv, fw)] += bool((mask & NULL).any())
                    n_cert[(pv, fw)] += int(mask.sum())
        done += r
    return {k: (viol[k] / reps, n_cert[k] / reps) for k in viol}


def _limit(reps: int) -> float:
    return DELTA + 3 * np.sqrt(DELTA * (1 - DELTA) / reps)


def _check(rates: dict, reps: int, label: str):
    print(f"\n{label}: violation rate (mean #certified), limit {_limit(reps):.4f}")
    for (pv, fw), (rate, cert) in rates.items():
        print(f"  {pv:>9} x {fw:<14} {rate:.4f} ({cert:.2f})")
    bad = {k: v for k, v in rates.items() if v[0] > _limit(reps)}
    assert not bad, f"FWER violated for {bad}"
    for fw in ("bonferroni", "holm"):  # the check is not vacuous: something gets certified
        assert all(rates[(pv, fw)][1] >= 1.0 for pv in VALID_PVALUES), rates


@pytest.mark.parametrize("dist", ["bernoulli", "beta"])
def test_fwer_validity_fast(dist):
    reps = 200
    _check(_violation_rates(dist, reps, n=300, seed=11), reps, f"{dist} n=300 reps={reps}")


@pytest.mark.slow
@pytest.mark.parametrize("n", [200, 500])
@pytest.mark.parametrize("dist", ["bernoulli", "beta"])
def test_fwer_validity_slow(dist, n):
    reps = 2000
    _check(_violation_rates(dist, reps, n=n, seed=1234 + n), reps, f"{dist} n={n} reps={reps}")


def test_negative_control_invalid_procedure_fails_the_check():
    """CLT p-values with no multiplicity correction (reject every p <= delta): with five nulls
    within 0.01 of alpha, each falsely rejected with probability close to delta, the
    violation rate is far above delta + 3 SE -- the check above would catch it."""
    reps, n = 200, 300
    rng = np.random.default_rng(5)
    losses = _sample("bernoulli", reps, n, rng).reshape(reps * len(TRUE), n)
    p = PVALUES["clt"](losses, ALPHA).reshape(reps, len(TRUE))
    rate = np.mean(((p <= DELTA) & NULL).any(axis=1))
    assert rate > _limit(reps)


# utility risks paired with TRUE (forget): configs 2, 4, 7 are bad on utility only (boundary nulls),
# 10-13 on forget only; 0, 1, 3, 5, 6, 8, 9 are good on both.
TRUE_U = np.array(
    [0.05, 0.10, 0.2005, 0.08, 0.205, 0.12, 0.14, 0.201, 0.16, 0.17,
     0.05, 0.05, 0.10, 0.10, 0.02, 0.30, 0.20, 0.19, 0.10, 0.05]
)  # fmt: skip


@pytest.mark.parametrize("pvalue, fwer", [("hb", "holm"), ("wsr", "fixed_sequence")])
def test_controller_two_risks_validity(pvalue, fwer):
    """End to end through RiskController with both risks (forget Bernoulli, utility Beta):
    a violation is a certified configuration with forget risk > alpha_f OR utility risk > alpha_u."""
    reps, n_f, n_u = 100, 300, 300
    bad = (TRUE > ALPHA) | (TRUE_U > ALPHA)
    order = np.argsort(np.maximum(TRUE, TRUE_U), kind="stable")  # fixed in advance
    rng = np.random.default_rng(7)
    violations, certified = 0, 0
    for _ in range(reps):
        f = _sample("bernoulli", 1, n_f, rng, TRUE)[0]
        u = _sample("beta", 1, n_u, rng, TRUE_U)[0]
        rc = RiskController(ALPHA, ALPHA, DELTA, pvalue=pvalue, fwer=fwer, order=order).calibrate(f, u).certify()
        violations += bool((rc.certified & bad).any())
        certified += len(rc.valid_params)
    assert violations / reps <= _limit(reps)
    assert certified / reps >= 1.0
