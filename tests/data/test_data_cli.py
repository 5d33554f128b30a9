"""`froc data check` and `froc data generate` through typer's CliRunner."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from froc.cli import app
from froc.data import QAItem, save_items

runner = CliRunner()

ITEM = {"id": "a1", "subject": "S", "question": "Q?", "answer": "A", "perturbed_answers": ["B"], "form": "cloze",
        "meta": {"group": "forget", "split": "cal"}}


def test_check_ok_prints_counts(tmp_path):
    f = save_items([QAItem(**ITEM), QAItem(**{**ITEM, "id": "a2", "question": "Q2?", "form": "mcq"})], tmp_path / "a.csv")
    r = runner.invoke(app, ["data", "check", str(f)])
    assert r.exit_code == 0, r.output
    for text in ("qa", "cloze", "mcq", "meta.group", "forget", "meta.split", "cal"):
        assert text in r.output


def test_check_lists_every_bad_line_and_exits_1(tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text(json.dumps(ITEM) + "\n{oops\n" + json.dumps({**ITEM, "id": "a2", "answer": ""}) + "\n")
    good = save_items([QAItem(**ITEM)], tmp_path / "good.jsonl")
    r = runner.invoke(app, ["data", "check", str(good), str(f)])
    assert r.exit_code == 1
    assert f"{f}:2: malformed JSON" in r.output and f"{f}:3 field 'answer'" in r.output
    assert "good.jsonl" in r.output  # the good file is still summarised


def test_check_warnings_are_shown(tmp_path):
    f = save_items([QAItem(**{**ITEM, "answer": "A" * 40})], tmp_path / "a.jsonl")
    r = runner.invoke(app, ["data", "check", str(f), "--max-answer-chars", "8"])
    assert r.exit_code == 0 and "1 warning(s)" in r.output and "truncated" in r.output


def test_check_forget_retain(tmp_path):
    forget = save_items([QAItem(**ITEM)], tmp_path / "forget.jsonl")
    retain = save_items([QAItem(**{**ITEM, "id": "r1"})], tmp_path / "retain.jsonl")
    r = runner.invoke(app, ["data", "check", "--forget", str(forget), "--retain", str(retain)])
    assert r.exit_code == 1
    assert f"{forget}:1 field 'question'" in r.output and f"{retain}:1, same normalised question" in r.output
    other = save_items([QAItem(**{**ITEM, "id": "r1", "question": "Other?"})], tmp_path / "other.jsonl")
    assert runner.invoke(app, ["data", "check", "--forget", str(forget), "--retain", str(other)]).exit_code == 0


def test_check_usage_errors_exit_2(tmp_path):
    assert runner.invoke(app, ["data", "check"]).exit_code == 2
    r = runner.invoke(app, ["data", "check", "x.jsonl", "--kind", "essay"])
    assert r.exit_code == 2 and "valid kinds: qa, refusal, text" in r.output
    r = runner.invoke(app, ["data", "check", "--forget", "f.jsonl"])
    assert r.exit_code == 2 and "--retain" in r.output


def test_check_help_has_examples():
    r = runner.invoke(app, ["data", "check", "--help"])
    assert r.exit_code == 0 and "Examples" in r.output and "--forget" in r.output


def test_generate_then_check(tmp_path):
    out = tmp_path / "bench"
    r = runner.invoke(app, ["data", "generate", "--out", str(out), "--people", "20", "--seed", "1"])
    assert r.exit_code == 0, r.output
    # 133 / 61: see TRAIN_PP / HELDOUT_PP in test_data_benchmark.py
    assert "per person 133 training and 101 probe items" in r.output and "forget10: 2 forget" in r.output
    assert json.loads((out / "manifest.json").read_text())["seed"] == 1
    r = runner.invoke(app, ["data", "check", str(out / "train.jsonl"), str(out / "probes.jsonl"),
                            str(out / "refusals.txt")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["data", "generate", "--out", str(out), "--people", "2"])
    assert r.exit_code == 2 and "n_people must be between" in r.output


def test_train_benchmark_reuses_the_cache_and_prints_one_row_per_measure_in_80_columns(tmp_path):
    """A cached training report (written here by hand, so nothing trains) for the --reasoning models of a 10-person
    benchmark: the command finds it under the reasoning config's key and prints a measure-per-row table whose
    lines fit 80 columns, with the numbers of the report."""
    from froc.data.benchmark import ensure_benchmark
    from froc.models.builtin import BuiltinConfig

    bench = ensure_benchmark(tmp_path / "data", n_people=10, seed=0)
    cfg = BuiltinConfig(n_people=10, reasoning=True)
    root = tmp_path / "models" / f"forget10-{cfg.key(json.loads((bench / 'manifest.json').read_text()))}"
    root.mkdir(parents=True)
    em = {f"heldout_em_{f}": 0.5 for f in ("cloze", "mcq", "paraphrase", "reasoning", "reverse", "yesno")}
    report = {m: {"params": 279104, "items": 1234, "epochs": 7, "seconds": 12.5, "train_em_reasoning": 0.975, **em}
              for m in ("target", "oracle")}
    (root / "training.json").write_text(json.dumps(report))
    r = runner.invoke(app, ["model", "train-benchmark", "--out", str(tmp_path), "--people", "10", "--reasoning"],
                      env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    assert max(map(len, r.output.splitlines())) <= 80
    assert "train exact match, reasoning" in r.output and "0.975" in r.output and "279,104" in r.output
    assert str(root / "target") in r.output.replace("\n", "")
