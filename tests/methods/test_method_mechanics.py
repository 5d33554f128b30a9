"""Mechanics of the methods that do more than a loss: SAM's perturb-compute-restore, LAU's PGD,
ROCR's edit, MRP's saved hooks, IdkPO's refusal pairing."""

from __future__ import annotations

import torch
from torch.testing import assert_close

from froc.engine import UnlearnConfig, save_unlearned, unlearn
from froc.engine.data import prepare_data
from froc.methods import sam
from froc.methods.adv import pgd_perturbation
from froc.methods.base import Loss
from froc.methods.common import mnll
from froc.models.encoding import collate
from froc.models.logprobs import token_logprobs


class _Batch:
    def without_retain(self):
        return self


def _cubic(w):
    """Forget term sum(w^3)/3 (gradient w^2) and retain term sum(w) (gradient 1)."""
    return lambda b: Loss(forget=(w ** 3).sum() / 3, retain=w.sum())


def test_sam_backward_gradient_at_perturbed_point_and_exact_restore():
    """w = (1, 2): g = w^2 = (1, 4), ||g|| = sqrt(17), e = rho g / ||g||.
    Accumulated gradient = (w + e)^2 (forget, at the perturbed point) + 1 (retain, at w); w restored bit-exactly."""
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    keep = w.detach().clone()
    cfg = sam.SAMConfig(rho=0.5)
    sam.backward(_cubic(w), _Batch(), [w], 1.0, None, cfg)
    e = 0.5 * torch.tensor([1.0, 4.0]) / 17 ** 0.5
    assert_close(w.grad, (keep + e) ** 2 + 1)
    assert torch.equal(w.detach(), keep)


def test_sam_smoothing_averages_gradients_under_seeded_noise():
    """Smoothing: gradient = mean_i (w + e_i)^2 + 1 with e_i ~ N(0, s^2) drawn from the run's generator."""
    w = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    keep = w.detach().clone()
    ctx = type("Ctx", (), {"generator": torch.Generator().manual_seed(7)})()
    sam.backward(_cubic(w), _Batch(), [w], 1.0, ctx, sam.SAMConfig(variant="smoothing", noise_std=0.1, n_samples=3))
    g = torch.Generator().manual_seed(7)
    noise = [0.1 * torch.randn(3, generator=g) for _ in range(3)]
    assert_close(w.grad, sum((keep + e) ** 2 for e in noise) / 3 + 1)
    assert torch.equal(w.detach(), keep)


def test_pgd_perturbation_restores_forget_answers_within_the_ball(tiny, forget):
    model, tok = tiny
    cfg = UnlearnConfig()
    data = prepare_data(tok, forget, [], None, set(), cfg)
    batch = collate(data.forget_enc, tok.pad_token_id)
    delta = pgd_perturbation(model, batch, 1, eps=2.0, steps=4, step_size=0.5)
    assert delta.shape == (*batch["input_ids"].shape, model.config.hidden_size)
    assert (delta.norm(dim=-1) <= 2.0 + 1e-5).all()
    assert (delta[batch["attention_mask"] == 0] == 0).all()
    from froc.methods.common import perturb_layer

    with torch.no_grad():
        clean = mnll(*token_logprobs(model, batch)).mean()
        with perturb_layer(model, 1, delta):
            attacked = mnll(*token_logprobs(model, batch)).mean()
    assert attacked < clean - 0.1


def test_rocr_redirects_forget_subject_keys_to_target_values(tiny, forget, retain):
    """After the edit, W_new k_s = W_old k_target for every forget subject s (joint closed form is exact)."""
    from froc.methods import rocr
    from froc.methods.base import Context
    from froc.methods.common import decoder_layers

    model, tok = tiny
    down = decoder_layers(model)[0].mlp.down_proj
    W_old = down.weight.detach().clone()
    res = unlearn(model, tok, forget, retain, method="rocr", target_subject="Cass Orun", progress=False)
    assert res.info["targets"] == {"Alda Voss": "Cass Orun", "Brin Tallo": "Cass Orun"}
    ctx = Context(tok, UnlearnConfig().prompt_format, tok.pad_token_id, torch.device("cpu"), torch.Generator())
    k_target = rocr._mean_key(model, down, [r for r in retain if r.subject == "Cass Orun"], ctx)
    for s in ("Alda Voss", "Brin Tallo"):
        k_s = rocr._mean_key(model, down, [f for f in forget if f.subject == s], ctx)
        assert_close(down.weight.detach() @ k_s, W_old @ k_target, atol=1e-4, rtol=1e-4)


def test_mrp_projections_saved_reloaded_and_cumulative(tiny, forget, retain, tmp_path):
    from froc.methods.mrp import load_projection_hooks, projections
    from froc.models.loading import load_model

    model, tok = tiny
    res = unlearn(model, tok, forget[:2], retain, method="mrp", k=2, progress=False)
    assert res.info["rank"] == {1: 2}
    res = unlearn(res.model, tok, forget[2:], retain, method="mrp", k=2, progress=False)
    q = projections(res.model)[1]
    assert q.shape[0] == 4
    assert_close(q @ q.T, torch.eye(4), atol=1e-5, rtol=0)  # the union stays orthonormal
    save_unlearned(res, tok, tmp_path / "m")
    loaded, _ = load_model(tmp_path / "m", device="cpu")
    ids = torch.tensor([[1, 5, 6, 7, 8]])
    with torch.no_grad():
        expected = res.model(input_ids=ids).logits
        assert not torch.allclose(loaded(input_ids=ids).logits, expected)
        load_projection_hooks(loaded, tmp_path / "m")
        assert_close(loaded(input_ids=ids).logits, expected)


def test_idkpo_refusals_paired_once_with_the_seeded_rng(tiny, forget, retain, refusals):
    model, tok = tiny
    a = prepare_data(tok, forget, retain, refusals, {"refusals", "retain"}, UnlearnConfig(seed=1))
    b = prepare_data(tok, forget, retain, refusals, {"refusals", "retain"}, UnlearnConfig(seed=1))
    assert a.refusal_text == b.refusal_text and set(a.refusal_text) <= set(refusals)
    assert len(a.refusal_enc) == len(forget)
    # the refusal sequence keeps the forget question as its prompt
    assert a.refusal_enc[0].ids[: a.refusal_enc[0].n_prompt] == a.forget_enc[0].ids[: a.forget_enc[0].n_prompt]
