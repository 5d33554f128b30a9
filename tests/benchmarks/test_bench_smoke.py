"""Every benchmark runs end to end with ``--tiny`` (seconds each) and writes its ratio fields; the
``froc bench`` command runs the suite and rejects unknown names."""

from __future__ import annotations

import importlib
import json
import math
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # benchmarks/ is a top-level folder of the checkout, not an installed package
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("FROC_NO_PROGRESS", "1")

# benchmark -> the ratio fields its JSON must carry: {key of "ratios": [fields]}
EXPECTED = {
    "unlearn_step": {m: ["tokens_per_s", "peak_memory"] for m in ("ga", "npo", "graddiff")},
    "utilisation": {s: ["fraction_of_gemm_peak"] for s in ("tiny", "mini")},
    "scoring": {"forward_scoring": ["speedup"], "greedy_generation": ["speedup"]},
    "sweep": {"trajectory_sharing": ["speedup"]},
    "scaling": {"request": ["exponent", "exponent_last_two"], "model": ["exponent", "exponent_last_two"]},
}


# benchmark -> the equivalence checks it must assert (its variants compute the same numbers)
CHECKED = {
    "scoring": {"max_abs_diff_gold_logp_mean", "max_abs_diff_scores", "max_abs_diff_whole_sequences",
                "generations_identical"},
    "sweep": {"every_configuration_scored_both_ways", "max_abs_diff_scores"},
    "unlearn_step": {f"{m}_{c}" for m in ("ga", "npo", "graddiff") for c in ("same_training_tokens", "max_abs_loss_diff")},
}


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


SLOW_SMOKE = ("unlearn_step", "scaling")  # the longest smoke runs (10-25 s) are in the slow tier


@pytest.mark.parametrize("name", [n if n not in SLOW_SMOKE else pytest.param(n, marks=pytest.mark.slow)
                                  for n in EXPECTED])
def test_benchmark_tiny_writes_ratios(name, tmp_path):
    res = importlib.import_module(f"benchmarks.{name}").main(["--tiny", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / f"{name}.json").read_text())
    assert saved["tiny"] is True and saved["machine"]["torch"]
    for key, fields in EXPECTED[name].items():
        for f in fields:
            assert f in saved["ratios"][key], (name, key, f)
            if name != "scaling":  # exponents may be negative on noisy tiny runs; ratios and fractions are > 0
                assert _positive(saved["ratios"][key][f]), (name, key, f, saved["ratios"][key][f])
    assert res["ratios"].keys() == saved["ratios"].keys()
    if name in CHECKED:  # equivalence asserted by the benchmark (it raises otherwise) and recorded
        assert saved["checks"] and all(c["ok"] for c in saved["checks"].values()), saved["checks"]
        assert set(saved["checks"]) >= CHECKED[name]
    if name == "unlearn_step":  # the reference trains on the same batches with the same loss: same curve
        for m in saved["methods"].values():
            assert m["max_abs_loss_diff"] < 1e-3
            assert m["training_tokens"] == m["training_tokens_reference"] > 0


def test_gpu_skips_without_cuda_or_writes_ratios(tmp_path):
    import torch

    res = importlib.import_module("benchmarks.gpu").main(["--tiny", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "gpu.json").read_text())
    if torch.cuda.is_available():
        assert all(_positive(v["tokens_per_s"]) for v in saved["ratios"].values())
    else:
        assert res == {"skipped": "no CUDA"} and saved["skipped"] == "no CUDA"


def test_froc_bench_cli(tmp_path):
    from typer.testing import CliRunner

    from froc.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["bench", "gpu", "--tiny", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    suite = json.loads((tmp_path / "suite.json").read_text())
    assert suite["benchmarks"]["gpu"]["ok"] is True
    bad = runner.invoke(app, ["bench", "nope", "--tiny", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "unknown benchmark 'nope'" in bad.output and "unlearn_step" in bad.output


def test_scoring_benchmark_fails_on_a_shifted_batched_scorer(tmp_path, monkeypatch):
    """Deliberate bug: +0.1 nat on every log-prob of the batched scorer (froc.metrics.forward) and nothing in
    the naive reference. The benchmark must fail (EquivalenceError, a non-zero exit), not report a speed-up;
    the JSON it leaves names the failed check."""
    import froc.metrics.forward as forward
    from benchmarks.common import EquivalenceError

    real = forward._answer_stats

    def shifted(*a, **kw):
        lp, mu, var, hits = real(*a, **kw)
        return lp + 0.1, mu, var, hits

    monkeypatch.setattr(forward, "_answer_stats", shifted)
    with pytest.raises(EquivalenceError, match="max_abs_diff_gold_logp_mean"):
        importlib.import_module("benchmarks.scoring").main(["--tiny", "--probes", "4", "--out", str(tmp_path)])
    checks = json.loads((tmp_path / "scoring.json").read_text())["checks"]
    assert not checks["max_abs_diff_gold_logp_mean"]["ok"] and abs(checks["max_abs_diff_gold_logp_mean"]["value"] - 0.1) < 1e-4
    assert checks["generations_identical"]["ok"]  # generation does not go through the shifted code


def test_sweep_benchmark_fails_when_sharing_changes_scores(tmp_path, monkeypatch):
    """Deliberate bug: scores of a shared trajectory (several steps scored in one run) shifted by +0.1 nat,
    as a checkpoint scored with the wrong weights would be. The benchmark must fail, not report a speed-up."""
    import froc.sweep.training as training
    from benchmarks.common import EquivalenceError

    real = training.run_group

    def buggy(group, pending, prep, cfg, emit, **kw):
        def shifted(rec):
            if len(pending) > 1 and rec.get("scores") is not None:
                rec = {**rec, "scores": rec["scores"].assign(gold_logp_mean=rec["scores"].gold_logp_mean + 0.1)}
            emit(rec)
        return real(group, pending, prep, cfg, shifted, **kw)

    monkeypatch.setattr(training, "run_group", buggy)
    with pytest.raises(EquivalenceError, match="max_abs_diff_scores"):
        importlib.import_module("benchmarks.sweep").main(["--tiny", "--out", str(tmp_path)])
