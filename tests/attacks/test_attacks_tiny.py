"""Every attack on the tiny model: runs, never modifies the given models, is seeded; plus the
hand-checkable pieces (quantization grid, guided distribution, context building, registry errors)."""

from __future__ import annotations

import importlib.util
import math
import random

import numpy as np
import pytest
import torch

from froc.attacks import ATTACKS, AttackResult, run_attack
from froc.attacks.base import state_fingerprint
from froc.errors import ConfigError

# small budgets so each attack takes about a second on the tiny model
FAST = {
    "relearn": {"steps": 4, "batch_size": 2, "fraction": 0.4},
    "suffix": {"steps": 2, "n_train": 3, "n_candidates": 8, "topk": 8},
    "logit_guided": {"max_new_tokens": 6},
    "stealthy_request": {"steps": 2, "n_eval": 3, "batch_size": 2},
}


def _same_state(before: dict, model) -> bool:
    after = model.state_dict()
    return before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def _run(name, pair, probes, forget, retain, seed=0, **extra):
    original, unlearned, tok = pair
    return run_attack(name, unlearned, tok, probes, original=original, forget=forget, retain=retain, seed=seed,
                      **{**FAST.get(name, {}), **extra})


def _frames_equal(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    cols = ["probe_id", "knowledge", "correct_choice", "gold_logp_mean"]
    return a[cols].equals(b[cols])


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_runs_is_seeded_and_leaves_models_unchanged(name, tiny_pair, probes, forget, retain):
    original, unlearned, _ = tiny_pair
    s_unl, s_orig = state_fingerprint(unlearned), state_fingerprint(original)
    grads = [p.requires_grad for p in unlearned.parameters()]
    py_state, torch_state = random.getstate(), torch.get_rng_state()

    res = _run(name, tiny_pair, probes, forget, retain, seed=3)
    again = _run(name, tiny_pair, probes, forget, retain, seed=3)

    assert isinstance(res, AttackResult) and res.name == name and res.seconds > 0
    assert _same_state(s_unl, unlearned) and _same_state(s_orig, original)
    assert [p.requires_grad for p in unlearned.parameters()] == grads and not unlearned.training
    assert random.getstate() == py_state and torch.equal(torch.get_rng_state(), torch_state)  # caller's RNG untouched
    spec = ATTACKS[name]
    assert res.details["params"] == {**spec.defaults(), **FAST.get(name, {})}
    if spec.per_sample:
        t = res.scores
        assert {"probe_id", "knowledge", "correct_choice"} <= set(t.columns) and len(t) > 0
        assert set(t["probe_id"]) <= {p.id for p in probes} and t["probe_id"].is_unique
        assert t["knowledge"].between(0, 1).all() and np.isfinite(t["gold_logp_mean"]).all()
    else:
        assert res.scores is None
    assert _frames_equal(res.scores, again.scores)  # same seed, same output
    strip = lambda d: {k: v for k, v in d.items() if k not in ("seconds",)}  # noqa: E731
    assert strip(res.details) == strip(again.details)


def test_registry_errors_list_the_valid_choices(tiny_pair, probes, forget):
    _, m, tok = tiny_pair
    with pytest.raises(ConfigError, match="valid attacks: .*logit_guided.*relearn"):
        run_attack("jailbreak", m, tok, probes)
    with pytest.raises(ConfigError, match="valid parameters: fraction, size, steps, lr, batch_size"):
        run_attack("relearn", m, tok, probes, forget=forget, epochs=3)
    with pytest.raises(ConfigError, match="needs forget"):
        run_attack("relearn", m, tok, probes)
    with pytest.raises(ConfigError, match="needs original"):
        run_attack("logit_guided", m, tok, probes)
    with pytest.raises(ConfigError, match="invalid value 'many' for parameter 'steps'"):
        run_attack("relearn", m, tok, probes, forget=forget, steps="many")
    with pytest.raises(ConfigError, match="unknown form"):
        run_attack("forms", m, tok, probes, forms=["qa", "sonnet"])


def test_params_are_coerced_from_cli_strings():
    from froc.attacks import build_params

    p = build_params(ATTACKS["relearn"], {"steps": "7", "lr": "1e-3", "size": "2"})
    assert (p.steps, p.lr, p.size) == (7, 1e-3, 2)
    g = build_params(ATTACKS["logit_guided"], {"tau": "inf"})
    assert math.isinf(g.tau)
    s = build_params(ATTACKS["stealthy_request"], {"triggers": "kindly,so", "control": "false"})
    assert s.triggers == ["kindly", "so"] and s.control is False


# ----------------------------------------------------------------------------- relearn


def test_relearn_excludes_the_relearned_facts(tiny_pair, probes, forget):
    res = _run("relearn", tiny_pair, probes, forget, None, size=2)
    used = set(res.details["relearn_ids"])
    facts = {f.meta["fact_id"] for f in forget if f.id in used}
    assert len(used) == 2 and res.details["n_excluded_probes"] == 3 * len(facts)  # 3 probes per fact
    assert not any(pid.rsplit("/", 1)[0] in facts for pid in res.scores["probe_id"])
    assert len(res.scores) == len(probes) - res.details["n_excluded_probes"]


# ----------------------------------------------------------------------------- quantization


def test_rtn_quantization_by_hand():
    from froc.attacks.quantize import quantize_rtn

    w = torch.tensor([[1.0, -0.4, 0.26], [0.0, 0.0, 0.0], [-2.0, 1.0, 0.1]])
    # 2 bits: qmax = 1, scale = row max: round(-0.4) = 0, round(0.26) = 0, round(1 / 2) = 0 (half to even)
    assert torch.equal(quantize_rtn(w, 2), torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [-2.0, 0.0, 0.0]]))
    # 4 bits: qmax = 7, scale = 1/7 on row 0: 0.26 * 7 = 1.82 -> 2/7; -0.4 * 7 = -2.8 -> -3/7
    torch.testing.assert_close(quantize_rtn(w, 4)[0], torch.tensor([1.0, -3 / 7, 2 / 7]))
    # groups of 2 columns: row 2's second group [0.1] has its own scale and is kept exactly
    assert quantize_rtn(w, 4, group_size=2)[2, 2] == pytest.approx(0.1)


