"""Why a configuration was (not) certified (issue 17 §3): the level its p-value faced, derived by hand."""

from __future__ import annotations

import numpy as np
import pytest

from froc.risk import holm
from froc.risk.explain import explain


def test_holm_levels_by_hand():
    # p sorted: 0.001 (rank 1, level 0.1/4), 0.02 (rank 2, level 0.1/3 = 0.0333), 0.04 (rank 3, level 0.05),
    # 0.5 (rank 4, level 0.1): rejected 0.001, 0.02, 0.04; 0.5 fails
    p = np.array([0.04, 0.5, 0.001, 0.02])
    cert = holm(p, 0.1)
    assert cert.tolist() == [True, False, True, True]
    e = explain(p, cert, 0.1, "holm")
    assert [x["level"] for x in e] == pytest.approx([0.05, 0.1, 0.025, 0.1 / 3])
    assert "0.5 > 0.1" in e[1]["why"]


def test_holm_stop_explains_the_rest():
    # 0.04 > 0.1/3 stops Holm: 0.045 (inside delta, and its own pointwise bound may be fine) is never reached
    p = np.array([0.04, 0.045, 0.2])
    cert = holm(p, 0.1)
    assert not cert.any()
    e = explain(p, cert, 0.1, "holm")
    assert e[0]["level"] == pytest.approx(0.1 / 3) and e[1]["level"] is None and "stopped" in e[1]["why"]


def test_sequence_and_bonferroni():
    p = np.array([0.01, 0.2, 0.01])
    cert = np.array([True, False, False])
    e = explain(p, cert, 0.1, "fixed_sequence", order=[0, 1, 2])
    assert e[0]["level"] == 0.1 and e[1]["level"] == 0.1 and e[2]["level"] is None and "position 2" in e[2]["why"]
    e = explain(p, cert, 0.1, "pareto", order=[0, 1])
    assert "not in the testing order" in e[2]["why"]
    e = explain(p, [True, False, True], 0.1, "bonferroni")
    assert all(x["level"] == pytest.approx(0.1 / 3) for x in e)
