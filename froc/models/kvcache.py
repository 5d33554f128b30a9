"""The KV-cache argument of a causal LM's forward across transformers versions.

transformers renamed the forward argument and output field ``past_key_values`` to ``cache`` (5.24);
older releases only know ``past_key_values``, newer ones still accept it with a deprecation warning.
froc passes and reads the cache under the name the model's forward declares.
"""

from __future__ import annotations

import inspect
from typing import Any


_FORWARD_PARAMS: dict[type, frozenset[str]] = {}


def forward_params(model) -> frozenset[str]:
    """Argument names of the model's forward (a peft model's base model); empty if they cannot be read.

    Read once per model class: callers ask on every forward pass (e.g. every generated token)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    kind = type(base)
    if kind not in _FORWARD_PARAMS:
        try:
            _FORWARD_PARAMS[kind] = frozenset(inspect.signature(base.forward).parameters)
        except (TypeError, ValueError):
            _FORWARD_PARAMS[kind] = frozenset()
    return _FORWARD_PARAMS[kind]


def cache_arg(model) -> str | None:
    """The name under which ``model``'s forward takes a KV cache: ``cache``, ``past_key_values``, or None."""
    params = forward_params(model)
    for name in ("cache", "past_key_values"):
        if name in params:
            return name
    return None


def cache_kwargs(model, cache: Any) -> dict[str, Any]:
    """``{name: cache}`` for ``model``'s forward (``past_key_values`` when the name cannot be read)."""
    return {cache_arg(model) or "past_key_values": cache}


def output_cache(out) -> Any:
    """The KV cache a forward returned (field ``cache`` or ``past_key_values``), None if it returned none."""
    fields = getattr(out, "__dataclass_fields__", {})
    if "cache" in fields:
        return out.cache
    return getattr(out, "past_key_values", None)
