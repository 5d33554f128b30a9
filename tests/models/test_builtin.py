"""The built-in benchmark's models really memorise, are cached, and load like user models."""

from __future__ import annotations

import json

import pytest
import torch

from froc.data.benchmark import split_views
from froc.models.builtin import BuiltinConfig, ensure_benchmark_models, select_training_items
from froc.models.loading import load_model
from froc.models.sft import SFTConfig, answer_exact_match

# A reduced benchmark that memorises in well under a minute on 2 CPU cores, so the default test run
# exercises the whole built-in path (generate, tokenizer, target + oracle training, cache, loading).
REDUCED = BuiltinConfig(n_people=10, arch="mini", forget_split="forget10",
                        sft=SFTConfig(epochs=150, lr=3e-3, batch_size=32, stop_at_em=0.99, check_every=5, bf16=False))


@pytest.fixture(scope="module")
def builtin_reduced(tmp_path_factory):
    return ensure_benchmark_models(tmp_path_factory.mktemp("froc-cache"), REDUCED)


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


def test_models_load_with_the_user_loader(builtin_reduced):
    model, tok = load_model(builtin_reduced.target_dir, device="cpu")
    views = split_views(builtin_reduced.bench_dir, "forget10")
    em = answer_exact_match(model, tok, views.forget_request)
    assert em.float().mean() >= 0.95
    assert list(builtin_reduced.target_dir.glob("*.safetensors"))
    assert not list(builtin_reduced.target_dir.glob("*.bin"))


def test_cache_is_reused(builtin_reduced):
    import time

    t = time.perf_counter()
    again = ensure_benchmark_models(builtin_reduced.root.parent.parent, REDUCED)
    assert time.perf_counter() - t < 10  # nothing retrained
    assert again.root == builtin_reduced.root
    assert again.report == builtin_reduced.report
    other = BuiltinConfig(**{**REDUCED.__dict__, "model_seed": 1})
    assert other.key({"sha256": "x"}) != REDUCED.key({"sha256": "x"})  # the config is part of the cache key


def test_training_selection_keeps_every_qa_and_rotates_forms(builtin_reduced):
    views = split_views(builtin_reduced.bench_dir, "forget10")
    sel = select_training_items(views.train_all, 1)
    qa_all = [i for i in views.train_all if i.form == "qa"]
    assert [i for i in sel if i.form == "qa"] == qa_all
    per_fact = {}
    for i in sel:
        if i.form in ("cloze", "mcq", "yesno"):
            per_fact.setdefault(i.meta["fact_id"], []).append(i.form)
    assert all(len(v) == 1 for v in per_fact.values())
    assert {f for v in per_fact.values() for f in v} == {"cloze", "mcq", "yesno"}
    assert select_training_items(views.train_all, 3) == list(views.train_all)
