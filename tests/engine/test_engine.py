"""The shared loop: determinism, divergence, trajectory checkpoints, reference cache, LoRA, saving, errors."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch
from torch.testing import assert_close

from froc.engine import UnlearnConfig, save_unlearned, unlearn
from froc.engine.data import make_batch, prepare_data, reference_logprobs
from froc.errors import ConfigError
from froc.methods import Context, npo
from froc.models.logprobs import sequence_logprobs
from froc.models.tiny import tiny_model_and_tokenizer


def _weights(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _run(forget, retain, method="npo", **kw):
    model, tok = tiny_model_and_tokenizer()
    kw = {"steps": 4, "lr": 1e-3, "batch_size": 2, "progress": False, **kw}
    return unlearn(model, tok, forget, retain, method=method, **kw), tok


def test_same_seed_bit_identical_different_seed_differs(forget, retain):
    a, _ = _run(forget, retain, "graddiff", seed=3)
    b, _ = _run(forget, retain, "graddiff", seed=3)
    c, _ = _run(forget, retain, "graddiff", seed=4)
    wa, wb, wc = _weights(a.model), _weights(b.model), _weights(c.model)
    assert all(torch.equal(wa[n], wb[n]) for n in wa)
    assert a.losses == b.losses
    assert any(not torch.equal(wa[n], wc[n]) for n in wa)


def test_divergence_is_a_status_not_an_exception(forget, retain):
    res, _ = _run(forget, retain, "ga", steps=30, lr=10.0, checkpoints=[1])
    assert res.status == "diverged"
    assert isinstance(res.diverged_at, int) and 1 <= res.diverged_at <= 30
    assert len(res.losses) == res.diverged_at and len(res.loss_parts) == res.diverged_at
    assert res.reason
    bad = res.losses[-1]
    assert not math.isfinite(bad) or abs(bad) > res.config.divergence_bound


def test_checkpoints_called_at_listed_steps_and_equal_shorter_runs(forget, retain):
    """With the constant schedule, the model at step 10 of a 20-step run is the 10-step run's model."""
    seen = []

    def grab(step, model):
        seen.append(step)
        assert not model.training
        torch.rand(3)  # a callback that consumes the global RNG must not change training
        return _weights(model)

    long, _ = _run(forget, retain, "graddiff", steps=20, checkpoints=[5, 10, 20], on_checkpoint=grab)
    short, _ = _run(forget, retain, "graddiff", steps=10)
    assert seen == [5, 10, 20] and sorted(long.checkpoint_results) == [5, 10, 20]
    w10, ws = long.checkpoint_results[10], _weights(short.model)
    assert all(torch.equal(w10[n], ws[n]) for n in ws)
    assert long.losses[:10] == short.losses


def test_snapshots_written_at_checkpoints(forget, retain, tmp_path):
    res, _ = _run(forget, retain, "ga", steps=3, checkpoints=[2, 3], snapshot_dir=tmp_path / "snap")
    for s in (2, 3):
        assert list((tmp_path / "snap" / f"step_{s}").glob("*.safetensors"))


def test_reference_cache_matches_a_second_model(forget, retain):
    """NPO with the cached reference log-probs gives the same loss as a second (frozen) model computing them."""
    model, tok = tiny_model_and_tokenizer()
    cfg = UnlearnConfig(batch_size=3)
    data = prepare_data(tok, forget, retain, None, {"ref_seq_logprobs"}, cfg)
    cache = reference_logprobs(model, data.forget_enc, tok.pad_token_id, torch.device("cpu"), batch_size=3)
    second = copy.deepcopy(model).eval()
    with torch.no_grad():  # move the live model away from the reference
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    ctx = Context(tok, cfg.prompt_format, tok.pad_token_id, torch.device("cpu"), torch.Generator(), ref_forget=cache)
    batch = make_batch(data, [3, 0, 2], None, tok.pad_token_id, torch.device("cpu"))
    got = npo.compute(model, batch, ctx, npo.NPOConfig(beta=0.1)).total
    with torch.no_grad():
        ref = sequence_logprobs(second, batch.forget)[0]
    logp = sequence_logprobs(model, batch.forget)[0]
    assert_close(got, npo.npo_loss(logp, ref, beta=0.1))


def test_first_npo_loss_is_two_over_beta_log_two(forget, retain):
    """At step 1 the model is the reference: every log-ratio is 0 and NPO = (2/b) ln 2, which checks that
    cache entries line up with the items of each batch."""
    res, _ = _run(forget, retain, "npo", steps=1, beta=0.5)
    assert_close(torch.tensor(res.losses[0]), torch.tensor(4 * math.log(2)), atol=1e-5, rtol=0)


