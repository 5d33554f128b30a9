"""``evaluate``: score the target (and optionally the retain oracle and the original model) once each,
then compute every registered metric from the per-sample tables (lm-eval-harness style).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from froc.errors import ConfigError
from froc.metrics.provenance import environment, utc_now
from froc.metrics.registry import METRICS, ScoreSet, base_name, compute_metrics, data_notes
from froc.metrics.scoring import ScoreResult, score_probes
from froc.utils import json_safe
from froc.metrics.membership import MINK_K
from froc.models.encoding import PromptFormat, model_format


@dataclass
class EvalResult:
    """Metrics of one evaluation and the per-sample scores behind them (``scores``: target/oracle/original)."""

    metrics: dict[str, float]
    scores: dict[str, ScoreResult]
    notes: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def table(self) -> pd.DataFrame:
        """All models' per-sample rows (``model`` column = target / oracle / original)."""
        return pd.concat([s.table for s in self.scores.values()], ignore_index=True)

    def save(self, out: str | Path) -> Path:
        """Write ``per_sample.parquet``, ``summary.json`` and ``hidden_<model>.npz`` (if any) into ``out``."""
        from froc.safe_write import write_text, write_with  # atomic; symlinks replaced, never written through

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        write_with(out / "per_sample.parquet", lambda t: self.table.to_parquet(t, index=False))
        write_text(out / "summary.json", json.dumps(json_safe(self.summary), indent=2, allow_nan=False))
        for name, s in self.scores.items():
            if s.hidden:
                write_with(out / f"hidden_{name}.npz", lambda t, h=s.hidden: _savez(t, h))
        return out


def _savez(path, hidden: dict) -> None:
    with open(path, "wb") as f:  # a file object: np.savez would append ".npz" to a temporary file's name
        np.savez(f, **{f"layer_{k}": v for k, v in hidden.items()})


def load_probes(path: str | Path, split: str | None = None) -> tuple[list[Any], dict | None]:
    """Probes from a JSONL/JSON/CSV/Parquet file, or from a built-in benchmark folder and a forget split.

    Returns ``(probes, manifest)``; ``manifest`` is the benchmark's manifest.json (None for a file).
    """
    p = Path(path)
    if p.is_dir() and (p / "manifest.json").is_file():
        try:
            from froc.data.benchmark import split_views
        except ImportError:  # pragma: no cover - the data package ships with froc
            raise ConfigError(f"'{p}' is a benchmark folder but froc.data.benchmark.split_views is unavailable") from None
        if split is None:
            raise ConfigError(f"'{p}' is a benchmark folder: choose a forget split with --split "
                              "(forget01, forget05 or forget10)")
        views = split_views(p, split)
        return list(views.probes), json.loads((p / "manifest.json").read_text(encoding="utf-8"))
    if split is not None:
        raise ConfigError(f"--split applies to a benchmark folder (with manifest.json); '{p}' is not one")
    from froc.data.loaders import load_items

    return list(load_items(p)), None


def _as_model(spec, tokenizer, *, dtype, device):
    """``(model, tokenizer, path)`` from a folder path, a loaded model, or a (model, tokenizer) pair."""
    if isinstance(spec, (str, Path)):
        from froc.models.loading import load_model

        model, tok = load_model(spec, dtype=dtype, device=device)
        return model, tok, str(spec)
    if isinstance(spec, tuple) and len(spec) == 2:
        return spec[0], spec[1], None
    if tokenizer is None:
        raise ConfigError("a loaded model needs a tokenizer: pass (model, tokenizer) or a model folder path")
    return spec, tokenizer, None


def resolve_eval_format(fmt: PromptFormat | dict | None, model_path: str | Path | None) -> PromptFormat:
    """The prompt format to score with: ``fmt`` itself; else the model folder's ``prompt_format.json`` (the one
    it was trained or unlearned with) with the fields of a dict ``fmt`` over it; else the default."""
    if isinstance(fmt, PromptFormat):
        return fmt
    if fmt is not None and not isinstance(fmt, dict):
        raise ConfigError(f"fmt must be a PromptFormat, a dict of its fields or None, got {type(fmt).__name__}")
    return model_format(model_path, **(fmt or {}))


def _auto_layers(model) -> list[int]:
    """Up to four evenly spaced block outputs (1..L), always including the last."""
    n = int(getattr(model.config, "num_hidden_layers", 0))
    if n < 1:
        return []
    return sorted({int(round(x)) for x in np.linspace(1, n, min(4, n))})


