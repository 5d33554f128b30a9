"""Can a budget be certified at all with this many calibration samples? (checked before any compute).

The most favourable outcome for a configuration is zero empirical risk. Its p-value then depends only on
n, alpha and the p-value function; Learn-then-Test can certify it only if that p-value is at most the
smallest level the FWER procedure may test it at:
- ``bonferroni`` and ``holm``: ``delta / K`` (Holm tests its smallest p-value at ``delta / K`` first; if
  that fails, nothing is certified);
- ``fixed_sequence``, ``graph`` (a chain), ``pareto``: ``delta`` for the first configuration in the order.

:func:`min_calibration_size` returns the smallest n for which zero losses reach that level; below it,
no configuration can ever be certified, whatever the models do. Closed form for 0/1 losses with the
binomial or Hoeffding test: ``(1 - alpha)^n <= level``, i.e. ``n >= log(level) / log(1 - alpha)``.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from froc.risk._checks import check_level
from froc.risk.pvalues import certifying_pvalue

SEQUENTIAL = ("fixed_sequence", "graph", "pareto")


def first_level(delta: float, n_configs: int, fwer: str) -> float:
    """The level at which the FWER procedure tests its first (most favourable) hypothesis."""
    delta = check_level(delta, "delta")
    if n_configs < 1:
        raise ValueError(f"n_configs must be >= 1, got {n_configs}")
    return delta if str(fwer).lower() in SEQUENTIAL else delta / n_configs


def zero_risk_pvalue(n: int, alpha: float, pvalue: str | Callable = "hb", *, binary: bool = True) -> float:
    """p-value of ``n`` zero losses at level ``alpha`` (the best any configuration can get with n samples)."""
    pfun = certifying_pvalue(pvalue)
    if n <= 0:
        return 1.0
    return float(np.asarray(pfun(np.zeros((1, n)), alpha, binary=binary)).reshape(-1)[0])


def min_calibration_size(alpha: float, level: float, pvalue: str | Callable = "hb", *, binary: bool = True,
                         n_max: int = 10_000_000) -> int | None:
    """Smallest n with ``zero_risk_pvalue(n, alpha) <= level`` (None if above ``n_max``).

    Args:
        alpha: risk target in (0, 1).
        level: the level of the first test (see :func:`first_level`).
        pvalue: a finite-sample p-value name or callable (``clt`` is refused).
        binary: 0/1 losses (exact binomial test) or general losses in [0, 1].

    Returns:
        The minimum number of calibration samples (in the sampling unit), found by doubling and bisection
        (p-values of zero losses are non-increasing in n).
    """
    alpha = check_level(alpha, "alpha")
    level = check_level(level, "level")
    ok = lambda n: zero_risk_pvalue(n, alpha, pvalue, binary=binary) <= level  # noqa: E731
    guess = max(1, math.ceil(math.log(level) / math.log1p(-alpha)))  # the binary closed form
    hi = guess
    while not ok(hi):
        hi *= 2
        if hi > n_max:
            return None
    lo = 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def feasibility(n_forget: int, n_utility: int | None, *, alpha_forget: float, alpha_utility: float | None,
                delta: float, n_configs: int, pvalue: str | Callable = "hb", fwer: str = "holm",
                binary_forget: bool = True, binary_utility: bool = True) -> dict:
    """Whether a configuration with zero empirical risks could be certified with these sample sizes.

    Returns:
        ``{"feasible": bool, "level": float, "need_forget": int, "need_utility": int | None,
        "have_forget": int, "have_utility": int | None, "message": str}``; the message names what is
        short and by how much.
    """
    level = first_level(delta, n_configs, fwer)
    need_f = min_calibration_size(alpha_forget, level, pvalue, binary=binary_forget)
    need_u = None if alpha_utility is None else min_calibration_size(alpha_utility, level, pvalue, binary=binary_utility)
    short = []
    if need_f is None or n_forget < need_f:
        short.append(f"{n_forget} forget calibration samples where at least {need_f} are needed")
    if need_u is not None and n_utility is not None and n_utility < need_u:
        short.append(f"{n_utility} utility calibration samples where at least {need_u} are needed")
    where = f"level {level:.3g} = delta/{n_configs}" if level < delta else f"level {level:.3g} = delta"
    msg = (f"even a configuration with zero empirical risk cannot be certified: {' and '.join(short)} (the first "
           f"test of '{fwer}' is at {where}, with {pvalue} p-values at alpha_forget={alpha_forget}"
           + (f", alpha_utility={alpha_utility}" if alpha_utility is not None else "") + "). Add probes, raise "
           "splits.cal, loosen the budget or shrink the grid." if short else
           f"feasible: zero empirical risk would be certified with >= {need_f} forget"
           + (f" and >= {need_u} utility" if need_u is not None else "") + f" calibration samples ({where})")
    return {"feasible": not short, "level": level, "need_forget": need_f, "need_utility": need_u,
            "have_forget": n_forget, "have_utility": n_utility, "message": msg}
