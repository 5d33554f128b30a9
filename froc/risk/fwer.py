"""Family-wise error rate (FWER) control over K hypotheses ``H0_k: risk_k > alpha``.

Each procedure takes p-values of shape (K,) and a level ``delta`` and returns a boolean
rejection mask of shape (K,) such that, under any dependence between the p-values
(unless stated), ``P(any true H0 rejected) <= delta``. In Learn-then-Test
(Angelopoulos et al. 2021, Section 4) the rejected hypotheses are the certified
configurations.

All procedures share the signature ``proc(p_values, delta, *, order=None) -> mask``;
``order`` is used by sequence-based procedures and ignored by the others. It must be
chosen without looking at the calibration data (e.g. most conservative learning rate
first), otherwise the guarantee is lost. NaN p-values (configurations without a
result) are treated as 1 and never rejected.

References:
    Bonferroni (1936); Holm (1979), "A simple sequentially rejective multiple test
    procedure"; Bauer (1991), fixed-sequence testing; Bretz, Maurer, Brannath,
    Posch (2009), "A graphical approach to sequentially rejective multiple test
    procedures", Statistics in Medicine 28(4).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from froc.errors import ConfigError, unknown_choice
from froc.risk._checks import check_level


def _check_p(p_values) -> np.ndarray:
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"p_values must have shape (K,), got {p.shape}")
    finite = p[~np.isnan(p)]
    if finite.size and (finite.min() < 0.0 or finite.max() > 1.0):
        raise ValueError("p_values must lie in [0, 1] (NaN allowed for configurations without a result)")
    return np.where(np.isnan(p), 1.0, p)


def _check_order(order, k: int) -> np.ndarray:
    if order is None:
        return np.arange(k)
    o = np.asarray(order)
    if o.ndim != 1 or (o.size and not np.issubdtype(o.dtype, np.integer)):
        raise ValueError(f"order must be a 1-D sequence of configuration indices, got {order!r}")
    if o.size and (o.min() < 0 or o.max() >= k):
        raise ValueError(f"order contains indices outside [0, {k - 1}]: {order!r}")
    if len(np.unique(o)) != len(o):
        raise ValueError(f"order contains repeated indices: {order!r}")
    return o.astype(int)


def bonferroni(p_values, delta: float, *, order=None) -> np.ndarray:
    """Bonferroni: reject ``H_k`` iff ``p_k <= delta / K``. ``order`` is ignored."""
    delta = check_level(delta, "delta")
    p = _check_p(p_values)
    return p <= delta / max(len(p), 1)


def holm(p_values, delta: float, *, order=None) -> np.ndarray:
    """Holm's step-down procedure (Holm 1979), froc's default.

    Sort the p-values ``p_(1) <= ... <= p_(K)``; reject ``H_(1), ..., H_(j)`` for the
    largest ``j`` with ``p_(i) <= delta / (K - i + 1)`` for all ``i <= j``. Uniformly
    more powerful than Bonferroni, valid under arbitrary dependence. ``order`` is ignored.
    """
    delta = check_level(delta, "delta")
    p = _check_p(p_values)
    k = len(p)
    idx = np.argsort(p, kind="stable")
    thresholds = delta / (k - np.arange(k))  # delta/K, delta/(K-1), ..., delta/1
    ok = p[idx] <= thresholds
    n_rej = k if ok.all() else int(np.argmin(ok))
    mask = np.zeros(k, dtype=bool)
    mask[idx[:n_rej]] = True
    return mask


def fixed_sequence(p_values, delta: float, order=None) -> np.ndarray:
    """Fixed-sequence testing (Bauer 1991): test along ``order`` at full level ``delta``.

    Reject ``H_order[0], H_order[1], ...`` while ``p <= delta``; stop at the first
    non-rejection. Valid under arbitrary dependence provided ``order`` is fixed before
    seeing the calibration data. Hypotheses not listed in ``order`` are never rejected.

    Args:
        p_values: (K,) p-values.
        delta: FWER level.
        order: indices in testing order; default ``range(K)`` (the grid order).
    """
    delta = check_level(delta, "delta")
    p = _check_p(p_values)
    o = _check_order(order, len(p))
    mask = np.zeros(len(p), dtype=bool)
    for j in o:
        if p[j] > delta:
            break
        mask[j] = True
    return mask


def chain_graph(order, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Initial weights and transition matrix of the chain ``order[0] -> order[1] -> ...``.

    All weight starts on ``order[0]``; on rejection it passes entirely to the next
    hypothesis. With this graph :func:`graph` is exactly :func:`fixed_sequence`.
    """
    o = _check_order(order, k)
    w = np.zeros(k)
    g = np.zeros((k, k))
    if o.size:
        w[o[0]] = 1.0
        g[o[:-1], o[1:]] = 1.0
    return w, g


