"""Risk bounds under a distribution shift of bounded Hellinger distance.

C-RAG (Kang, Gürel, Yu, Song, Li 2024, "C-RAG: Certified Generation Risks for
Retrieval-Augmented Language Models", ICML; the theorem on conformal generation risk
under distribution shift) bounds the risk on a test distribution ``Q`` from the risk on
the calibration distribution ``P`` when the Hellinger distance ``H(P, Q) <= rho``, using
the worst case over the Hellinger ball of Weber et al. (2022, "Certifying
out-of-domain generalization for blackbox functions", ICML). For a loss in [0, 1]
with mean ``R`` and variance ``V`` under ``P`` that worst case is

    E_Q[l] <= R + rho^2 (2 - rho^2) (1 - R - V / (1 - R)) + 2 rho (1 - rho^2) sqrt(2 - rho^2) sqrt(V),

valid while ``rho^2 <= 1 - sqrt(V / (V + (1 - R)^2))``; past that point the worst case
is the trivial bound 1. Convention: ``H(P, Q)^2 = 1 - sum sqrt(p q)`` (so ``rho`` is in
[0, 1]; this is C-RAG's and Weber et al.'s convention, not the one with a factor 2).

What froc uses (ours, documented deviation from C-RAG): the variance-free version with
``V = R (1 - R)``, the largest variance a [0, 1] loss with mean ``R`` can have,

    R_rho = R + rho^2 (2 - rho^2) (1 - 2R) + 2 rho (1 - rho^2) sqrt(2 - rho^2) sqrt(R (1 - R))
          = sin^2(arcsin(sqrt(R)) + arccos(1 - rho^2)),

valid when ``sqrt(R) <= 1 - rho^2`` and equal to 1 beyond. It is the exact worst case
for 0/1 losses and an upper bound for every [0, 1] loss (a [0, 1] loss is a garbling
of a 0/1 one, and the Hellinger distance cannot grow under a Markov kernel). It is
non-decreasing in ``R``, so plugging in a ``1 - delta`` upper confidence bound of the
calibration risk (e.g. CUR) gives a ``1 - delta`` bound under any shift of Hellinger
distance at most ``rho``. C-RAG instead plugs in the empirical mean and variance with
extra finite-sample terms; our version needs no variance estimate.
"""

from __future__ import annotations

import numpy as np


def _check_rho(rho) -> np.ndarray:
    r = np.asarray(rho, dtype=float)
    if np.isnan(r).any() or (r < 0).any() or (r > 1).any():
        raise ValueError(f"rho (a Hellinger distance) must be in [0, 1], got {rho!r}")
    return r


def hellinger_shift_bound(risk, rho):
    """Worst-case mean of a [0, 1] loss over a Hellinger ball of radius ``rho`` around ``P``.

    ``R_rho = R + rho^2 (2 - rho^2)(1 - 2R) + 2 rho (1 - rho^2) sqrt(2 - rho^2) sqrt(R (1 - R))``
    where ``sqrt(R) <= 1 - rho^2`` (the validity condition), and 1 otherwise.
    See the module docstring for the source and conditions.

    Args:
        risk: risk(s) ``R`` under the calibration distribution, in [0, 1].
        rho: Hellinger distance(s) in [0, 1].

    Returns:
        Bound(s) in [R, 1], broadcast shape of the inputs (float for scalar inputs).
    """
    r = np.asarray(risk, dtype=float)
    if np.isnan(r).any() or (r < 0).any() or (r > 1).any():
        raise ValueError(f"risk must be in [0, 1], got {risk!r}")
    rho = _check_rho(rho)
    s = rho**2 * (2.0 - rho**2)  # 1 - (1 - rho^2)^2
    out = r + s * (1.0 - 2.0 * r) + 2.0 * rho * (1.0 - rho**2) * np.sqrt(2.0 - rho**2) * np.sqrt(r * (1.0 - r))
    out = np.where(np.sqrt(r) <= 1.0 - rho**2, np.clip(out, r, 1.0), 1.0)
    return float(out) if out.ndim == 0 else out


def cur_under_shift(cur, rho):
    """CUR under a deployment shift of Hellinger distance at most ``rho`` (C-RAG-style bound).

    ``cur`` is a ``1 - delta`` upper bound of the forget risk under the calibration
    distribution; the result is a ``1 - delta`` upper bound under every distribution
    within Hellinger distance ``rho`` (e.g. other phrasings of the forgotten facts).
    ``rho = 0`` returns ``cur`` unchanged. See :func:`hellinger_shift_bound`.
    """
    return hellinger_shift_bound(cur, rho)


def shifted_alpha(alpha, rho):
    """Calibration-level target that guarantees risk ``<= alpha`` under a shift of size ``rho``.

    The inverse of :func:`hellinger_shift_bound`: the largest ``a`` with
    ``hellinger_shift_bound(a, rho) <= alpha``, i.e.
    ``sin^2(arcsin(sqrt(alpha)) - arccos(1 - rho^2))``, or 0 when no calibration risk
    is small enough (the shift alone can push the risk above ``alpha``). Testing
    ``risk <= shifted_alpha(alpha, rho)`` on calibration data certifies
    ``risk <= alpha`` on every distribution within Hellinger distance ``rho``.
    """
    a = np.asarray(alpha, dtype=float)
    if np.isnan(a).any() or (a < 0).any() or (a > 1).any():
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    rho = _check_rho(rho)
    angle = np.arcsin(np.sqrt(a)) - np.arccos(1.0 - rho**2)
    out = np.where(angle > 0, np.sin(np.maximum(angle, 0.0)) ** 2, 0.0)
    out = np.where(rho == 0, a, np.minimum(out, a))
    return float(out) if out.ndim == 0 else out
