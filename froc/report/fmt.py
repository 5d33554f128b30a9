"""Number and text formatting shared by the report's tables, captions and plots.

One rule everywhere: 3 significant digits, an em dash for anything missing
(None, NaN, infinite, not a number). Very small or very large magnitudes use a
compact exponent (`3e-4`) instead of long strings of zeros.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

MISSING = "—"


def num(x: Any) -> float | None:
    """`x` as a finite float, or None when it is missing, NaN, infinite, a bool or not a number."""
    if x is None or isinstance(x, bool):
        return None
    if isinstance(x, (int, float)):
        v = float(x)
    elif isinstance(x, str):
        try:
            v = float(x.strip())
        except ValueError:
            return None
    else:
        try:
            v = float(x)  # numpy scalars
        except (TypeError, ValueError):
            return None
    return v if math.isfinite(v) else None


def _exp(v: float, digits: int) -> str:
    mant, ex = f"{v:.{digits - 1}e}".split("e")
    if "." in mant:
        mant = mant.rstrip("0").rstrip(".")
    return f"{mant}e{int(ex)}"


def fmt(x: Any, digits: int = 3) -> str:
    """A number to `digits` significant digits: 0.12345 -> '0.123', 3e-4 -> '3e-4', 12345 -> '12300'."""
    v = num(x)
    if v is None:
        return MISSING
    if v == 0:
        return "0"
    a = abs(v)
    if a < 1e-3 or a >= 1e6:
        return _exp(v, digits)
    if a >= 10 ** digits:  # avoid '1.23e+04' from the g format
        return str(int(round(v, digits - 1 - int(math.floor(math.log10(a))))))
    return f"{v:.{digits}g}"


def fmt_many(values: Iterable[Any], digits: int = 3) -> list[str]:
    """Format a sequence in one consistent style (all exponent when any small value needs it); axis labels."""
    vals = list(values)
    nums = [num(v) for v in vals]
    if any(v is not None and v != 0 and abs(v) < 1e-3 for v in nums):
        return [_exp(v, digits) if v not in (None, 0) else fmt_value(x) for v, x in zip(nums, vals)]
    return [fmt_value(x) for x in vals]


def fmt_value(x: Any) -> str:
    """Any hyperparameter-like value: numbers via `fmt`, ints kept whole, None as a dash, others as text."""
    if x is None:
        return MISSING
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        if math.isfinite(x) and x == int(x) and abs(x) < 1e6:
            return str(int(x))
        return fmt(x)
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(fmt_value(v) for v in x) + "]"
    return str(x)


def fmt_int(x: Any) -> str:
    """An integer count with thousands separators: 12000 -> '12,000'."""
    v = num(x)
    return MISSING if v is None else f"{int(round(v)):,}"


def pct(x: Any) -> str:
    """A proportion as a percentage to 3 significant digits: 0.2 -> '20%', 0.125 -> '12.5%'."""
    v = num(x)
    return MISSING if v is None else f"{100 * v:.3g}%"


def fmt_seconds(x: Any) -> str:
    """A duration: 2.04 -> '2.04 s', 80.1 -> '1 min 20 s', 4000 -> '1 h 6 min'."""
    v = num(x)
    if v is None:
        return MISSING
    if v < 60:
        return f"{fmt(v)} s"
    if v < 3600:
        m, s = divmod(int(round(v)), 60)
        return f"{m} min {s} s"
    h, rem = divmod(int(round(v)), 3600)
    return f"{h} h {rem // 60} min"


def fmt_params(x: Any) -> str:
    """A parameter count: 900000 -> '900k', 1.24e9 -> '1.24B'."""
    v = num(x)
    if v is None:
        return MISSING
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.3g}{unit}"
    return f"{int(v)}"


def fmt_hparams(hparams: Mapping[str, Any] | None, skip: Iterable[str] = ()) -> str:
    """`{'lr': 3e-4, 'beta': 0.1}` -> 'lr=3e-4, beta=0.1' (keys in the given order)."""
    if not hparams:
        return MISSING
    skip = set(skip)
    parts = [f"{k}={fmt_value(v)}" for k, v in hparams.items() if k not in skip]
    return ", ".join(parts) if parts else MISSING
