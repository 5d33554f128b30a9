"""Upper confidence bounds on a mean risk by inverting a p-value; CUR is the UCB of the forget losses.

``UCB = min {a >= R^ : p(losses, a) <= delta}`` (Learn-then-Test, Angelopoulos et al. 2021,
Section 3; for the Hoeffding-Bentkus p-value this is the "HB bound" of Bates et al. 2021,
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

from typing import Callable

import numpy as np
from scipy.optimize import brentq

from froc.risk._checks import check_level, is_binary, loss_matrix
from froc.risk.pvalues import get_pvalue


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
        pvalue: registry name or p-value callable (default ``"hb"``).
        binary: 0/1 losses; None detects it over the whole array (see pvalues).
        xtol: absolute tolerance of the root finder.

    Returns:
        float for (n,) input, (K,) array for (K, n) input, each in [R^, 1].
    """
    delta = check_level(delta, "delta")
    pfun = get_pvalue(pvalue)
    mat, squeeze = loss_matrix(losses)
    b = is_binary(mat) if binary is None else bool(binary)
    k, n = mat.shape
    out = np.ones(k)
    for i in range(k):
        row = mat[i : i + 1]  # (1, n)
        if n == 0 or np.isnan(row).any():
            continue
        r_hat = float(row.mean())
        if r_hat >= 1.0:
            continue

        def excess(a: float, row=row) -> float:
            return float(np.asarray(pfun(row, min(max(a, 1e-300), 1.0 - 1e-16), binary=b))[0]) - delta

        lo, hi = max(r_hat, 1e-300), 1.0 - 1e-16
        if excess(lo) <= 0.0:
            out[i] = r_hat
        elif excess(hi) > 0.0:
            out[i] = 1.0
        else:
            out[i] = brentq(excess, lo, hi, xtol=xtol, rtol=4 * np.finfo(float).eps, maxiter=500)
    return float(out[0]) if squeeze else out


def cur(forget_losses, delta: float, pvalue: str | Callable = "hb", *, binary: bool | None = None):
    """Conformal Unlearning Risk (FROC, arXiv 2512.13337): the UCB of the forget losses.

    With binary forget losses ``1[k_i > tau]`` this bounds, with probability at least
    ``1 - delta``, the probability that a forgotten item is still known.
    See :func:`ucb` for arguments and edge cases.
    """
    return ucb(forget_losses, delta, pvalue, binary=binary)
