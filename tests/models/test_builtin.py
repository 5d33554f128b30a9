"""The built-in benchmark's models really memorise, are cached, and load like user models."""

from __future__ import annotations

import json

import pytest
import torch

from froc.data.benchmark import split_views
from froc.models.builtin import (
    BuiltinConfig,
    ensure_benchmark_models,
    select_training_items,
)
from froc.models.loading import load_model
from froc.models.sft import SFTConfig, answer_exact_match

# A reduced benchmark (10 people, 1.3k training items) that memorises in about two minutes on 2 CPU cores:
# the slow tests check memorisation on it. CHEAP trains a few steps only (seconds), so the default test run
# still exercises the whole built-in path (generate, tokenizer, two training processes, cache, loading).
REDUCED = BuiltinConfig(n_people=10, arch="mini", forget_split="forget10",
                        sft=SFTConfig(epochs=60, lr=5e-3, batch_size=32, stop_at_em=0.99, check_every=2, bf16=False))
CHEAP = BuiltinConfig(n_people=10, arch="tiny", forget_split="forget10",
                      sft=SFTConfig(epochs=1, lr=3e-3, batch_size=32, max_steps=6, bf16=False))


@pytest.fixture(scope="module")
def builtin_reduced(tmp_path_factory):
    return ensure_benchmark_models(tmp_path_factory.mktemp("froc-cache"), REDUCED)


@pytest.fixture(scope="module")
def builtin_cheap(tmp_path_factory):
    return ensure_benchmark_models(tmp_path_factory.mktemp("froc-cache-cheap"), CHEAP)


@pytest.mark.slow
def test_reduced_benchmark_target_memorises_oracle_does_not(builtin_reduced):
    rep = builtin_reduced.report
    assert rep["target"]["train_em_forget"] >= 0.95, rep["target"]
    for name in ("target", "oracle"):
        assert rep[name]["train_em_retain_people"] >= 0.95, rep[name]
    assert rep["oracle"]["train_em_forget"] <= 0.2, rep["oracle"]
    assert rep["target"]["items"] > rep["oracle"]["items"]  # the oracle never saw the forget people
    assert "heldout_em_paraphrase" in rep["target"]



@pytest.mark.slow
def test_target_and_oracle_memorise(builtin_small):
    rep = builtin_small.report
    for name in ("target", "oracle"):
        assert rep[name]["train_em_retain_people"] >= 0.95, rep[name]
    assert rep["target"]["train_em_forget"] >= 0.95, rep["target"]
    # the oracle never saw the forget people: it cannot reproduce their answers
    assert rep["oracle"]["train_em_forget"] <= 0.2, rep["oracle"]
    print(json.dumps({k: rep["target"][k] for k in rep["target"] if "em" in k}, indent=1))


@pytest.mark.slow
def test_models_load_with_the_user_loader(builtin_reduced):
    model, tok = load_model(builtin_reduced.target_dir, device="cpu")
    views = split_views(builtin_reduced.bench_dir, "forget10")
    em = answer_exact_match(model, tok, views.forget_request)
    assert em.float().mean() >= 0.95
    assert list(builtin_reduced.target_dir.glob("*.safetensors"))
    assert not list(builtin_reduced.target_dir.glob("*.bin"))


def test_cheap_models_load_and_report(builtin_cheap):
    model, _ = load_model(builtin_cheap.target_dir, device="cpu")
    assert model.config.vocab_size > 0
    assert list(builtin_cheap.target_dir.glob("*.safetensors")) and not list(builtin_cheap.target_dir.glob("*.bin"))
    rep = builtin_cheap.report
    assert rep["target"]["items"] > rep["oracle"]["items"]  # the oracle never saw the forget people
    # yes/no is not trained on (skip_forms); every other form is
    views = split_views(builtin_cheap.bench_dir, "forget10")
    n_yesno = sum(i.form == "yesno" for i in views.train_all)
    assert rep["target"]["items"] == len(views.train_all) - n_yesno > 0
    assert set(rep["target"]["em_by_family"]) == {"forget", "kept"}
    assert "train/cloze" in rep["target"]["em_by_family"]["forget"]


