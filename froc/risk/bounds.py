"""Upper confidence bounds on a mean risk by inverting a p-value; CUR is the UCB of the forget losses.

``UCB = min {a >= R^ : p(losses, a) <= delta}`` (Learn-then-Test, Angelopoulos et al. 2021;
for the Hoeffding-Bentkus p-value this is the "HB bound" of Bates et al. 2021,
"Distribution-free, risk-controlling prediction sets"). Every p-value in
:mod:`froc.risk.pvalues` except the diagnostic ``clt`` is non-increasing in ``a``,
so the set is an interval ``[UCB, 1]`` and ``P(E[loss] > UCB) <= delta``. The
boundary is found with a bracketing root finder (``scipy.optimize.brentq`` on
``[R^, 1]``), never a fixed-start solver, which can jump to the wrong side of a
flat or steep p-value.

The Conformal Unlearning Risk of a configuration (FROC, arXiv 2512.13337) is this UCB
computed on its forget losses; see :func:`cur`.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
from scipy.optimize import brentq
from scipy.special import bdtr

from froc.risk._checks import check_level, loss_matrix, resolve_binary
from froc.risk.pvalues import bentkus, certifying_pvalue, hb, hoeffding, wsr, wsr_bets, wsr_from_bets


def ucb(
    losses,
    delta: float,
    pvalue: str | Callable = "hb",
    *,
    binary: bool | None = None,
    xtol: float = 1e-14,
):
    """Upper confidence bound at level ``1 - delta`` on the mean loss, per configuration.

    Edge cases: ``n = 0`` -> 1.0; a row with NaN -> 1.0 (nothing is known);
    ``R^ = 1`` -> 1.0; if ``p(R^) <= delta`` already, the bound is ``R^`` itself
    (cannot happen for Hoeffding, and for the others only for large ``delta``); if
    ``p(1) > delta`` (e.g. WSR with very few samples) -> 1.0. All-zero losses give a
    positive bound (e.g. ``1 - delta^(1/n)`` for the binary HB bound).

    Args:
        losses: (n,) or (K, n) losses in [0, 1].
        delta: miscoverage level in (0, 1).
        pvalue: registry name or p-value callable (default ``"hb"``); the asymptotic
            ``clt`` is refused (ConfigError): a quoted bound must hold at finite n.
        binary: True for a loss that can only be 0 or 1 (exact binomial test; values
            are checked); None/False (default) for the general, continuous-valid test.
        xtol: absolute tolerance of the root finder.

    Returns:
        float for (n,) input, (K,) array for (K, n) input, each in [R^, 1].

    Raises:
        ConfigError: bad ``delta`` or an asymptotic / unknown ``pvalue``.
        ValueError: losses outside [0, 1], or ``binary=True`` with non-0/1 values.
    """
    delta = check_level(delta, "delta")
    pfun = certifying_pvalue(pvalue)
    mat, squeeze = loss_matrix(losses)
    b = resolve_binary(mat, binary)
    k, n = mat.shape
    out = np.ones(k)
    with np.errstate(invalid="ignore"):
        r_hats = mat.mean(axis=1) if n else np.zeros(k)  # same reduction as the p-value functions
    lo_a, hi_a = 1e-300, 1.0 - 1e-16  # alpha must stay inside (0, 1)
    bets = wsr_bets(np.nan_to_num(mat)) if pfun is wsr and n else None  # alpha-free, once for all rows
    for i in range(k):
        if n == 0 or np.isnan(mat[i]).any() or r_hats[i] >= 1.0:
            continue
        r_hat = float(r_hats[i])
        row_bets = None if bets is None else (bets[0][i : i + 1], bets[1][i : i + 1])
        p_of = _row_pvalue(pfun, mat[i : i + 1], r_hat, b, row_bets)
        excess = lambda a: p_of(min(max(a, lo_a), hi_a)) - delta  # noqa: E731
        lo = max(r_hat, lo_a)
        if excess(lo) <= 0.0:
            out[i] = r_hat
        elif excess(hi_a) > 0.0:
            out[i] = 1.0
        else:
            out[i] = brentq(excess, lo, hi_a, xtol=xtol, rtol=4 * np.finfo(float).eps, maxiter=500)
    return float(out[0]) if squeeze else out


def _row_pvalue(pfun: Callable, row: np.ndarray, r_hat: float, binary: bool, bets=None) -> Callable[[float], float]:
    """``a -> p(row, a)`` for one (1, n) row without NaN. The registry p-values get exact
    scalar re-implementations (same formulas, no per-call validation) so that inverting a
    large grid stays fast; any other callable is called as is."""
    n = row.shape[1]
    k_bentkus = round(n * r_hat) if binary else math.ceil(n * r_hat)
    factor = 1.0 if binary else math.e

    def p_hoeffding(a: float) -> float:
        m = min(r_hat, a)
        h = (m * math.log(m / a) if m > 0 else 0.0) + (1 - m) * math.log((1 - m) / (1 - a))
        return min(1.0, math.exp(-n * h))

    def p_bentkus(a: float) -> float:
        return min(1.0, factor * float(bdtr(k_bentkus, n, a)))

    if pfun is hoeffding:
        return p_hoeffding
    if pfun is bentkus:
        return p_bentkus
    if pfun is hb:
        return lambda a: min(p_hoeffding(a), p_bentkus(a))
    if pfun is wsr:
        x, lam_free = bets if bets is not None else wsr_bets(row)  # defaults of wsr()
        return lambda a: float(wsr_from_bets(x, lam_free, a)[0])
    return lambda a: float(np.asarray(pfun(row, a, binary=binary)).reshape(-1)[0])


def cur(forget_losses, delta: float, pvalue: str | Callable = "hb", *, binary: bool | None = None):
    """Conformal Unlearning Risk (FROC, arXiv 2512.13337): the UCB of the forget losses.

    With binary forget losses ``1[k_i > tau]`` this bounds, with probability at least
    ``1 - delta``, the probability that a forgotten item is still known.
    See :func:`ucb` for arguments and edge cases.
    """
    return ucb(forget_losses, delta, pvalue, binary=binary)
