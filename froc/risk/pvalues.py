"""Super-uniform p-values for the null hypothesis ``H0: E[loss] > alpha`` from losses in [0, 1].

A small p-value is evidence that the mean risk is at most ``alpha``. All functions
here are valid p-values (``P(p <= u) <= u`` for every ``u`` under H0) except
:func:`clt`, which is asymptotic and only meant for diagnostics.

References:
    Angelopoulos, Bates, Candès, Jordan, Lei (2021). "Learn then Test: Calibrating
    Predictive Algorithms to Achieve Risk Control." arXiv:2110.01052 (Hoeffding,
    Bentkus and Hoeffding-Bentkus p-values).
    Bentkus (2004). "On Hoeffding's inequalities." Annals of Probability 32(2).
    Waudby-Smith, Ramdas (2020). "Estimating means of bounded random variables by
    betting." arXiv:2010.09686 (WSR betting capital process).

Every losses-based p-value has the signature ``p(losses, alpha, *, binary=None) -> p``
with ``losses`` of shape (n,) (returns a float) or (K, n) (returns shape (K,)) and
``alpha`` a float or an array broadcastable to (K,). The loss type is explicit and
never inferred from the data: ``binary=None`` (default) or ``False`` gives the general
test, valid for any loss in [0, 1]; ``binary=True`` (a loss that can only be 0 or 1 by
construction, e.g. ``1[k > tau]``) uses the exact binomial test and raises ValueError
if a value other than 0 or 1 is present. A row that contains
NaN (a configuration that produced no result) gets ``p = 1``; ``n = 0`` gives ``p = 1``.
"""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np
from scipy import stats
from scipy.special import xlogy

from froc.errors import ConfigError, unknown_choice
from froc.risk._checks import check_levels, loss_matrix, resolve_binary


class PValueFn(Protocol):
    """Protocol of a losses-based p-value (see the module docstring)."""

    def __call__(self, losses, alpha, *, binary: bool | None = None): ...


# --------------------------------------------------------------------------- from (R^, n)


