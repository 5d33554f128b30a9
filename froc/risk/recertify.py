"""Re-certification of attacked configurations on the held-out test split.

An attack (relearning, quantisation, ...) is run on the configurations certified on
calibration data; the question is whether each attacked model still keeps its forget risk
below alpha. The attacked configurations were *selected* with the calibration data, so
re-testing them on the calibration probes is not covered by Learn-then-Test: the
selection favours configurations whose calibration losses were luckily low, and those
same probes' attacked losses are correlated with them (issue 12, point 4).

The test split was not used to select them. Conditionally on the calibration data the
set of attacked configurations is fixed and the test samples are still i.i.d. draws from
the probe population, so running an FWER procedure over the A attacked configurations on
test losses gives, with probability >= 1 - delta, no re-certified attacked configuration
with attacked risk > alpha (Learn-then-Test applied conditionally on the selection).
This statement is separate from the certificate of the grid (each holds at 1 - delta).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from froc.errors import ConfigError
from froc.risk._checks import check_level, loss_matrix, resolve_binary
from froc.risk.bounds import ucb
from froc.risk.fwer import get_fwer, needs_order
from froc.risk.pvalues import certifying_pvalue


@dataclass(frozen=True)
class Recertification:
    """Result of :func:`recertify_on_test` (arrays of shape (A,)).

    Attributes:
        certified: attacked configurations that keep their certificate.
        p_values: test-split p-values of ``H0: attacked forget risk > alpha``.
        cur: pointwise 1 - delta UCB of each attacked forget risk, on test.
        risk: empirical attacked forget risk on test (NaN for a NaN row).
        n: test samples per configuration (sampling unit).
        covers: what ``certified`` covers.
    """

    certified: np.ndarray
    p_values: np.ndarray
    cur: np.ndarray
    risk: np.ndarray
    n: int
    covers: str

    def to_dict(self) -> dict:
        f = lambda a: [None if not np.isfinite(x) else float(x) for x in a]  # noqa: E731
        return {"certified": [bool(x) for x in self.certified], "p_values": f(self.p_values), "cur": f(self.cur),
                "risk": f(self.risk), "n": self.n, "covers": self.covers}


def recertify_on_test(
    F_attack_test,
    alpha_forget: float,
    delta: float,
    pvalue: str | Callable = "hb",
    fwer: str | Callable = "holm",
    binary: bool | None = True,
    *,
    order=None,
    bounds: bool = True,
) -> Recertification:
    """Re-test attacked configurations on the held-out TEST split (never on cal).

    Why test only: the attacked configurations were chosen with the calibration data
    (the certified ones); the test split was not used for that choice, so conditionally
    on the choice its samples are fresh and the FWER procedure over the A attacked
    configurations controls, at level delta, the probability of re-certifying any attacked
    configuration whose attacked forget risk exceeds alpha. Re-testing on cal would reuse
    the data that made them look good (not covered by Learn-then-Test).

    Args:
        F_attack_test: (A, n_test) attacked forget losses on the test split, in [0, 1]
            (NaN row: attack without a result -> not re-certified).
        alpha_forget: forget risk target in (0, 1).
        delta: FWER level in (0, 1).
        pvalue: finite-sample p-value (``clt`` refused).
        fwer: FWER procedure; ordered ones (fixed_sequence, graph, pareto) need ``order``.
        binary: loss type (default True: binary forget losses, checked).
        order: testing order for ordered procedures, fixed without the test data.
        bounds: compute ``cur`` (default True; False leaves it NaN, for simulations).

    Returns:
        :class:`Recertification`.

    Raises:
        ConfigError: bad levels, ``clt``, ordered procedure without ``order``.
        ValueError: empty test split, bad values.
    """
    a = check_level(alpha_forget, "alpha_forget")
    d = check_level(delta, "delta")
    pfun = certifying_pvalue(pvalue)
    proc = get_fwer(fwer)
    if order is None and needs_order(fwer):
        raise ConfigError("an ordered FWER procedure needs an order fixed without the test data; use fwer='holm'")
    m, one_d = loss_matrix(F_attack_test, "F_attack_test")
    if one_d:
        raise ValueError("F_attack_test must have shape (A, n_test); for one configuration pass losses[None, :]")
    if m.shape[1] == 0:
        raise ValueError("F_attack_test has no test samples: re-certification needs the held-out test split")
    b = resolve_binary(m, binary)
    bad = np.isnan(m).any(axis=1)
    p = np.where(bad, 1.0, np.atleast_1d(pfun(m, a, binary=b)))
    cert = np.asarray(proc(p, d, order=order), dtype=bool) & ~bad if m.shape[0] else np.zeros(0, dtype=bool)
    cur = np.atleast_1d(ucb(m, d, pfun, binary=b)) if m.shape[0] and bounds else np.full(m.shape[0], np.nan)
    with np.errstate(invalid="ignore"):
        risk = np.where(bad, np.nan, np.nan_to_num(m).mean(axis=1))
    covers = (f"simultaneous over the {m.shape[0]} attacked configurations: with probability >= {1 - d:g}, every "
              f"re-certified one has attacked forget risk <= {a:g} (tested on the held-out test split, n = {m.shape[1]}, "
              "which their selection on cal did not use)")
    return Recertification(certified=cert, p_values=p, cur=cur, risk=risk, n=int(m.shape[1]), covers=covers)
