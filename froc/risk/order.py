"""Testing orders learned on the tune split, and Pareto Testing's order.

Fixed-sequence testing (and the chain graph) spends the whole level ``delta`` on each
hypothesis in turn and stops at the first non-rejection, so its power depends entirely
on the order; its validity only needs the order to be fixed *before* the calibration
data are seen. froc therefore learns the order on the ``tune`` split (disjoint from
``cal`` and ``test``): the configurations most likely to pass come first. The grid order
(ascending lr x steps) would test the weakest unlearning first and stop at once.

Pareto Testing (Laufer-Goldshtein, Fisch, Barzilay, Jaakkola, "Efficiently Controlling
Multiple Risks with Pareto Testing", ICLR 2023): on a first split, find the Pareto front
of the configurations' risks, order it by that split's p-values (the most promising
first), then run fixed-sequence testing along that order on the calibration split.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from froc.risk._checks import check_level, loss_matrix, resolve_binary
from froc.risk.pvalues import certifying_pvalue


def _tune_inputs(forget_tune, utility_tune, alpha_forget, alpha_utility, pvalue, binary_forget, binary_utility):
    f, f_1d = loss_matrix(forget_tune, "forget_tune")
    if f_1d:
        raise ValueError("forget_tune must have shape (K, n_tune)")
    k = f.shape[0]
    if f.shape[1] == 0:
        raise ValueError("forget_tune has no samples: an order needs a non-empty tune split")
    u = None
    if utility_tune is not None:
        u, u_1d = loss_matrix(utility_tune, "utility_tune")
        if u_1d or u.shape[0] != k:
            raise ValueError(f"utility_tune must have shape ({k}, m) like forget_tune, got {u.shape}")
        if u.shape[1] == 0:
            raise ValueError("utility_tune has no samples: an order needs a non-empty tune split")
    af = check_level(alpha_forget, "alpha_forget")
    au = None if alpha_utility is None else check_level(alpha_utility, "alpha_utility")
    pfun = certifying_pvalue(pvalue)
    p = np.asarray(pfun(f, af, binary=resolve_binary(f, binary_forget)), dtype=float).reshape(-1)
    bad = np.isnan(f).any(axis=1)
    if u is not None and au is not None:
        pu = np.asarray(pfun(u, au, binary=resolve_binary(u, binary_utility)), dtype=float).reshape(-1)
        p = np.maximum(p, pu)
    if u is not None:
        bad |= np.isnan(u).any(axis=1)
    p = np.where(bad, 1.0, p)
    return f, u, p, bad


def tune_order(
    forget_tune,
    utility_tune=None,
    alpha_forget: float = 0.1,
    alpha_utility: float | None = None,
    *,
    pvalue: str | Callable = "hb",
    binary_forget: bool | None = None,
    binary_utility: bool | None = None,
) -> np.ndarray:
    """Order for fixed-sequence / graph testing, learned on the tune split.

    Configurations sorted by ascending tune p-value ``max(p_forget, p_utility)`` (only
    ``p_forget`` when ``alpha_utility`` is None), ties by index; configurations with NaN
    on the tune split (diverged) get p = 1.

    Args:
        forget_tune: (K, n) tune-split forget losses in [0, 1].
        utility_tune: (K, m) tune-split utility losses, or None.
        alpha_forget, alpha_utility: the same targets as the certification.
        pvalue: a finite-sample p-value name or callable (``clt`` refused).
        binary_forget, binary_utility: explicit loss types (see :func:`froc.risk.hb`).

    Returns:
        (K,) int array, a permutation of ``range(K)``.

    Raises:
        ValueError: empty tune split or bad shapes / values. ConfigError: bad levels or p-value.
    """
    _, _, p, _ = _tune_inputs(forget_tune, utility_tune, alpha_forget, alpha_utility, pvalue, binary_forget, binary_utility)
    return np.lexsort((np.arange(p.size), p)).astype(int)


def nondominated_layers(points: np.ndarray) -> list[np.ndarray]:
    """Non-dominated sorting (minimisation) of (K, d) points; rows with NaN are left out.

    Layer 0 is the Pareto front; layer j the front of what remains after removing layers
    < j. ``a`` dominates ``b`` when ``a <= b`` in every coordinate and ``<`` in one; equal
    points share a layer.

    Returns:
        list of int index arrays (ascending indices within a layer).
    """
    pts = np.asarray(points, dtype=float)
    remaining = np.flatnonzero(~np.isnan(pts).any(axis=1))
    layers = []
    while remaining.size:
        sub = pts[remaining]  # (R, d)
        le = (sub[:, None, :] <= sub[None, :, :]).all(axis=2)  # le[i, j]: i <= j everywhere
        lt = (sub[:, None, :] < sub[None, :, :]).any(axis=2)
        dominated = (le & lt).any(axis=0)  # j dominated by some i
        layers.append(remaining[~dominated])
        remaining = remaining[dominated]
    return layers


def pareto_order(
    forget_tune,
    utility_tune=None,
    alpha_forget: float = 0.1,
    alpha_utility: float | None = None,
    *,
    pvalue: str | Callable = "hb",
    binary_forget: bool | None = None,
    binary_utility: bool | None = None,
    layers: int | None = None,
    delta: float | None = None,
) -> np.ndarray:
    """Pareto Testing's order (Laufer-Goldshtein et al., ICLR 2023), learned on the tune split.

    1. Pareto front of the tune split's empirical (forget risk, utility risk), both
       minimised (the paper's front is over the objectives' empirical values on its
       first split; with ``utility_tune`` None it is over the forget risk alone).
    2. The front ordered by ascending tune p-value ``max(p_forget, p_utility)`` (the
       paper orders by the first split's p-values), ties by index.
    3. Non-front configurations (ours; the paper tests the front only): the next
       non-dominated layers are appended, each ordered the same way, then diverged
       (NaN) configurations by index. Appending costs the front nothing: in fixed-sequence
       testing a hypothesis is tested only after every earlier one was rejected, so the
       front's decisions are identical with or without the tail. Dominated
       configurations can still be worth certifying (a user may prefer them on another
       criterion, e.g. distance from the original model). ``layers=1`` gives the paper's
       front-only order.
    4. With ``delta`` given (ours; certify_grid passes its delta): configurations whose
       tune p-value exceeds ``delta`` are predicted to fail and would stop the sequence
       for everything behind them, so they are moved after all predicted passes (still
       by layer, then p-value). Without ``delta`` the order is layer by layer.

    Testing along this order with :func:`froc.risk.fixed_sequence` on calibration data is
    valid because the order uses the tune split only.

    Args:
        forget_tune, utility_tune, alpha_forget, alpha_utility, pvalue, binary_forget,
            binary_utility: as in :func:`tune_order`.
        layers: number of non-dominated layers to include (None = all).
        delta: optional level separating predicted passes from predicted failures.

    Returns:
        int array of configuration indices in testing order (all K when ``layers`` is None).
    """
    f, u, p, bad = _tune_inputs(forget_tune, utility_tune, alpha_forget, alpha_utility, pvalue, binary_forget, binary_utility)
    risks = [np.where(bad, np.nan, np.nan_to_num(f).mean(axis=1))]
    if u is not None:
        risks.append(np.where(bad, np.nan, np.nan_to_num(u).mean(axis=1)))
    all_layers = nondominated_layers(np.stack(risks, axis=1))  # (K, 1 or 2) points
    if layers is not None:
        if int(layers) < 1:
            raise ValueError(f"layers must be >= 1 or None, got {layers}")
        all_layers = all_layers[: int(layers)]
    out = [lay[np.lexsort((lay, p[lay]))] for lay in all_layers]
    if delta is not None:
        level = check_level(delta, "delta")
        out = [o[p[o] <= level] for o in out] + [o[p[o] > level] for o in out]
    if layers is None:
        out.append(np.flatnonzero(bad))
    return np.concatenate(out).astype(int) if out else np.zeros(0, dtype=int)
