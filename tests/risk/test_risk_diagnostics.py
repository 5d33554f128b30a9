"""resplit_check (descriptive, Markov-bounded) and ncal_curve (calibration-size study)."""

import numpy as np
import pytest

from froc.errors import ConfigError
from froc.risk import hb, ncal_curve, resplit_check, ucb

ALPHA, DELTA = 0.1, 0.1


def _data(rng, true, n_tune=100, n_cal=300, n_test=300):
    t = np.asarray(true)[:, None]
    return {s: (rng.random((len(true), n)) < t).astype(float) for s, n in (("tune", n_tune), ("cal", n_cal), ("test", n_test))}


def test_resplit_no_false_alarm_when_no_violation_is_possible():
    """Every true risk below alpha (0.06 .. 0.095): no violation is possible.

    Deliberate bug caught: the old criterion (raw held-out mean > alpha, compared with
    delta + 3 SE as if re-splits were independent). Its rate here is far from 0 (noisy held-out
    means of configurations just below alpha); the significant-exceedance rate must stay within
    heldout_delta (its only source when the certificate is valid), and the Markov p-value never
    flags. Replacing the LCB test by the raw mean in validity.py makes this fail."""
    rng = np.random.default_rng(3)
    true = np.linspace(0.06, 0.095, 8)
    raw, sig, flags = [], [], 0
    for _ in range(30):
        r = resplit_check(_data(rng, true), None, alpha_forget=ALPHA, delta=DELTA, binary_forget=True, reps=30)
        raw.append(r["heldout_exceed_rate"])
        sig.append(r["significant_exceed_rate"])
        flags += r["markov_pvalue"] <= 0.05
        assert r["kind"] == "descriptive" and r["expected_at_most"] == pytest.approx(0.15)
    assert np.mean(raw) > 0.05  # the old check "sees violations" that cannot exist
    assert np.mean(sig) <= 0.05 and flags == 0


def test_resplit_flags_an_invalid_procedure():
    """A broken p-value (HB divided by 1000) certifies configurations with true risk 0.2 > alpha; the
    held-out LCBs then exceed alpha in most re-splits and the Markov p-value is small."""
    rng = np.random.default_rng(4)
    broken = lambda x, a, *, binary=None: hb(x, a, binary=binary) / 1000  # noqa: E731
    r = resplit_check(_data(rng, [0.2, 0.2, 0.02], n_cal=150, n_test=600), None, alpha_forget=ALPHA, delta=DELTA,
                      pvalue=broken, binary_forget=True, reps=40)
    assert r["significant_exceed_rate"] > 0.8 and r["markov_pvalue"] < 0.2


def test_resplit_edge_cases():
    rng = np.random.default_rng(5)
    d = _data(rng, [0.02, 0.03])
    no_test = {"cal": d["cal"]}
    assert resplit_check(no_test, None, alpha_forget=ALPHA, delta=DELTA)["resplits"] == 0
    with pytest.raises(ConfigError, match="tune"):
        resplit_check({"cal": d["cal"], "test": d["test"]}, None, alpha_forget=ALPHA, delta=DELTA, fwer="pareto")
    r = resplit_check(d, d, alpha_forget=ALPHA, alpha_utility=ALPHA, delta=DELTA, fwer="fixed_sequence", reps=5)
    assert r["resplits"] == 5 and r["mean_certified"] == pytest.approx(2.0)


def test_ncal_curve():
    """CUR shrinks with n; at n = n_cal every subsample is the full set, so the CUR equals the
    full-data UCB exactly and the certified count is the full-data count."""
    rng = np.random.default_rng(6)
    d = _data(rng, [0.02, 0.05, 0.3])
    F, U = d["cal"], _data(rng, [0.01, 0.01, 0.01])["cal"]
    out = ncal_curve(F, U, sizes=[20, 60, 150, 300, 999], reps=10, focus=1, alpha_forget=ALPHA, alpha_utility=ALPHA,
                     delta=DELTA, binary_forget=True, binary_utility=True)
    assert out["sizes"] == [20, 60, 150, 300]  # 999 capped to n_cal = 300
    assert out["n_utility"] == [20, 60, 150, 300]
    assert np.all(np.diff(out["mean_cur"]) < 0)
    assert out["mean_cur"][-1] == pytest.approx(ucb(F[1], DELTA, binary=True)) and out["sd_cur"][-1] < 1e-12
    assert out["mean_certified"][-1] == 2.0 and out["mean_certified"][0] < 2.0
    with pytest.raises(ConfigError, match="order"):
        ncal_curve(F, None, fwer="fixed_sequence", alpha_forget=ALPHA, delta=DELTA)
    with pytest.raises(ValueError, match="focus"):
        ncal_curve(F, None, focus=5, alpha_forget=ALPHA, delta=DELTA)
