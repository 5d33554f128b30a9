"""froc: risk-controlled machine unlearning for large language models.

Public API (imported lazily so `import froc` stays fast):
    froc.unlearn(model, tokenizer, forget, retain, method="npo", **hparams) -> UnlearnResult
    froc.evaluate(model, tokenizer, probes, ...) -> EvalResult
    froc.RiskController(alpha_forget, alpha_utility, delta, pvalue="hb", fwer="holm")
    froc.run_sweep(config_or_path, out_dir) -> SweepResult
    froc.certify(table, alpha_forget=..., alpha_utility=..., delta=...) -> Certificate (any per-sample table)
"""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "unlearn": ("froc.engine", "unlearn"),
    "UnlearnResult": ("froc.engine", "UnlearnResult"),
    "evaluate": ("froc.metrics.evaluate", "evaluate"),
    "RiskController": ("froc.risk", "RiskController"),
    "certify": ("froc.risk.table", "certify"),
    "run_sweep": ("froc.sweep.runner", "run_sweep"),
    "load_model": ("froc.models.loading", "load_model"),
    "load_items": ("froc.data.loaders", "load_items"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(mod), attr)
    raise AttributeError(f"module 'froc' has no attribute '{name}'")