def test_grad_accum_equals_larger_batch(forget, retain):
    """Per-sequence means: 2 micro-batches of 1 accumulate to the gradient of one batch of 2."""
    a, _ = _run(forget, retain, "graddiff", steps=2, batch_size=2, grad_accum=1, optimizer="sgd", momentum=0.0)
    b, _ = _run(forget, retain, "graddiff", steps=2, batch_size=1, grad_accum=2, optimizer="sgd", momentum=0.0)
    wa, wb = _weights(a.model), _weights(b.model)
    for n in wa:
        assert_close(wa[n], wb[n], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("optimizer", ["sgd", "signsgd", "sign_adam", "zo_hybrid"])
def test_optimizers_run_for_any_method(optimizer, forget, retain):
    model, tok = tiny_model_and_tokenizer()
    before = _weights(model)
    res = unlearn(model, tok, forget, retain, method="npo", optimizer=optimizer, steps=4, lr=1e-3, batch_size=2,
                  zo_mu=1e-2, progress=False)
    assert res.status == "completed" and all(math.isfinite(x) for x in res.losses)
    after = _weights(res.model)
    assert all(not torch.equal(before[n], after[n]) for n in before)
    if optimizer == "zo_hybrid":  # steps 2 and 4 are zeroth-order: no per-part breakdown
        assert [bool(p) for p in res.loss_parts] == [True, False, True, False]


def test_lora_run_save_merged_loads(forget, retain, tmp_path):
    from froc.models.loading import load_model

    res, tok = _run(forget, retain, "graddiff", steps=3, lora={"r": 4, "alpha": 8})
    trained = {n for n, p in res.model.named_parameters() if p.requires_grad}
    assert trained and all("lora_" in n for n in trained)
    ids = torch.tensor([[1, 5, 6, 7, 8]])
    with torch.no_grad():
        expected = res.model(input_ids=ids).logits
    out = save_unlearned(res, tok, tmp_path / "merged", merge_lora=True)
    assert list(out.glob("*.safetensors")) and not (out / "adapter_config.json").exists()
    loaded, _ = load_model(out, device="cpu")
    with torch.no_grad():
        assert_close(loaded(input_ids=ids).logits, expected, atol=1e-5, rtol=1e-4)
    summary = json.loads((out / "unlearn_config.json").read_text())
    assert summary["status"] == "completed" and len(summary["losses"]) == 3
    assert summary["config"]["lora"]["r"] == 4 and summary["method_hparams"]["retain_weight"] == 1.0


def test_save_full_weights_roundtrip(forget, retain, tmp_path):
    from froc.models.loading import load_model

    res, tok = _run(forget, retain, "simnpo", steps=2)
    save_unlearned(res, tok, tmp_path / "m")
    loaded, _ = load_model(tmp_path / "m", device="cpu")
    w = _weights(res.model)
    for n, p in loaded.named_parameters():
        assert torch.equal(p, w[n])


def test_text_forget_items(retain):
    from froc.data.schema import TextItem

    texts = [TextItem(id="t0", subject="Alda Voss", text="Alda Voss was born in Marrow Bay and wrote The Glass Orchard."),
             TextItem(id="t1", subject="Brin Tallo", text="Brin Tallo works as a cartographer.")]
    res, _ = _run(texts, retain, "graddiff", steps=2)
    assert res.status == "completed"


# ---------------------------------------------------------------- errors


def test_unknown_method_lists_valid_ones(forget, retain):
    with pytest.raises(ConfigError, match="valid methods: .*graddiff.*npo"):
        _run(forget, retain, "nope")


def test_unknown_hyperparameter_lists_valid_ones(forget, retain):
    with pytest.raises(ConfigError, match=r"unknown hyperparameter\(s\) betta .*beta.*retain_weight.*engine settings: steps"):
        _run(forget, retain, "npo", betta=0.1)


def test_bad_values_rejected(forget, retain):
    with pytest.raises(ConfigError, match="checkpoints"):
        _run(forget, retain, "npo", steps=3, checkpoints=[5])
    with pytest.raises(ConfigError, match="valid optimizers"):
        _run(forget, retain, "npo", optimizer="lion")
    with pytest.raises(ConfigError, match="base method for sam"):
        _run(forget, retain, "sam", base="rocr")
    with pytest.raises(ConfigError, match="LoRA"):
        _run(forget, retain, "rmu", lora={"r": 2})
    with pytest.raises(ConfigError, match="needs retain"):
        _run(forget, [], "graddiff")
    with pytest.raises(ConfigError, match="refusals"):
        _run(forget, retain, "idkpo")


def test_froc_unlearn_is_lazily_importable():
    import froc

    assert froc.unlearn is unlearn


def _checkpointing(model) -> bool:
    """Whether activation checkpointing is on (its name before and since transformers 5.24)."""
    name = "is_activation_checkpointing" if hasattr(model, "activation_checkpointing_enable") else \
        "is_gradient_checkpointing"
    return bool(getattr(model, name))


@pytest.mark.parametrize("method", ["npo", "graddiff"])
def test_gradient_checkpointing_same_training_and_switched_off_after(forget, retain, method):
    a, _ = _run(forget, retain, method, seed=1)
    b, _ = _run(forget, retain, method, seed=1, gradient_checkpointing=True)
    assert_close(torch.tensor(a.losses), torch.tensor(b.losses), atol=1e-5, rtol=1e-5)
    wa, wb = _weights(a.model), _weights(b.model)
    assert all(torch.allclose(wa[n], wb[n], atol=1e-5) for n in wa)
    assert not _checkpointing(b.model)  # the user's model is left as it was


def test_gradient_checkpointing_with_lora(forget, retain):
    res, _ = _run(forget, retain, "npo", lora={"r": 4}, gradient_checkpointing=True)
    assert res.status == "completed" and len(res.losses) == 4
    assert not _checkpointing(res.model.get_base_model())
