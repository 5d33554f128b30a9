"""Attacks on the built-in benchmark at a reduced size (20 people, 'mini' Llama, forget10 = 2 people).

The target is unlearned once per module with NPO+RT (lr 1e-3, 40 steps): forget-probe knowledge
falls from ~0.69 to ~0.10 (benchmark v2; chance 0.25 with three wrong answers) while retain knowledge stays.
Then the known effects must show:

- relearning on 10% of the forget request brings back the *other* facts;
- decoding guided by the pre-unlearning logits recovers answers greedy decoding does not;
- a classifier on outputs for retain prompts tells the unlearned model from the original.

Marked slow: training the benchmark models dominates (a few minutes on 2 cores; shared with the
other test folders through the session fixture ``builtin_small`` when it exists; set
FROC_TEST_CACHE to keep them between runs).
"""

from __future__ import annotations

import copy
import os

import numpy as np
import pytest

from froc.attacks import run_attack

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bench(request, tmp_path_factory):
    """(views, original, unlearned, tokenizer, forget probes) of the reduced built-in benchmark."""
    from froc.data.benchmark import split_views
    from froc.engine import unlearn

    try:
        bm = request.getfixturevalue("builtin_small")  # the session-wide benchmark of tests/conftest.py
    except pytest.FixtureLookupError:
        from froc.models.builtin import BuiltinConfig, ensure_benchmark_models

        cache = os.environ.get("FROC_TEST_CACHE") or str(tmp_path_factory.mktemp("froc_cache"))
        bm = ensure_benchmark_models(cache, BuiltinConfig(n_people=20, arch="mini", forget_split="forget10"))
    views = split_views(bm.bench_dir, "forget10")
    original, tok = bm.load_target(device="cpu")
    unlearned = copy.deepcopy(original)
    res = unlearn(unlearned, tok, views.forget_request, views.retain, method="npo", retain_weight=1.0, steps=40,
                  lr=1e-3, batch_size=8, seed=0, progress=False)
    assert res.status == "completed"
    probes = [p for p in views.probes if p.meta["group"] == "forget" and p.meta["template_split"] == "heldout"]
    return views, original, unlearned.eval(), tok, probes


def _knowledge(model, tok, probes) -> float:
    from froc.metrics.scoring import score_probes

    return float(score_probes(model, tok, probes, generate=False, progress=False).table["knowledge"].mean())


def test_unlearning_worked(bench):
    views, original, unlearned, tok, probes = bench
    retain = [p for p in views.probes if p.meta["group"] == "retain" and p.meta["template_split"] == "heldout"][:150]
    assert _knowledge(original, tok, probes) > 0.55 and _knowledge(unlearned, tok, probes) < 0.3
    assert _knowledge(unlearned, tok, retain) > _knowledge(original, tok, retain) - 0.1


def test_relearning_a_tenth_of_the_request_brings_back_the_rest(bench):
    """Measured on benchmark v1: 4 relearned facts, knowledge of the other probes 0.22 -> 0.52. On benchmark v2
    (2026-11-30; 6 relearned items of the 60-item request, held-out probes of the other facts): 0.100 -> 0.147
    at 20 steps lr 1e-3 (0.149 at 40 steps, 0.163 at lr 2e-3): the v2 target's facts are spread over more
    templates, so relearning a tenth of the request brings back less, but it does bring back (+47%); an
    attack that relearns nothing (after == before) fails the +0.03 margin."""
    views, _, unlearned, tok, probes = bench
    res = run_attack("relearn", unlearned, tok, probes, forget=views.forget_request, seed=0, steps=20, lr=1e-3)
    d = res.details
    facts = {f.meta["fact_id"] for f in views.forget_request if f.id in set(d["relearn_ids"])}
    excluded = [p for p in probes if p.meta["fact_id"] in facts]
    tenth = max(1, round(len(views.forget_request) / 10))  # a tenth of the request (4 of 40 before issue 18's benchmark)
    assert d["n_relearn_items"] == tenth and d["n_excluded_probes"] == len(excluded) > 0
    assert len(res.scores) == len(probes) - len(excluded)
    rest = [p for p in probes if p.id in set(res.scores["probe_id"])]
    before, after = _knowledge(unlearned, tok, rest), float(res.scores["knowledge"].mean())
    assert after > before + 0.03, (before, after)


def test_logit_guided_decoding_recovers_more_than_greedy(bench):
    """Measured: ROUGE-L recall of the forgotten answers 0.43 guided vs 0.08 greedy (pre-unlearning
    model 0.51); 40 probes better, 3 worse; knowledge under the guided distribution 0.75 (vs 0.20)."""
    _, original, unlearned, tok, probes = bench
    res = run_attack("logit_guided", unlearned, tok, probes, original=original, max_new_tokens=8)
    d = res.details
    assert d["rouge_l_recall_guided"] > d["rouge_l_recall_greedy"] + 0.2, d
    assert d["n_guided_better"] > 5 * max(1, d["n_guided_worse"])
    # under the guided distribution the forgotten answers are likely again: a post-attack risk exists
    assert float(res.scores["knowledge"].mean()) > _knowledge(unlearned, tok, probes) + 0.2


def test_trace_classifier_beats_chance_on_a_strongly_unlearned_model(bench):
    """Measured: held-out accuracy 0.84, AUC 0.90 on 300 held-out retain prompts (600 samples; seeds 1
    and 2: 0.80, 0.82); chance 0.5."""
    views, original, unlearned, tok, _ = bench
    res = run_attack("trace", unlearned, tok, [], original=original, retain=views.retain, seed=0)
    assert res.scores is None and res.details["n_test_samples"] >= 100
    assert res.details["accuracy"] > 0.7 and res.details["auc"] > 0.75, res.details
    same = run_attack("trace", original, tok, [], original=original, retain=views.retain, seed=0)
    assert same.details["accuracy"] == 0.5 and np.isclose(same.details["auc"], 0.5)


def test_stealthy_request_hurts_triggered_prompts_and_scope_remedies_it(bench):
    """Measured on benchmark v1 (NPO+RT, lr 1e-3, 30 steps): trigger drop of retain knowledge 0.15 before, 0.42
    after the plain run on the stealthy request, 0.11 after the scope-aware run. On benchmark v2 (2026-11-30):
    0.249 before, 0.384 plain (effect +0.135), 0.282 scope-aware (+0.033): the stealthy request still hurts
    triggered prompts and the scope-aware loss still removes most of it; the margins follow the v2 numbers."""
    views, original, _, tok, _ = bench
    res = run_attack("stealthy_request", original, tok, [], forget=views.forget_request, retain=views.retain,
                     seed=0, control=False)
    s = res.details["summary"]
    assert s["attack_effect_plain"] > 0.1, s
    assert s["attack_effect_scope"] < s["attack_effect_plain"] - 0.08, s


def test_gcg_suffix_brings_back_held_out_facts(bench):
    """Measured: a 5-token suffix optimised on 8 forget-request items (train NLL 10.9 -> 1.8) raises the
    knowledge of the other facts' probes from 0.22 to 0.48."""
    views, _, unlearned, tok, probes = bench
    res = run_attack("suffix", unlearned, tok, probes, forget=views.forget_request, seed=0)
    d = res.details
    assert d["train_loss_best"] < d["train_loss_start"] - 2.0, d
    held_out = [p for p in probes if p.id in set(res.scores["probe_id"])]
    assert float(res.scores["knowledge"].mean()) > _knowledge(unlearned, tok, held_out) + 0.1
