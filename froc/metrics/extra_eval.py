"""What ``froc eval --benchmark`` / ``--lm-eval`` do (the CLI is a thin shell over this): evaluate, write, print."""

from __future__ import annotations

import json
import math
from pathlib import Path

from froc.errors import ConfigError

SPLIT_OPTION = {"tofu": "forget_split", "muse": "corpus", "wmdp": "subset"}


def run_eval_extras(model: str | Path, out: str | Path, *, benchmark: str | None = None, probes: str | None = None,
                    split: str | None = None, oracle: str | None = None, prompt: dict | None = None,
                    lm_eval: str | None = None, lm_eval_include: str | Path | None = None, batch_size: int = 64,
                    device: str = "auto", dtype: str = "auto") -> str:
    """Run a published benchmark's metrics (``benchmark`` on the folder ``probes``) and/or lm-eval tasks;
    write ``OUT/summary.json`` (+ ``per_sample.parquet``, ``lm_eval.json``) and return the lines to print."""
    from froc.models.loading import load_model

    outp = Path(out)
    lines, summary = [], {}
    m, tok = load_model(model, dtype=dtype, device=device)
    if benchmark is not None:
        from froc.metrics.published import BENCHMARK_METRICS, evaluate_benchmark

        if benchmark not in BENCHMARK_METRICS:
            from froc.errors import unknown_choice

            raise unknown_choice("benchmark", benchmark, BENCHMARK_METRICS)
        options = {SPLIT_OPTION[benchmark]: split} if split else {}
        res = evaluate_benchmark(benchmark, (m, tok), probes, oracle=oracle, fmt=_fmt(model, prompt), options=options,
                                 batch_size=batch_size, device=device, dtype=dtype, out=outp, progress=False)
        summary = json.loads((outp / "summary.json").read_text(encoding="utf-8"))
        lines.append(f"{benchmark.upper()} ({probes}), published names and conventions (docs/METRICS.md):")
        lines += [f"  {k:<28} {_num(v)}" for k, v in res.metrics.items()]
        lines += [f"  note: {n}" for n in res.notes]
    if lm_eval is not None:
        from froc.metrics.lmeval import lm_eval_tasks, task_metrics

        result = lm_eval_tasks(m, tok, lm_eval.split(","), include_path=lm_eval_include,
                               batch_size=min(batch_size, 32))
        flat = task_metrics(result)
        outp.mkdir(parents=True, exist_ok=True)
        (outp / "lm_eval.json").write_text(json.dumps({"results": result["results"], "versions": result["versions"]},
                                                      indent=2, default=str), encoding="utf-8")
        summary.setdefault("metrics", {}).update(flat)
        (outp / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
        lines.append("lm-evaluation-harness:")
        lines += [f"  {k:<28} {_num(v)}" for k, v in flat.items()]
    if not lines:
        raise ConfigError("nothing to evaluate: give --benchmark or --lm-eval")
    lines.append(f"written: {outp / 'summary.json'}")
    return "\n".join(lines)


def _fmt(model, prompt: dict | None):
    from froc.metrics.evaluate import resolve_eval_format

    return resolve_eval_format({k: v for k, v in (prompt or {}).items() if v is not None}, model)


def _num(v) -> str:
    return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4g}"
