"""Evaluation: one batched scoring pass per model (``scoring``) and pure metric functions over its table.

    score_probes(model, tokenizer, probes, ...) -> ScoreResult     # per-sample table (+ hidden states)
    evaluate(model, tokenizer, probes, oracle=..., original=...) -> EvalResult
    METRICS: name -> MetricSpec(fn, higher_is_better, aggregation, doc)
"""

from __future__ import annotations

_LAZY = {
    "score_probes": ("froc.metrics.scoring", "score_probes"),
    "ScoreResult": ("froc.metrics.scoring", "ScoreResult"),
    "evaluate": ("froc.metrics.evaluate", "evaluate"),
    "EvalResult": ("froc.metrics.evaluate", "EvalResult"),
    "METRICS": ("froc.metrics.registry", "METRICS"),
    "MetricSpec": ("froc.metrics.registry", "MetricSpec"),
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(mod), attr)
    raise AttributeError(f"module 'froc.metrics' has no attribute '{name}'")
