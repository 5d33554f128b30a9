"""Behaviour of the methods of issue 16 on the built-in benchmark (slow: trains the benchmark's models once,
cached in $FROC_CACHE; then seconds per run).

Same setting and measures as tests/engine/test_builtin_behaviour.py: the 20-person benchmark, split forget10;
"drop" is how many times the geometric-mean probability of the forget request's answers fell; "retain" and
"neighbour" are the exact match of the retained and the neighbour people's trained qa probes after
unlearning, as a share of the original's. Thresholds sit below the values measured when the test was
written (seed 0, listed per case), so a method that stops forgetting or starts destroying retain fails.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest
from unlearn_fixtures import builtin20, exact_match, mean_logp, trained_qa

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bench():
    return builtin20()


def _measure(model, tok, views):
    return {"forget_logp": mean_logp(model, tok, views.forget_request),
            "retain_logp": mean_logp(model, tok, trained_qa(views, "retain")),
            "retain_em": exact_match(model, tok, trained_qa(views, "retain")),
            "neighbour_em": exact_match(model, tok, trained_qa(views, "neighbour"))}


def _run(bench, method, forget=None, retain=None, **kw):
    """Unlearn a fresh copy of the target; returns (result, {drop, retain, neighbour, retain_logp_drop})."""
    from froc.engine import unlearn

    bm, views = bench
    model, tok = bm.load_target(device="cpu")
    before = _measure(model, tok, views)
    res = unlearn(model, tok, forget if forget is not None else views.forget_request,
                  retain if retain is not None else views.retain, method=method, refusals=views.refusals,
                  progress=False, **kw)
    after = _measure(res.model, tok, views)
    return res, {"drop": math.exp(before["forget_logp"] - after["forget_logp"]),
                 "retain": after["retain_em"] / before["retain_em"],
                 "neighbour": after["neighbour_em"] / before["neighbour_em"],
                 "retain_logp_drop": before["retain_logp"] - after["retain_logp"]}


BASE = dict(steps=60, batch_size=16)
CASES = {  # method: (hyperparameters, minimum forget drop, minimum retain ratio); measured (seed 0): drop, retain
    "ceu": (dict(lr=1e-4, retain_weight=3.0), 4.0, 0.8),  # 7.1x, 0.90
    "satimp": (dict(lr=2e-3, forget_weight=1.0), 5.0, 0.75),  # 23.3x, 0.82 (weight p^5 (1-p) ~ 0 on memorised tokens)
    "pdu": (dict(lr=5e-5, retain_preference=100.0, dual_step_size=5.0), 1.5, 0.9),  # 2.0x, 0.98 (1e-4: 72.8x, 0.73)
    "dpo": (dict(lr=2e-4, alternatives="perturbed", n_alternatives=3, retain_weight=5.0), 5.0, 0.8),  # 288x, 0.85
    "altpo": (dict(lr=2e-4, retain_weight=5.0), 5.0, 0.85),  # 226x, 0.92
    "tru": (dict(lr=2e-4, retain_weight=5.0), 2.0, 0.9),  # 2.7x, 0.95 (3e-4 with weight 2: 1321x, 0.75)
    "icu": (dict(lr=3e-4, retain_weight=3.0), 5.0, 0.85),  # 28.5x, 0.94
    "bild": (dict(lr=1e-4, boundary_teacher="plain", boundary_weight=3.0), 5.0, 0.85),  # 31.4x, 0.90
    "attention_shift": (dict(lr=2e-4), 4.0, 0.78),  # 8.9x, 0.82
    "circuit": (dict(lr=3e-4, base="graddiff", retain_weight=3.0), 5.0, 0.8),  # 1340x, 0.85 (graddiff: 1283x, 0.84)
}


@pytest.mark.parametrize("method", sorted(CASES))
def test_forgets_while_keeping_retain(bench, method):
    hparams, min_drop, min_retain = CASES[method]
    res, m = _run(bench, method, **BASE, **hparams)
    assert res.status == "completed", res.reason
    assert m["drop"] >= min_drop, f"{method}: forget probability fell only {m['drop']:.2f}x"
    assert m["retain"] >= min_retain, f"{method}: retain exact match fell to {m['retain']:.2f} of the original"


def _overlap_retain(views, share=0.25, n=400, seed=0):
    """A retain set of ``n`` items of which ``share`` are neighbours' items (people who share a family name, a
    birth city or an employer with a forgotten person): the forget and retain data overlap in those features."""
    neigh = set(views.neighbour_people)
    near = [it for it in views.retain if it.meta.get("person_id") in neigh]
    far = [it for it in views.retain if it.meta.get("person_id") not in neigh]
    rng = random.Random(seed)
    k = round(share * n)
    return rng.sample(near, k) + rng.sample(far, n - k)


def test_srmu_degrades_retain_less_than_rmu_under_overlap(bench):
    """25% of the retain set (100 of 400 items) are neighbours' items, overlapping the forget set's features;
    same layer (3), coefficient (c 40: both targets have length c), retain weight (1), lr (1e-2), steps (60) and
    seed; srmu must also forget.

    Measured (seed 0; in brackets seeds 1 and 2), as drop / retain / neighbours / retain log-prob drop:
    rmu 239x / 0.855 / 0.907 / 0.503 (1447x, 268x / 0.845, 0.845 / 0.86, 0.86 / 0.547, 0.548);
    srmu (ratio map) 150x / 0.889 / 0.873 / 0.428 (136x, 117x / 0.878, 0.883 / 0.887, 0.873 / 0.441, 0.447).
    srmu keeps more retain at every seed; its neighbours are within the noise of 150 probes (means over the
    three seeds 0.878 vs 0.876), hence the 0.05 tolerance. srmu forgets less at the same c; at c 60 (343x,
    more than rmu's 239x) it keeps retain 0.870 vs 0.855 (log-prob drop 0.495 vs 0.503) but neighbours 0.867.
    On this model the ratio map is nearly flat (v_f / v_r in 0.90-1.20 at layer 3 -> I_norm 0.75-1): with a
    flat map srmu gives the same (147x / 0.883 / 0.873 / 0.426), with RMU's positive u in place of the signs
    the same as rmu (250x / 0.855 / 0.900 / 0.505), so here the gain comes from the zero-mean sign vector V.
    (Before the paper's recipe, srmu pushed 16 Fisher-gated features by c from h_ref and forgot 1.0x.)"""
    _, views = bench
    retain = _overlap_retain(views)
    hp = dict(steps=60, lr=1e-2, batch_size=16, layer=3, steering_coeff=40.0, alpha=1.0)
    _, rmu = _run(bench, "rmu", retain=retain, **hp)
    _, srmu = _run(bench, "srmu", retain=retain, **hp)
    assert srmu["drop"] >= 5.0, srmu
    assert srmu["retain_logp_drop"] < rmu["retain_logp_drop"], (rmu, srmu)
    assert srmu["retain"] > rmu["retain"] and srmu["neighbour"] >= rmu["neighbour"] - 0.05, (rmu, srmu)


def test_roka_keeps_neighbours_where_graddiff_does_not(bench):
    """Neighbour items marked in the retain set (meta.neighbour), same lr, steps and retain weight. Measured:
    graddiff 1283x forget drop, neighbours 0.88 of the original; roka (neighbour_weight 10) 10881x,
    neighbours 0.99, retain 0.81."""
    _, views = bench
    neigh = set(views.neighbour_people)
    retain = [replace(it, meta={**it.meta, "neighbour": True}) if it.meta.get("person_id") in neigh else it
              for it in views.retain]
    _, gd = _run(bench, "graddiff", steps=60, lr=3e-4, batch_size=16, retain_weight=3.0)
    _, rk = _run(bench, "roka", retain=retain, steps=60, lr=3e-4, batch_size=16, retain_weight=3.0,
                 neighbour_weight=10.0)
    assert gd["neighbour"] < 0.95, gd
    assert rk["neighbour"] >= 0.97 and rk["neighbour"] > gd["neighbour"] + 0.05, (gd, rk)
    assert rk["drop"] >= gd["drop"] / 10 and rk["retain"] >= 0.75, rk


RL_CASES = {  # 30 steps of batch 8 (each step samples completions); measured (seed 0): drop, retain
    "purge": (dict(lr=3e-4, retain_weight=1.0), 2.0, 0.9),  # 3.6x, 0.96
    "rule": (dict(lr=3e-4), 2.0, 0.8),  # 3.2x, 0.87 (8 forget queries: 12% of the forget request)
}


@pytest.mark.parametrize("method", sorted(RL_CASES))
def test_rl_methods_forget_while_keeping_retain(bench, method):
    hparams, min_drop, min_retain = RL_CASES[method]
    res, m = _run(bench, method, steps=30, batch_size=8, **hparams)
    assert res.status == "completed", res.reason
    assert m["drop"] >= min_drop and m["retain"] >= min_retain, (method, m)


def test_au_unlearns_answers_outside_the_allow_list(bench):
    """The forget people's questions with "I don't know." as the one valid answer: the memorised real answers
    are hallucinations to AU's discovery loop. Measured: the real answers' probability fell 35x, retain 0.72
    (lr 3e-4, retain_weight 3; at lr 1e-4: 1.3x, 0.98)."""
    _, views = bench
    forget = [replace(it, answer="I don't know.") for it in views.forget_request]
    res, m = _run(bench, "au", forget=forget, steps=30, batch_size=8, lr=3e-4, retain_weight=3.0)
    assert res.status == "completed" and res.loss_parts[0]["hallucinating_share"] > 0.5
    assert m["drop"] >= 5.0 and m["retain"] >= 0.65, m


def test_r2mu_forgets_reasoning_traces_and_keeps_retain_reasoning_better_than_rmu():
    """The 20-person benchmark whose models also learnt the two-hop reasoning form ("In which country was X
    born?" -> "X was born in C. C lies in K. So the answer is K"). The method sees the forget request plus the
    forget people's reasoning items of training template 0 (with their traces) and the retain set plus the retain
    people's reasoning items; probes are the forget people's reasoning items of template 1 (trained, never shown).
    Same layer 3, c 40, a 3, lr 5e-3, 60 steps for both; r2mu's own cot_weight 10.

    "trace drop": how many times the probability of the probes' whole response (trace + answer) fell; "leak": the
    share of probes whose greedy response still names the bridge entity (the forgotten first-hop fact, C);
    "retain reasoning": exact match of the retain people's whole reasoning responses (the original: 1.0).
    Measured (seeds 0 / 1 / 2): rmu trace drop 1004x / 3113x / 563x, leak 0.25 / 0.25 / 0.75, retain reasoning
    0.667 / 0.667 / 0.778, retain qa 1.0; r2mu 387012x / 295443x / 481520x, leak 0.0 / 0.0 / 0.25, retain
    reasoning 0.806 / 0.819 / 0.847, retain qa 0.959 / 0.985 / 0.969, answer drop 14059x (rmu 7.0x)."""
    from froc.engine import unlearn
    from froc.metrics.generate import greedy_generate
    from froc.models.encoding import encode_prompt
    from froc.models.sft import answer_exact_match

    bm, views = builtin20(reasoning=True)
    hops = views.reasoning
    shown = [i for i in hops if i.meta["group"] == "forget" and i.meta["template"].endswith("/train0")]
    probes = [i for i in hops if i.meta["group"] == "forget" and i.meta["template"].endswith("/train1")]
    kept = [i for i in hops if i.meta["group"] != "forget" and i.meta["template_split"] == "train"]

    def measure(model, tok):
        outs = greedy_generate(model, tok, [encode_prompt(tok, i.question) for i in probes], max_new_tokens=40)
        return {"trace": mean_logp(model, tok, [i.in_full() for i in probes]),
                "leak": sum(i.meta["bridge_entity"] in o for i, o in zip(probes, outs)) / len(probes),
                "reasoning": answer_exact_match(model, tok, [i.in_full() for i in kept]).float().mean().item(),
                "forget": mean_logp(model, tok, views.forget_request),
                "retain": exact_match(model, tok, trained_qa(views, "retain"))}

    def run(method, **kw):
        model, tok = bm.load_target(device="cpu")
        before = measure(model, tok)
        res = unlearn(model, tok, list(views.forget_request) + shown, list(views.retain) + kept, method=method,
                      progress=False, steps=60, batch_size=16, lr=5e-3, layer=3, steering_coeff=40.0, alpha=3.0, **kw)
        assert res.status == "completed", res.reason
        after = measure(res.model, tok)
        assert before["leak"] == 1.0 and before["reasoning"] >= 0.95, before  # the target reasons before
        return {"trace_drop": math.exp(before["trace"] - after["trace"]), "leak": after["leak"],
                "reasoning": after["reasoning"], "drop": math.exp(before["forget"] - after["forget"]),
                "retain": after["retain"] / before["retain"]}

    rmu, r2mu = run("rmu"), run("r2mu", cot_weight=10.0)
    assert r2mu["drop"] >= 5.0 and r2mu["trace_drop"] >= 20 * rmu["trace_drop"], (rmu, r2mu)
    assert r2mu["leak"] <= rmu["leak"] - 0.2, (rmu, r2mu)
    assert r2mu["reasoning"] >= max(0.7, rmu["reasoning"] + 0.05) and r2mu["retain"] >= 0.9, (rmu, r2mu)


def test_au_on_the_hallucination_toy(bench):
    """The built-in hallucination toy (unknown.jsonl): people no model was trained on. Asked about them the target
    answers with a familiar value (a year, a city: hallucinated share 1.0 before). AU sees the request questions
    of the toy's "discover" people with a refusal as the valid answer and every refusal of refusals.txt on its
    allow-list; its discovery loop finds the hallucinations (all of them at the first step) and unlearns them.
    Hallucinated share = greedy 16-token answers naming no allowed refusal.

    Measured (seed 0; lr 1e-3, 100 steps of 16, retain weight 3): discover people's own questions 1.0 -> 0.52,
    their held-out paraphrases (never shown) 1.0 -> 0.55, retain exact match 0.78 of the original; the toy's
    held-out people (never shown) 1.0 -> 0.94: at this scale (0.28M parameters, 5 unknown people to learn from)
    AU does not learn that a stranger is unknown, which this test records but does not claim."""
    from froc.metrics.generate import greedy_generate
    from froc.models.encoding import encode_prompt

    _, views = bench
    shown = [i for i in views.unknown if i.meta["toy_split"] == "discover" and i.form == "qa"]
    paraphrases = [i for i in views.unknown if i.meta["toy_split"] == "discover" and i.form == "paraphrase"]
    allowed = [r.lower() for r in views.refusals]

    def hallucinated(model, tok, items):
        outs = greedy_generate(model, tok, [encode_prompt(tok, i.question) for i in items], max_new_tokens=16)
        return sum(not any(r in o.lower() for r in allowed) for o in outs) / len(items)

    bm, _ = bench
    model, tok = bm.load_target(device="cpu")
    before = (hallucinated(model, tok, shown), hallucinated(model, tok, paraphrases))
    res, m = _run(bench, "au", forget=shown, steps=100, batch_size=16, lr=1e-3, retain_weight=3.0,
                  allow=";".join(views.refusals))
    after = (hallucinated(res.model, tok, shown), hallucinated(res.model, tok, paraphrases))
    assert before == (1.0, 1.0) and res.loss_parts[0]["hallucinating_share"] == 1.0
    assert after[0] <= 0.7 and after[1] <= 0.75 and m["retain"] >= 0.7, (after, m)
