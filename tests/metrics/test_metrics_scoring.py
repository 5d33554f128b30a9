"""The batched scorer against a naive one-probe-at-a-time computation, padding/batch invariance,
batched vs unbatched greedy generation, Min-K%++ by hand, edge cases, save/load."""

import math

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from metrics_helpers import assert_tables_close, fact_probes, mixed_probes, qa, text_probe
from froc.errors import ConfigError
from froc.metrics.naive import score_probes_naive
from froc.metrics.scoring import COLUMNS, ScoreResult, greedy_generate, score_probes, token_stats
from froc.models.encoding import PromptFormat, collate, encode_prompt, encode_qa
from froc.models.logprobs import logprobs_from_logits


def test_batched_scorer_equals_naive(tiny):
    """Against the independent reference (froc.metrics.naive: own tokenization, loops and column definitions).

    Catches (each run once as a deliberate bug, and kept by test_naive_reference_catches_deliberate_bugs):
    Min-K%++ computed from log-probs instead of z-scores; a +0.1 nat shift of the batched log-probs; an
    answer boundary one token late in froc.models.encoding.encode_qa."""
    model, tok = tiny
    probes = mixed_probes()
    fast = score_probes(model, tok, probes, batch_size=3, hidden_layers=[1, -1], progress=False)
    slow = score_probes_naive(model, tok, probes, hidden_layers=[1, 2])
    assert list(fast.table.columns) == list(COLUMNS)
    assert len(fast.table) == len(probes)
    assert_tables_close(fast.table, slow.table)
    assert sorted(fast.hidden) == [1, 2]
    for layer in (1, 2):
        assert fast.hidden[layer].shape == (len(probes), model.config.hidden_size)
        assert_allclose(fast.hidden[layer], slow.hidden[layer], atol=1e-5)


def test_batched_scorer_equals_naive_on_trained_model(trained):
    """Same on a model with peaked distributions, where argmax hits and generations are non-trivial.

    Catches the same deliberate bugs as test_batched_scorer_equals_naive (Min-K%++ from log-probs, +0.1 nat
    shift, answer boundary one token late), here with hits and generations that are not all False/empty."""
    model, tok = trained
    probes = mixed_probes()
    fast = score_probes(model, tok, probes, batch_size=4, progress=False)
    slow = score_probes_naive(model, tok, probes)
    assert_tables_close(fast.table, slow.table)
    t = fast.table.set_index("probe_id")
    assert t.loc["f1/qa", "generation"] == "cartographer" and t.loc["f1/qa", "gen_correct"] == 1.0
    assert t.loc["f1/qa", "extraction_strength"] == 1.0


def test_result_does_not_depend_on_batch_size(tiny):
    model, tok = tiny
    probes = mixed_probes()
    a = score_probes(model, tok, probes, batch_size=1, progress=False).table
    b = score_probes(model, tok, probes, batch_size=64, progress=False).table
    assert_tables_close(a, b)


def test_right_padding_gives_the_same_logprobs_as_no_padding(tiny):
    model, tok = tiny
    encs = [encode_qa(tok, "Where was Alda Voss born?", "Marrow Bay"),
            encode_qa(tok, "x", "y"),
            encode_qa(tok, "Which award did Cass Orun win for the quick brown fox?", "the Silver Quill")]
    with torch.inference_mode():
        batch = collate(encs, tok.pad_token_id)
        lp, mask = logprobs_from_logits(model(**{k: batch[k] for k in ("input_ids", "attention_mask")}).logits,
                                        batch["labels"])
        for i, e in enumerate(encs):
            alone = collate([e], tok.pad_token_id)
            lp1, m1 = logprobs_from_logits(model(input_ids=alone["input_ids"]).logits, alone["labels"])
            n = lp1.shape[1]
            assert_allclose(lp[i, :n].numpy(), lp1[0].numpy(), atol=1e-5)
            assert mask[i, n:].sum() == 0 and torch.equal(mask[i, :n], m1[0])


def test_batched_greedy_generation_equals_unbatched(peaked, trained):
    """Left padding + KV cache in batches gives the same text as one prompt at a time (incl. eos stops)."""
    for model, tok in (peaked, trained):
        qs = [p.question for p in fact_probes()] + ["x", "the quick brown fox", "Who wrote the book 'The Glass Orchard'?"]
        prompts = [encode_prompt(tok, q) for q in qs]
        batched = greedy_generate(model, tok, prompts, max_new_tokens=12, batch_size=5)
        single = [greedy_generate(model, tok, [p], max_new_tokens=12, batch_size=1)[0] for p in prompts]
        assert batched == single
        assert len(set(batched)) > 3  # not a degenerate constant output
    assert "Marrow Bay" in batched  # the trained model stops at eos after its answer


