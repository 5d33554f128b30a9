"""Unlearning methods: one file per method (config dataclass + pure loss), listed in ``registry.METHODS``."""

from froc.methods.base import Batch, Context, Loss, Reference
from froc.methods.registry import METHODS, MethodSpec, get_method

__all__ = ["METHODS", "Batch", "Context", "Loss", "MethodSpec", "Reference", "get_method"]
