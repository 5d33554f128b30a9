"""Conformal risk control for a monotone 1-D knob (Angelopoulos, Bates, Fisch, Lei, Schuster 2022).

A second, *expectation-level* mode next to Learn-then-Test. Given ``n`` calibration
losses ``L_i(lambda_k)`` in ``[0, B]`` on an ordered grid of knob values
``lambda_0 < ... < lambda_{K-1}`` (e.g. increasing unlearning strength), each
**non-increasing in k for every sample i**, choose

    k_hat = min { k : n/(n+1) * R^_n(lambda_k) + B/(n+1) <= alpha }.

Then for a new exchangeable sample ``E[L_{n+1}(lambda_{k_hat})] <= alpha``
(Conformal Risk Control, Theorem 1). This is a guarantee *in expectation over the
calibration draw*, weaker than LTT's "with probability 1 - delta" statement, and it
needs the per-sample monotonicity, which :func:`crc` checks. The theorem also assumes
the largest knob value attains ``L <= alpha``; when no grid point passes the
threshold, :func:`crc` returns None instead of extrapolating.
"""

from __future__ import annotations

import warnings

import numpy as np

from froc.errors import ConfigError


def _check_losses(losses, bound: float) -> np.ndarray:
    mat = np.asarray(losses, dtype=float)
    if mat.ndim != 2 or mat.shape[1] == 0:
        raise ValueError(f"losses must have shape (K, n) with n >= 1 (K knob values), got {mat.shape}")
    if not np.isfinite(mat).all():
        raise ValueError("losses must be finite (CRC needs every knob value evaluated)")
    if mat.min() < 0.0 or mat.max() > bound:
        raise ValueError(f"losses must lie in [0, B] = [0, {bound:g}], found [{mat.min():g}, {mat.max():g}]")
    return mat


def crc_adjusted_risk(losses, B: float = 1.0) -> np.ndarray:
    """The CRC statistic ``n/(n+1) R^_n(lambda_k) + B/(n+1)`` for each knob value, shape (K,)."""
    if not B > 0:
        raise ValueError(f"B must be positive, got {B}")
    mat = _check_losses(losses, B)
    n = mat.shape[1]
    return n / (n + 1) * mat.mean(axis=1) + B / (n + 1)


def check_monotone(losses, *, tol: float = 1e-12) -> bool:
    """True if every sample's loss is non-increasing along the knob axis (axis 0) up to ``tol``."""
    mat = np.asarray(losses, dtype=float)
    return bool(np.all(np.diff(mat, axis=0) <= tol))


def crc(losses, alpha: float, *, B: float = 1.0, on_violation: str = "raise", tol: float = 1e-12) -> int | None:
    """Conformal risk control: the first knob index whose CRC statistic is at most ``alpha``.

    Args:
        losses: (K, n) losses, row k = knob value k in increasing order, each column
            non-increasing in k.
        alpha: target expected risk, in (0, B).
        B: upper bound of the loss (default 1.0).
        on_violation: what to do if some sample's loss increases along the knob:
            ``"raise"`` (default, ValueError), ``"warn"`` or ``"ignore"``. Without
            monotonicity the guarantee does not hold.
        tol: slack allowed in the monotonicity check.

    Returns:
        ``k_hat`` (int), or None when no knob value reaches the threshold.
    """
    if on_violation not in ("raise", "warn", "ignore"):
        raise ConfigError(f"unknown on_violation '{on_violation}'; valid choices: ignore, raise, warn")
    if not 0.0 < float(alpha) < B:
        raise ConfigError(f"alpha must be in (0, B) = (0, {B:g}), got {alpha}")
    stat = crc_adjusted_risk(losses, B)
    if on_violation != "ignore" and not check_monotone(losses, tol=tol):
        msg = (
            "CRC needs per-sample losses non-increasing in the knob index (axis 0); "
            "some increase, so the expectation guarantee does not hold"
        )
        if on_violation == "raise":
            raise ValueError(msg)
        warnings.warn(msg, stacklevel=2)
    ok = np.flatnonzero(stat <= alpha)
    return int(ok[0]) if ok.size else None
