"""User settings as text: ``--set KEY=VALUE`` parsing and type coercion to a dataclass field's type.

Torch-free; shared by ``froc unlearn`` (method hyperparameters and engine fields, see
:func:`froc.engine.config.engine_config`) and ``froc attack`` (attack parameters, see
:func:`froc.attacks.registry.build_params`), so both read ``--set lr=1e-5`` and ``--set steps=20`` alike.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Mapping

from froc.errors import ConfigError


def parse_sets(pairs: list[str] | None) -> dict[str, Any]:
    """``["beta=0.1", "layers=[1,2]"]`` -> ``{"beta": 0.1, "layers": [1, 2]}``.

    Values are parsed as YAML (``yaml.safe_load``); a value YAML cannot parse stays a string, an empty
    value is None. Types are fixed later by :func:`coerce` against the field the key names.

    Raises:
        ConfigError: a pair without ``=`` or with an empty key.
    """
    from froc.yaml_io import load_yaml

    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE, got {pair!r}")
        try:  # bounded alias expansion (froc.yaml_io); a size bomb is refused, a syntax error stays a string
            out[key.strip()] = load_yaml(value, f"--set {key.strip()}")[0] if value.strip() else None
        except ConfigError as e:
            if "invalid YAML" not in str(e):
                raise
            out[key.strip()] = value
    return out


_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


def _to(base: Any, value: Any) -> Any:
    """``value`` as type ``base`` (raises TypeError/ValueError when it cannot be); unknown types pass through."""
    origin = typing.get_origin(base)
    if base is bool:
        if isinstance(value, str):
            low = value.strip().lower()
            if low in _TRUE or low in _FALSE:
                return low in _TRUE
            raise ValueError(value)
        return bool(value)
    if base is int:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return int(value)
    if base is float:
        return float(value)
    if base is str:
        return str(value)
    if base is list or origin is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        (item,) = typing.get_args(base) or (Any,)
        return [_to(item, v) for v in value] if item is not Any else list(value)
    if base is tuple or origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        args = [a for a in typing.get_args(base) if a is not Ellipsis]
        if len(args) > 1 and len(value) != len(args):
            raise ValueError(value)
        return tuple(_to(args[min(i, len(args) - 1)], v) if args else v for i, v in enumerate(value))
    if base is dict or origin is dict:
        if not isinstance(value, dict):
            raise ValueError(value)
        return dict(value)
    return value


def _matches(base: Any, value: Any) -> bool:
    """Whether ``value`` already has the simple type ``base`` (bool is not an int here)."""
    origin = typing.get_origin(base) or base
    if not isinstance(origin, type):
        return False
    if origin is int and isinstance(value, bool):
        return False
    if origin is float and isinstance(value, bool):
        return False
    return isinstance(value, origin) and not (origin is float and isinstance(value, int))


def coerce(name: str, hint: Any, value: Any, *, what: str = "parameter") -> Any:
    """``value`` (from YAML or ``--set``) as the type ``hint`` of field ``name``.

    ``"20"`` -> 20 for ``int``, ``"1e-5"`` -> 1e-05 and ``1`` -> 1.0 for ``float``, ``"yes"`` -> True for ``bool``,
    ``"a,b"`` -> ``["a", "b"]`` for lists, ``[0.9, 0.99]`` -> a tuple for tuples. None stays None. For a union
    (``str | list[str]``) a value already of one of its types is kept, else the first type that accepts it wins.
    Other types (dataclasses such as ``LoraSpec``) pass through for their own constructor to check.

    Raises:
        ConfigError: the value cannot be read as that type (names the field and the expected type).
    """
    if value is None:
        return None
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
    else:
        args = [hint]
    for a in args:
        if _matches(a, value):
            return _to(a, value) if typing.get_origin(a) in (list, tuple) else value
    for a in args:
        try:
            return _to(a, value)
        except (TypeError, ValueError):
            continue
    expected = " | ".join(getattr(a, "__name__", str(a)) for a in args)
    raise ConfigError(f"invalid value {value!r} for {what} '{name}' (expected {expected})")


def field_types(cls: type) -> dict[str, Any]:
    """``{field name: type hint}`` of a dataclass (string annotations resolved)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls)}


def coerce_fields(cls: type, values: Mapping[str, Any], *, what: str = "parameter") -> dict[str, Any]:
    """``values`` whose keys are fields of dataclass ``cls``, each coerced to its field's type; other keys as given."""
    types_ = field_types(cls)
    return {k: coerce(k, types_[k], v, what=what) if k in types_ else v for k, v in values.items()}
