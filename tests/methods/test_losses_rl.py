"""GRPO pieces and rewards of the RL unlearning methods (purge, rule), expected values derived by hand."""

from __future__ import annotations

import torch
from torch.testing import assert_close

from froc.data.schema import QAItem
from froc.methods.grpo import group_advantages, grpo_loss
from froc.methods.purge import PurgeConfig, forbidden_concepts, mention_reward
from froc.methods.rule import boundary_reward, is_refusal

T = torch.tensor


def test_group_advantages():
    """Rewards (1, 0, 0, -1): mean 0, unbiased std sqrt(2/3) = 0.8164966; A = r / (0.8164966 + 1e-4), i.e. +-1.2245949.
    A group whose rewards are all equal gets advantage 0 (no signal)."""
    got = group_advantages(T([[1.0, 0.0, 0.0, -1.0], [2.0, 2.0, 2.0, 2.0]]))
    assert_close(got, T([[1.2245949, 0.0, 0.0, -1.2245949], [0.0, 0.0, 0.0, 0.0]]))


def test_grpo_loss_value_and_gradient():
    """One completion of 2 tokens, log-probs (-1, -2), reference (-1, -1), advantage .5, beta .1.
    Token 1: ratio term -1 * .5, KL k3 with d = r - l = 0: 0 -> -.5. Token 2: d = 1, k3 = e - 1 - 1 = 0.7182818
    -> -.5 + .0718282. Mean: -0.4640859.
    Gradient per token: (-A + beta (1 - e^d)) / 2 -> (-.25, (-.5 + .1 (1 - e)) / 2 = -0.3359141)."""
    logp = T([[-1.0, -2.0]], requires_grad=True)
    loss = grpo_loss(logp, T([[-1.0, -1.0]]), T([[1.0, 1.0]]), T([0.5]), beta=0.1)
    assert_close(loss, T(-0.4640859))
    loss.backward()
    assert_close(logp.grad, T([[-0.25, -0.3359141]]))


def test_purge_concepts_and_reward():
    """Concepts: forget answers (+ subjects with include_subjects) + the user's ';'-separated list; a mention
    anywhere (any case) costs -1."""
    items = [QAItem(id="a", subject="Alda Voss", question="q", answer="Marrow Bay"),
             QAItem(id="b", subject="Alda Voss", question="q2", answer="cartographer")]
    assert forbidden_concepts(items, PurgeConfig()) == ["Marrow Bay", "cartographer"]
    got = forbidden_concepts(items, PurgeConfig(include_subjects=True, concepts="Glass Orchard; "))
    assert got == ["Alda Voss", "Glass Orchard", "Marrow Bay", "cartographer"]
    assert mention_reward("She was born in marrow bay.", got) == -1.0
    assert mention_reward("She was born in Port Velm.", got) == 0.0


def test_rule_refusals_and_boundary_reward():
    """Forget query: refusal 1, stating the answer -1, anything else 0. Boundary query: the answer 1, a refusal -1."""
    refusals = ["That is not something I can share."]
    assert is_refusal("I don't know.", []) and is_refusal("that is not something  I can share.", refusals)
    assert not is_refusal("Marrow Bay", refusals)
    assert boundary_reward("I don't know.", "Marrow Bay", True, refusals) == 1.0
    assert boundary_reward("In Marrow Bay.", "Marrow Bay", True, refusals) == -1.0
    assert boundary_reward("In Port Velm.", "Marrow Bay", True, refusals) == 0.0
    assert boundary_reward("In marrow bay.", "Marrow Bay", False, refusals) == 1.0
    assert boundary_reward("I cannot say.", "Marrow Bay", False, refusals) == -1.0
    assert boundary_reward("In Port Velm.", "Marrow Bay", False, refusals) == 0.0


def test_au_validity_divergence_and_hallucination_loss():
    """Valid = contains an allowed entry (any case). Divergence = common-prefix length. Unlikelihood rows:
    logits (ln 3, 0, 0), target 0: -log(1 - .6) = 0.9162907; zeros, target 1: -log(1 - 1/3) = 0.4054651.
    Sequence 1 marks both (mean 0.6608779), sequence 2 none (0): batch mean 0.3304389."""
    import math

    from froc.methods.au import divergence, hallucination_loss, is_valid

    assert is_valid("use the NumPy package", ["numpy"]) and not is_valid("use numpyz2", ["pandas"])
    assert divergence([5, 6, 9, 2], [5, 6, 7, 2]) == 2 and divergence([8], [5]) == 0 and divergence([5], [5, 6]) == 1
    logits = T([[math.log(3.0), 0.0, 0.0], [0.0, 0.0, 0.0]])
    got = hallucination_loss(logits, T([0, 1]), T([[True, True], [False, False]]))
    assert_close(got, T(0.3304389))


def test_au_discovers_hallucinations_of_an_untrained_model(tiny, forget, retain):
    """The untrained tiny model's greedy completions contain none of the valid answers: every item is found
    hallucinating at its first check and gets the unlikelihood term; an allow-list of everything clears them."""
    from froc.engine import unlearn

    model, tok = tiny
    res = unlearn(model, tok, forget, retain, method="au", steps=2, lr=1e-3, batch_size=2, progress=False)
    assert res.loss_parts[0]["hallucinating_share"] == 1.0 and "hallucination_ul" in res.loss_parts[0]
    from froc.models.tiny import tiny_model_and_tokenizer

    model, tok = tiny_model_and_tokenizer()
    vocab = ";".join(sorted({tok.decode([i]).strip() for i in range(tok.vocab_size)} - {""}))
    res = unlearn(model, tok, forget, retain, method="au", allow=vocab, steps=1, lr=1e-3, batch_size=2, progress=False)
    assert res.loss_parts[0]["hallucinating_share"] == 0.0
