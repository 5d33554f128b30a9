"""`froc unlearn` and `froc methods` through typer's CliRunner on a saved tiny model."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from froc.cli import app
from froc.methods import METHODS

runner = CliRunner()


@pytest.fixture
def files(tmp_path, forget, retain, refusals):
    from froc.models.loading import save_model
    from froc.models.tiny import tiny_model_and_tokenizer

    model, tok = tiny_model_and_tokenizer()
    save_model(model, tok, tmp_path / "model")
    for name, items in (("forget", forget), ("retain", retain)):
        (tmp_path / f"{name}.jsonl").write_text("\n".join(json.dumps(it.to_dict()) for it in items) + "\n")
    (tmp_path / "refusals.txt").write_text("\n".join(refusals) + "\n")
    return tmp_path


def _invoke(args):
    res = runner.invoke(app, args)
    return res, res.stdout + (res.stderr if res.stderr_bytes is not None else "")


def test_cli_unlearn_saves_model_and_config(files):
    out = files / "out"
    res, text = _invoke(["unlearn", "--model", str(files / "model"), "--forget", str(files / "forget.jsonl"),
                         "--retain", str(files / "retain.jsonl"), "--method", "npo", "--set", "beta=0.2",
                         "--set", "retain_weight=1", "--set", "batch_size=2", "--steps", "2", "--lr", "1e-3",
                         "--device", "cpu", "--checkpoints", "1", "--out", str(out)])
    assert res.exit_code == 0, text
    assert "completed" in text
    summary = json.loads((out / "unlearn_config.json").read_text())
    assert summary["method"] == "npo" and summary["method_hparams"] == {"beta": 0.2, "retain_weight": 1}
    assert summary["config"]["steps"] == 2 and summary["config"]["batch_size"] == 2 and len(summary["losses"]) == 2
    assert list(out.glob("*.safetensors")) and (out / "checkpoints" / "step_1").is_dir()

    from froc.models.loading import load_model

    load_model(out, device="cpu")


def test_cli_unlearn_idkpo_lora_merge(files):
    out = files / "idk"
    res, text = _invoke(["unlearn", "--model", str(files / "model"), "--forget", str(files / "forget.jsonl"),
                         "--retain", str(files / "retain.jsonl"), "--refusals", str(files / "refusals.txt"),
                         "--method", "idkpo", "--steps", "1", "--lora", "--merge-lora", "--device", "cpu",
                         "--out", str(out)])
    assert res.exit_code == 0, text
    assert list(out.glob("*.safetensors")) and not (out / "adapter_config.json").exists()


def test_cli_unknown_method_and_hparam_list_valid_ones(files):
    base = ["unlearn", "--model", str(files / "model"), "--forget", str(files / "forget.jsonl"),
            "--retain", str(files / "retain.jsonl"), "--steps", "1", "--device", "cpu", "--out", str(files / "x")]
    res, text = _invoke(base + ["--method", "nope"])
    assert res.exit_code == 2 and "valid methods" in text and "graddiff" in text
    res, text = _invoke(base + ["--method", "npo", "--set", "betta=1"])
    assert res.exit_code == 2 and "betta" in text and "beta" in text and "retain_weight" in text


def test_cli_methods_lists_every_method_one_line_each_in_80_columns():
    res, text = _invoke(["methods"])
    assert res.exit_code == 0, text
    lines = text.splitlines()
    assert max(map(len, lines)) <= 80
    starts = [ln.split()[0] for ln in lines if ln and not ln.startswith(" ")]
    assert [n for n in starts if n in METHODS] == list(METHODS)  # one line per method, in registry order
    assert "froc methods NAME" in text
    papers = [ln.strip() for ln in lines if ln.strip().startswith("paper: ")]
    assert len(papers) == len(METHODS)  # each with its paper, by hand for two of them:
    assert any(p.startswith("paper: Wang et al. 2025, Reasoning Model Unlearning") for p in papers)
    assert "paper: Rafailov et al. 2023, Direct Preference Optimization" in papers


def test_cli_methods_name_shows_paper_and_hyperparameters():
    from froc.cli.printing import method_detail

    res, text = _invoke(["methods", "npo"])
    assert res.exit_code == 0, text
    assert "arxiv.org/abs/2404.05868" in text and "beta = 0.1" in text and "retain_weight = 0.0" in text
    rmu = method_detail("rmu", width=80)
    assert "LoRA: no" in rmu and "trained_layers = None" in rmu and max(map(len, rmu.splitlines())) <= 80
    assert "+ the base method's hyperparameters" in method_detail("sam")
    res, text = _invoke(["methods", "nope"])
    assert res.exit_code == 2 and "valid methods" in text


def test_cli_unlearn_help_has_examples():
    res, text = _invoke(["unlearn", "--help"])
    assert res.exit_code == 0 and "Examples" in text and "--method" in text


def test_readme_methods_table_lists_every_registered_method_with_its_paper():
    """README.md's "Unlearning methods" table: one row per registered method, in registry order, whose paper
    cell starts with the method's paper label (authors, year, title) and links its first URL when it has one."""
    import re
    from pathlib import Path

    from froc.cli.printing import paper_label

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = text.split("## Unlearning methods", 1)[1].split("\n## ", 1)[0]
    rows = [r for r in section.splitlines() if r.startswith("| `")]
    assert [re.match(r"\| `(\w+)`", r).group(1) for r in rows] == list(METHODS)
    for row, spec in zip(rows, METHODS.values()):
        paper = row.split(" | ")[1]
        assert paper.lstrip("[").startswith(paper_label(spec.paper)), (row, spec.paper)
        url = re.search(r"https?://[^\s,;)]+", spec.paper)
        assert url is None or f"({url.group(0)})" in paper, row


def test_help_paragraphs_reflow_and_examples_keep_their_lines():
    """A docstring paragraph written over several lines is one help line for the terminal to wrap; indented
    example lines and list items stay as written (hand-made docstring)."""
    from froc.cli.app import reflow_help

    doc = """Do a thing.

    First line of a paragraph
    that goes on here.

    - item one
    - item two

    Examples:
      froc a
      froc b
    """
    assert reflow_help(doc) == ("Do a thing.\n\nFirst line of a paragraph that goes on here.\n\n- item one\n"
                                "- item two\n\nExamples:\n  froc a\n  froc b")
    res = runner.invoke(app, ["plan", "--help"], env={"COLUMNS": "80"})
    assert any("calibration samples. Trains and loads nothing." in ln for ln in res.stdout.splitlines()), res.stdout
