"""certify_grid / GridCertificate / recertify_on_test: known answers derived by hand or with scipy."""

import json
import math

import numpy as np
import pytest
from scipy import stats

from froc.errors import ConfigError
from froc.risk import certify_grid, pareto_order, recertify_on_test, tune_order


def _rows(counts, n):
    """(K, n) binary matrix whose row k has counts[k] ones (first positions)."""
    m = np.zeros((len(counts), n))
    for i, c in enumerate(counts):
        m[i, :c] = 1.0
    return m


def _hb_binary(c, n, a):
    """Independent HB p-value for binary losses: min(Hoeffding closed form, exact binomial cdf)."""
    r = c / n
    m = min(r, a)
    h = (m * math.log(m / a) if m > 0 else 0.0) + (1 - m) * math.log((1 - m) / (1 - a))
    return min(1.0, math.exp(-n * h), stats.binom.cdf(c, n, a))


def _grid(fwer="holm", **kw):
    # K = 4; cal forget counts out of 400: 8 (0.02), 20 (0.05), 200 (0.5), 0 (NaN row below)
    F = {"tune": _rows([2, 10, 100, 0], 100), "cal": _rows([8, 20, 200, 0], 400), "test": np.zeros((4, 300))}
    F["cal"][3, 7] = np.nan  # diverged configuration
    U = {"tune": _rows([3, 1, 1, 0], 100), "cal": _rows([8, 4, 4, 0], 400), "test": np.zeros((4, 300))}
    U["test"][0, :30] = 1  # config 0 violates the utility target on test (0.1 > 0.05)
    return certify_grid(F, U, 0.1, 0.05, 0.1, pvalue="hb", fwer=fwer, binary_forget=True, binary_utility=True,
                        names=["a", "b", "c", "d"], **kw)


def test_known_answer_holm():
    """By hand: cal forget risks 0.02, 0.05, 0.5, diverged; utility 0.02, 0.01, 0.01. HB p-values
    from scipy's binomial cdf; Holm at delta = 0.1 over K = 4 rejects 0 and 1 (p < 0.025 and < 0.0333)."""
    c = _grid()
    pf = [_hb_binary(8, 400, 0.1), _hb_binary(20, 400, 0.1), _hb_binary(200, 400, 0.1), 1.0]
    pu = [_hb_binary(8, 400, 0.05), _hb_binary(4, 400, 0.05), _hb_binary(4, 400, 0.05), _hb_binary(0, 400, 0.05)]
    np.testing.assert_allclose(c.p_forget, pf, rtol=1e-9)
    np.testing.assert_allclose(c.p_utility, pu, rtol=1e-9)
    np.testing.assert_allclose(c.p_values, np.maximum(pf, pu), rtol=1e-9)  # diverged row: p = 1
    assert max(pf[0], pu[0]) < 0.1 / 3  # Holm's second threshold
    assert c.certified.tolist() == [True, True, False, False] and c.diverged.tolist() == [False, False, False, True]
    assert c.order is None and c.best == 1  # lowest cal utility risk among certified
    np.testing.assert_allclose(c.risk_forget["cal"][:3], [0.02, 0.05, 0.5])
    assert np.isnan(c.risk_forget["cal"][3])
    # best_bound: UCB on the all-zero TEST split, binary HB: (1 - a)^300 = 0.1 -> a = 1 - 0.1^(1/300)
    assert c.best_bound == pytest.approx(1 - 0.1 ** (1 / 300), rel=1e-9)
    assert c.best_bound_utility == pytest.approx(1 - 0.1 ** (1 / 300), rel=1e-9)
    assert "valid after selection" in c.covers["best_bound"] and "test split" in c.covers["best_bound"]
    assert "pointwise" in c.covers["cur"] and "simultaneous" in c.covers["cur_simultaneous"]
    assert c.n == {"forget": {"tune": 100, "cal": 400, "test": 300}, "utility": {"tune": 100, "cal": 400, "test": 300}}
    # cur_simultaneous is the UCB at delta/K: wider than the pointwise CUR
    assert np.all(c.cur_simultaneous[:3] > c.cur[:3]) and c.cur[3] == 1.0
    # known-answer violation on test: config 0 is certified but its test utility risk 0.1 > 0.05
    assert c.test_exceeds.tolist() == [True, False, False, False]
    recs = c.to_records()
    json.dumps(recs), json.dumps(c.to_dict())
    assert recs[1]["best"] and recs[0]["test_exceeds"] and recs[3]["risk_forget_cal"] is None


def test_simultaneous_bound_by_hand():
    """All-zero cal losses, K = 5, n = 200: binary HB UCB at delta/K solves (1 - a)^200 = 0.1/5."""
    F = {"cal": np.zeros((5, 200))}
    c = certify_grid(F, None, 0.1, None, 0.1, binary_forget=True)
    np.testing.assert_allclose(c.cur_simultaneous, 1 - (0.1 / 5) ** (1 / 200), rtol=1e-9)
    np.testing.assert_allclose(c.cur, 1 - 0.1 ** (1 / 200), rtol=1e-9)
    # no test split: best_bound falls back to the simultaneous bound of best (index 0)
    assert c.best == 0 and c.best_bound == pytest.approx(c.cur_simultaneous[0])
    assert "no test split" in c.covers["best_bound"]


