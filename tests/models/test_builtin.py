"""The built-in benchmark's models really memorise, are cached, and load like user models."""

from __future__ import annotations

import json

import pytest
import torch

from froc.data.benchmark import split_views
from froc.models.builtin import BuiltinConfig, ensure_benchmark_models, select_training_items
from froc.models.loading import load_model
from froc.models.sft import answer_exact_match


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
def test_models_load_with_the_user_loader(builtin_small):
    model, tok = load_model(builtin_small.target_dir, device="cpu")
    views = split_views(builtin_small.bench_dir, "forget10")
    em = answer_exact_match(model, tok, views.forget_request[:20])
    assert em.float().mean() >= 0.9
    assert list(builtin_small.target_dir.glob("*.safetensors"))


@pytest.mark.slow
def test_cache_is_reused(builtin_small):
    cfg = BuiltinConfig(n_people=20, arch="mini", forget_split="forget10")
    again = ensure_benchmark_models(builtin_small.root.parent.parent, cfg)
    assert again.root == builtin_small.root
    assert again.report == builtin_small.report


@pytest.mark.slow
def test_training_selection_keeps_every_qa_and_rotates_forms(builtin_small):
    views = split_views(builtin_small.bench_dir, "forget10")
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
