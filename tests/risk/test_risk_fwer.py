"""FWER procedures on hand-made p-value vectors, and the graph procedure's special cases."""

import numpy as np
import pytest

from froc.errors import ConfigError
from froc.risk import FWER, bonferroni, chain_graph, complete_graph, fixed_sequence, get_fwer, graph, holm

P = np.array([0.001, 0.04, 0.012, 0.3, 0.02])  # K = 5, delta = 0.05


def test_bonferroni_by_hand():
    """Threshold delta/K = 0.05/5 = 0.01: only p = 0.001 passes."""
    np.testing.assert_array_equal(bonferroni(P, 0.05), [True, False, False, False, False])


def test_holm_by_hand():
    """Sorted: 0.001 (idx 0) <= 0.05/5 = 0.01 reject; 0.012 (idx 2) <= 0.05/4 = 0.0125 reject;
    0.02 (idx 4) <= 0.05/3 = 0.01667? no -> stop. Rejected {0, 2}."""
    np.testing.assert_array_equal(holm(P, 0.05), [True, False, True, False, False])


def test_holm_all_rejected_and_none():
    np.testing.assert_array_equal(holm([0.001, 0.002], 0.05), [True, True])
    np.testing.assert_array_equal(holm([0.9, 0.8], 0.05), [False, False])
    assert holm([], 0.05).shape == (0,)


def test_fixed_sequence_stops_at_first_non_rejection():
    """Order 0, 2, 4, 1, 3 at full level 0.05: 0.001, 0.012, 0.02, 0.04 rejected, 0.3 stops.
    Order 0, 3, 2: 0.001 rejected, 0.3 fails -> stop; idx 2 (p = 0.012) is NOT rejected."""
    np.testing.assert_array_equal(fixed_sequence(P, 0.05, [0, 2, 4, 1, 3]), [True, True, True, False, True])
    np.testing.assert_array_equal(fixed_sequence(P, 0.05, [0, 3, 2]), [True, False, False, False, False])
    # default order = grid order 0, 1, 2, ...: 0.001, 0.04, 0.012 rejected, 0.3 stops
    np.testing.assert_array_equal(fixed_sequence(P, 0.05), [True, True, True, False, False])


def test_graph_chain_equals_fixed_sequence():
    rng = np.random.default_rng(0)
    for _ in range(300):
        k = int(rng.integers(1, 10))
        p = rng.random(k) ** 3
        order = rng.permutation(k)[: int(rng.integers(1, k + 1))]
        np.testing.assert_array_equal(graph(p, 0.1, order=order), fixed_sequence(p, 0.1, order))
        w, g = chain_graph(order, k)
        np.testing.assert_array_equal(graph(p, 0.1, weights=w, transitions=g), fixed_sequence(p, 0.1, order))


def test_graph_complete_equal_weights_equals_holm():
    rng = np.random.default_rng(1)
    for _ in range(300):
        k = int(rng.integers(1, 12))
        p = rng.random(k) ** 3
        w, g = complete_graph(k)
        np.testing.assert_array_equal(graph(p, 0.1, weights=w, transitions=g), holm(p, 0.1))


def test_graph_by_hand_weight_propagation():
    """Two hypotheses, weights (1/2, 1/2), full transfer 0 <-> 1, delta = 0.05.
    p = (0.02, 0.04): H0 at 0.025 rejected -> H1 gets 1/2 + 1/2 = 1 -> level 0.05, rejected.
    Without transfer (g = 0) H1 stays at 0.025 and is kept."""
    g = np.array([[0.0, 1.0], [1.0, 0.0]])
    np.testing.assert_array_equal(graph([0.02, 0.04], 0.05, weights=[0.5, 0.5], transitions=g), [True, True])
    np.testing.assert_array_equal(graph([0.02, 0.04], 0.05, weights=[0.5, 0.5], transitions=np.zeros((2, 2))), [True, False])


def test_nan_pvalues_never_rejected():
    p = np.array([np.nan, 0.0001, 0.0001])
    for name, proc in FWER.items():
        mask = proc(p, 0.1, order=[1, 2, 0])
        assert not mask[0], name


def test_validation_and_registry():
    assert set(FWER) == {"bonferroni", "holm", "fixed_sequence", "graph", "pareto"}
    assert get_fwer("Holm") is holm
    # pareto = fixed-sequence along the given order, and has no default order
    np.testing.assert_array_equal(FWER["pareto"](P, 0.05, order=[0, 2, 4, 1, 3]), fixed_sequence(P, 0.05, [0, 2, 4, 1, 3]))
    with pytest.raises(ConfigError, match="tune split"):
        FWER["pareto"](P, 0.05)
    with pytest.raises(ConfigError, match="bonferroni, fixed_sequence, graph, holm, pareto"):
        get_fwer("hochberg")
    with pytest.raises(ValueError, match="outside"):
        fixed_sequence(P, 0.05, [0, 7])
    with pytest.raises(ValueError, match="repeated"):
        fixed_sequence(P, 0.05, [0, 0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.1, 1.2], 0.05)
    with pytest.raises(ConfigError):
        holm([0.1], 0.0)
    with pytest.raises(ValueError, match="sum to at most 1"):
        graph([0.1, 0.2], 0.05, weights=[0.8, 0.8], transitions=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="both"):
        graph([0.1, 0.2], 0.05, weights=[0.5, 0.5])
