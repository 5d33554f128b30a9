"""From request to shipped model on a tiny USER model (issue 17): plan -> run -> export -> eval.

The user model is a save_pretrained folder (the tiny built-in target copied out of the cache, so it is
just a folder to froc) with the user's own JSONL forget / retain / probe files.
"""

from __future__ import annotations

import json
import shutil
import textwrap

import pandas as pd
import pytest
from typer.testing import CliRunner

from froc.cli import app
from froc.data.loaders import write_jsonl
from froc.sweep.store import Store


def _user_request(tiny_prep, folder):
    cfg, prep = tiny_prep
    shutil.copytree(prep.model_path, folder / "model")
    write_jsonl([it.to_dict() for it in prep.forget], folder / "forget.jsonl")
    write_jsonl([it.to_dict() for it in prep.retain], folder / "retain.jsonl")
    probes = []
    for p in prep.probes:
        d = p.to_dict()
        d["meta"] = {k: v for k, v in d["meta"].items() if k not in ("side", "split")}
        probes.append(d)
    write_jsonl(probes, folder / "probes.jsonl")


SWEEP = textwrap.dedent("""\
    name: journey
    model: ./model
    data: {forget: forget.jsonl, retain: retain.jsonl, probes: probes.jsonl}
    methods:
      graddiff: {lr: [1.0e-3]}
    steps: [1, 2]
    batch_size: 4
    budget: {alpha_forget: 0.9, alpha_utility: 0.9, delta: 0.5}
    losses: {tau_forget: chance}
    max_new_tokens: 4
    score_batch_size: 32
    resplits: 0
    """)