def test_quantization_error_8bit_small_4bit_larger(tiny_pair, probes):
    r8 = _run("quantize_8bit", tiny_pair, probes, None, None, backend="rtn")
    r4 = _run("quantize_4bit", tiny_pair, probes, None, None, backend="rtn")
    d8, d4 = r8.details, r4.details
    assert d8["backend"] == d4["backend"] == "rtn" and d8["bits"] == 8 and d4["bits"] == 4
    assert d8["rel_error_max"] < 0.01 < d4["rel_error_mean"] < 0.2  # 8-bit: ~0.5%; 4-bit: ~10%
    assert d4["rel_error_mean"] > 10 * d8["rel_error_mean"]
    # tied input/output embeddings are skipped unless asked for, and counted once when they are
    assert not any("embed" in n or "lm_head" in n for n in d8["layers"])
    with_emb = _run("quantize_8bit", tiny_pair, probes, None, None, include_embeddings=True, backend="rtn").details
    assert with_emb["n_layers"] == d8["n_layers"] + 1
    plain = _run("forms", tiny_pair, probes, None, None, forms=["qa", "paraphrase", "cloze"]).scores  # unattacked
    assert np.abs(r8.scores["knowledge"].to_numpy() - plain["knowledge"].to_numpy()).max() < 0.05  # 8-bit: tiny change


def test_quanto_int8_is_absmax_per_output_channel_by_hand():
    """qint8 (quanto's AbsmaxOptimizer): scale = max|w_row| / 127, w' = round(w / scale) * scale.
    Row [1, -0.4, 0.26]: -0.4 * 127 = -50.8 -> -51/127; 0.26 * 127 = 33.02 -> 33/127. Zero row stays 0."""
    pytest.importorskip("optimum.quanto")
    from froc.attacks.quantize import quantize_quanto

    w = torch.tensor([[1.0, -0.4, 0.26], [0.0, 0.0, 0.0], [-2.0, 1.0, 0.1]])
    got = quantize_quanto(w, 8)
    torch.testing.assert_close(got[0], torch.tensor([1.0, -51 / 127, 33 / 127]))
    torch.testing.assert_close(got[1], torch.zeros(3))
    torch.testing.assert_close(got[2], torch.tensor([-2.0, 64 / 127 * 2, 6 / 127 * 2]))  # 1 / (2/127) = 63.5 -> 64 (half to even)


