"""Utility on standard tasks through lm-evaluation-harness's Python API (optional extra ``froc[lmeval]``).

``lm_eval_tasks(model, tokenizer, ["arc_easy", ...], include_path=DIR)`` runs ``lm_eval.simple_evaluate`` on
an already loaded model (``HFLM(pretrained=model, tokenizer=tokenizer)``) with the hub switched off
(``HF_HUB_OFFLINE=1``, ``HF_DATASETS_OFFLINE=1``): a task's data must be a local file (a task YAML with
``dataset_path: json`` and ``dataset_kwargs.data_files``, given through ``include_path``) or already in the
local datasets cache. Nothing is downloaded at run time.

Convention (docs/METRICS.md): lm-eval adds no BOS for causal models unless the model is Gemma (its
``add_bos_token`` default), where froc follows the tokenizer's own convention.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Sequence

from froc.errors import ConfigError


@contextmanager
def _offline():
    keys = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update({k: "1" for k in keys})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def lm_eval_tasks(model, tokenizer, tasks: Sequence[str], *, include_path: str | Path | None = None,
                  batch_size: int = 8, limit: int | None = None, num_fewshot: int | None = None,
                  seed: int = 0) -> dict[str, Any]:
    """Run lm-evaluation-harness ``tasks`` on a loaded causal LM; returns ``{"results": {task: {metric: value}},
    "samples": {task: [...]}, "versions": ...}`` (lm-eval's own result dict, samples logged).

    Raises:
        ConfigError: lm-eval is not installed (``pip install 'froc[lmeval]'``), an unknown task, or a task whose
            data is not local.
    """
    try:
        import lm_eval
        from lm_eval.models.huggingface import HFLM
        from lm_eval.tasks import TaskManager
    except ImportError:
        raise ConfigError("--lm-eval needs lm-evaluation-harness: pip install 'froc[lmeval]' (lm-eval>=0.4)") from None
    tasks = [t.strip() for t in tasks if t.strip()]
    if not tasks:
        raise ConfigError("--lm-eval: give at least one task name")
    if include_path is not None and not Path(include_path).is_dir():
        raise ConfigError(f"--lm-eval-include: {include_path} is not a folder of task YAMLs")
    with _offline():
        manager = TaskManager(include_path=str(include_path) if include_path is not None else None)
        unknown = [t for t in tasks if t not in manager.all_tasks]
        if unknown:
            raise ConfigError(f"unknown lm-eval task(s) {unknown}; give their YAMLs with --lm-eval-include")
        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)
        try:
            out = lm_eval.simple_evaluate(model=lm, tasks=list(tasks), task_manager=manager, limit=limit,
                                          num_fewshot=num_fewshot, log_samples=True, random_seed=seed,
                                          numpy_random_seed=seed, torch_random_seed=seed, fewshot_random_seed=seed)
        except (ConnectionError, OSError) as e:
            raise ConfigError(f"lm-eval could not read a task's data offline ({e}); point the task at local files "
                              "(dataset_path: json, dataset_kwargs.data_files) and pass --lm-eval-include") from None
    return {"results": out["results"], "samples": out.get("samples", {}), "versions": out.get("versions", {})}


def task_metrics(result: dict[str, Any]) -> dict[str, float]:
    """Flat ``{"lmeval/<task>/<metric>": value}`` of numeric results (lm-eval's ``acc,none`` becomes ``acc``)."""
    flat = {}
    for task, metrics in result["results"].items():
        for key, value in metrics.items():
            name = key.split(",")[0]
            if isinstance(value, (int, float)) and not isinstance(value, bool) and not name.endswith("_stderr"):
                flat[f"lmeval/{task}/{name}"] = float(value)
    return flat
