"""Smoke: every registered method trains 3 steps on the tiny model; losses finite; exactly the weights it
should train have changed (TRL-style)."""

from __future__ import annotations

import math

import pytest
import torch
from unlearn_fixtures import TINY_HPARAMS, method_data

from froc.engine import unlearn
from froc.methods import METHODS
from froc.methods.common import decoder_layers


def _snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _changed(model, before):
    return {n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])}


def _run(tiny, forget, retain, refusals, method, **kw):
    model, tok = tiny
    forget, retain = method_data(method, forget, retain)
    before = _snapshot(model)
    hp = {**TINY_HPARAMS.get(method, {}), **kw}
    res = unlearn(model, tok, forget, retain, method=method, refusals=refusals, steps=3, lr=1e-3, batch_size=2,
                  progress=False, **hp)
    return res, before


def _expected_trained(method, model):
    """Names of the weights a full-weight run of ``method`` must change (and nothing else)."""
    names = {n for n, _ in model.named_parameters()}
    pick = lambda t: {n for n, p in model.named_parameters() if p is t}
    layers = decoder_layers(model)
    if method in ("rmu", "srmu", "r2mu"):  # layer 1 -> down_proj of layers 0..1
        return pick(layers[0].mlp.down_proj.weight) | pick(layers[1].mlp.down_proj.weight)
    if method == "embed_ga":
        return pick(model.get_input_embeddings().weight)
    if method == "rocr":  # default layer n_layers // 4 = 0
        return pick(layers[0].mlp.down_proj.weight)
    if method == "mrp":  # projection hooks only
        return set()
    return names


@pytest.mark.parametrize("method", sorted(METHODS))
def test_method_smoke(method, tiny, forget, retain, refusals):
    res, before = _run(tiny, forget, retain, refusals, method)
    assert res.status == "completed", res.reason
    spec = METHODS[method]
    if spec.trains(spec.config()):
        assert len(res.losses) == 3 and all(math.isfinite(x) for x in res.losses)
        assert len(res.loss_parts) == 3 and res.loss_parts[0]
    assert _changed(res.model, before) == _expected_trained(method, res.model)
    assert all(p.requires_grad for p in res.model.parameters()), "requires_grad flags are restored"


def test_mrp_hook_changes_outputs_and_finetune_trains(tiny, forget, retain, refusals):
    """MRP without fine-tuning changes the outputs through its hook only; with finetune=True every weight trains."""
    model, tok = tiny
    ids = torch.tensor([[1, 5, 6, 7]])
    with torch.no_grad():
        before_logits = model(input_ids=ids).logits
    res, before = _run(tiny, forget, retain, refusals, "mrp")
    with torch.no_grad():
        assert not torch.allclose(res.model(input_ids=ids).logits, before_logits)
    assert res.info["rank"] == {1: 2}

    from froc.models.tiny import tiny_model_and_tokenizer

    res2, before2 = _run(tiny_model_and_tokenizer(), forget, retain, refusals, "mrp", finetune=True)
    assert len(res2.losses) == 3
    assert _changed(res2.model, before2) == {n for n, _ in res2.model.named_parameters()}


@pytest.mark.parametrize("method", sorted(m for m, s in METHODS.items() if s.lora and s.trains(s.config())))
def test_method_smoke_lora_trains_only_adapters(method, tiny, forget, retain, refusals):
    """On a peft model only the adapter weights change, and every one of them does
    (lora_B starts at zero; lora_A moves from step 2 on)."""
    from froc.models.loading import LoraSpec, apply_lora

    model = apply_lora(tiny[0], LoraSpec(r=4, alpha=8))
    res, before = _run((model, tiny[1]), forget, retain, refusals, method)
    assert res.status == "completed", res.reason
    assert all(math.isfinite(x) for x in res.losses)
    adapters = {n for n, _ in model.named_parameters() if "lora_" in n}
    assert adapters and _changed(model, before) == adapters


@pytest.mark.parametrize("variant", ["sam", "smoothing"])
def test_sam_variants_and_bases(variant, tiny, forget, retain, refusals):
    res, before = _run(tiny, forget, retain, refusals, "sam", variant=variant, base="graddiff", rho=0.05)
    assert res.status == "completed" and all(math.isfinite(x) for x in res.losses)
    assert res.method_hparams["base"] == "graddiff" and "retain_weight" in res.method_hparams
    assert _changed(res.model, before) == {n for n, _ in res.model.named_parameters()}


def test_scope_wraps_other_base(tiny, forget, retain, refusals):
    res, _ = _run(tiny, forget, retain, refusals, "scope", base="ga", eta=5.0)
    assert {"scope_nll", "forget_nll"} <= set(res.loss_parts[0])


def test_r2mu_uses_own_traces_generates_the_rest_and_supervises_retain_reasoning(tiny, forget, retain, refusals):
    """Two of the four forget items carry a ``reasoning`` trace, the other two get the model's own greedy trace;
    two retain items carry one, so the CoT supervision term is present; without any trace and with g = b = 0,
    r2mu is plain RMU (no trace or CoT part)."""
    res, _ = _run(tiny, forget, retain, refusals, "r2mu")
    assert res.info["own_traces"] == 2 and res.info["generated_traces"] == 2 and res.info["cot_items"] == 2
    assert {"forget_mse", "trace_mse", "retain_mse", "cot_nll"} <= set(res.loss_parts[0])
    from froc.models.tiny import tiny_model_and_tokenizer

    plain, _ = _run(tiny_model_and_tokenizer(), forget, retain, refusals, "rmu", layer=1, steering_coeff=2.0,
                    alpha=10.0)
    bare, _ = _run(tiny_model_and_tokenizer(), forget, retain, refusals, "r2mu", trace_weight=0.0, cot_weight=0.0)
    assert set(bare.loss_parts[0]) == {"forget_mse", "retain_mse"}
    assert bare.losses == pytest.approx(plain.losses, rel=1e-5)


def test_r2mu_without_retain_traces_says_its_cot_term_is_off(tiny, forget, retain, refusals):
    model, tok = tiny
    with pytest.warns(UserWarning, match="no retain item has a 'reasoning' trace"):
        res = unlearn(model, tok, forget, retain, method="r2mu", steps=1, lr=1e-3, batch_size=2, progress=False,
                      **TINY_HPARAMS["r2mu"])
    assert res.info["cot_items"] == 0 and "cot_nll" not in res.loss_parts[0]
