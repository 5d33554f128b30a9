"""Losses of the reference toolkit's newer baselines (ceu, satimp, pdu, dpo, altpo), expected values derived
by hand in each docstring; plus the mechanics that are more than a loss (PDU's dual ascent, the
alternatives of dpo/altpo)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from froc.data.schema import QAItem
from froc.errors import ConfigError
from froc.methods.altpo import accept
from froc.methods.ceu import ceu_loss, ceu_token_loss, drop_first_answer_tokens
from froc.methods.dpo import item_alternatives, pick_alternative
from froc.methods.pdu import dual_update, logit_margin_loss
from froc.methods.satimp import satimp_loss

T = torch.tensor


def test_ceu_token_loss_and_gradient():
    """Logits (ln 4, ln 2, 0): p = (4/7, 2/7, 1/7); true token 0 -> target q = softmax(-inf, ln 2, 0) = (0, 2/3, 1/3).
    Loss = -(2/3 ln 2/7 + 1/3 ln 1/7) = ln 7 - (2/3) ln 2 = 1.4838120.
    The target carries no gradient: d loss / d logits = p - q = (4/7, 2/7 - 2/3, 1/7 - 1/3)."""
    z = T([[math.log(4.0), math.log(2.0), 0.0]], requires_grad=True)
    loss = ceu_token_loss(z, T([0]))
    assert_close(loss, T([1.4838120]))
    loss.sum().backward()
    assert_close(z.grad, T([[4 / 7, 2 / 7 - 2 / 3, 1 / 7 - 1 / 3]]))


def test_ceu_loss_sequence_then_batch_mean():
    """Sequence 1 has two answer positions: the logits above (loss 1.4838120) and zeros with true token 2
    (q = (1/2, 1/2, 0), loss = -ln 1/3 = 1.0986123): mean 1.2912122. Sequence 2 has one zero-logit position
    (1.0986123). Batch mean: 1.1949122."""
    logits = T([[math.log(4.0), math.log(2.0), 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    mask = T([[True, True], [True, False]])
    assert_close(ceu_loss(logits, T([0, 2, 2]), mask), T(1.1949122))


def test_ceu_drops_the_first_answer_tokens():
    """n = 1: the first answer label of each row becomes -100; a row with one answer token has none left."""
    labels = T([[-100, 5, 6, 7], [-100, -100, 8, -100]])
    assert torch.equal(drop_first_answer_tokens(labels, 1), T([[-100, -100, 6, 7], [-100, -100, -100, -100]]))
    assert torch.equal(drop_first_answer_tokens(labels, 0), labels)


def test_satimp_loss_and_stop_gradient_weights():
    """One sequence, p = (.5, .25), b1 = b2 = 1: weights p (1 - p) = (.25, .1875).
    Loss = (.25 ln .5 + .1875 ln .25) / 2 = (-0.1732868 - 0.2599302) / 2 = -0.2166085.
    The weights carry no gradient: d/d logp = weights / 2 = (.125, .09375).
    With b1 = 5, b2 = 1 the weight of p = .5 is .5^5 * .5 = 1/64; b2 = 0 is WGA's weight p^b1."""
    logp = T([[math.log(0.5), math.log(0.25)]], requires_grad=True)
    loss = satimp_loss(logp, T([[1.0, 1.0]]), beta1=1.0, beta2=1.0)
    assert_close(loss, T(-0.2166085))
    loss.backward()
    assert_close(logp.grad, T([[0.125, 0.09375]]))
    one = T([[math.log(0.5)]])
    assert_close(satimp_loss(one, T([[1.0]]), beta1=5.0, beta2=1.0), T(math.log(0.5) / 64))
    assert_close(satimp_loss(one, T([[1.0]]), beta1=1.0, beta2=0.0), T(0.5 * math.log(0.5)))


def test_pdu_logit_margin_loss():
    """Sequence 1: logits (1, 2, 3) -> (max - mean)^2 = (3 - 2)^2 = 1; (0, 0, 6) -> (6 - 2)^2 = 16; mean 8.5.
    Sequence 2: (2, 2, 2) -> 0 (uniform). Batch mean 4.25."""
    logits = T([[1.0, 2.0, 3.0], [0.0, 0.0, 6.0], [2.0, 2.0, 2.0]])
    assert_close(logit_margin_loss(logits, T([[True, True], [True, False]])), T(4.25))


def test_pdu_dual_update():
    """lam 1, retain loss .5 over eps .3, step 2: 1 + 2 * .2 = 1.4; below the bound it falls, never under 0."""
    assert dual_update(1.0, 0.5, 0.3, 2.0) == pytest.approx(1.4)
    assert dual_update(1.0, 0.2, 0.3, 1.0) == pytest.approx(0.9)
    assert dual_update(0.1, 0.1, 0.3, 1.0) == 0.0