def evaluate(model, tokenizer=None, probes: Sequence[Any] | str | Path | None = None, *, oracle=None, original=None,
             out: str | Path | None = None, split: str | None = None, metrics: Sequence[str] | None = None,
             fmt: PromptFormat | dict | None = None, batch_size: int = 64, generate: bool = True,
             max_new_tokens: int = 16, mink_k: float = MINK_K, hidden_layers: Sequence[int] | str | None = "auto",
             nonmember_group: str = "holdout", dtype: str = "auto", device: str = "auto", seed: int | None = 0,
             data_manifest: dict | None = None, progress: bool = True) -> EvalResult:
    """Evaluate an (unlearned) model on probes, optionally against the retain oracle and the original model.

    Args:
        model: a model folder path, a loaded model (with ``tokenizer``) or a ``(model, tokenizer)`` pair.
        tokenizer: the tokenizer of a loaded ``model`` (ignored for paths).
        probes: QA/text items, or a path (file; or benchmark folder with ``split``).
        oracle, original: like ``model``; a loaded model without its own tokenizer uses ``tokenizer``;
            a :class:`ScoreResult` is used as-is (score once, reuse across many evaluations).
        out: folder for ``per_sample.parquet`` (all models' rows) and ``summary.json``.
        split: forget split when ``probes`` is a benchmark folder.
        metrics: names from :data:`froc.metrics.registry.METRICS` (default: all applicable).
        hidden_layers: layers pooled for CKA; ``"auto"``: those of a precomputed comparison ``ScoreResult``,
            else up to four evenly spaced ones when a comparison model is scored, else none.
        nonmember_group: ``meta.group`` of membership non-members (else perturbed answers stand in).
        dtype, device: for models loaded from paths.
        seed, data_manifest: recorded in the provenance.
        fmt: the prompt format; None = the model folder's ``prompt_format.json`` (else the default); a dict =
            those fields over it (see :func:`resolve_eval_format`). Comparison models are scored with the same.
        fmt, batch_size, generate, max_new_tokens, mink_k, progress: see :func:`score_probes`.
    """
    t0, started = time.perf_counter(), utc_now()
    if probes is None:
        raise ConfigError("evaluate needs probes (a list of items or a path)")
    from froc.metrics.registry import check_metric_names

    check_metric_names(metrics)  # a misspelt metric fails now, not after every model is scored
    probes_path = probes if isinstance(probes, (str, Path)) else None
    if isinstance(probes, (str, Path)):
        probes, manifest = load_probes(probes, split)
        data_manifest = data_manifest or manifest
    probes = list(probes)
    if not probes:
        raise ConfigError("no probes to evaluate")
    if out is not None:  # a read-only or impossible --out fails now, not after scoring
        Path(out).mkdir(parents=True, exist_ok=True)
    target_model, target_tok, target_path = _as_model(model, tokenizer, dtype=dtype, device=device)
    fmt = resolve_eval_format(fmt, target_path)
    from froc.data.check_tokens import check_finite_scores, check_scorable

    # an answer of zero tokens would be a NaN score, read as "forgotten": refused before scoring
    check_scorable(target_tok, probes, fmt, file=str(probes_path) if probes_path is not None else "<probes>")
    others = {name: spec for name, spec in (("oracle", oracle), ("original", original)) if spec is not None}
    if hidden_layers == "auto":  # the layers of precomputed scores, else a few when a comparison model is scored
        given = sorted({k for s in others.values() if isinstance(s, ScoreResult) for k in s.hidden})
        scored = any(not isinstance(s, ScoreResult) for s in others.values())
        layers = given or (_auto_layers(target_model) if scored else None)
    elif isinstance(hidden_layers, str):
        raise ConfigError(f"hidden_layers must be 'auto', None or a list of ints, got {hidden_layers!r}")
    else:
        layers = hidden_layers
    common = dict(fmt=fmt, batch_size=batch_size, generate=generate, max_new_tokens=max_new_tokens, mink_k=mink_k,
                  data_manifest=data_manifest, seed=seed, progress=progress)
    results = {"target": score_probes(target_model, target_tok, probes, hidden_layers=layers, model_name="target",
                                      model_path=target_path, **common)}
    for name, spec in others.items():
        if isinstance(spec, ScoreResult):
            res = ScoreResult(spec.table.assign(model=name), spec.hidden, spec.summary)
        else:
            m, tok, path = _as_model(spec, target_tok, dtype=dtype, device=device)
            res = score_probes(m, tok, probes, hidden_layers=layers, model_name=name, model_path=path, **common)
        if res.table["probe_id"].tolist() != results["target"].table["probe_id"].tolist():
            raise ConfigError(f"the {name}'s scores are for other probes (probe ids differ from the target's)")
        results[name] = res
    for name, res in results.items():  # non-finite scores are an error, never metrics that look unlearned
        check_finite_scores(res.table, f"the {name} model" + (f" ({target_path})" if name == "target" and target_path
                                                              else ""))

    scoreset = ScoreSet(target=results["target"].table, oracle=_table(results, "oracle"),
                        original=_table(results, "original"),
                        hidden={k: v.hidden for k, v in results.items() if v.hidden}, nonmember_group=nonmember_group)
    values, notes = compute_metrics(scoreset, metrics)
    notes = data_notes(scoreset) + notes
    summary = {
        "metrics": json_safe(values),
        "higher_is_better": {k: METRICS[base_name(k)].higher_is_better for k in values},
        "notes": notes,
        "models": {k: v.summary for k, v in results.items()},
        "groups": results["target"].table["group"].value_counts(dropna=False).rename(str).to_dict(),
        "settings": {"split": split, "nonmember_group": nonmember_group, "hidden_layers": layers,
                     "metrics": list(metrics) if metrics is not None else "all"},
        "environment": environment(),
        "data_manifest": data_manifest,
        "seed": seed,
        "started_utc": started,
        "seconds": time.perf_counter() - t0,
    }
    result = EvalResult(values, results, notes, summary)
    if out is not None:
        result.save(out)
    return result


def _table(results: dict[str, ScoreResult], name: str):
    return results[name].table if name in results else None
