"""Shared-prompt scoring (each distinct prompt once, its answers on the KV cache) against scoring every
sequence whole and against the naive one-sequence-at-a-time scorer; the fallbacks; the batching and
Min-K%++ helpers it relies on."""

import copy

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

import froc.metrics.forward as forward
from metrics_helpers import assert_tables_close, fact_probes, mixed_probes, qa, text_probe
from froc.metrics.naive import score_probes_naive
from froc.metrics.forward import _answer_stats, _buckets, can_share_prompts, forward_scores, token_stats
from froc.metrics.plan import plan_probes
from froc.metrics.scoring import score_probes
from froc.models.encoding import PromptFormat
from froc.models.kvcache import cache_arg, output_cache


class Calls:
    """Counts the model's forward calls and the tokens they run, split by whether a KV cache was passed in."""

    def __init__(self, model):
        self.whole = self.on_cache = self.tokens = 0
        self.handle = model.register_forward_pre_hook(self.hook, with_kwargs=True)

    def hook(self, _module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        self.tokens += ids.numel()
        if kwargs.get("cache", kwargs.get("past_key_values")) is not None:
            self.on_cache += 1
        else:
            self.whole += 1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.remove()


def varied_probes():
    """Prompts of very different lengths (prompt padding in the middle of the cache), one-token answers,
    a probe with many options (answer batches spanning prompt batches), and a text item."""
    long_q = " ".join(["Which award did Cass Orun win for the book about the quick brown fox?"] * 3)
    many = [f"option {i}" for i in range(9)]
    return mixed_probes() + [
        qa("v/long", long_q, "the Silver Quill", para="Silver Quill", perts=["No", "the Glass Orchard"]),
        qa("v/one", "Is it?", "the", perts=["No", "Yes"], form="yesno"),
        qa("v/many", "Who?", "Alda Voss", perts=many),
        text_probe("t1"),
    ]


@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_shared_equals_whole_equals_naive(tiny, batch_size):
    """Shared-prompt, whole-sequence and independent naive scoring agree.

    Catches (run once as deliberate bugs): Min-K%++ from log-probs instead of z-scores, a +0.1 nat shift of
    the batched log-probs, an answer boundary one token late in encode_qa (the naive reference tokenizes
    the whole string itself, so it does not share the bug)."""
    model, tok = tiny
    probes = varied_probes()
    with Calls(model) as calls:
        shared = score_probes(model, tok, probes, batch_size=batch_size, hidden_layers=[1, -1], progress=False,
                              generate=False)
    assert calls.on_cache > 0  # the shared path ran
    whole = score_probes(model, tok, probes, batch_size=batch_size, hidden_layers=[1, -1], progress=False,
                         generate=False, share_prompts=False)
    naive = score_probes_naive(model, tok, probes, hidden_layers=[1, 2], generate=False)
    for other in (whole, naive):
        assert_tables_close(shared.table, other.table)
        for layer in (1, 2):
            assert_allclose(shared.hidden[layer], other.hidden[layer], atol=1e-5)
    assert shared.summary["settings"]["share_prompts"] is True


def test_one_token_answers_need_no_answer_pass(trained):
    """Without eos, options of one token are scored from the prompt pass's last logits alone (no pass on the
    cache); on a trained model (peaked distributions: hits, Min-K%++ far from 0)."""
    model, tok = trained
    fmt = PromptFormat(add_eos=False)
    probes = [qa("a", "Is it?", "the", perts=["Wh"]), qa("b", "Where was Alda Voss born?", "the", perts=["Wh"])]
    assert {e.n_answer for e in plan_probes(tok, probes, fmt).seqs} == {1}
    with Calls(model) as calls:
        fast = score_probes(model, tok, probes, fmt=fmt, progress=False, generate=False)
    assert calls.on_cache == 0 and calls.whole == 1  # both prompts in one batch, nothing else
    assert_tables_close(fast.table, score_probes_naive(model, tok, probes, fmt=fmt, generate=False).table)


def test_each_prompt_runs_once(tiny):
    """Fewer tokens than scoring whole sequences: the prompt of a probe's 2-4 answers runs once."""
    model, tok = tiny
    probes = fact_probes()
    plan = plan_probes(tok, probes)
    with Calls(model) as shared, torch.inference_mode():
        forward_scores(model, plan, pad_id=tok.pad_token_id, batch_size=64, device="cpu")
    with Calls(model) as whole, torch.inference_mode():
        forward_scores(model, plan, pad_id=tok.pad_token_id, batch_size=64, device="cpu", share_prompts=False)
    assert shared.on_cache >= 1 and whole.on_cache == 0
    prompts = {tuple(e.ids[: e.n_prompt]) for e in plan.seqs}
    real = sum(len(p) for p in prompts) + sum(e.n_answer - 1 for e in plan.seqs)
    assert shared.tokens < 0.6 * whole.tokens
    assert shared.tokens <= 1.5 * real  # padding only


@pytest.mark.parametrize("call_tokens", [0, 10**6])
def test_prompt_batches_merged_or_padded(tiny, monkeypatch, call_tokens):
    """Every prompt length in its own batch (caches of different lengths stacked, zero-padded) or all in one
    (heavy right padding): same numbers."""
    model, tok = tiny
    monkeypatch.setattr(forward._buckets, "__defaults__", (call_tokens,))  # the call cost of every batching
    probes = varied_probes()
    a = score_probes(model, tok, probes, batch_size=64, generate=False, progress=False).table
    b = score_probes_naive(model, tok, probes, generate=False).table
    assert_tables_close(a, b)


def test_prompt_pooling_keeps_gold_whole(tiny):
    """Prompt-pooled hidden states need the gold prompt's positions: gold runs whole, the rest shared."""
    model, tok = tiny
    probes = fact_probes()
    with Calls(model) as calls:
        shared = score_probes(model, tok, probes, hidden_layers=[-1], hidden_pool="prompt", progress=False)
    whole = score_probes(model, tok, probes, hidden_layers=[-1], hidden_pool="prompt", progress=False,
                         share_prompts=False)
    assert calls.on_cache >= 1 and calls.whole >= 2
    assert_tables_close(shared.table, whole.table)
    assert_allclose(shared.hidden[2], whole.hidden[2], atol=1e-5)


def test_lora_model_shares_prompts(tiny):
    from froc.models.loading import apply_lora

    model, tok = tiny
    peft_model = apply_lora(copy.deepcopy(model), {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]})
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.2)  # a non-trivial adapter (lora_B starts at zero)
    peft_model.eval()
    assert can_share_prompts(peft_model)
    probes = mixed_probes()
    with Calls(peft_model) as calls:
        fast = score_probes(peft_model, tok, probes, batch_size=4, hidden_layers=[-1], progress=False)
    slow = score_probes_naive(peft_model, tok, probes, hidden_layers=[2])
    assert calls.on_cache > 0
    assert_tables_close(fast.table, slow.table)
    assert_allclose(fast.hidden[2], slow.hidden[2], atol=1e-5)
    base = score_probes(model, tok, probes, batch_size=4, progress=False, generate=False).table
    assert np.abs(base.gold_logp_mean.to_numpy() - fast.table.gold_logp_mean.to_numpy()).max() > 1e-3


