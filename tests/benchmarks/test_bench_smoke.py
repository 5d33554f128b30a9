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


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


@pytest.mark.parametrize("name", list(EXPECTED))
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
