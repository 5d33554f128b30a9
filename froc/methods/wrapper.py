"""What the wrapper methods (``sam``, ``scope``) share: the base-method fields and the delegation to it.

A wrapper's config names a ``base`` method; :func:`froc.methods.registry.build_config` resolves it and
hands the wrapper its base's spec (``base_spec``) and config (``base_config``), so a wrapper never imports
the registry. The wrapper's ``needs``, ``setup`` and ``trainable`` are its base's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from froc.methods.base import Batch, Context, Loss


@dataclass
class WrapperConfig:
    """Fields every wrapper config has.

    Attributes:
        base: the wrapped method (any registered loss-based method that is not a wrapper).
        base_config: the base method's config (set by the registry's ``build_config``; not user-settable).
        base_spec: the base method's ``MethodSpec`` (set by ``build_config``; not user-settable).
    """

    base: str = "npo"
    base_config: Any = field(default=None, repr=False, metadata={"internal": True})
    base_spec: Any = field(default=None, repr=False, compare=False, metadata={"internal": True})


def base_loss(model, batch: Batch, ctx: Context, cfg: WrapperConfig) -> Loss:
    """The base method's loss on ``batch``."""
    return cfg.base_spec.loss(model, batch, ctx, cfg.base_config)


def needs(cfg: WrapperConfig) -> set[str]:
    """The base method's needs for its config."""
    return cfg.base_spec.needs_for(cfg.base_config)


def setup(model, data, ctx: Context, cfg: WrapperConfig):
    """The base method's setup, if it has one."""
    base = cfg.base_spec
    return base.setup(model, data, ctx, cfg.base_config) if base.setup else None


def trainable(model, cfg: WrapperConfig):
    """The base method's choice of trained weights (None = every weight)."""
    base = cfg.base_spec
    return base.trainable(model, cfg.base_config) if base.trainable else None