class NoCacheArgs(torch.nn.Module):
    """A causal LM whose forward takes no cache or positions: it cannot share prompts."""

    def __init__(self, model):
        super().__init__()
        self.m, self.config = model, model.config

    def forward(self, input_ids, attention_mask=None, output_hidden_states=False, **kwargs):
        return self.m(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=output_hidden_states)


class TupleCache(NoCacheArgs):
    """Takes a cache under its pre-5.24 name but returns it as a tuple of tensors: its rows cannot be picked, so
    the shared path gives up after the first prompt batch and every sequence runs whole."""

    def forward(self, input_ids, attention_mask=None, position_ids=None, past_key_values=None, use_cache=None,
                output_hidden_states=False, logits_to_keep=0):
        out = self.m(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                     past_key_values=past_key_values, use_cache=use_cache, output_hidden_states=output_hidden_states,
                     logits_to_keep=logits_to_keep)
        cache = output_cache(out)
        if cache is not None:
            out["cache" if "cache" in out.__dataclass_fields__ else "past_key_values"] = tuple(
                (layer.keys, layer.values) for layer in cache.layers)
        return out


@pytest.mark.parametrize("wrapper", [NoCacheArgs, TupleCache])
def test_models_without_the_fast_path_fall_back(tiny, wrapper):
    model, tok = tiny
    wrapped = wrapper(model).eval()
    assert can_share_prompts(wrapped) is (wrapper is TupleCache)
    assert cache_arg(wrapped) == ("past_key_values" if wrapper is TupleCache else None)
    probes = mixed_probes()
    with Calls(wrapped) as calls:
        fast = score_probes(wrapped, tok, probes, batch_size=4, generate=False, progress=False)
    assert calls.on_cache == 0
    assert_tables_close(fast.table, score_probes_naive(model, tok, probes, generate=False).table)