def test_minkpp_standardisation_by_hand():
    """p = (0.5, 0.25, 0.25): log p = (-l, -2l, -2l) with l = ln 2; mu = -1.5 l; var = 0.25 l^2 -> sigma = 0.5 l.
    Token 0: z = (-l + 1.5 l)/(0.5 l) = 1; token 1: z = -1. Argmax is token 0."""
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.25], [0.5, 0.25, 0.25]]))
    labels = torch.tensor([0, 1])
    lp = torch.log_softmax(logits, -1).gather(-1, labels[:, None])[:, 0]
    z, hits = token_stats(logits, labels, lp, chunk=1)
    assert_allclose(z.numpy(), [1.0, -1.0], atol=1e-6)
    assert hits.tolist() == [True, False]


def test_answer_of_length_one(tiny):
    """Without eos, a one-token answer has gold_len 1: Min-K% = its log-prob, ES and EM in {0, 1}."""
    model, tok = tiny
    fmt = PromptFormat(add_eos=False)
    ids = tok(" the", add_special_tokens=False)["input_ids"]
    assert len(ids) == 1
    t = score_probes(model, tok, [qa("a", "Is it?", "the", perts=["No"])], fmt=fmt, progress=False).table
    assert t.gold_len[0] == 1
    assert_allclose(t.mink[0], t.gold_logp_sum[0])
    assert_allclose(t.gold_logp_mean[0], t.gold_logp_sum[0])
    assert t.extraction_strength[0] in (0.0, 1.0) and t.exact_mem[0] == t.extraction_strength[0]


def test_empty_generation_and_no_options(tiny):
    """max_new_tokens=0: empty generations score ROUGE 0 and gen_correct 0. Probes without paraphrase or
    perturbed answers: NaN paraphrase, knowledge and choice, empty lists."""
    model, tok = tiny
    t = score_probes(model, tok, [qa("a", "Who?", "Alda Voss")], max_new_tokens=0, progress=False).table
    assert t.generation[0] == "" and t.rouge_l_recall[0] == 0.0 and t.gen_correct[0] == 0.0
    assert math.isnan(t.para_logp_mean[0]) and math.isnan(t.knowledge[0]) and math.isnan(t.correct_choice[0])
    assert list(t.perturbed_logp_mean[0]) == [] and list(t.perturbed_mink[0]) == []
    t2 = score_probes(model, tok, [qa("a", "Who?", "Alda Voss")], generate=False, progress=False).table
    assert t2.generation[0] is None and math.isnan(t2.rouge_l_f1[0])


def test_knowledge_matches_its_definition(tiny):
    model, tok = tiny
    t = score_probes(model, tok, fact_probes(), progress=False).table
    for g, p, k, c in zip(t.gold_logp_mean, t.perturbed_logp_mean, t.knowledge, t.correct_choice):
        P = np.exp([g, *p])
        assert_allclose(k, P[0] / P.sum(), rtol=1e-9)
        assert c == float(g > max(p))


def test_text_items_use_a_prefix_prompt_and_the_true_continuation(tiny):
    model, tok = tiny
    item = text_probe()
    t = score_probes(model, tok, [item], text_prompt_tokens=4, max_new_tokens=5, progress=False).table
    ids = tok(item.text, add_special_tokens=False)["input_ids"]
    assert t.kind[0] == "text" and t.form[0] == "text"
    # every text token is scored, and no EOS: a passage does not end its document (issue 13; was len(ids) + 1)
    assert t.gold_len[0] == len(ids)
    assert t.reference[0] == tok.decode(ids[4:9]).strip()


def test_prompt_pooling_averages_prompt_positions(tiny):
    model, tok = tiny
    item = qa("a", "Where was Alda Voss born?", "Marrow Bay")
    r = score_probes(model, tok, [item], hidden_layers=[-1], hidden_pool="prompt", progress=False)
    p = encode_prompt(tok, item.question)
    with torch.inference_mode():
        hs = model(input_ids=torch.tensor([p]), output_hidden_states=True).hidden_states[-1][0]
    assert_allclose(r.hidden[2][0], hs.mean(0).numpy(), atol=1e-5)


def test_save_load_roundtrip_and_provenance(tiny, tmp_path):
    model, tok = tiny
    r = score_probes(model, tok, mixed_probes(), hidden_layers=[1], model_name="target", seed=3,
                     data_manifest={"sha256": "x"}, progress=False)
    r.save(tmp_path)
    back = ScoreResult.load(tmp_path)
    assert_tables_close(r.table, back.table, atol=0)
    assert_allclose(back.hidden[1], r.hidden[1])
    prov = back.summary["provenance"]
    assert prov["model"]["weights_sha256"] and prov["seed"] == 3 and prov["data_manifest"] == {"sha256": "x"}
    assert prov["environment"]["froc"] and prov["started_utc"].endswith("+00:00") and prov["seconds"] > 0
    assert set(back.table.model) == {"target"}
    with pytest.raises(ConfigError):
        ScoreResult.load(tmp_path / "missing")