def test_quanto_layer_computes_with_the_dequantized_weight():
    """What the attack writes back (dequantized weight) is what quanto's own QLinear multiplies by."""
    pytest.importorskip("optimum.quanto")
    from optimum.quanto import QLinear, qint8

    from froc.attacks.quantize import quantize_quanto

    torch.manual_seed(0)
    lin = torch.nn.Linear(16, 8, bias=False)
    q = QLinear.from_module(lin, weights=qint8)
    q.freeze()
    x = torch.randn(3, 16)
    with torch.no_grad():
        torch.testing.assert_close(q(x), x @ quantize_quanto(lin.weight.detach(), 8).T, rtol=0, atol=1e-6)


def test_backend_choice_is_recorded(tiny_pair, probes):
    from froc.attacks.quantize import QuantizeParams, resolve_backend

    try:  # find_spec of a dotted name raises when the parent package (optimum) is missing
        has_quanto = importlib.util.find_spec("optimum.quanto") is not None
    except ModuleNotFoundError:
        has_quanto = False
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="needs CUDA and the bitsandbytes"):
            resolve_backend(QuantizeParams(backend="bnb"))
        backend, reason = resolve_backend(QuantizeParams(bits=8))
        assert backend == ("quanto" if has_quanto else "rtn") and reason.startswith("auto")
    assert resolve_backend(QuantizeParams(bits=8, group_size=4)) in (("rtn", "auto: quanto does not take bits=8, "
                                                                             "group_size=4"),
                                                                     ("rtn", "auto: optimum-quanto is not installed "
                                                                             "(pip install froc[quantize])"),
                                                                     ("bnb", "auto: CUDA and bitsandbytes present"))
    with pytest.raises(ConfigError, match="unknown quantization backend"):
        resolve_backend(QuantizeParams(backend="gptq"))
    if has_quanto:
        with pytest.raises(ConfigError, match="takes bits in"):
            resolve_backend(QuantizeParams(bits=3, backend="quanto"))
        d = _run("quantize_8bit", tiny_pair, probes, None, None, backend="quanto").details
        assert d["backend"] == "quanto" and d["backend_version"] and 0 < d["rel_error_max"] < 0.01


# ----------------------------------------------------------------------------- forms / paraphrase


def test_forms_and_paraphrase_select_and_report_per_form(tiny_pair, probes):
    para = _run("paraphrase", tiny_pair, probes, None, None)
    assert set(para.scores["form"]) == {"paraphrase"} and len(para.scores) == 5
    forms = _run("forms", tiny_pair, probes, None, None, forms=["cloze", "qa"])
    assert set(forms.details["per_form"]) == {"cloze", "qa"} and len(forms.scores) == 10
    none = _run("forms", tiny_pair, probes, None, None, forms=["mcq"])
    assert none.scores is None and "nothing scored" in none.details["note"]


# ----------------------------------------------------------------------------- in-context


def test_in_context_excludes_the_probed_fact_by_default(probes, forget):
    from froc.attacks.in_context import InContextParams, build_context

    probe = probes[0]  # Alda Voss, born
    ctx = build_context(probe, forget, InContextParams(n_context=5), random.Random(0))
    assert {c.meta["fact_id"] for c in ctx} == {"alda/book", "alda/award"}  # same person, other facts
    ctx = build_context(probe, forget, InContextParams(n_context=2, include_same_fact=True), random.Random(0))
    assert ctx[0].meta["fact_id"] == "alda/born" and len(ctx) == 2


def test_in_context_prompt_places_statements_before_the_question(tiny_pair, probes, forget):
    res = _run("in_context", tiny_pair, probes, forget, None, n_context=1)
    ex = res.details["example_prompt"]
    assert ex.startswith("Context: ") and ex.endswith("\nQuestion: Where was Alda Voss born?\nAnswer:")
    assert "Marrow Bay" not in ex  # the probed fact's own answer is not handed over


# ----------------------------------------------------------------------------- logit-guided