def test_progress_counts_every_sequence_and_prompt(tiny):
    model, tok = tiny
    probes = varied_probes()
    plan = plan_probes(tok, probes)
    done = []
    with torch.inference_mode():
        forward_scores(model, plan, pad_id=tok.pad_token_id, batch_size=3, device="cpu", advance=done.append)
    assert sum(done) == len(plan.seqs)


def test_answer_stats_match_a_float64_log_softmax():
    """mu, sigma and log p from the max-shifted moments equal the direct float64 log-softmax ones, for
    near-uniform (small sigma), ordinary and peaked distributions; hits follow torch.argmax on ties."""
    g = torch.Generator().manual_seed(0)
    V = 300
    logits = torch.cat([torch.randn(20, V, generator=g) * s for s in (1e-3, 1.0, 30.0)])
    labels = torch.randint(0, V, (60,), generator=g)
    logits[0] = 0.0  # all tied: argmax is token 0
    labels[0] = 0
    logits[1, :] = 1.0
    labels[1] = 5  # tied but not first
    lp, mu, var, hits = _answer_stats(logits, labels, chunk=7)
    lsm = torch.log_softmax(logits.double(), -1)
    p = lsm.exp()
    mu_ref = (p * lsm).sum(-1)
    var_ref = (p * (lsm - mu_ref[:, None]) ** 2).sum(-1)
    assert_allclose(lp.numpy(), lsm.gather(-1, labels[:, None])[:, 0].numpy(), rtol=0, atol=1e-12)
    assert_allclose(mu.numpy(), mu_ref.numpy(), rtol=0, atol=1e-12)
    assert_allclose(var.numpy(), var_ref.numpy(), rtol=1e-9, atol=1e-15)
    assert hits.tolist() == (logits.argmax(-1) == labels).tolist() and hits[0] and not hits[1]
    z, h = token_stats(logits, labels, lsm.gather(-1, labels[:, None])[:, 0].float())
    assert z.dtype == torch.float64 and torch.equal(h, hits)
    empty = token_stats(logits[:0], labels[:0], lp[:0])
    assert empty[0].shape == (0,) and empty[1].shape == (0,)


def _brute_force_cost(lengths, batch_size, call):
    L = sorted(lengths)
    best = [0.0] + [float("inf")] * len(L)
    for j in range(1, len(L) + 1):
        for i in range(max(0, j - batch_size), j):
            best[j] = min(best[j], best[i] + (j - i) * L[j - 1] + call)
    return best[-1]


def test_buckets_are_optimal_and_complete():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n, bs, call = int(rng.integers(0, 80)), int(rng.integers(1, 20)), float(rng.integers(0, 60))
        lengths = rng.integers(1, int(rng.integers(2, 30)), n).tolist()
        out = _buckets(lengths, bs, call)
        assert sorted(i for b in out for i in b) == list(range(n))
        assert all(1 <= len(b) <= bs for b in out)
        assert all(lengths[i] <= lengths[j] for b in out for i, j in zip(b, b[1:]))
        cost = sum(len(b) * max(lengths[i] for i in b) + call for b in out)
        assert cost == pytest.approx(_brute_force_cost(lengths, bs, call))