def test_ordered_procedures_learn_order_on_tune_not_cal():
    """Deliberate bug caught: learning the order on cal (or using the grid order). Tune says config 2
    is best and config 0 worst; cal says the opposite. The order must follow tune."""
    tune = _rows([50, 20, 1], 100)
    cal = _rows([4, 20, 200], 400)
    c = certify_grid({"tune": tune, "cal": cal}, None, 0.1, None, 0.1, fwer="fixed_sequence", binary_forget=True)
    assert c.order.tolist() == [2, 1, 0] and "tune" in c.order_source
    assert not c.certified.any()  # tune's first pick fails on cal (0.5) and the sequence stops
    assert tune_order(tune, None, 0.1, binary_forget=True).tolist() == [2, 1, 0]


@pytest.mark.parametrize("fwer", ["fixed_sequence", "graph", "pareto"])
def test_ordered_procedures_need_a_tune_split(fwer):
    with pytest.raises(ConfigError, match="tune split is empty"):
        certify_grid({"cal": np.zeros((2, 10))}, None, 0.1, None, 0.1, fwer=fwer)


def test_clt_refused_everywhere():
    """Deliberate bug caught: certify_grid / recertify_on_test accepting the asymptotic CLT p-value."""
    with pytest.raises(ConfigError, match="asymptotic"):
        certify_grid({"cal": np.zeros((2, 10))}, None, 0.1, None, 0.1, pvalue="clt")
    with pytest.raises(ConfigError, match="asymptotic"):
        recertify_on_test(np.zeros((2, 10)), 0.1, 0.1, pvalue="clt")


def test_references_tested_at_delta_over_k():
    """Original: forget 0.9 -> fails. Oracle: 6/400 = 0.015 forget, p = HB(6, 400, 0.1), certified iff
    p <= delta / K = 0.1 / 4 (strictest grid level). Utility all zero."""
    ref = {
        "original": {"forget": {"cal": _rows([360], 400)[0]}, "utility": {"cal": np.zeros(400)}},
        "oracle": {"forget": {"cal": _rows([6], 400)}, "utility": {"cal": np.zeros((1, 400))}},
    }
    c = _grid(references=ref)
    o, r = c.references["oracle"], c.references["original"]
    assert o["p_forget"] == pytest.approx(_hb_binary(6, 400, 0.1), rel=1e-9)
    assert o["level"] == pytest.approx(0.025) and o["certified"] and not r["certified"]
    assert r["risk_forget"]["cal"] == pytest.approx(0.9) and r["cur"] > 0.9


def test_pareto_order_front_then_layers():
    """Tune risks (forget, utility): 0 (0.02, 0.05) 1 (0.05, 0.02) 2 (0.06, 0.06) 3 (0.5, 0.0).
    Front {0, 1, 3}; layer 2 {2}. Tune p-values (alpha 0.1): 3 fails (p = 1 on forget).
    Order without delta: front by p (0 / 1 by p, then 3), then 2. With delta: 3 moved last."""
    n = 200
    f = _rows([4, 10, 12, 100], n)
    u = _rows([10, 4, 12, 0], n)
    o = pareto_order(f, u, 0.1, 0.1, binary_forget=True, binary_utility=True)
    assert set(o[:3].tolist()) == {0, 1, 3} and o[2] == 3 and o[3] == 2
    od = pareto_order(f, u, 0.1, 0.1, binary_forget=True, binary_utility=True, delta=0.1)
    assert od.tolist()[-1] == 3 and od.tolist()[2] == 2
    assert pareto_order(f, u, 0.1, 0.1, layers=1).tolist() == o[:3].tolist()


def test_cluster_unit_changes_n_and_test():
    """clusters collapse every split to one loss per cluster: n = number of clusters."""
    cal = np.tile(np.repeat([0.0, 1.0, 0.0, 0.0], 5), (2, 1))  # 4 clusters x 5 probes
    cl = np.repeat([0, 1, 2, 3], 5)
    c = certify_grid({"cal": cal}, None, 0.3, None, 0.1, binary_forget=True, clusters={"forget": {"cal": cl}})
    assert c.n["forget"]["cal"] == 4 and c.unit == "cluster"
    np.testing.assert_allclose(c.risk_forget["cal"], 0.25)


def test_recertify_on_test_revokes_a_broken_attack():
    """Known-answer attack that revokes: attacked config 1 has test forget risk 0.4 > alpha = 0.1;
    config 0 keeps 0/300. Holm over A = 2 on the test split: 0 re-certified, 1 revoked."""
    att = np.zeros((2, 300))
    att[1, :120] = 1
    r = recertify_on_test(att, 0.1, 0.1)
    assert r.certified.tolist() == [True, False] and r.n == 300
    assert r.p_values[0] == pytest.approx(0.9**300, rel=1e-9)  # exact binomial at 0 ones
    assert "test split" in r.covers
    json.dumps(r.to_dict())
    with pytest.raises(ValueError, match="no test samples"):
        recertify_on_test(np.zeros((2, 0)), 0.1, 0.1)
    with pytest.raises(ConfigError, match="order"):
        recertify_on_test(att, 0.1, 0.1, fwer="fixed_sequence")


def test_input_errors():
    with pytest.raises(ValueError, match="utility losses are required"):
        certify_grid({"cal": np.zeros((2, 5))}, None, 0.1, 0.1, 0.1)
    with pytest.raises(ValueError, match="unknown split"):
        certify_grid({"cal": np.zeros((2, 5)), "val": np.zeros((2, 5))}, None, 0.1, None, 0.1)
    with pytest.raises(ValueError, match="rows"):
        certify_grid({"cal": np.zeros((2, 5)), "test": np.zeros((3, 5))}, None, 0.1, None, 0.1)
    with pytest.raises(ValueError, match="other than 0 and 1"):
        certify_grid({"cal": np.zeros((2, 5)), "test": np.full((2, 5), 0.5)}, None, 0.1, None, 0.1, binary_forget=True)
