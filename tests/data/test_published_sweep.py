"""Sweeps on published-layout folders: config validation (file:line errors) and a TOFU sweep end to end
on the tiny model through ``froc.sweep.run_sweep``."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from published_helpers import tofu_splits, write_muse, write_tofu, write_wmdp

from froc.errors import ConfigError
from froc.sweep.config import expand_grid, load_sweep

HEAD = textwrap.dedent("""\
    name: bench
    model: ./model
    methods:
      graddiff: {lr: [1.0e-3]}
    steps: [1]
    """)


def _sweep(tmp_path: Path, data: str, extra: str = "") -> Path:
    p = tmp_path / "sweep.yaml"
    p.write_text(HEAD + data + extra)
    return p


@pytest.mark.parametrize("data, line, words", [
    ("data: {benchmark: tofu}\n", 6, ["data.benchmark", "data.path"]),
    ("data: {benchmark: tofu, path: d, corpus: news}\n", 6, ["data.corpus", "not an option of tofu", "forget_split"]),
    ("data:\n  benchmark: tofu\n  path: d\n  forget: f.jsonl\n", 9, ["data.forget", "drop this key"]),
    ("data:\n  path: d\n  forget: f.jsonl\n  retain: r.jsonl\n  probes: p.jsonl\n", 7, ["data.path", "data.benchmark"]),
    ("data: {forget: f.jsonl, retain: r.jsonl}\n", 6, ["data.probes is missing"]),
    ("data: {benchmark: tofu, path: d, forget_split: forget20}\n", 6, ["forget_split", "forget10"]),
    ("data: {benchmark: gsm8k, path: d}\n", 6, ["benchmark", "tofu"]),
])
def test_bad_benchmark_data_sections_name_file_and_line(tmp_path, data, line, words):
    with pytest.raises(ConfigError) as e:
        load_sweep(_sweep(tmp_path, data))
    msg = str(e.value)
    assert f"sweep.yaml:{line}" in msg, msg
    assert all(w in msg for w in words), msg


def test_benchmark_sweep_config_resolves_path_and_keeps_old_config_ids(tmp_path):
    cfg = load_sweep(_sweep(tmp_path, "data: {benchmark: wmdp, path: wmdp, subset: cyber}\n"))
    assert cfg.data.path == str((tmp_path / "wmdp").resolve()) and cfg.data.subset == "cyber"
    # a user-file sweep dumps exactly the keys it had before benchmarks existed (config ids unchanged)
    old = load_sweep(_sweep(tmp_path, "data: {forget: f.jsonl, retain: r.jsonl, probes: p.jsonl}\n"))
    assert set(old.data.model_dump()) == {"forget", "retain", "probes", "refusals"}
    assert expand_grid(old)[0]["config_id"] != expand_grid(cfg)[0]["config_id"]


def test_prepare_builds_each_benchmark_request(tmp_path):
    from froc.sweep.prepare import prepare

    write_tofu(tmp_path / "tofu")
    write_muse(tmp_path / "muse" / "news")
    write_wmdp(tmp_path / "wmdp")
    prep = prepare(load_sweep(_sweep(tmp_path, "data: {benchmark: tofu, path: tofu}\n")))
    groups = {g: sum(p.meta["group"] == g for p in prep.probes) for g in ("forget", "retain", "world")}
    # 20 forget10_perturbed rows, 20 retain_perturbed, 2 real authors + 3 world facts (default caps don't bind)
    assert (len(prep.forget), len(prep.retain), groups) == (20, 60, {"forget": 20, "retain": 20, "world": 5})
    assert prep.data_info["benchmark"] == "tofu" and "forget10" in prep.question

    # the fixture has a single utility probe: all of it goes to calibration (a calibration split without utility
    # probes is refused before training)
    prep = prepare(load_sweep(_sweep(tmp_path, "data: {benchmark: muse, path: muse, corpus: news}\n",
                                     "splits: {tune: 0.0, cal: 1.0, test: 0.0}\n")))
    kinds = sorted({type(p).__name__ for p in prep.probes})
    assert kinds == ["QAItem", "TextItem"] and len(prep.probes) == 5 and len(prep.forget) == 1

    with pytest.raises(ConfigError, match="no utility probes"):
        prepare(load_sweep(_sweep(tmp_path, "data: {benchmark: wmdp, path: wmdp}\n")))
    prep = prepare(load_sweep(_sweep(tmp_path, "data: {benchmark: wmdp, path: wmdp}\n",
                                     "budget: {alpha_forget: 0.5, alpha_utility: null, delta: 0.2}\n")))
    assert [p.form for p in prep.probes] == ["mcq"] * 3 and len(prep.retain) == 2


def test_tofu_sweep_runs_end_to_end_on_the_tiny_model(tmp_path):
    """A sweep YAML pointing at a TOFU-layout folder runs: prepare, train, score, certify, summary."""
    from froc.models.tiny import tiny_model_and_tokenizer
    from froc.sweep.runner import run_sweep

    splits = tofu_splits(n_authors=2)  # 20 forget + 20 retain rows
    splits["retain_perturbed"] = splits["retain_perturbed"][:20]
    write_tofu(tmp_path / "tofu", "json", splits)
    texts = [r["question"] + " " + r["answer"] for rows in splits.values() for r in rows]
    model, tok = tiny_model_and_tokenizer(texts)
    model.save_pretrained(str(tmp_path / "model"), safe_serialization=True)
    tok.save_pretrained(str(tmp_path / "model"))
    sweep = _sweep(tmp_path, "data: {benchmark: tofu, path: tofu, forget_split: forget10}\n", textwrap.dedent("""\
        batch_size: 4
        budget: {alpha_forget: 0.5, alpha_utility: 0.5, delta: 0.2}
        losses: {tau_forget: chance}
        max_new_tokens: 4
        resplits: 5
        device: cpu
        """))
    run_sweep(sweep, tmp_path / "out", progress=False, attacks=False, report=False)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [c["method"] for c in summary["configs"]] == ["graddiff"]
    assert summary["configs"][0]["status"] == "ok"
    # 20 forget probes (forget10_perturbed) and 25 utility probes split 20/40/40 per side
    n = {k: v for k, v in summary["data"].items() if k.startswith("n_")}
    assert n["n_forget_tune"] + n["n_forget_cal"] + n["n_forget_test"] == 20, n
    assert n["n_utility_tune"] + n["n_utility_cal"] + n["n_utility_test"] == 25, n


@pytest.mark.parametrize("bench", ["muse", "wmdp"])
def test_muse_and_wmdp_sweeps_run_end_to_end_with_a_report(tmp_path, bench):
    """Issue 13 done-when: a sweep YAML pointing at a MUSE / WMDP layout runs end to end (prepare, train, score,
    certify, report). MUSE's verbmem probes are raw text (scored without generation-based correctness); WMDP
    is forget-only multiple choice (alpha_utility: null)."""
    from froc.models.tiny import tiny_model_and_tokenizer
    from froc.sweep.runner import run_sweep

    if bench == "muse":
        write_muse(tmp_path / "muse" / "news")
        data = "data: {benchmark: muse, path: muse, corpus: news}\n"
        extra = "budget: {alpha_forget: 0.9, alpha_utility: 0.9, delta: 0.5}\nsplits: {tune: 0.0, cal: 1.0, test: 0.0}\n"
    else:
        write_wmdp(tmp_path / "wmdp")
        data = "data: {benchmark: wmdp, path: wmdp}\n"
        extra = "budget: {alpha_forget: 0.9, alpha_utility: null, delta: 0.5}\nsplits: {tune: 0.0, cal: 1.0, test: 0.0}\n"
    model, tok = tiny_model_and_tokenizer()
    model.save_pretrained(str(tmp_path / "model"), safe_serialization=True)
    tok.save_pretrained(str(tmp_path / "model"))
    sweep = _sweep(tmp_path, data, extra + "batch_size: 2\nlosses: {tau_forget: chance}\nmax_new_tokens: 3\n"
                                          "resplits: 0\ndevice: cpu\n")
    res = run_sweep(sweep, tmp_path / "out", progress=False, attacks=False)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["configs"][0]["status"] == "ok" and summary["configs"][0]["cur"] is not None
    assert res.report is not None and res.report.stat().st_size > 5_000
