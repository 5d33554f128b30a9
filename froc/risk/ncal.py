"""Calibration-size study: CUR and certified-set size against n_cal, from stored losses.

FROC (arXiv 2512.13337) discusses how the size of the reference (calibration) set drives
the bounds. Given the stored per-sample cal losses of a grid, :func:`ncal_curve`
subsamples n of them without replacement, many times, and reports the mean CUR of one
configuration and the mean number of certified configurations at each n, without
retraining or rescoring anything. It describes what a smaller calibration set would have
given; at n = n_cal every subsample is the full set.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from froc.errors import ConfigError
from froc.risk._checks import check_level, loss_matrix, resolve_binary
from froc.risk.bounds import ucb
from froc.risk.controller import RiskController
from froc.risk.fwer import needs_order
from froc.risk.pvalues import certifying_pvalue


def default_sizes(n: int) -> list[int]:
    """Eight sizes from about n/16 (at least 10) to n, roughly geometric."""
    if n <= 10:
        return [n]
    lo = max(10, n // 16)
    return sorted({int(round(x)) for x in np.geomspace(lo, n, 8)})


def ncal_curve(
    F_cal,
    U_cal=None,
    sizes=None,
    reps: int = 20,
    *,
    focus: int = 0,
    alpha_forget: float = 0.1,
    alpha_utility: float | None = None,
    delta: float = 0.1,
    pvalue: str | Callable = "hb",
    fwer: str | Callable = "holm",
    order=None,
    binary_forget: bool | None = None,
    binary_utility: bool | None = None,
    seed: int = 0,
) -> dict:
    """Mean CUR of configuration ``focus`` and mean certified-set size against n_cal.

    Args:
        F_cal: (K, n_f) cal forget losses in [0, 1] (sampling unit already applied).
        U_cal: (K, n_u) cal utility losses or None.
        sizes: forget sample sizes to evaluate (default :func:`default_sizes`); values
            above n_f are capped. The utility side is subsampled in proportion,
            ``round(size * n_u / n_f)`` (at least 1).
        reps: subsamples per size (without replacement, independent draws).
        focus: index of the configuration whose CUR is reported (e.g. the recommended one).
        alpha_forget, alpha_utility, delta, pvalue, fwer, binary_forget, binary_utility:
            as in the certification; an ordered ``fwer`` needs ``order`` (fixed on tune).
        order: testing order for ordered procedures.
        seed: seed of the subsamples.

    Returns:
        dict: ``sizes`` (forget n), ``n_utility``, ``mean_cur``, ``sd_cur``,
        ``mean_certified``, ``focus``, ``reps``, ``note``; lists aligned with ``sizes``.

    Raises:
        ConfigError: bad levels, ``clt``, ordered procedure without ``order``.
        ValueError: bad shapes, ``focus`` out of range.
    """
    af = check_level(alpha_forget, "alpha_forget")
    au = None if alpha_utility is None else check_level(alpha_utility, "alpha_utility")
    d = check_level(delta, "delta")
    pfun = certifying_pvalue(pvalue)
    if order is None and needs_order(fwer):
        raise ConfigError("ncal_curve with an ordered fwer needs the order learned on the tune split; or use 'holm'")
    F, _ = loss_matrix(F_cal, "F_cal")
    k, nf = F.shape
    U = None if U_cal is None else loss_matrix(U_cal, "U_cal")[0]
    if U is not None and U.shape[0] != k:
        raise ValueError(f"U_cal must have {k} rows like F_cal, got {U.shape[0]}")
    if au is not None and U is None:
        raise ValueError("alpha_utility is set, so U_cal is required")
    if not 0 <= int(focus) < k:
        raise ValueError(f"focus must be a configuration index in [0, {k - 1}], got {focus}")
    if nf == 0:
        raise ValueError("F_cal has no samples")
    bf = resolve_binary(F, binary_forget)
    bu = None if U is None else resolve_binary(U, binary_utility)
    sizes = default_sizes(nf) if sizes is None else sorted({min(int(s), nf) for s in sizes if int(s) >= 1})
    rng = np.random.default_rng(seed)
    mean_cur, sd_cur, mean_cert, n_u = [], [], [], []
    for s in sizes:
        su = None if U is None else max(1, int(round(s * U.shape[1] / nf)))
        n_u.append(su)
        curs, certs = [], []
        for _ in range(int(reps)):
            f = F[:, rng.choice(nf, size=s, replace=False)]
            u = None if U is None else U[:, rng.choice(U.shape[1], size=su, replace=False)]
            rc = RiskController(af, au, d, pvalue=pfun, fwer=fwer, order=order, binary_forget=bf, binary_utility=bu)
            certs.append(int(rc.calibrate(f, u).certify(bounds=False).certified.sum()))
            curs.append(float(ucb(f[focus], d, pfun, binary=bf)))
        mean_cur.append(float(np.mean(curs)))
        sd_cur.append(float(np.std(curs)))
        mean_cert.append(float(np.mean(certs)))
    return {
        "sizes": sizes, "n_utility": n_u, "mean_cur": mean_cur, "sd_cur": sd_cur, "mean_certified": mean_cert,
        "focus": int(focus), "reps": int(reps),
        "note": "subsamples of the stored cal losses without replacement; CUR is pointwise (config fixed in advance)",
    }
