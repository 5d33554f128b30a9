"""Small torch-free helpers shared across layers: a NaN-aware mean and one JSON cleaner (NaN/inf -> None)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping

import numpy as np


def nanmean(x) -> float:
    """Mean of the non-NaN values of ``x`` (any array-like of numbers), as float64; NaN when none is left.

    Unlike ``np.nanmean`` it neither warns on an all-NaN input nor returns a numpy scalar.
    """
    a = np.asarray(x, dtype=np.float64)
    a = a[~np.isnan(a)]
    return float(a.mean()) if a.size else float("nan")


def json_safe(o: Any, default: Callable[[Any], Any] | None = str) -> Any:
    """A JSON-safe copy of ``o`` for ``json.dumps(..., allow_nan=False)``.

    NaN/inf -> None (strict JSON has neither); mappings -> dicts with string keys; tuples, lists and
    numpy arrays -> lists; numpy scalars -> Python numbers; paths -> strings; dataclasses -> dicts.
    Anything else goes through ``default`` (``str`` by default); ``default=None`` raises TypeError instead.
    """
    if o is None or isinstance(o, (bool, str)):
        return o
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, int):
        return o
    if isinstance(o, Mapping):
        return {str(k): json_safe(v, default) for k, v in o.items()}
    if isinstance(o, (list, tuple, set, frozenset)):
        return [json_safe(v, default) for v in (sorted(o, key=str) if isinstance(o, (set, frozenset)) else o)]
    if isinstance(o, (np.generic, np.ndarray)):
        return json_safe(o.tolist(), default)
    if hasattr(o, "__fspath__"):
        return str(o)
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return json_safe(dataclasses.asdict(o), default)
    if default is None:
        raise TypeError(f"not JSON serialisable: {type(o).__name__}")
    return json_safe(default(o), None)
