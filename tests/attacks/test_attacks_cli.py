"""`froc attack` through typer's CliRunner on the tiny model (thin shell over run_attack)."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from froc.cli import app
from froc.data import save_items

runner = CliRunner()


def _files(tmp_path, tiny_pair, probes, forget, retain):
    original, unlearned, tok = tiny_pair
    for name, m in (("unl", unlearned), ("orig", original)):
        m.save_pretrained(str(tmp_path / name), safe_serialization=True)
        tok.save_pretrained(str(tmp_path / name))
    return (tmp_path / "unl", tmp_path / "orig", save_items(probes, tmp_path / "probes.jsonl"),
            save_items(forget, tmp_path / "forget.jsonl"), save_items(retain, tmp_path / "retain.jsonl"))


def test_attack_cli_writes_scores_and_prints_before_after(tmp_path, tiny_pair, probes, forget, retain):
    unl, orig, p, f, r = _files(tmp_path, tiny_pair, probes, forget, retain)
    out = tmp_path / "att"
    res = runner.invoke(app, ["attack", "--model", str(unl), "--probes", str(p), "--forget", str(f),
                              "--attack", "relearn", "--set", "steps=3", "--set", "size=1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert all(w in res.output for w in ("knowledge", "before", "after", "correct choice"))
    rec = json.loads((out / "attack.json").read_text())
    scores = pd.read_parquet(out / "attack_scores.parquet")
    assert rec["attack"] == "relearn" and rec["details"]["params"]["steps"] == 3
    assert rec["after"]["n"] == len(scores) == len(probes) - rec["details"]["n_excluded_probes"]
    assert rec["before"]["n"] == rec["after"]["n"]

    out2 = tmp_path / "trace"
    res = runner.invoke(app, ["attack", "--model", str(unl), "--original", str(orig), "--probes", str(p),
                              "--retain", str(r), "--attack", "trace", "--out", str(out2)])
    assert res.exit_code == 0, res.output
    assert "accuracy" in res.output and not (out2 / "attack_scores.parquet").exists()


def test_attack_cli_errors_and_list(tmp_path, tiny_pair, probes, forget, retain):
    unl, _, p, _, _ = _files(tmp_path, tiny_pair, probes, forget, retain)
    res = runner.invoke(app, ["attack", "--model", str(unl), "--probes", str(p), "--attack", "relearn",
                              "--set", "epochs=2", "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "valid parameters" in res.output
    res = runner.invoke(app, ["attack", "--model", str(unl), "--probes", str(p), "--attack", "nope",
                              "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "valid attacks" in res.output
    res = runner.invoke(app, ["attack", "--list"])
    assert res.exit_code == 0 and "logit_guided" in res.output and "stealthy_request" in res.output


def test_attack_cli_uses_the_forget_group_and_shows_the_original(tmp_path, tiny_pair, probes, forget, retain):
    """Issue 17 §4: given a whole probe file, `froc attack` attacked every probe of every group, so its
    "knowledge before -> after" meant nothing. It now attacks the forget group only, says so, and shows the
    original model's value on the same probes beside it."""
    from dataclasses import replace

    mixed = [replace(p, meta={**p.meta, "group": "forget" if i % 2 == 0 else "retain"}) for i, p in enumerate(probes)]
    n_forget = sum(p.meta["group"] == "forget" for p in mixed)
    unl, orig, p, f, r = _files(tmp_path, tiny_pair, mixed, forget, retain)
    out = tmp_path / "att"
    res = runner.invoke(app, ["attack", "--model", str(unl), "--original", str(orig), "--probes", str(p),
                              "--forget", str(f), "--attack", "quantize_8bit", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert f"attacked: the {n_forget} probes with meta.group 'forget' (of {len(mixed)})" in res.output
    assert "original" in res.output.split("attack quantize_8bit")[1]
    rec = json.loads((out / "attack.json").read_text())
    assert rec["before"]["n"] == rec["after"]["n"] == rec["original_model"]["n"] == n_forget
