"""Feasibility of a budget before any compute (issue 17 §2): the smallest calibration size at which a
configuration with zero empirical risk can be certified.

Expected values by hand: with 0/1 losses the best p-value of n samples is P(Bin(n, alpha) = 0) =
(1 - alpha)^n (Hoeffding gives the same at zero risk), so n_min = ceil(log(level) / log(1 - alpha)).
"""

from __future__ import annotations

import math

import pytest

from froc.errors import ConfigError
from froc.risk.feasibility import feasibility, first_level, min_calibration_size, zero_risk_pvalue


@pytest.mark.parametrize("alpha,level", [(0.1, 0.1 / 12), (0.2, 0.1 / 12), (0.1, 0.1), (0.45, 0.2 / 12)])
def test_binary_closed_form(alpha, level):
    n = min_calibration_size(alpha, level, "hb", binary=True)
    assert n == math.ceil(math.log(level) / math.log(1 - alpha) - 1e-12)
    assert (1 - alpha) ** n <= level < (1 - alpha) ** (n - 1)


def test_general_losses_need_at_least_as_many():
    """Bentkus without the exact binomial test carries a factor e; Hoeffding at zero risk is (1-alpha)^n,
    so hb needs the same n; the Bentkus-only test needs n with e (1-alpha)^n <= level."""
    lvl = 0.1 / 12
    assert min_calibration_size(0.1, lvl, "hb", binary=False) == math.ceil(math.log(lvl) / math.log(0.9))
    assert min_calibration_size(0.1, lvl, "bentkus", binary=False) == math.ceil(math.log(lvl / math.e) / math.log(0.9))
    assert min_calibration_size(0.1, lvl, "wsr", binary=False) >= min_calibration_size(0.1, lvl, "hb")


def test_levels_of_procedures():
    assert first_level(0.1, 12, "holm") == pytest.approx(0.1 / 12)
    assert first_level(0.1, 12, "bonferroni") == pytest.approx(0.1 / 12)
    assert first_level(0.1, 12, "fixed_sequence") == 0.1 and first_level(0.1, 12, "pareto") == 0.1


def test_the_reported_instance_is_infeasible():
    """14 forget calibration probes, 12 configurations under Holm at alpha 0.2, delta 0.1: the best p-value
    is 0.8^14 = 0.044 > 0.1/12, so nothing can ever be certified; 22 probes are needed (0.8^22 = 0.0074)."""
    assert zero_risk_pvalue(14, 0.2) == pytest.approx(0.8 ** 14)
    f = feasibility(14, 500, alpha_forget=0.2, alpha_utility=0.2, delta=0.1, n_configs=12)
    assert not f["feasible"] and f["need_forget"] == 22 and "14 forget calibration samples" in f["message"]
    assert "22" in f["message"] and "utility" not in f["message"].split("(")[0]
    assert feasibility(22, 500, alpha_forget=0.2, alpha_utility=0.2, delta=0.1, n_configs=12)["feasible"]


def test_clt_refused():
    with pytest.raises(ConfigError, match="asymptotic"):
        min_calibration_size(0.1, 0.01, "clt")