def test_bad_settings_are_config_errors(tiny):
    model, tok = tiny
    for kw in ({"batch_size": 0}, {"mink_k": 0.0}, {"hidden_layers": [9]}, {"hidden_pool": "all"}):
        with pytest.raises(ConfigError):
            score_probes(model, tok, fact_probes()[:1], progress=False, **kw)
    with pytest.raises(ConfigError, match="neither"):
        score_probes(model, tok, [object()], progress=False)


def _minkpp_from_logp(monkeypatch):
    import froc.metrics.forward as forward

    monkeypatch.setattr(forward, "_z", lambda logp, mu, var: logp)  # z-scores replaced by the log-probs


def _shift_logp(monkeypatch):
    import froc.metrics.forward as forward

    real = forward._answer_stats

    def shifted(*a, **kw):
        lp, mu, var, hits = real(*a, **kw)
        return lp + 0.1, mu, var, hits  # +0.1 nat on every scored token

    monkeypatch.setattr(forward, "_answer_stats", shifted)


def _late_boundary(monkeypatch):
    import froc.metrics.plan as plan
    from froc.models.encoding import Encoded

    real = plan.encode_qa
    monkeypatch.setattr(plan, "encode_qa", lambda *a, **kw: Encoded(real(*a, **kw).ids, real(*a, **kw).n_prompt + 1))


@pytest.mark.parametrize("bug", [_minkpp_from_logp, _shift_logp, _late_boundary])
def test_naive_reference_catches_deliberate_bugs(tiny, monkeypatch, bug):
    """The reference is independent of the real scorer: each deliberate bug in the real scorer's forward
    passes or planning makes the batched table differ from the naive one (a reference that shared the
    planning/table code with the scorer would carry the bug too and pass)."""
    model, tok = tiny
    probes = mixed_probes()
    naive = score_probes_naive(model, tok, probes, generate=False).table
    bug(monkeypatch)
    buggy = score_probes(model, tok, probes, batch_size=3, generate=False, progress=False).table
    with pytest.raises(AssertionError):
        assert_tables_close(buggy, naive)


def test_naive_reference_shares_no_code_with_the_scorer():
    """froc.metrics.naive imports nothing of the scorer's planning, forward passes, table building, generation,
    encoding or metric functions (only the result type and column names of froc.metrics.table)."""
    import ast
    from pathlib import Path

    import froc.metrics.naive as naive

    tree = ast.parse(Path(naive.__file__).read_text())
    imported = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("froc"):
            imported.setdefault(node.module, set()).update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            assert not any(a.name.startswith("froc") for a in node.names)
    assert imported.get("froc.metrics.table", set()) <= {"COLUMNS", "ScoreResult"}
    assert set(imported) <= {"froc.metrics.table", "froc.models.encoding"}, imported
    assert imported.get("froc.models.encoding", set()) <= {"PromptFormat"}  # the settings record, no encoder


def test_same_settings_give_bit_identical_scores_and_forget_quality_one(peaked):
    """A model against its own scores, computed with the same batch size and thread count: bit-identical
    tables, so TOFU forget quality (a KS p-value, which sees any difference at all) is exactly 1 and PrivLeak 0.
    Scores are NOT invariant to the thread count or batch layout in float32 on CPU (the kernels split their
    reductions differently; ~1e-8 nats), which is why the slow built-in test pins both sides to one thread."""
    from froc.metrics.evaluate import evaluate

    model, tok = peaked
    probes = [qa(f"{p.id}-{k}", p.question + " " + "x" * k, p.answer, para=p.paraphrased_answer or "it is " + p.answer,
                 perts=p.perturbed_answers, group="forget" if k % 2 else p.meta["group"])
              for k in range(6) for p in fact_probes()]
    kw = dict(generate=False, batch_size=128, progress=False)
    own = score_probes(model, tok, probes, model_name="oracle", **kw)
    res = evaluate(model, tok, probes, oracle=own, hidden_layers=None,
                   metrics=["tofu/forget_quality", "muse/privleak"], **kw)
    assert_tables_close(res.scores["target"].table, own.table, atol=0)
    assert res.metrics["tofu/forget_quality"] == 1.0
    assert res.metrics["muse/privleak"] == 0.0
    assert own.summary["settings"]["threads"] == torch.get_num_threads()
