"""Re-split diagnostic of a certificate: descriptive, with a correct (Markov) reference bound.

The earlier check re-split cal+test at random, certified on one part and counted re-splits
in which some certified configuration's held-out *empirical* risk exceeded alpha, then
compared that share with ``delta + 3 SE`` as if the re-splits were independent. Both parts
are wrong: a configuration whose true risk is just below alpha exceeds it on a finite
held-out sample often (so "violations" happen when none is possible), and re-splits of one
pool are strongly dependent (so the binomial SE does not apply). With every true risk below
alpha it "exceeded its limit" in about 5% of datasets (issue 12, point 6).

:func:`resplit_check` keeps the useful description and replaces the claim:
- ``heldout_exceed_rate``: share of re-splits where a certified configuration's held-out
  mean exceeds its target. Descriptive only: it can be large for a perfectly valid
  certificate (noise of the held-out mean).
- ``significant_exceed_rate``: share of re-splits where some certified configuration's
  held-out risk is *significantly* above its target: its held-out lower confidence bound
  (level ``heldout_delta`` Bonferroni-split over the certified set) exceeds alpha.
  In each re-split the cal part and the held-out part are disjoint i.i.d. samples, so
  P(flag) <= P(certificate wrong) + heldout_delta <= delta + heldout_delta; hence the
  *expected* rate is at most ``expected_at_most = delta + heldout_delta``, whatever the
  dependence between re-splits. By Markov's inequality
  P(rate >= r) <= expected_at_most / r, reported as ``markov_pvalue``: a small value
  (e.g. < 0.05) is evidence that the certificate is invalid on this data.

What it does not show: a rate below the bound does not prove validity (the same data
underlie every re-split), and the Markov p-value is weak: it can only flag rates well
above ``expected_at_most``. It is a diagnostic, not part of the certificate.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from froc.errors import ConfigError
from froc.risk._checks import check_level, loss_matrix, resolve_binary
from froc.risk.controller import RiskController
from froc.risk.fwer import needs_order
from froc.risk.order import pareto_order, tune_order
from froc.risk.pvalues import certifying_pvalue


def _pool(d, side):
    if d is None:
        return None, 0, None
    cal, _ = loss_matrix(d["cal"], f"{side}['cal']")
    test = d.get("test")
    test = np.zeros((cal.shape[0], 0)) if test is None else loss_matrix(test, f"{side}['test']")[0]
    tune = d.get("tune")
    tune = None if tune is None or np.shape(tune)[-1] == 0 else loss_matrix(tune, f"{side}['tune']")[0]
    return np.concatenate([cal, test], axis=1), cal.shape[1], tune


def resplit_check(
    forget: dict,
    utility: dict | None = None,
    *,
    alpha_forget: float,
    alpha_utility: float | None = None,
    delta: float,
    pvalue: str | Callable = "hb",
    fwer: str | Callable = "holm",
    binary_forget: bool | None = None,
    binary_utility: bool | None = None,
    reps: int = 100,
    seed: int = 0,
    heldout_delta: float = 0.05,
) -> dict:
    """Re-split cal+test ``reps`` times; certify on a cal-sized part, inspect the held-out rest.

    Args:
        forget, utility: {"tune", "cal", "test"} loss matrices as for
            :func:`froc.risk.certify_grid` (already in the sampling unit).
        alpha_forget, alpha_utility, delta, pvalue, fwer, binary_forget, binary_utility:
            as in the certification. An ordered ``fwer`` uses one order learned on the
            tune split (not re-learned per re-split).
        reps: number of random re-splits.
        seed: seed of the re-splits.
        heldout_delta: level of the held-out lower confidence bounds.

    Returns:
        dict with ``kind`` ("descriptive"), ``resplits``, ``heldout_exceed_rate``,
        ``significant_exceed_rate``, ``expected_at_most``, ``markov_pvalue``,
        ``mean_certified``, ``heldout_delta`` and ``note`` (what it does / does not show).
        ``resplits`` is 0 (and the rates None) when there is no test split.

    Raises:
        ConfigError: bad levels, ``clt``, ordered procedure without a tune split.
    """
    af = check_level(alpha_forget, "alpha_forget")
    au = None if alpha_utility is None else check_level(alpha_utility, "alpha_utility")
    d = check_level(delta, "delta")
    dh = check_level(heldout_delta, "heldout_delta")
    pfun = certifying_pvalue(pvalue)
    Fp, nf, Ft = _pool(forget, "forget")
    Up, nu, Ut = _pool(utility if au is not None else None, "utility")
    note = ("descriptive diagnostic, not part of the certificate: heldout_exceed_rate counts noisy held-out means "
            "above target (can be high for a valid certificate); significant_exceed_rate uses held-out lower "
            f"confidence bounds and has expectation <= delta + heldout_delta = {d + dh:g} when the certificate is "
            "valid; markov_pvalue = expected_at_most / rate bounds P(rate this high). Re-splits share data, so a low "
            "rate does not prove validity.")
    out = {"kind": "descriptive", "resplits": 0, "heldout_exceed_rate": None, "significant_exceed_rate": None,
           "expected_at_most": d + dh, "markov_pvalue": None, "mean_certified": None, "heldout_delta": dh, "note": note}
    if Fp.shape[1] == nf or (Up is not None and Up.shape[1] == nu) or int(reps) <= 0:
        return out
    bf = resolve_binary(Fp, binary_forget)
    bu = None if Up is None else resolve_binary(Up, binary_utility)
    order = None
    if needs_order(fwer):
        if Ft is None or (Up is not None and Ut is None):
            raise ConfigError("an ordered fwer needs the tune split to learn its order")
        learn = pareto_order if str(fwer).lower() == "pareto" else tune_order
        kw = {"delta": d} if learn is pareto_order else {}
        order = learn(Ft, Ut, af, au, pvalue=pvalue, binary_forget=bf, binary_utility=bu, **kw)
    rng = np.random.default_rng(seed)
    raw = sig = n_cert = 0
    for _ in range(int(reps)):
        pf = rng.permutation(Fp.shape[1])
        cf, hf = Fp[:, pf[:nf]], Fp[:, pf[nf:]]
        cu = hu = None
        if Up is not None:
            pu = rng.permutation(Up.shape[1])
            cu, hu = Up[:, pu[:nu]], Up[:, pu[nu:]]
        rc = RiskController(af, au, d, pvalue=pfun, fwer=fwer, order=order, binary_forget=bf, binary_utility=bu)
        cert = np.flatnonzero(rc.calibrate(cf, cu).certify(bounds=False).certified)
        n_cert += cert.size
        if cert.size == 0:
            continue
        level = dh / cert.size
        raw_hit = np.nanmean(hf[cert], axis=1) > af
        # held-out LCB > alpha  <=>  the complement loss 1 - l has UCB < 1 - alpha  <=>  p(1 - l, 1 - alpha) <= level
        sig_hit = np.atleast_1d(pfun(1.0 - hf[cert], 1.0 - af, binary=bf)) <= level
        if hu is not None:
            raw_hit |= np.nanmean(hu[cert], axis=1) > au
            sig_hit |= np.atleast_1d(pfun(1.0 - hu[cert], 1.0 - au, binary=bu)) <= level
        raw += bool(raw_hit.any())
        sig += bool(sig_hit.any())
    r = int(reps)
    rate = sig / r
    out.update(resplits=r, heldout_exceed_rate=raw / r, significant_exceed_rate=rate, mean_certified=n_cert / r,
               markov_pvalue=1.0 if rate == 0 else min(1.0, (d + dh) / rate))
    return out