def test_plan_run_export_eval(tiny_prep, tmp_path):
    _user_request(tiny_prep, tmp_path)
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    cli = CliRunner()
    r = cli.invoke(app, ["plan", str(tmp_path / "sweep.yaml")])
    assert r.exit_code == 0, r.output
    assert "2 configurations in 1 training runs" in r.output and "feasible" in r.output
    assert "feasible" in r.stdout  # the plan is the command's result: on stdout, so `froc plan ... > file` keeps it

    out = tmp_path / "run"
    r = cli.invoke(app, ["run", str(tmp_path / "sweep.yaml"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    rec = summary["recommendation"]["config_id"]
    assert rec is not None, r.output
    assert f"froc export {out}" in r.output.replace("\n", "")

    dest = tmp_path / "shipped"
    r = cli.invoke(app, ["export", str(out), "--out", str(dest)])
    assert r.exit_code == 0, r.output
    cert = json.loads((dest / "certificate.json").read_text())
    assert cert["config_id"] == rec and cert["certified"] is True and cert["budget"]["alpha_forget"] == 0.9
    assert cert["sweep"]["data_fingerprint"] and "identical" in cert["verified"]
    assert (dest / "model.safetensors").is_file() and (dest / "prompt_format.json").is_file()
    # a second export into the same folder is refused (nothing is overwritten)
    r = cli.invoke(app, ["export", str(out), "--out", str(dest)])
    assert r.exit_code == 2 and "not an empty folder" in r.output

    # the exported model, evaluated like any model, scores what the sweep stored for that configuration
    ev = tmp_path / "eval"
    r = cli.invoke(app, ["eval", "--model", str(dest), "--probes", str(tmp_path / "probes.jsonl"), "--out", str(ev),
                         "--batch-size", "32", "--max-new-tokens", "4", "--hidden-layers", "none"])
    assert r.exit_code == 0, r.output
    got = pd.read_parquet(ev / "per_sample.parquet")
    got = got[got["model"] == "target"].set_index("probe_id")
    with Store(out / "froc.duckdb", read_only=True) as st:
        stored = st.table(rec).set_index("probe_id")
    common = stored.index.intersection(got.index)
    assert len(common) == len(stored)
    pd.testing.assert_series_equal(got.loc[common, "gold_logp_mean"], stored.loc[common, "gold_logp_mean"],
                                   check_exact=False, atol=1e-6, check_names=False)
    assert (got.loc[common, "generation"] == stored.loc[common, "generation"]).all()


def test_export_refuses_a_model_that_does_not_reproduce(tiny_prep, tmp_path, monkeypatch):
    """Deliberate bug caught: an export that writes whatever the re-training produced. If the rebuilt model's
    scores differ from the stored ones (here: the stored ones are altered), nothing is written."""
    _user_request(tiny_prep, tmp_path)
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    out = tmp_path / "run"
    assert CliRunner().invoke(app, ["run", str(tmp_path / "sweep.yaml"), "--out", str(out)]).exit_code == 0
    rec = json.loads((out / "summary.json").read_text())["recommendation"]["config_id"]
    with Store(out / "froc.duckdb") as st:
        st.con.execute("UPDATE scores SET gold_logp_mean = gold_logp_mean + 1e-9 WHERE config_id = ?", [rec])
    r = CliRunner().invoke(app, ["export", str(out), "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "does not reproduce" in r.output and not (tmp_path / "x").exists()


def test_infeasible_budget_is_refused_before_training(tiny_prep, tmp_path):
    """A budget no configuration can meet with this many calibration probes: plan says so (exit 1) and run
    refuses before anything is trained (no store is written)."""
    _user_request(tiny_prep, tmp_path)
    (tmp_path / "sweep.yaml").write_text(SWEEP.replace("{alpha_forget: 0.9, alpha_utility: 0.9, delta: 0.5}",
                                                       "{alpha_forget: 0.05, alpha_utility: 0.05, delta: 0.05}"))
    r = CliRunner().invoke(app, ["plan", str(tmp_path / "sweep.yaml")])
    assert r.exit_code == 1 and "cannot certify" in r.output and "needed" in r.output
    r = CliRunner().invoke(app, ["run", str(tmp_path / "sweep.yaml"), "--out", str(tmp_path / "run")])
    assert r.exit_code == 2 and "cannot be certified" in r.output
    assert not (tmp_path / "run" / "froc.duckdb").exists()


@pytest.mark.parametrize("name", ["org/model", "meta-llama/Llama-3.2-1B"])
def test_hub_name_is_refused_at_once(tmp_path, name):
    (tmp_path / "sweep.yaml").write_text(SWEEP.replace("model: ./model", f"model: {name}"))
    for f in ("forget", "retain", "probes"):
        (tmp_path / f"{f}.jsonl").write_text("")
    r = CliRunner().invoke(app, ["plan", str(tmp_path / "sweep.yaml")])
    assert r.exit_code == 2 and "sweep.yaml:2" in r.output and "local folder" in r.output


def test_data_check_rejects_what_run_rejects(tiny_prep, tmp_path):
    """Issue 17 §4: `froc data check --probes` accepted a probe with meta.group "forgot" and one with no group
    (exit 0), and `froc run` rejected the same file later. Both now fail on the same located problems."""
    _user_request(tiny_prep, tmp_path)
    lines = (tmp_path / "probes.jsonl").read_text().splitlines()
    a, b = json.loads(lines[0]), json.loads(lines[1])
    a["meta"]["group"] = "forgot"
    b["meta"].pop("group")
    (tmp_path / "probes.jsonl").write_text("\n".join([json.dumps(a), json.dumps(b), *lines[2:]]) + "\n")
    r = CliRunner().invoke(app, ["data", "check", "--forget", str(tmp_path / "forget.jsonl"), "--retain",
                                 str(tmp_path / "retain.jsonl"), "--probes", str(tmp_path / "probes.jsonl")])
    assert r.exit_code != 0
    out = r.output.replace("\n", "")
    assert "probes.jsonl:1 field 'meta.group'" in out and "'forgot'" in out and "probes.jsonl:2 field 'meta.group'" in out
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    for cmd in (["plan", str(tmp_path / "sweep.yaml")], ["run", str(tmp_path / "sweep.yaml"), "--out", str(tmp_path / "o")]):
        r = CliRunner().invoke(app, cmd)
        assert r.exit_code == 2 and "'forgot'" in r.output, r.output


def test_data_check_summarises_repeated_warnings_and_shows_each_file_once(tiny_prep, tmp_path):
    """Issue 17 §6: many "probe is an item of the forget request" warnings become one line with a count, a
    few examples and a file with all of them; a file given both as a path and as --forget is shown once."""
    _user_request(tiny_prep, tmp_path)
    forget = [json.loads(x) for x in (tmp_path / "forget.jsonl").read_text().splitlines()]
    probes = [json.loads(x) for x in (tmp_path / "probes.jsonl").read_text().splitlines()]
    copies = [{**f, "id": f"copy-{i}", "meta": {"group": "forget"}} for i, f in enumerate(forget[:12])]
    write_jsonl(probes + copies, tmp_path / "probes.jsonl")
    args = ["data", "check", str(tmp_path / "forget.jsonl"), str(tmp_path / "retain.jsonl"), "--forget",
            str(tmp_path / "forget.jsonl"), "--retain", str(tmp_path / "retain.jsonl"), "--probes",
            str(tmp_path / "probes.jsonl")]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    out = r.output
    assert out.count("forget.jsonl  (") == 1 and out.count("retain.jsonl  (") == 1
    assert "12 x probe '…' is an item of the forget request" in out.replace("\n", " ")
    path = out.split("all 12 warnings in ")[1].split()[0]
    assert len(open(path, encoding="utf-8").read().splitlines()) == 12


def test_prompt_format_travels_from_sweep_to_export_and_eval(tiny_prep, tmp_path):
    """Issue 13 §3: one prompt format, given once (the sweep's prompt_format), is used for training, scoring,
    saved next to the exported weights and used by `froc eval` without being given again.

    Deliberate bug caught: a sweep that scores with the default 'Question: ...' template whatever it was told
    (the stored scores would equal those of the default format, and eval of the export would not match)."""
    _user_request(tiny_prep, tmp_path)
    custom = SWEEP.replace("resplits: 0", 'resplits: 0\nprompt_format: {template: "Q: {question}\\nA:"}')
    (tmp_path / "sweep.yaml").write_text(custom)
    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["run", str(tmp_path / "sweep.yaml"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    rec = json.loads((out / "summary.json").read_text())["recommendation"]["config_id"]
    dest = tmp_path / "shipped"
    assert CliRunner().invoke(app, ["export", str(out), rec, "--out", str(dest)]).exit_code == 0
    assert json.loads((dest / "prompt_format.json").read_text())["template"] == "Q: {question}\nA:"
    ev = tmp_path / "eval"
    r = CliRunner().invoke(app, ["eval", "--model", str(dest), "--probes", str(tmp_path / "probes.jsonl"), "--out",
                                 str(ev), "--batch-size", "32", "--max-new-tokens", "4", "--hidden-layers", "none"])
    assert r.exit_code == 0, r.output
    got = pd.read_parquet(ev / "per_sample.parquet")
    got = got[got["model"] == "target"].set_index("probe_id")
    with Store(out / "froc.duckdb", read_only=True) as st:
        stored = st.table(rec).set_index("probe_id")
        orig = st.table("__original__").set_index("probe_id")
    pd.testing.assert_series_equal(got.loc[stored.index, "gold_logp_mean"], stored["gold_logp_mean"],
                                   check_exact=False, atol=1e-6, check_names=False)
    # the format really applied: the original model's scores under it differ from its default-format scores
    from froc.metrics.scoring import score_probes
    from froc.models.loading import load_model

    m, tok = load_model(tmp_path / "model")
    probes = [p for p in tiny_prep[1].probes]
    default = score_probes(m, tok, probes, batch_size=32, generate=False).table.set_index("probe_id")
    assert (default.loc[orig.index, "gold_logp_mean"] - orig["gold_logp_mean"]).abs().max() > 1e-3


def test_duplicate_wrong_answer_warning_names_the_value(tmp_path):
    """Issue 17 §6: the warning said only "contains the same wrong answer more than once"."""
    from froc.data.loaders import load_items

    rec = {"id": "q1", "subject": "s", "question": "Q?", "answer": "A", "perturbed_answers": ["B", "C", "b "]}
    (tmp_path / "p.jsonl").write_text(json.dumps(rec) + "\n")
    (w,) = load_items(tmp_path / "p.jsonl").warnings
    assert w.line == 1 and w.field == "perturbed_answers" and "'b '" in w.message and "element 0" in w.message
