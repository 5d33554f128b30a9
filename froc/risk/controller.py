"""Learn-then-Test certification of unlearning configurations (FROC's risk-controlled configuration set).

For K configurations (a grid of methods x hyperparameters) with per-sample forget
losses and utility losses on *calibration* probes, :class:`RiskController` tests
``H0_k: forget_risk_k > alpha_f or utility_risk_k > alpha_u`` with the p-value
``max(p_forget, p_utility)`` (a valid p-value for the union null) and an FWER
procedure at level ``delta``. With probability at least ``1 - delta`` over the
calibration sample, every certified configuration has forget risk ``<= alpha_f``
and utility risk ``<= alpha_u`` simultaneously (Learn-then-Test, Angelopoulos,
Bates, Candès, Jordan, Lei 2021, main theorem; FROC, arXiv 2512.13337).

API in the style of MAPIE's risk controllers: ``calibrate(...)`` then ``certify()``,
exposing ``p_values``, ``valid_params`` and the recommended configuration ``best``.

Example:
    >>> rc = RiskController(alpha_forget=0.1, alpha_utility=0.1, delta=0.1)
    >>> rc.calibrate(forget_losses, utility_losses).certify()  # doctest: +SKIP
    >>> rc.valid_params, rc.best, rc.cur  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from froc.errors import ConfigError
from froc.risk._checks import check_level, loss_matrix, resolve_binary
from froc.risk.bounds import ucb
from froc.risk.fwer import get_fwer, needs_order
from froc.risk.pvalues import certifying_pvalue
from froc.risk.shift import cur_under_shift, shifted_alpha


class RiskController:
    """Certify unlearning configurations whose forget (and utility) risks are controlled.

    Args:
        alpha_forget: target forget risk in (0, 1) (with the default binary forget
            loss: the probability that a forgotten item is still known).
        alpha_utility: target utility risk in (0, 1), or None to certify the forget
            risk alone (utility losses, if given, are then only reported and used to
            pick ``best``).
        delta: FWER level in (0, 1): the guarantee holds with probability >= 1 - delta.
        pvalue: p-value name (``hoeffding``, ``bentkus``, ``hb``, ``wsr``, see
            :data:`froc.risk.CERTIFYING_PVALUES`) or a callable
            ``p(losses, alpha, *, binary=None)``. The asymptotic ``clt`` is refused
            (ConfigError): it is a diagnostic, not a finite-sample p-value.
        fwer: FWER procedure name (``bonferroni``, ``holm``, ``fixed_sequence``,
            ``graph``, ``pareto``) or a callable ``proc(p, delta, *, order=None) -> mask``.
        order: configuration indices in testing order, REQUIRED for ``fixed_sequence``,
            ``graph`` and ``pareto`` (ConfigError without it: the grid order tests the
            weakest unlearning first). Must be fixed before seeing calibration data,
            e.g. :func:`froc.risk.tune_order` / :func:`froc.risk.pareto_order` on the
            tune split. Ignored by Bonferroni and Holm.
        binary_forget: True when the forget loss can only be 0 or 1 by construction
            (exact binomial test; values are checked, ValueError otherwise). None or
            False (default): the general test, valid for any loss in [0, 1]. Never
            inferred from the data.
        binary_utility: same for the utility losses.
        rho: Hellinger radius of the deployment shift to guard against (default 0.0,
            no shift). With ``rho > 0`` each risk is tested at the stricter level
            :func:`froc.risk.shift.shifted_alpha`, so certified configurations keep
            their risks below the targets on every distribution within Hellinger
            distance ``rho``; ``cur_shift`` holds CUR under that shift.

    Raises:
        ConfigError: bad levels, ``pvalue='clt'`` (valid ones: hoeffding, bentkus, hb, wsr),
            an unknown name, or an ordered FWER procedure without ``order``.

    Attributes (after :meth:`calibrate`):
        n_configs: K.
        risk_forget, risk_utility: (K,) empirical mean risks (NaN for diverged rows;
            ``risk_utility`` is None without utility losses).
        p_forget, p_utility: (K,) p-values (``p_utility`` None when not tested).
        p_values: (K,) ``max(p_forget, p_utility)``, the p-values fed to the FWER procedure.
        diverged: (K,) rows containing NaN in any loss matrix; never certified.

    Attributes (after :meth:`certify`):
        certified: (K,) boolean mask of certified configurations.
        valid_params: indices of certified configurations.
        best: index of the recommended configuration, or None if none is certified.
        cur: (K,) Conformal Unlearning Risk, the ``1 - delta`` UCB of each forget risk
            (a per-configuration bound; 1.0 for diverged rows).
        utility_ucb: (K,) ``1 - delta`` UCB of each utility risk (None without utility losses).
        cur_shift: (K,) CUR under a Hellinger shift of ``rho`` (equals ``cur`` when rho = 0).
    """

    def __init__(
        self,
        alpha_forget: float,
        alpha_utility: float | None = None,
        delta: float = 0.1,
        pvalue: str | Callable = "hb",
        fwer: str | Callable = "holm",
        order: Sequence[int] | None = None,
        *,
        binary_forget: bool | None = None,
        binary_utility: bool | None = None,
        rho: float = 0.0,
    ):
        self.alpha_forget = check_level(alpha_forget, "alpha_forget")
        self.alpha_utility = None if alpha_utility is None else check_level(alpha_utility, "alpha_utility")
        self.delta = check_level(delta, "delta")
        self.pvalue = pvalue
        self.fwer = fwer
        self._pvalue = certifying_pvalue(pvalue)
        self._fwer = get_fwer(fwer)
        if order is None and needs_order(fwer):
            raise ConfigError(
                f"fwer {fwer if isinstance(fwer, str) else getattr(fwer, '__name__', fwer)!r} tests along an order and "
                "needs one fixed before calibration (e.g. froc.risk.tune_order or pareto_order on the tune split); "
                "the grid order tests the weakest unlearning first. Pass order=..., or use fwer='holm'"
            )
        self.order = None if order is None else list(order)
        self.binary_forget = binary_forget
        self.binary_utility = binary_utility
        if not 0.0 <= float(rho) < 1.0:
            raise ConfigError(f"rho must be in [0, 1), got {rho}")
        self.rho = float(rho)
        self._calibrated = False
        self._certified = False

    # ------------------------------------------------------------------ calibrate

    def calibrate(self, forget_losses, utility_losses=None, *, param_names=None, tie_break=None) -> "RiskController":
        """Compute empirical risks and p-values for every configuration.

        Args:
            forget_losses: (K, n_f) forget losses in [0, 1]; a row with NaN marks a
                configuration that diverged (never certified).
            utility_losses: (K, n_u) utility losses in [0, 1], required when
                ``alpha_utility`` is set.
            param_names: optional K names (e.g. ``"npo lr=1e-5 steps=50"``) for :meth:`results`.
            tie_break: optional (K,) scores used to break ties in ``best`` (lower wins),
                e.g. the distance of each configuration from the original model.

        Returns:
            self.
        """
        f, f_1d = loss_matrix(forget_losses, "forget_losses")
        if f_1d:
            raise ValueError("forget_losses must have shape (K, n_f); for a single configuration pass losses[None, :]")
        k = f.shape[0]
        if k == 0 or f.shape[1] == 0:
            raise ValueError(f"forget_losses must have at least one configuration and one sample, got shape {f.shape}")
        u = None
        if utility_losses is not None:
            u, u_1d = loss_matrix(utility_losses, "utility_losses")
            if u_1d or u.shape[0] != k or u.shape[1] == 0:
                raise ValueError(
                    f"utility_losses must have shape (K, n_u) = ({k}, n_u >= 1) like forget_losses, got {np.shape(utility_losses)}"
                )
        elif self.alpha_utility is not None:
            raise ValueError("alpha_utility is set, so utility_losses are required (or use alpha_utility=None)")
        if param_names is not None:
            param_names = [str(x) for x in param_names]
            if len(param_names) != k:
                raise ValueError(f"param_names has {len(param_names)} entries for {k} configurations")
        if tie_break is not None:
            tie_break = np.asarray(tie_break, dtype=float)
            if tie_break.shape != (k,):
                raise ValueError(f"tie_break must have shape ({k},), got {tie_break.shape}")

        self.n_configs = k
        self.param_names = param_names
        self.tie_break = tie_break
        self._forget, self._utility = f, u
        bad_f = np.isnan(f).any(axis=1)
        bad_u = np.isnan(u).any(axis=1) if u is not None else np.zeros(k, dtype=bool)
        self.diverged = bad_f | bad_u
        self._binary_f = resolve_binary(f, self.binary_forget)
        self._binary_u = None if u is None else resolve_binary(u, self.binary_utility)

        self.risk_forget = np.where(bad_f, np.nan, np.nan_to_num(f).mean(axis=1))
        self.risk_utility = None if u is None else np.where(bad_u, np.nan, np.nan_to_num(u).mean(axis=1))
        self.p_forget = self._test(f, self.alpha_forget, self._binary_f)
        self.p_utility = None
        if u is not None and self.alpha_utility is not None:
            self.p_utility = self._test(u, self.alpha_utility, self._binary_u)
        p = self.p_forget if self.p_utility is None else np.maximum(self.p_forget, self.p_utility)
        self.p_values = np.where(self.diverged, 1.0, p)
        self._calibrated = True
        self._certified = False
        return self

    def _test(self, losses: np.ndarray, alpha: float, binary: bool) -> np.ndarray:
        level = shifted_alpha(alpha, self.rho) if self.rho > 0 else alpha
        if level <= 0.0:  # the shift alone can exceed alpha: nothing can be certified
            return np.ones(losses.shape[0])
        p = np.asarray(self._pvalue(losses, level, binary=binary), dtype=float).reshape(-1)
        if p.shape != (losses.shape[0],):
            raise ValueError(f"p-value function returned shape {p.shape}, expected ({losses.shape[0]},)")
        return np.where(np.isnan(losses).any(axis=1), 1.0, p)

    # ------------------------------------------------------------------ certify

    def certify(self, *, bounds: bool = True) -> "RiskController":
        """Run the FWER procedure, compute CUR / utility UCBs and pick ``best``. Returns self.

        Args:
            bounds: compute ``cur``, ``utility_ucb`` and ``cur_shift`` (default True);
                False skips the bound inversions (they are then None), for simulations
                that only need the certified set.
        """
        if not self._calibrated:
            raise RuntimeError("call calibrate(...) before certify()")
        mask = np.asarray(self._fwer(self.p_values, self.delta, order=self.order), dtype=bool)
        if mask.shape != (self.n_configs,):
            raise ValueError(f"FWER procedure returned shape {mask.shape}, expected ({self.n_configs},)")
        self.certified = mask & ~self.diverged
        self.valid_params = np.flatnonzero(self.certified)
        self.cur = self.utility_ucb = self.cur_shift = None
        if bounds:
            self.cur = ucb(self._forget, self.delta, self._pvalue, binary=self._binary_f)
            if self._utility is not None:
                self.utility_ucb = ucb(self._utility, self.delta, self._pvalue, binary=self._binary_u)
            self.cur_shift = cur_under_shift(self.cur, self.rho) if self.rho > 0 else self.cur.copy()
        self.best = self._choose_best()
        self._certified = True
        return self

    def _choose_best(self) -> int | None:
        """Lowest empirical utility risk among certified (forget risk if no utility losses),
        ties -> lowest ``tie_break`` (NaN counts as +inf), then lowest index."""
        idx = self.valid_params
        if idx.size == 0:
            return None
        primary = (self.risk_utility if self.risk_utility is not None else self.risk_forget)[idx]
        tb = np.zeros(idx.size) if self.tie_break is None else np.nan_to_num(self.tie_break[idx], nan=np.inf)
        return int(idx[np.lexsort((idx, tb, primary))[0]])

    # ------------------------------------------------------------------ reporting

    def results(self) -> list[dict]:
        """One record per configuration (name, risks, bounds, p-values, certified), for reports."""
        if not self._certified:
            raise RuntimeError("call calibrate(...).certify() before results()")
        rows = []
        for k in range(self.n_configs):
            rows.append(
                {
                    "index": k,
                    "name": self.param_names[k] if self.param_names else str(k),
                    "risk_forget": float(self.risk_forget[k]),
                    "cur": None if self.cur is None else float(self.cur[k]),
                    "cur_shift": None if self.cur_shift is None else float(self.cur_shift[k]),
                    "risk_utility": None if self.risk_utility is None else float(self.risk_utility[k]),
                    "utility_ucb": None if self.utility_ucb is None else float(self.utility_ucb[k]),
                    "p_forget": float(self.p_forget[k]),
                    "p_utility": None if self.p_utility is None else float(self.p_utility[k]),
                    "p_value": float(self.p_values[k]),
                    "diverged": bool(self.diverged[k]),
                    "certified": bool(self.certified[k]),
                    "best": k == self.best,
                }
            )
        return rows

    def __repr__(self) -> str:
        state = f", certified={len(self.valid_params)}/{self.n_configs}" if self._certified else ""
        return (
            f"RiskController(alpha_forget={self.alpha_forget}, alpha_utility={self.alpha_utility}, "
            f"delta={self.delta}, pvalue={self.pvalue!r}, fwer={self.fwer!r}{state})"
        )
