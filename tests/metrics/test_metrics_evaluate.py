"""evaluate() end to end on tiny models, from objects and from paths, and the `froc eval` CLI."""

import json
import math

import pandas as pd
import pytest
from typer.testing import CliRunner

from metrics_helpers import fact_probes, text_probe
from froc.cli import app
from froc.data.loaders import save_items
from froc.errors import ConfigError
from froc.metrics.evaluate import EvalResult, evaluate, load_probes
from froc.metrics.scoring import score_probes
from froc.models.loading import save_model
from froc.models.tiny import tiny_model_and_tokenizer


def test_oracle_identical_to_target(trained, tmp_path):
    """Oracle = the target itself: forget quality 1, PrivLeak 0, CKA 1 on every layer; the original given as
    a precomputed ScoreResult is reused, not re-scored."""
    model, tok = trained
    probes = fact_probes() + [text_probe()]
    orig = score_probes(model, tok, probes, hidden_layers=[1, 2], progress=False)
    res = evaluate(model, tok, probes, oracle=(model, tok), original=orig, out=tmp_path, progress=False)
    m = res.metrics
    assert m["tofu/forget_quality"] == 1.0
    assert m["muse/privleak"] == 0.0
    assert m["repr/cka_oracle/layer_1"] == pytest.approx(1.0) and m["repr/cka_oracle/layer_2"] == pytest.approx(1.0)
    assert m["repr/cka_original/layer_2"] == pytest.approx(1.0)
    assert m["overforget/neighbour_choice_drop"] == 0.0
    assert m["knowledge/forget_gen_acc"] == 1.0  # the trained model answers its forget facts
    assert 0 <= m["tofu/model_utility"] <= 1 and not math.isnan(m["muse/verbmem_forget"])

    table = pd.read_parquet(tmp_path / "per_sample.parquet")
    assert table.groupby("model").size().to_dict() == {"original": len(probes), "oracle": len(probes),
                                                       "target": len(probes)}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["metrics"]["tofu/forget_quality"] == 1.0
    assert summary["higher_is_better"]["tofu/forget_quality"] is True
    assert summary["models"]["target"]["provenance"]["model"]["weights_sha256"]
    assert set(summary["models"]) == {"target", "oracle", "original"}
    assert (tmp_path / "hidden_target.npz").is_file()


def test_evaluate_from_paths_and_a_jsonl(tmp_path):
    m1, tok = tiny_model_and_tokenizer(seed=0)
    m2, _ = tiny_model_and_tokenizer(seed=1)
    save_model(m1, tok, tmp_path / "target")
    save_model(m2, tok, tmp_path / "oracle")
    save_items(fact_probes(), tmp_path / "probes.jsonl")
    res = evaluate(str(tmp_path / "target"), probes=str(tmp_path / "probes.jsonl"), oracle=str(tmp_path / "oracle"),
                   device="cpu", hidden_layers=None, max_new_tokens=4, progress=False)
    assert isinstance(res, EvalResult)
    assert 0.0 <= res.metrics["tofu/forget_quality"] <= 1.0
    assert res.summary["models"]["target"]["provenance"]["model"]["path"].endswith("target")
    assert not any(k.startswith("repr/") and not math.isnan(v) for k, v in res.metrics.items())
    assert res.table.model.tolist().count("oracle") == len(fact_probes())


def test_evaluate_input_errors(tiny, tmp_path):
    model, tok = tiny
    with pytest.raises(ConfigError, match="tokenizer"):
        evaluate(model, None, fact_probes(), progress=False)
    with pytest.raises(ConfigError, match="no probes"):
        evaluate(model, tok, [], progress=False)
    other = score_probes(model, tok, fact_probes()[:2], progress=False)
    with pytest.raises(ConfigError, match="other probes"):
        evaluate(model, tok, fact_probes()[:3], oracle=other, progress=False, generate=False)
    save_items(fact_probes(), tmp_path / "p.jsonl")
    with pytest.raises(ConfigError, match="benchmark folder"):
        load_probes(tmp_path / "p.jsonl", split="forget10")


def test_load_probes_from_a_benchmark_folder(tmp_path):
    from froc.data.benchmark import generate

    generate(tmp_path / "bench", n_people=10, seed=0)
    with pytest.raises(ConfigError, match="--split"):
        load_probes(tmp_path / "bench")
    probes, manifest = load_probes(tmp_path / "bench", "forget10")
    assert manifest["n_people"] == 10
    assert {p.meta["group"] for p in probes} == {"forget", "neighbour", "retain", "world"}


def test_cli_eval_on_a_saved_tiny_model(tmp_path):
    model, tok = tiny_model_and_tokenizer()
    save_model(model, tok, tmp_path / "m")
    save_items(fact_probes(), tmp_path / "probes.jsonl")
    runner = CliRunner()
    r = runner.invoke(app, ["eval", "--model", str(tmp_path / "m"), "--probes", str(tmp_path / "probes.jsonl"),
                            "--oracle", str(tmp_path / "m"), "--out", str(tmp_path / "out"), "--max-new-tokens", "4",
                            "--device", "cpu"], env={"FROC_NO_PROGRESS": "1", "COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "tofu/forget_quality" in r.output and "muse/privleak" in r.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["metrics"]["tofu/forget_quality"] == 1.0
    assert (tmp_path / "out" / "per_sample.parquet").is_file()

    bad = runner.invoke(app, ["eval", "--model", str(tmp_path / "m"), "--probes", str(tmp_path / "probes.jsonl"),
                              "--split", "forget10", "--out", str(tmp_path / "o2")], env={"COLUMNS": "500"})
    assert bad.exit_code == 2 and "benchmark folder" in bad.output
    missing = runner.invoke(app, ["eval", "--model", str(tmp_path / "nope"), "--probes", str(tmp_path / "probes.jsonl"),
                                  "--out", str(tmp_path / "o3")], env={"COLUMNS": "500"})
    assert missing.exit_code == 2 and "does not exist" in " ".join(missing.output.split())


def test_cli_eval_help_has_examples():
    r = CliRunner().invoke(app, ["eval", "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0 and "Examples" in r.output and "--oracle" in r.output