def complete_graph(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Equal weights ``1/K`` and transitions ``1/(K-1)``: :func:`graph` is then Holm's procedure."""
    w = np.full(k, 1.0 / k) if k else np.zeros(0)
    g = np.full((k, k), 1.0 / (k - 1)) if k > 1 else np.zeros((k, k))
    np.fill_diagonal(g, 0.0)
    return w, g


def graph(p_values, delta: float, *, order=None, weights=None, transitions=None) -> np.ndarray:
    """Graphical sequentially rejective procedure (Bretz et al. 2009, Algorithm 1).

    Hypothesis ``k`` holds local level ``w_k * delta``. Whenever some active ``H_j``
    has ``p_j <= w_j delta`` it is rejected and its weight is passed on:
    ``w_l <- w_l + w_j g_jl`` and
    ``g_lk <- (g_lk + g_lj g_jk) / (1 - g_lj g_jl)`` (0 if the denominator is 0),
    for active ``l != k``. The final set does not depend on which rejectable
    hypothesis is taken first (shown in Bretz et al.). Valid under arbitrary
    dependence (it is a shortcut of a closed Bonferroni test).

    Default (``weights`` and ``transitions`` both None): the chain along ``order``
    (:func:`chain_graph`; default order ``range(K)``), which reduces exactly to
    :func:`fixed_sequence`. :func:`complete_graph` gives Holm.

    Args:
        p_values: (K,) p-values.
        delta: FWER level.
        order: used only to build the default chain.
        weights: (K,) non-negative initial weights with sum <= 1.
        transitions: (K, K) non-negative matrix, zero diagonal, rows summing to <= 1.
    """
    delta = check_level(delta, "delta")
    p = _check_p(p_values)
    k = len(p)
    if weights is None and transitions is None:
        w, g = chain_graph(order, k)
    elif weights is None or transitions is None:
        raise ValueError("give both weights and transitions (or neither, for the chain along order)")
    else:
        w = np.array(weights, dtype=float)
        g = np.array(transitions, dtype=float)
        if w.shape != (k,) or g.shape != (k, k):
            raise ValueError(f"weights must have shape ({k},) and transitions ({k}, {k}); got {w.shape}, {g.shape}")
        if (w < 0).any() or w.sum() > 1.0 + 1e-12:
            raise ValueError("weights must be non-negative and sum to at most 1")
        if (g < 0).any() or np.any(np.diag(g) != 0) or (g.sum(axis=1) > 1.0 + 1e-12).any():
            raise ValueError("transitions must be non-negative with zero diagonal and rows summing to at most 1")
    active = np.ones(k, dtype=bool)
    rejected = np.zeros(k, dtype=bool)
    while True:
        cand = np.flatnonzero(active & (p <= w * delta))
        if cand.size == 0:
            return rejected
        j = int(cand[0])
        rejected[j] = True
        active[j] = False
        w = np.where(active, w + w[j] * g[j], 0.0)
        den = 1.0 - g[:, j] * g[j, :]  # (K,): 1 - g_lj g_jl, per row l
        num = g + np.outer(g[:, j], g[j, :])
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.where(den[:, None] > 0, num / den[:, None], 0.0)
        g[~active, :] = 0.0
        g[:, ~active] = 0.0
        np.fill_diagonal(g, 0.0)


def pareto(p_values, delta: float, *, order=None) -> np.ndarray:
    """Pareto Testing's testing stage (Laufer-Goldshtein, Fisch, Barzilay, Jaakkola,
    "Efficiently Controlling Multiple Risks with Pareto Testing", ICLR 2023): fixed-sequence
    testing at full level ``delta`` along an order learned on a separate (tune) split from
    the Pareto front of the risks (:func:`froc.risk.order.pareto_order`).

    The testing itself is exactly :func:`fixed_sequence`; what differs is where ``order``
    comes from. Unlike the other procedures there is no default order.

    Raises:
        ConfigError: ``order`` is None.
    """
    if order is None:
        raise ConfigError("fwer 'pareto' needs the order learned on the tune split (froc.risk.pareto_order)")
    return fixed_sequence(p_values, delta, order)


FWER: dict[str, Callable] = {
    "bonferroni": bonferroni,
    "holm": holm,
    "fixed_sequence": fixed_sequence,
    "graph": graph,
    "pareto": pareto,
}
"""Registry of FWER procedures by name (default ``holm``)."""

ORDERED_FWER: tuple[str, ...] = ("fixed_sequence", "graph", "pareto")
"""Procedures whose power and meaning depend on a testing order. Certification entry points
refuse them without an explicit order fixed before calibration (the grid order, ascending
lr x steps, tests the weakest unlearning first and stops at once)."""


def needs_order(fwer: str | Callable) -> bool:
    """True for a sequence-based procedure (by name or as the registry's function object)."""
    if isinstance(fwer, str):
        return fwer.lower() in ORDERED_FWER
    return any(fwer is FWER[name] for name in ORDERED_FWER)


def get_fwer(name_or_callable: str | Callable) -> Callable:
    """Return an FWER procedure by registry name, or the callable itself.

    Raises:
        ConfigError: unknown name (the message lists the valid names).
    """
    if callable(name_or_callable):
        return name_or_callable
    if isinstance(name_or_callable, str) and name_or_callable.lower() in FWER:
        return FWER[name_or_callable.lower()]
    raise unknown_choice("FWER procedure", str(name_or_callable), FWER)