def test_cache_is_reused(builtin_cheap, monkeypatch):
    """Nothing is retrained: asserted by making training impossible (and the weights untouched), not by a
    wall-clock bound that a loaded machine could break or a fast one could hide."""
    import froc.models.builtin as builtin

    def no_training(*a, **kw):
        raise AssertionError("the cached benchmark models were retrained")

    monkeypatch.setattr(builtin, "_train_pair", no_training)
    monkeypatch.setattr(builtin, "_train_one", no_training)
    weights = {p: p.stat().st_mtime_ns for p in builtin_cheap.root.rglob("*.safetensors")}
    assert weights
    again = ensure_benchmark_models(builtin_cheap.root.parent.parent, CHEAP)
    assert {p: p.stat().st_mtime_ns for p in builtin_cheap.root.rglob("*.safetensors")} == weights
    assert again.root == builtin_cheap.root
    assert again.report == builtin_cheap.report
    other = BuiltinConfig(**{**CHEAP.__dict__, "model_seed": 1})
    assert other.key({"sha256": "x"}) != CHEAP.key({"sha256": "x"})  # the config is part of the cache key


def test_training_selection_keeps_every_qa_and_rotates_forms(builtin_cheap):
    views = split_views(builtin_cheap.bench_dir, "forget10")
    sel = select_training_items(views.train_all, 1)
    qa_all = [i for i in views.train_all if i.form == "qa"]
    assert [i for i in sel if i.form == "qa"] == qa_all
    per_fact = {}
    for i in sel:
        if i.form in ("cloze", "mcq", "yesno"):
            per_fact.setdefault(i.meta["fact_id"], set()).add(i.form)
    assert all(len(v) == 1 for v in per_fact.values())  # one other form per fact, all its templates
    assert {f for v in per_fact.values() for f in v} == {"cloze", "mcq", "yesno"}
    assert select_training_items(views.train_all, 3) == list(views.train_all)


def test_parallel_training_gives_the_same_weights(tmp_path):
    """Target and oracle trained at the same time (two processes) equal the one-after-the-other models."""
    from safetensors.torch import load_file

    cfg = BuiltinConfig(n_people=10, arch="tiny", forget_split="forget10",
                        sft=SFTConfig(epochs=1, lr=3e-3, batch_size=32, max_steps=6, bf16=False))
    par = ensure_benchmark_models(tmp_path / "par", cfg, parallel=True)
    seq = ensure_benchmark_models(tmp_path / "seq", cfg, parallel=False)
    for name in ("target_dir", "oracle_dir"):
        a = load_file(str(next(getattr(par, name).glob("*.safetensors"))))
        b = load_file(str(next(getattr(seq, name).glob("*.safetensors"))))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    assert par.report["target"]["steps"] == seq.report["target"]["steps"] == 6


def test_cache_key_covers_exactly_the_files_the_models_read():
    """The default models read neither reasoning.jsonl nor unknown.jsonl: changing those keeps their key (so
    adding them in benchmark v3 retrained nothing); with ``reasoning`` the reasoning file is read and keyed."""
    from froc.models.builtin import BuiltinConfig

    sha = {"train.jsonl": "a", "probes.jsonl": "b", "reasoning.jsonl": "c", "unknown.jsonl": "d"}
    moved_toy = {**sha, "unknown.jsonl": "D"}
    moved_hops = {**sha, "reasoning.jsonl": "C"}
    plain, hops = BuiltinConfig(n_people=20), BuiltinConfig(n_people=20, reasoning=True)
    assert plain.key({"sha256": sha}) == plain.key({"sha256": moved_toy}) == plain.key({"sha256": moved_hops})
    assert plain.key({"sha256": sha}) != plain.key({"sha256": {**sha, "train.jsonl": "A"}})
    assert hops.key({"sha256": sha}) == hops.key({"sha256": moved_toy}) != hops.key({"sha256": moved_hops})
    assert hops.key({"sha256": sha}) != plain.key({"sha256": sha})
