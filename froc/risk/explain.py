"""Why a configuration was (not) certified: the level its p-value faced in the FWER procedure.

A configuration whose pointwise CUR and utility bound are both inside the budget can still fail: its
p-value is compared with a level stricter than delta (Holm, Bonferroni), or the sequence stopped before it
(fixed-sequence, Pareto). :func:`explain` gives, per configuration, that level and one sentence.
"""

from __future__ import annotations

import numpy as np


def explain(p_values, certified, delta: float, fwer: str, order=None) -> list[dict]:
    """Per configuration: ``{"level": float | None, "why": str}``.

    Args:
        p_values: (K,) p-values fed to the procedure (``max(p_forget, p_utility)``; NaN/1 for diverged).
        certified: (K,) the procedure's rejections.
        delta: FWER level.
        fwer: procedure name (``bonferroni``, ``holm``, ``fixed_sequence``, ``graph``, ``pareto``).
        order: testing order of the sequence procedures (indices), None otherwise.

    The level is the threshold the p-value was compared with: ``delta/K`` for Bonferroni; for Holm
    ``delta/(K - r + 1)`` at its rank r among the sorted p-values (defined only while every smaller p-value
    was rejected); ``delta`` along the order for the sequence procedures (None when the sequence stopped
    before reaching it, or it is not in the order).
    """
    p = np.nan_to_num(np.asarray(p_values, dtype=float), nan=1.0)
    cert = np.asarray(certified, dtype=bool)
    k = len(p)
    out: list[dict] = [{"level": None, "why": ""} for _ in range(k)]
    name = str(fwer).lower()
    if name == "bonferroni":
        for i in range(k):
            out[i] = {"level": delta / k, "why": _cmp(p[i], delta / k, cert[i], f"Bonferroni level delta/{k}")}
        return out
    if name == "holm":
        idx = np.argsort(p, kind="stable")
        stopped = None
        for r, i in enumerate(idx):
            lvl = delta / (k - r)
            if stopped is None:
                out[i] = {"level": lvl, "why": _cmp(p[i], lvl, cert[i], f"Holm level delta/{k - r}")}
                if not cert[i]:
                    stopped = (r, i)
            else:
                out[i] = {"level": None, "why": f"p = {p[i]:.3g}: Holm stopped at a smaller p-value "
                                                f"({p[stopped[1]]:.3g} > delta/{k - stopped[0]})"}
        return out
    seq = list(range(k)) if order is None else [int(j) for j in order]
    pos = {j: r for r, j in enumerate(seq)}
    first_fail = next((r for r, j in enumerate(seq) if not cert[j]), None)
    for i in range(k):
        if i not in pos:
            out[i] = {"level": None, "why": "not in the testing order (not tested)"}
        elif first_fail is None or pos[i] <= first_fail:
            out[i] = {"level": delta, "why": _cmp(p[i], delta, cert[i], f"level delta at position {pos[i] + 1} of the order")}
        else:
            out[i] = {"level": None, "why": f"p = {p[i]:.3g}: the sequence stopped at position {first_fail + 1} of the "
                                            "order, before this configuration"}
    return out


def _cmp(p: float, level: float, cert: bool, what: str) -> str:
    return f"p = {p:.3g} {'<=' if cert else '>'} {level:.3g} ({what})"
