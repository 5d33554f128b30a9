"""Input checks shared by the risk modules (user input -> ValueError / ConfigError, never assert)."""

from __future__ import annotations

import numpy as np

from froc.errors import ConfigError


def check_level(value: float, name: str) -> float:
    """Return ``value`` as float if it lies in the open interval (0, 1), else raise ConfigError."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number in (0, 1), got {value!r}") from None
    if not 0.0 < v < 1.0:
        raise ConfigError(f"{name} must be in (0, 1), got {v}")
    return v


def check_levels(value, name: str) -> np.ndarray:
    """Array version of :func:`check_level` (every entry in (0, 1))."""
    a = np.asarray(value, dtype=float)
    if not np.all((a > 0.0) & (a < 1.0)):
        raise ConfigError(f"{name} must be in (0, 1), got {value!r}")
    return a


def loss_matrix(losses, name: str = "losses") -> tuple[np.ndarray, bool]:
    """Validate per-sample losses and return them as a float (K, n) matrix.

    Args:
        losses: shape (n,) for one configuration or (K, n) for K configurations.
            Values must lie in [0, 1]; NaN is allowed (a row containing NaN is a
            configuration without a usable result, e.g. a diverged run).
        name: used in error messages.

    Returns:
        (matrix of shape (K, n), True if the input was 1-D).
    """
    arr = np.asarray(losses, dtype=float)
    if arr.ndim not in (1, 2):
        raise ValueError(f"{name} must have shape (n,) or (K, n), got shape {arr.shape}")
    squeeze = arr.ndim == 1
    arr = np.atleast_2d(arr)
    if np.isinf(arr).any():
        raise ValueError(f"{name} must be finite (NaN marks a diverged configuration), found inf")
    finite = arr[~np.isnan(arr)]
    if finite.size and (finite.min() < 0.0 or finite.max() > 1.0):
        raise ValueError(
            f"{name} must lie in [0, 1], found values in [{finite.min():g}, {finite.max():g}]; "
            "rescale or clip the per-sample losses first"
        )
    return arr, squeeze


def is_binary(losses: np.ndarray) -> bool:
    """True when every non-NaN entry is exactly 0 or 1 (and there is at least one)."""
    arr = np.asarray(losses, dtype=float)
    finite = arr[~np.isnan(arr)]
    return bool(finite.size) and bool(np.all((finite == 0.0) | (finite == 1.0)))


def resolve_binary(losses: np.ndarray, binary: bool | None) -> bool:
    """Resolve a ``binary`` option without looking at the values to choose the test.

    ``None`` or ``False`` -> False: the general test, valid for any loss in [0, 1].
    The loss type is a property of how the loss is *defined*, not of the sample:
    a continuous loss whose sample happens to be all 0/1 must not silently get the
    exact binomial test, which is only valid for a loss that *can only* be 0 or 1.
    ``True`` -> the values are checked: any finite value other than 0 and 1 raises
    ValueError (the exact binomial test would be invalid for it).
    """
    if binary is None or binary is False:
        return False
    if binary is not True:
        raise ValueError(f"binary must be True, False or None, got {binary!r}")
    arr = np.asarray(losses, dtype=float)
    finite = arr[np.isfinite(arr)]
    if finite.size and not np.all((finite == 0.0) | (finite == 1.0)):
        bad = finite[(finite != 0.0) & (finite != 1.0)][0]
        raise ValueError(
            f"binary=True but the losses contain values other than 0 and 1 (e.g. {bad:g}); "
            "pass binary=False (or None) for a continuous loss"
        )
    return True