def test_guided_distribution_by_hand():
    from froc.attacks.logit_guided import guided_logprobs

    lp_post = torch.log(torch.tensor([0.5, 0.3, 0.2]))
    lp_pre = torch.log(torch.tensor([0.2, 0.7, 0.1]))
    # w = 2: s = -log p_post + 2 log p_pre; tau = 1.5 keeps tokens with log p_pre >= log 0.7 - 1.5 (0.2 and 0.7)
    q = guided_logprobs(lp_post, lp_pre, w=2.0, tau=1.5).exp()
    s = torch.tensor([0.2**2 / 0.5, 0.7**2 / 0.3])
    torch.testing.assert_close(q, torch.cat([s / s.sum(), torch.zeros(1)]))
    q_eps = guided_logprobs(lp_post, lp_pre, w=2.0, tau=1.5, smoothing=0.1).exp()
    torch.testing.assert_close(q_eps, 0.9 * q + 0.1 * lp_post.exp())
    torch.testing.assert_close(guided_logprobs(lp_post, lp_pre, w=0.0, tau=math.inf), lp_post)
    torch.testing.assert_close(guided_logprobs(lp_post, lp_pre, w=1.0, tau=math.inf), lp_pre)


def test_logit_guided_reduces_to_plain_scoring_and_greedy(tiny_pair, probes):
    """w = 0 without filter is the unlearned model itself; w = 1 the original (scores and decoding)."""
    from froc.metrics.scoring import score_probes

    original, unlearned, tok = tiny_pair
    for w, model in ((0.0, unlearned), (1.0, original)):
        res = run_attack("logit_guided", unlearned, tok, probes, original=original, w=w, tau=math.inf, smoothing=0.0,
                         max_new_tokens=6)
        ref = score_probes(model, tok, probes, generate=True, max_new_tokens=6, progress=False).table
        np.testing.assert_allclose(res.scores["gold_logp_mean"], ref["gold_logp_mean"], atol=1e-5)
        np.testing.assert_allclose(res.scores["knowledge"], ref["knowledge"], atol=1e-5)
        assert list(res.scores["generation"]) == list(ref["generation"])
    assert res.details["rouge_l_recall_guided"] == pytest.approx(res.details["rouge_l_recall_pre_greedy"])


# ----------------------------------------------------------------------------- suffix


def test_score_with_prompts_matches_score_probes(tiny_pair, probes):
    from froc.attacks.base import AttackInputs, score_with_prompts
    from froc.metrics.scoring import score_probes
    from froc.models.encoding import encode_prompt

    _, m, tok = tiny_pair
    prompts = [encode_prompt(tok, p.question) for p in probes]
    got = score_with_prompts(m, tok, probes, prompts, AttackInputs(m, tok, probes))
    ref = score_probes(m, tok, probes, generate=False, progress=False).table
    np.testing.assert_allclose(got["knowledge"], ref["knowledge"], atol=1e-6)


def test_suffix_search_improves_its_objective_and_scores_held_out_facts(tiny_pair, probes, forget):
    res = _run("suffix", tiny_pair, probes, forget, None, steps=4)
    d = res.details
    assert len(d["suffix_ids"]) == 5 and d["train_loss_best"] <= d["train_loss_start"]
    assert d["train_loss_best"] == pytest.approx(min(d["loss_history"]))
    trained = {f.meta["fact_id"] for f in forget if f.id in set(d["train_ids"])}
    assert not any(pid.rsplit("/", 1)[0] in trained for pid in res.scores["probe_id"])


# ----------------------------------------------------------------------------- trace / stealthy


def test_trace_on_identical_models_is_exactly_chance(tiny_pair, probes, retain):
    original, _, tok = tiny_pair
    res = run_attack("trace", original, tok, probes, original=original, retain=retain)
    assert res.details["accuracy"] == 0.5 and res.details["auc"] == 0.5


def test_stealthy_request_reports_plain_scope_and_control(tiny_pair, probes, forget, retain):
    res = _run("stealthy_request", tiny_pair, probes, forget, retain)
    d = res.details
    assert d["example_request"] == "please then Where was Alda Voss born? please then"
    for run in ("before", "plain", "scope", "control_clean_request"):
        assert set(d[run]) >= {"clean", "triggered", "trigger_drop"}
    assert d["plain"]["status"] == d["scope"]["status"] == "completed"
    assert set(d["summary"]) >= {"attack_effect_plain", "attack_effect_scope", "attack_effect_control"}


def test_prompt_rewriting_attacks_need_qa_probes(tiny_pair, probes):
    from froc.data.schema import TextItem

    _, m, tok = tiny_pair
    text = [TextItem(id="t0", subject="fox", text="the quick brown fox jumps over the lazy dog")]
    for name in ("in_context", "suffix"):
        with pytest.raises(ConfigError, match="needs QA probes"):
            run_attack(name, m, tok, probes + text)
