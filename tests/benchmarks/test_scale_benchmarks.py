"""The issue-15 benchmarks (model_load, memory_options, distributed_memory) run end to end with ``--tiny`` and
write their figures. Slow tier: each starts several fresh Python processes (~1 min on a loaded 2-core machine)."""

from __future__ import annotations

import importlib
import json
import math
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # benchmarks/ is a top-level folder of the checkout
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("FROC_NO_PROGRESS", "1")


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


@pytest.mark.slow
def test_model_load_tiny(tmp_path):
    res = importlib.import_module("benchmarks.model_load").main(["--tiny", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "model_load.json").read_text())
    assert saved["tiny"] is True and saved["ratios"].keys() == res["ratios"].keys()
    r = saved["ratios"]
    assert all(_positive(v) for v in r.values())
    # a first load pays the lazy imports; a warm load does not
    assert r["first_load_froc_s"] > r["warm_load_froc_s"] and r["lazy_imports_s"] > r["froc_load_after_lazy_imports_s"]


@pytest.mark.slow
def test_memory_options_tiny(tmp_path):
    importlib.import_module("benchmarks.memory_options").main(["--tiny", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "memory_options.json").read_text())
    for key in ("tiny/npo", "tiny/undial"):
        for v in ("fp32", "checkpointing", "bf16", "lora"):
            assert _positive(saved["ratios"][key][v]["cpu_s_per_step"])
            assert saved["results"][key][v]["value"]["status"] == "completed"


@pytest.mark.slow
def test_distributed_memory_tiny(tmp_path):
    res = importlib.import_module("benchmarks.distributed_memory").main(["--tiny", "--out", str(tmp_path)])
    runs = res["runs"]
    assert len(runs["2 processes, fsdp"][0]) == 2 and len(runs["one process"][0]) == 1
    losses = {name: rs[0][0]["loss"] for name, rs in runs.items()}
    assert max(losses.values()) - min(losses.values()) < 1e-4, losses  # the same global batch in every layout
