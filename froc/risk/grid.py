"""One entry point for certifying a grid of configurations from tune / cal / test loss matrices.

:func:`certify_grid` is what the sweep (and :func:`froc.certify`) call for everything
statistical: it learns the testing order on the tune split when the FWER procedure needs
one, runs Learn-then-Test on the cal split (:class:`froc.risk.RiskController`), and
reports each bound with what it covers:

- ``certified``: simultaneous over the certified set (LTT + FWER): with probability at
  least 1 - delta every certified configuration has both risks <= their targets.
- ``cur`` / ``utility_ucb``: POINTWISE 1 - delta bounds, valid for a configuration fixed
  in advance; not for one chosen with the cal data.
- ``cur_simultaneous`` / ``utility_ucb_simultaneous``: UCBs at delta / K (Bonferroni), so
  with probability >= 1 - delta every configuration's risk is below its bound at once
  (valid for any configuration, however chosen).
- ``best_bound``: the recommended configuration's forget UCB on the held-out test split,
  which its selection (on cal) did not use: valid after selection. Without a test split,
  the simultaneous bound is used instead.

References: Learn-then-Test (Angelopoulos, Bates, Candès, Jordan, Lei 2021); Pareto
Testing (Laufer-Goldshtein et al., ICLR 2023); FROC (arXiv 2512.13337).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from froc.errors import ConfigError
from froc.risk._checks import check_level, loss_matrix, resolve_binary
from froc.risk.bounds import ucb
from froc.risk.controller import RiskController
from froc.risk.fwer import get_fwer, needs_order
from froc.risk.order import pareto_order, tune_order
from froc.risk.pvalues import certifying_pvalue
from froc.risk.units import cluster_means

SPLITS = ("tune", "cal", "test")


def _name(x) -> str:
    return x if isinstance(x, str) else getattr(x, "__name__", repr(x))


def _splits(d, side: str, k: int | None, clusters=None) -> dict[str, np.ndarray]:
    """Validate a {split: (K, n)} dict; missing splits become (K, 0); optional cluster collapse."""
    if not isinstance(d, dict):
        raise ValueError(f"{side} must be a dict {{'tune': ..., 'cal': ..., 'test': ...}} of (K, n) loss matrices")
    unknown = set(d) - set(SPLITS)
    if unknown:
        raise ValueError(f"{side} has unknown split(s) {sorted(unknown)}; valid: {', '.join(SPLITS)}")
    if d.get("cal") is None:
        raise ValueError(f"{side} needs a 'cal' split")
    out = {}
    for s in SPLITS:
        if d.get(s) is None:
            continue
        m, one_d = loss_matrix(d[s], f"{side}['{s}']")
        if one_d and k != 1:  # a 1-D array is accepted only for a single row (references)
            raise ValueError(f"{side}['{s}'] must have shape (K, n), got {np.shape(d[s])}")
        if clusters is not None and clusters.get(s) is not None:
            m, _ = cluster_means(m, clusters[s])
        out[s] = m
    k = out["cal"].shape[0] if k is None else k
    for s in SPLITS:
        out.setdefault(s, np.zeros((k, 0)))
        if out[s].shape[0] != k:
            raise ValueError(f"{side}['{s}'] has {out[s].shape[0]} rows, expected K = {k}")
    if out["cal"].shape[1] == 0:
        raise ValueError(f"{side}['cal'] has no samples")
    return out


def _means(m: np.ndarray) -> np.ndarray:
    bad = np.isnan(m).any(axis=1) | (m.shape[1] == 0)
    with np.errstate(invalid="ignore"):
        return np.where(bad, np.nan, np.nan_to_num(m).mean(axis=1) if m.shape[1] else np.nan)


def _binary_after_units(binary, clusters_side) -> bool | None:
    """Cluster means of 0/1 losses are not 0/1: the general test applies (unless every cluster is one probe)."""
    if not binary or clusters_side is None:
        return binary
    for labels in clusters_side.values():
        if labels is not None and np.unique(np.asarray(labels), return_counts=True)[1].max(initial=1) > 1:
            return False
    return binary


@dataclass(frozen=True)
class GridCertificate:
    """Result of :func:`certify_grid` (arrays have shape (K,) unless stated).

    Attributes:
        certified: bool, certified configurations (simultaneous guarantee, see module doc).
        p_forget, p_utility, p_values: cal p-values (``p_utility`` None when utility is not
            tested); ``p_values = max(p_forget, p_utility)``, 1 for diverged rows.
        cur, utility_ucb: POINTWISE 1 - delta UCBs on cal (1.0 for diverged rows).
        cur_simultaneous, utility_ucb_simultaneous: UCBs at delta / K on cal (Bonferroni).
        risk_forget, risk_utility: {split: (K,) empirical mean} (NaN: diverged or empty split).
        diverged: rows with NaN in any cal matrix (never certified).
        order: testing order used (None for holm / bonferroni); ``order_source`` says how.
        best: index of the recommended configuration (lowest cal utility risk among the
            certified; forget risk without utility; ties by tie_break then index) or None.
        best_bound, best_bound_utility: selection-valid UCBs of ``best``'s risks, with
            ``covers["best_bound"]`` saying what they cover.
        references: {name: {"p_forget", "p_utility", "p_value", "cur", "utility_ucb",
            "risk_forget", "risk_utility", "certified", "level"}}; ``certified`` means
            p_value <= delta / K, the strictest level any grid configuration faces (ours:
            conservative under every FWER procedure, and independent of the grid's order).
        n: {"forget": {split: n}, "utility": {split: n}} samples in the sampling unit.
        covers: {field: text} what each bound covers (for reports).
    """

    certified: np.ndarray
    p_forget: np.ndarray
    p_utility: np.ndarray | None
    p_values: np.ndarray
    cur: np.ndarray
    utility_ucb: np.ndarray | None
    cur_simultaneous: np.ndarray
    utility_ucb_simultaneous: np.ndarray | None
    risk_forget: dict
    risk_utility: dict | None
    diverged: np.ndarray
    order: np.ndarray | None
    order_source: str
    best: int | None
    best_bound: float | None
    best_bound_utility: float | None
    references: dict
    n: dict
    names: list
    alpha_forget: float
    alpha_utility: float | None
    delta: float
    pvalue: str
    fwer: str
    unit: str = "probe"
    covers: dict = field(default_factory=dict)

    @property
    def test_exceeds(self) -> np.ndarray:
        """(K,) bool: certified configurations whose empirical TEST risk exceeds a target (either side).

        Descriptive only: a test-split mean is itself noisy, so a configuration with true risk just
        below alpha exceeds it on test fairly often; use it to flag, not to revoke."""
        with np.errstate(invalid="ignore"):
            bad = np.nan_to_num(self.risk_forget["test"], nan=-1.0) > self.alpha_forget
            if self.risk_utility is not None and self.alpha_utility is not None:
                bad |= np.nan_to_num(self.risk_utility["test"], nan=-1.0) > self.alpha_utility
        return self.certified & bad

    @property
    def valid_params(self) -> np.ndarray:
        """Indices of the certified configurations."""
        return np.flatnonzero(self.certified)

    def to_records(self) -> list[dict]:
        """One plain-JSON dict per configuration (floats / bools / None; NaN -> None)."""
        f = lambda a, i: None if a is None or not np.isfinite(a[i]) else float(a[i])  # noqa: E731
        rank = {} if self.order is None else {int(j): r for r, j in enumerate(self.order)}
        rows = []
        for i in range(len(self.certified)):
            row = {
                "index": i, "name": self.names[i], "certified": bool(self.certified[i]),
                "diverged": bool(self.diverged[i]), "best": i == self.best,
                "p_forget": f(self.p_forget, i), "p_utility": f(self.p_utility, i), "p_value": f(self.p_values, i),
                "cur": f(self.cur, i), "utility_ucb": f(self.utility_ucb, i),
                "cur_simultaneous": f(self.cur_simultaneous, i),
                "utility_ucb_simultaneous": f(self.utility_ucb_simultaneous, i),
                "order_rank": rank.get(i), "test_exceeds": bool(self.test_exceeds[i]),
            }
            for s in SPLITS:
                row[f"risk_forget_{s}"] = f(self.risk_forget[s], i)
                row[f"risk_utility_{s}"] = None if self.risk_utility is None else f(self.risk_utility[s], i)
            rows.append(row)
        return rows

    def to_dict(self) -> dict:
        """Everything except the per-configuration arrays, JSON-ready (see :meth:`to_records` for those)."""
        d = {k: v for k, v in asdict(self).items() if not isinstance(v, np.ndarray) and v is not None}
        d.pop("risk_forget", None)
        d.pop("risk_utility", None)
        d["order"] = None if self.order is None else [int(i) for i in self.order]
        d["best_name"] = None if self.best is None else self.names[self.best]
        d["n_certified"] = int(self.certified.sum())
        return _jsonable(d)


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        return None if not np.isfinite(x) else float(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def certify_grid(
    forget: dict,
    utility: dict | None = None,
    alpha_forget: float = 0.1,
    alpha_utility: float | None = 0.1,
    delta: float = 0.1,
    *,
    pvalue: str | Callable = "hb",
    fwer: str | Callable = "holm",
    binary_forget: bool | None = None,
    binary_utility: bool | None = None,
    tie_break=None,
    names=None,
    references: dict | None = None,
    clusters: dict | None = None,
    bounds: bool = True,
) -> GridCertificate:
    """Certify K configurations (Learn-then-Test on cal) and report bounds with their coverage.

    Args:
        forget: {"tune": (K, n_t), "cal": (K, n_c), "test": (K, n_s)} forget losses in
            [0, 1]; "cal" required, missing splits are empty. A NaN anywhere in a
            configuration's cal (or tune) row marks it diverged (never certified).
        utility: the same for utility losses, or None (forget-only certification).
        alpha_forget, alpha_utility: risk targets in (0, 1); ``alpha_utility=None`` tests
            the forget risk only (utility, if given, still picks ``best``).
        delta: FWER level in (0, 1).
        pvalue: finite-sample p-value (``hoeffding``, ``bentkus``, ``hb``, ``wsr``);
            ``clt`` raises ConfigError.
        fwer: ``bonferroni``, ``holm``, ``fixed_sequence``, ``graph`` or ``pareto``. The
            ordered ones learn their order on the tune split (``tune_order``; ``pareto``:
            ``pareto_order``); an empty tune split is then a ConfigError.
        binary_forget, binary_utility: explicit loss types (True: 0/1 by construction,
            checked; None/False: general test). With clusters of more than one probe the
            cluster means are continuous and the general test is used.
        tie_break: optional (K,) scores breaking ties in ``best`` (lower wins).
        names: optional K configuration names.
        references: optional {name: {"forget": {split: (1, n)}, "utility": {split: (1, m)}}}
            (e.g. the original and the retrained oracle), tested at delta / K on cal.
        clusters: optional sampling units {"forget": {split: (n,) labels}, "utility": ...}:
            every matrix (grid and references) is collapsed with :func:`cluster_means`.
        bounds: compute the per-configuration bounds (default True). False (for
            simulations) leaves ``cur``, ``utility_ucb`` and their simultaneous versions NaN;
            ``best_bound`` is always computed.

    Returns:
        :class:`GridCertificate`.

    Raises:
        ConfigError: bad levels, asymptotic p-value, unknown procedure, ordered procedure
            without a tune split. ValueError: bad shapes / values.
    """
    af = check_level(alpha_forget, "alpha_forget")
    au = None if alpha_utility is None else check_level(alpha_utility, "alpha_utility")
    d = check_level(delta, "delta")
    pfun = certifying_pvalue(pvalue)
    get_fwer(fwer)
    cl_f = None if clusters is None else clusters.get("forget")
    cl_u = None if clusters is None else clusters.get("utility")
    F = _splits(forget, "forget", None, cl_f)
    k = F["cal"].shape[0]
    U = None if utility is None else _splits(utility, "utility", k, cl_u)
    if U is None and au is not None:
        raise ValueError("alpha_utility is set, so utility losses are required (or pass alpha_utility=None)")
    bf = _binary_after_units(binary_forget, cl_f)
    bu = _binary_after_units(binary_utility, cl_u)
    for s in SPLITS:  # explicit type check on every split, not only cal
        resolve_binary(F[s], bf)
        if U is not None:
            resolve_binary(U[s], bu)
    names = [str(i) for i in range(k)] if names is None else [str(x) for x in names]
    if len(names) != k:
        raise ValueError(f"names has {len(names)} entries for {k} configurations")

    order, source = None, "none: the procedure does not use an order"
    if needs_order(fwer):
        if F["tune"].shape[1] == 0 or (U is not None and au is not None and U["tune"].shape[1] == 0):
            raise ConfigError(
                f"fwer {_name(fwer)!r} tests along an order learned on the tune split, but the tune split is empty; "
                "give tune losses or use fwer='holm'"
            )
        is_pareto = _name(fwer).lower() == "pareto"
        args = (F["tune"], None if U is None else U["tune"], af, au)
        kw = dict(pvalue=pvalue, binary_forget=bf, binary_utility=bu)
        order = pareto_order(*args, **kw, delta=d) if is_pareto else tune_order(*args, **kw)
        source = ("pareto_order: tune-split Pareto front of (forget, utility) empirical risks, then later "
                  "non-dominated layers, each by ascending tune p-value; tune p-values > delta moved last" if is_pareto else
                  "tune_order: ascending tune-split p-value max(p_forget, p_utility), ties by index")

    rc = RiskController(af, au, d, pvalue=pfun, fwer=fwer, order=order, binary_forget=bf, binary_utility=bu)
    rc.calibrate(F["cal"], None if U is None else U["cal"], param_names=names, tie_break=tie_break)
    rc.certify(bounds=bounds)
    d_sim = d / k
    nan = np.full(k, np.nan)
    if bounds:
        cur_sim = np.atleast_1d(ucb(F["cal"], d_sim, pfun, binary=bf))
        uucb_sim = None if U is None else ucb(U["cal"], d_sim, pfun, binary=bu)
        cur, uucb = np.atleast_1d(rc.cur), None if rc.utility_ucb is None else np.atleast_1d(rc.utility_ucb)
    else:
        cur, cur_sim = nan, nan.copy()
        uucb = uucb_sim = None if U is None else nan.copy()
    best = rc.best
    best_bound = best_bound_u = None
    n_test_f = F["test"].shape[1]
    if best is not None:
        if n_test_f and not np.isnan(F["test"][best]).any():
            best_bound = float(ucb(F["test"][best], d, pfun, binary=bf))
            where = f"the held-out test split (n = {n_test_f})"
        else:
            best_bound = float(np.atleast_1d(ucb(F["cal"][best], d_sim, pfun, binary=bf))[0])
            where = None
        if U is not None:
            if U["test"].shape[1] and not np.isnan(U["test"][best]).any():
                best_bound_u = float(ucb(U["test"][best], d, pfun, binary=bu))
            else:
                best_bound_u = float(np.atleast_1d(ucb(U["cal"][best], d_sim, pfun, binary=bu))[0])
    covers = {
        "certified": f"simultaneous: with probability >= {1 - d:g}, every certified configuration has forget risk "
                     f"<= {af:g}" + ("" if au is None else f" and utility risk <= {au:g}")
                     + f" (Learn-then-Test, {_name(pvalue)} p-values, {_name(fwer)})",
        "cur": f"pointwise: 1 - {d:g} UCB of one configuration's forget risk, valid for a configuration fixed in "
               "advance, not for one chosen with the cal data",
        "utility_ucb": f"pointwise: 1 - {d:g} UCB of one configuration's utility risk (fixed in advance)",
        "cur_simultaneous": f"simultaneous over all {k} configurations (UCB at delta/K = {d_sim:.3g}, Bonferroni): "
                            "valid for any configuration, however chosen",
        "best_bound": "no configuration certified" if best is None else (
            f"valid after selection: 1 - {d:g} UCB of the recommended configuration's forget risk on {where}, which "
            "its selection (on cal) did not use" if where else
            f"valid after selection: no test split, so the recommended configuration's simultaneous bound "
            f"(delta/K = {d_sim:.3g} on cal) is quoted"),
        "references": f"a reference is certified when its p-value <= delta/K = {d_sim:.3g}, the strictest level "
                      "any grid configuration faces",
    }
    refs = _references(references, k, d, af, au, pfun, bf, bu, cl_f, cl_u)
    n = {"forget": {s: int(F[s].shape[1]) for s in SPLITS}}
    if U is not None:
        n["utility"] = {s: int(U[s].shape[1]) for s in SPLITS}
    return GridCertificate(
        certified=rc.certified.copy(), p_forget=rc.p_forget, p_utility=rc.p_utility, p_values=rc.p_values,
        cur=cur, utility_ucb=uucb, cur_simultaneous=cur_sim, utility_ucb_simultaneous=None if uucb_sim is None else np.atleast_1d(uucb_sim),
        risk_forget={s: _means(F[s]) for s in SPLITS},
        risk_utility=None if U is None else {s: _means(U[s]) for s in SPLITS},
        diverged=rc.diverged, order=order, order_source=source, best=best, best_bound=best_bound,
        best_bound_utility=best_bound_u, references=refs, n=n, names=names, alpha_forget=af, alpha_utility=au,
        delta=d, pvalue=_name(pvalue), fwer=_name(fwer), unit="probe" if clusters is None else "cluster",
        covers=covers,
    )


def _references(references, k, d, af, au, pfun, bf, bu, cl_f, cl_u) -> dict:
    """Reference models (original, oracle): cal p-values, pointwise bounds, certified at delta / K."""
    out = {}
    for name, ref in (references or {}).items():
        if not isinstance(ref, dict) or "forget" not in ref:
            raise ValueError(f"references['{name}'] must be a dict with 'forget' (and 'utility') split dicts")
        F = _splits(ref["forget"], f"references['{name}']['forget']", 1, cl_f)
        U = None if ref.get("utility") is None else _splits(ref["utility"], f"references['{name}']['utility']", 1, cl_u)
        if au is not None and U is None:
            raise ValueError(f"references['{name}'] needs 'utility' losses because alpha_utility is set")
        pf = float(np.atleast_1d(pfun(F["cal"], af, binary=resolve_binary(F["cal"], bf)))[0])
        pu = None if U is None or au is None else float(np.atleast_1d(pfun(U["cal"], au, binary=resolve_binary(U["cal"], bu)))[0])
        bad = bool(np.isnan(F["cal"]).any() or (U is not None and np.isnan(U["cal"]).any()))
        p = 1.0 if bad else (pf if pu is None else max(pf, pu))
        out[str(name)] = {
            "p_forget": pf, "p_utility": pu, "p_value": p,
            "cur": float(np.atleast_1d(ucb(F["cal"], d, pfun, binary=bf))[0]),
            "utility_ucb": None if U is None else float(np.atleast_1d(ucb(U["cal"], d, pfun, binary=bu))[0]),
            "risk_forget": {s: float(_means(F[s])[0]) for s in SPLITS},
            "risk_utility": None if U is None else {s: float(_means(U[s])[0]) for s in SPLITS},
            "certified": bool(p <= d / k), "level": d / k,
        }
    return out
