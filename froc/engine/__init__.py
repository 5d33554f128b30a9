"""The shared unlearning engine: ``unlearn(model, tokenizer, forget, retain, method=..., **hparams)``."""

from froc.engine.config import UnlearnConfig
from froc.engine.loop import unlearn
from froc.engine.result import UnlearnResult, save_unlearned

__all__ = ["UnlearnConfig", "UnlearnResult", "save_unlearned", "unlearn"]