def test_pdu_dual_variable_follows_the_measured_retain_loss(tiny, forget, retain):
    """Each step logs the lam it used and the retain NLL it measured: lam_(s+1) = max(0, lam_s + eta (r_s - eps)),
    with eps = the original retain NLL + margin (reported in info)."""
    from froc.engine import unlearn

    model, tok = tiny
    res = unlearn(model, tok, forget, retain, method="pdu", steps=4, lr=1e-3, batch_size=2, progress=False,
                  retain_preference=2.0, dual_step_size=0.5, eps_margin=0.05)
    eps = res.info["retain_loss_eps"]
    assert eps == pytest.approx(res.info["initial_retain_nll"] + 0.05)
    lam = [p["retain_preference"] for p in res.loss_parts]
    r = [p["retain_nll"] for p in res.loss_parts]
    assert lam[0] == pytest.approx(2.0)
    for s in range(3):
        assert lam[s + 1] == pytest.approx(max(0.0, lam[s] + 0.5 * (r[s] - eps)), rel=1e-5)


def test_dpo_alternative_sources_and_rotation():
    """meta string, meta list, auto falling back to perturbed answers; step s uses alternative (s + i) mod K:
    step 4, items 0, 1, 2 with K = 1, 2, 5 -> 0, 5 mod 2 = 1, 6 mod 5 = 1."""
    mk = lambda **kw: QAItem(id="x", subject="s", question="q?", answer="a", **kw)
    assert item_alternatives(mk(meta={"alternative": "b"}), "auto") == ["b"]
    assert item_alternatives(mk(meta={"alternatives": ["b", "c"]}, perturbed_answers=["d"]), "auto") == ["b", "c"]
    assert item_alternatives(mk(meta={"alternatives": ["b"]}, perturbed_answers=["d"]), "perturbed") == ["d"]
    assert item_alternatives(mk(perturbed_answers=["d", "e"]), "auto") == ["d", "e"]
    assert item_alternatives(mk(perturbed_answers=["d"]), "meta") == []
    assert pick_alternative(4, T([0, 1, 2]), T([1, 2, 5])).tolist() == [0, 1, 1]


def test_dpo_without_alternatives_is_refused(tiny, forget, retain):
    from froc.engine import unlearn

    model, tok = tiny
    with pytest.raises(ConfigError, match="no alternative answer"):
        unlearn(model, tok, forget, retain, method="dpo", steps=1, progress=False)
    with pytest.raises(ConfigError, match="dpo alternatives"):
        unlearn(model, tok, forget, retain, method="dpo", alternatives="nope", steps=1, progress=False)


def test_dpo_setup_pairs_alternatives_with_original_model_logprobs(tiny, forget, retain):
    """Two alternatives per item, kept in their given order; each reference log-prob equals the summed answer
    log-prob of (question, alternative) under the model before training, computed on its own."""
    from dataclasses import replace

    from froc.engine import UnlearnConfig
    from froc.engine.data import prepare_data
    from froc.methods import dpo
    from froc.methods.base import Context
    from froc.models.encoding import collate, encode_item
    from froc.models.logprobs import sequence_logprobs

    model, tok = tiny
    items = [replace(f, meta={"alternatives": ["Port Velm", "a lighthouse keeper"]}) for f in forget]
    cfg = UnlearnConfig()
    data = prepare_data(tok, items, retain, None, {"retain"}, cfg)
    ctx = Context(tok, cfg.prompt_format, tok.pad_token_id, torch.device("cpu"), torch.Generator().manual_seed(0))
    info = dpo.setup(model, data, ctx, dpo.DPOConfig(n_alternatives=2))
    assert info["n_alternatives"] == 8 and ctx.state["alt_text"][3] == ["Port Velm", "a lighthouse keeper"]
    with torch.no_grad():
        for k, alt in enumerate(["Port Velm", "a lighthouse keeper"]):
            want = sequence_logprobs(model, collate([encode_item(tok, items[3], answer=alt)], tok.pad_token_id))[0]
            assert_close(ctx.state["alt_ref"][3][k], want[0], atol=1e-5, rtol=1e-5)


def test_altpo_accepts_only_new_wrong_answers():
    """Kept: non-empty, not the true answer (case and spaces ignored), not a repeat."""
    assert accept("Port Velm", "Marrow Bay", [])
    assert not accept("  marrow   BAY ", "Marrow Bay", [])
    assert not accept("", "Marrow Bay", [])
    assert not accept("port velm", "Marrow Bay", ["Port Velm"])


def test_altpo_samples_alternatives_that_differ_from_the_answer(tiny, forget, retain):
    from froc.engine import unlearn

    model, tok = tiny
    res = unlearn(model, tok, forget, retain, method="altpo", n_alternatives=2, max_new_tokens=6, steps=1,
                  lr=1e-3, batch_size=2, progress=False)
    assert res.status == "completed"
    assert res.info["n_alternatives"] >= len(forget)