def _h(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bernoulli KL divergence ``h(a, b) = a log(a/b) + (1-a) log((1-a)/(1-b))`` (0 log 0 = 0)."""
    return xlogy(a, a / b) + xlogy(1.0 - a, (1.0 - a) / (1.0 - b))


def _check_mean_n(r_hat, n) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(r_hat, dtype=float)
    n = np.asarray(n, dtype=float)
    if np.isnan(r).any() or (r < 0).any() or (r > 1).any():
        raise ValueError(f"r_hat must be a mean of losses in [0, 1], got {r_hat!r}")
    if (n < 0).any() or np.any(n != np.floor(n)):
        raise ValueError(f"n must be a non-negative integer sample size, got {n!r}")
    return r, n


def hoeffding_from_mean(r_hat, n, alpha) -> np.ndarray:
    """Hoeffding p-value ``exp(-n h(min(R^, alpha), alpha))`` (LTT; Hoeffding 1963).

    Valid for any losses in [0, 1].

    Args:
        r_hat: empirical mean risk(s), in [0, 1].
        n: sample size(s); ``n = 0`` gives p = 1.
        alpha: risk level(s) in (0, 1).

    Returns:
        p-values, broadcast shape of the inputs.
    """
    r, n = _check_mean_n(r_hat, n)
    a = check_levels(alpha, "alpha")
    m = np.minimum(r, a)
    return np.minimum(1.0, np.exp(-n * _h(m, a)))


def bentkus_from_mean(r_hat, n, alpha, *, binary: bool = False) -> np.ndarray:
    """Bentkus p-value ``e * P(Binom(n, alpha) <= ceil(n R^))`` (Bentkus 2004; LTT).

    With ``binary=True`` (losses in {0, 1}) the sum ``n R^`` is Binomial and the exact
    binomial test ``P(Binom(n, alpha) <= n R^)`` is used, i.e. the factor ``e`` is dropped
    (as in LTT for binary losses). ``n R^`` is then rounded to the nearest integer to undo
    floating-point error in ``R^``; in the continuous case ``ceil`` is applied to
    ``n R^`` as given, which can only make the p-value larger.

    Args:
        r_hat: empirical mean risk(s), in [0, 1].
        n: sample size(s).
        alpha: risk level(s) in (0, 1).
        binary: losses are 0/1 (default False: the general, conservative version).

    Returns:
        p-values, broadcast shape of the inputs, clipped to at most 1.
    """
    r, n = _check_mean_n(r_hat, n)
    a = check_levels(alpha, "alpha")
    if binary:
        return np.minimum(1.0, stats.binom.cdf(np.rint(n * r), n, a))
    return np.minimum(1.0, np.e * stats.binom.cdf(np.ceil(n * r), n, a))


def hb_from_mean(r_hat, n, alpha, *, binary: bool = False) -> np.ndarray:
    """Hoeffding-Bentkus p-value: the minimum of the two (LTT; Bates et al. 2021).

    The minimum of two p-values is not a p-value in general; here it is, because
    both are upper bounds of the same CDF ``P(R^ <= t)`` under H0, so their minimum
    is one too (the HB bound of Bates et al. 2021, "Distribution-free,
    risk-controlling prediction sets").
    """
    return np.minimum(hoeffding_from_mean(r_hat, n, alpha), bentkus_from_mean(r_hat, n, alpha, binary=binary))


# --------------------------------------------------------------------------- from losses


def _mean_and_n(losses) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool, np.ndarray]:
    mat, squeeze = loss_matrix(losses)
    bad = np.isnan(mat).any(axis=1)  # (K,)
    n = np.full(mat.shape[0], float(mat.shape[1]))
    with np.errstate(invalid="ignore"):
        r = mat.mean(axis=1) if mat.shape[1] else np.zeros(mat.shape[0])
    r = np.where(bad, 0.0, r)  # placeholder, overwritten with p = 1 below
    return mat, r, n, squeeze, bad


def _finish(p: np.ndarray, bad: np.ndarray, squeeze: bool):
    p = np.where(bad, 1.0, p)
    return float(p[0]) if squeeze else p


def _alpha_for(alpha, k: int) -> np.ndarray:
    a = check_levels(alpha, "alpha")
    return np.broadcast_to(a, (k,)) if a.ndim else np.full(k, float(a))


def hoeffding(losses, alpha, *, binary: bool | None = None):
    """Hoeffding p-value from per-sample losses (see :func:`hoeffding_from_mean`).

    ``binary`` is accepted for a uniform signature and ignored (the bound holds for
    any [0, 1] losses).
    """
    mat, r, n, squeeze, bad = _mean_and_n(losses)
    return _finish(hoeffding_from_mean(r, n, _alpha_for(alpha, len(r))), bad, squeeze)


def bentkus(losses, alpha, *, binary: bool | None = None):
    """Bentkus p-value from per-sample losses (see :func:`bentkus_from_mean`).

    ``binary=True`` uses the exact binomial test (values are checked to be 0/1);
    ``None``/``False`` the general version with the factor ``e``.
    """
    mat, r, n, squeeze, bad = _mean_and_n(losses)
    b = resolve_binary(mat, binary)
    return _finish(bentkus_from_mean(r, n, _alpha_for(alpha, len(r)), binary=b), bad, squeeze)


def hb(losses, alpha, *, binary: bool | None = None):
    """Hoeffding-Bentkus p-value from per-sample losses (LTT default; see :func:`hb_from_mean`)."""
    mat, r, n, squeeze, bad = _mean_and_n(losses)
    b = resolve_binary(mat, binary)
    return _finish(hb_from_mean(r, n, _alpha_for(alpha, len(r)), binary=b), bad, squeeze)


def wsr(
    losses,
    alpha,
    *,
    binary: bool | None = None,
    seed: int = 0,
    tune_level: float = 0.01,
    max_bet: float = 0.75,
):
    """Waudby-Smith–Ramdas betting p-value (Waudby-Smith & Ramdas 2020, predictable plug-in).

    Bets against ``H0: E[l] >= alpha`` with the capital process
    ``K_t = prod_{i<=t} (1 + lambda_i (alpha - l_i))``, a non-negative supermartingale
    under H0 because ``lambda_i >= 0`` is predictable. By Ville's inequality
    ``p = min(1, 1 / max_t K_t)`` is a valid p-value for every level at once.
    Bet sizes follow WSR's predictable plug-in with a fixed horizon (as in RCPS,
    Bates et al. 2021) and WSR's truncation:
    ``lambda_i = min(sqrt(2 log(1/tune_level) / (n sigma^2_{i-1})), max_bet / (1 - alpha))``
    with ``mu_t = (1/2 + sum_{i<=t} l_i)/(t+1)`` and
    ``sigma^2_t = (1/4 + sum_{i<=t} (l_i - mu_i)^2)/(t+1)``. The truncation keeps every
    factor ``>= 1 - max_bet > 0`` and every factor is non-decreasing in ``alpha`` (also
    where the truncation binds: its derivative is ``max_bet (1 - l)/(1 - alpha)^2 >= 0``),
    so ``p`` is non-increasing in ``alpha``, which the bound inversion needs.

    Deviations from the paper (ours): ``tune_level`` only tunes bet sizes and is a
    fixed constant, not the test level, so one p-value serves every level of the
    FWER procedure. Because the sequential bound depends on the
    order of the samples, the samples are first put in a random order drawn from
    ``seed`` (the same order for all K rows), which is deterministic given the seed
    and makes the result independent of how the caller sorted the probes.

    Args:
        losses: (n,) or (K, n) losses in [0, 1].
        alpha: level(s) in (0, 1).
        binary: ignored (valid for any [0, 1] losses).
        seed: seed of the sample order (default 0).
        tune_level: level the bet sizes are tuned for (default 0.01).
        max_bet: truncation constant ``c`` in ``lambda <= c / (1 - alpha)``, in (0, 1)
            (default 0.75, WSR's suggested value).

    Returns:
        float for (n,) input, (K,) array for (K, n) input.
    """
    if not 0.0 < max_bet < 1.0:
        raise ValueError(f"max_bet must be in (0, 1), got {max_bet}")
    check_levels(tune_level, "tune_level")
    mat, squeeze = loss_matrix(losses)
    k, n = mat.shape
    bad = np.isnan(mat).any(axis=1)
    a = _alpha_for(alpha, k)[:, None]  # (K, 1)
    if n == 0:
        return _finish(np.ones(k), bad, squeeze)
    x, lam_free = wsr_bets(np.where(bad[:, None], 0.0, mat), seed=seed, tune_level=tune_level)
    return _finish(wsr_from_bets(x, lam_free, a, max_bet=max_bet), bad, squeeze)


def wsr_bets(losses: np.ndarray, *, seed: int = 0, tune_level: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """The alpha-free part of :func:`wsr`: seeded sample order and untruncated bet sizes.

    Args:
        losses: (K, n) finite losses in [0, 1], n >= 1.

    Returns:
        (x, lam_free), both (K, n): the losses in the seeded order and
        ``sqrt(2 log(1/tune_level) / (n sigma^2_{i-1}))``.
    """
    check_levels(tune_level, "tune_level")
    k, n = losses.shape
    x = losses[:, np.random.default_rng(seed).permutation(n)]  # (K, n)
    t = np.arange(1, n + 1)
    mu = (0.5 + np.cumsum(x, axis=1)) / (t + 1)  # (K, n)
    var = (0.25 + np.cumsum((x - mu) ** 2, axis=1)) / (t + 1)  # (K, n)
    var_prev = np.concatenate([np.full((k, 1), 0.25), var[:, :-1]], axis=1)  # predictable
    return x, np.sqrt(2.0 * np.log(1.0 / tune_level) / (n * var_prev))


def wsr_from_bets(x: np.ndarray, lam_free: np.ndarray, alpha, *, max_bet: float = 0.75) -> np.ndarray:
    """WSR p-values from :func:`wsr_bets` output at level(s) ``alpha`` (float or (K, 1)); returns (K,)."""
    if not 0.0 < max_bet < 1.0:
        raise ValueError(f"max_bet must be in (0, 1), got {max_bet}")
    lam = np.minimum(lam_free, max_bet / (1.0 - alpha))  # (K, n)
    log_capital = np.cumsum(np.log1p(lam * (alpha - x)), axis=1)  # (K, n)
    return np.minimum(1.0, np.exp(-np.maximum(log_capital.max(axis=1), 0.0)))


def clt(losses, alpha, *, binary: bool | None = None):
    """Asymptotic (CLT, one-sided z-test) p-value. DIAGNOSTICS ONLY: not a valid finite-sample p-value.

    ``p = 1 - Phi((alpha - R^) / (s / sqrt(n)))`` with ``s`` the sample standard
    deviation (ddof=1). It under-covers for small n or risks near 0, so it must not be
    used to certify; it is here to compare against the valid p-values.
    ``n < 2`` gives p = 1; ``s = 0`` gives 0, 0.5 or 1 by the sign of ``alpha - R^``.
    """
    mat, squeeze = loss_matrix(losses)
    k, n = mat.shape
    bad = np.isnan(mat).any(axis=1)
    a = _alpha_for(alpha, k)
    if n < 2:
        return _finish(np.ones(k), bad, squeeze)
    x = np.where(bad[:, None], 0.0, mat)
    r = x.mean(axis=1)
    se = x.std(axis=1, ddof=1) / np.sqrt(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (a - r) / se, np.sign(a - r) * np.inf)
    return _finish(stats.norm.sf(z), bad, squeeze)


PVALUES: dict[str, Callable] = {
    "hoeffding": hoeffding,
    "bentkus": bentkus,
    "hb": hb,
    "wsr": wsr,
    "clt": clt,
}
"""Registry of losses-based p-values by name (``clt`` is diagnostic only)."""

CERTIFYING_PVALUES: tuple[str, ...] = ("hoeffding", "bentkus", "hb", "wsr")
"""The finite-sample valid p-values: the only ones any certification entry point accepts."""

DIAGNOSTIC_PVALUES: tuple[str, ...] = ("clt",)
"""Asymptotic p-values, kept as labelled diagnostics; refused for certification."""


def get_pvalue(name_or_callable: str | Callable) -> Callable:
    """Return a p-value function by registry name, or the callable itself.

    Raises:
        ConfigError: unknown name (the message lists the valid names).
    """
    if callable(name_or_callable):
        return name_or_callable
    if isinstance(name_or_callable, str) and name_or_callable.lower() in PVALUES:
        return PVALUES[name_or_callable.lower()]
    raise unknown_choice("p-value", str(name_or_callable), PVALUES)


def certifying_pvalue(name_or_callable: str | Callable) -> Callable:
    """Like :func:`get_pvalue`, but refuse asymptotic p-values (for certification and bounds).

    A custom callable is accepted (the caller vouches for its finite-sample validity);
    the registry's ``clt`` function is refused whether passed by name or as the object.

    Raises:
        ConfigError: ``clt`` (asymptotic: diagnostics only) or an unknown name; the
            message lists the valid finite-sample p-values.
    """
    fn = get_pvalue(name_or_callable)
    if any(fn is PVALUES[d] for d in DIAGNOSTIC_PVALUES):
        raise ConfigError(
            "p-value 'clt' is asymptotic (CLT z-test): it is not valid at finite n and is for "
            "diagnostics only, never certification or a quoted bound; use one of the finite-sample "
            f"p-values: {', '.join(CERTIFYING_PVALUES)}"
        )
    return fn
