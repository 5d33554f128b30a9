"""Issue 13 §5: the whole pipeline (`froc run`: 2 methods, scoring, one attack, certification, report) on
models built from the configs of the families users bring, at a tiny size with random init and a saved
tokenizer: Llama, Mistral, Qwen2, Phi-3, GPT-NeoX/Pythia, Gemma, and a GPT-2-style model with dropout.

The GPT-2 model (the family that differs most: Conv1D layers, learned positions, dropout, no BOS convention
of its own) runs by default; the others are in the slow tier (each ~15 s on 2 cores).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
from test_architectures import FAMILIES, build  # noqa: E402

from froc.cli import app  # noqa: E402
from froc.data.loaders import write_jsonl  # noqa: E402

SWEEP = """\
name: family
model: ./model
data: {forget: forget.jsonl, retain: retain.jsonl, probes: probes.jsonl}
methods:
  graddiff: {lr: [1.0e-3]}
  npo: {lr: [1.0e-3]}
steps: [1]
batch_size: 4
budget: {alpha_forget: 0.95, alpha_utility: 0.95, delta: 0.5}
losses: {tau_forget: chance}
attacks: [quantize_8bit]
attack_top: 1
max_new_tokens: 3
score_batch_size: 32
resplits: 0
"""


@pytest.mark.parametrize("name", [n if n == "gpt2_dropout" else pytest.param(n, marks=pytest.mark.slow)
                                  for n in FAMILIES])
def test_froc_run_end_to_end_on_each_family(name, tiny_prep, tmp_path):
    from froc.models.loading import load_model

    cfg, prep = tiny_prep
    _, tok = load_model(prep.model_path)
    model = build(name, tok)
    model.save_pretrained(str(tmp_path / "model"), safe_serialization=True)
    tok.save_pretrained(str(tmp_path / "model"))
    write_jsonl([it.to_dict() for it in prep.forget], tmp_path / "forget.jsonl")
    write_jsonl([it.to_dict() for it in prep.retain], tmp_path / "retain.jsonl")
    write_jsonl([{**p.to_dict(), "meta": {k: v for k, v in p.meta.items() if k not in ("side", "split")}}
                 for p in prep.probes], tmp_path / "probes.jsonl")
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["run", str(tmp_path / "sweep.yaml"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    assert {c["method"] for c in s["configs"]} == {"graddiff", "npo"}
    assert all(c["status"] == "ok" and c["cur"] is not None for c in s["configs"]), s["configs"]
    assert set(s["reference"]) == {"original"}
    attacked = [c for c in s["configs"] if c["attacks"]]
    if s["certified"]:
        assert attacked and attacked[0]["attacks"]["quantize_8bit"]["status"] == "ok"
    assert (out / "report.html").stat().st_size > 10_000
    shutil.rmtree(out)
