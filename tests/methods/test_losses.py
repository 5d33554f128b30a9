"""Every method's loss on small tensors, with the expected value derived by hand in the docstring."""

from __future__ import annotations

import math

import torch
from torch.testing import assert_close

from froc.methods.adv import project_l2
from froc.methods.catnip import catnip_loss, token_log_odds
from froc.methods.ga import ga_loss
from froc.methods.ga_kl import kl_ref_theta
from froc.methods.graddiff import graddiff_loss
from froc.methods.idkpo import dpo_loss
from froc.methods.mrp import forget_directions, orthonormal_union, project_out
from froc.methods.npo import npo_loss
from froc.methods.rmu import random_directions, rmu_loss
from froc.methods.rocr import multi_edit, rank_one_edit
from froc.methods.sam import sam_perturbation
from froc.methods.scope import scope_sequences
from froc.methods.simnpo import simnpo_loss
from froc.methods.undial import undial_loss
from froc.methods.wga import wga_loss
from froc.models.encoding import Encoded

T = torch.tensor
LOGP = T([[-1.0, -2.0, 0.0], [-3.0, 0.0, 0.0]])
MASK = T([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])


def test_ga_loss():
    """Sequence 1 has answer log-probs -1, -2 -> mnll 1.5; sequence 2 has -3 -> mnll 3.
    GA minimises -mean(mnll) = -(1.5 + 3) / 2 = -2.25. Masked positions (0.0 here) never count."""
    assert_close(ga_loss(LOGP, MASK), T(-2.25))
    assert_close(ga_loss(LOGP + (1 - MASK) * -50.0, MASK), T(-2.25))


def test_graddiff_loss():
    """Forget mnll mean 2.25 (as in test_ga_loss); retain log-probs -0.5, -0.5 -> mnll 0.5.
    With g = 1, a = 2: -1 * 2.25 + 2 * 0.5 = -1.25."""
    got = graddiff_loss(LOGP, MASK, T([[-0.5, -0.5]]), T([[1.0, 1.0]]), forget_weight=1.0, retain_weight=2.0)
    assert_close(got.total, T(-1.25))
    assert_close(got.forget, T(-2.25))
    assert_close(got.retain, T(1.0))
    alone = graddiff_loss(LOGP, MASK, forget_weight=2.0)  # no retain batch: forget term only, -2 * 2.25
    assert alone.retain is None
    assert_close(alone.total, T(-4.5))


def test_kl_ref_theta_counts_answer_tokens_only():
    """V = 2, T = 4, labels [-100, -100, 0, 1]: only logits at positions 1 and 2 predict answer tokens.
    Position 1: model p = softmax([0, 0]) = (.5, .5), reference softmax([ln 3, 0]) = (.75, .25):
    KL = .75 ln(.75/.5) + .25 ln(.25/.5) = .75 * 0.4054651 - .25 * 0.6931472 = 0.1308120.
    Position 2: identical logits -> KL 0. Mean over the 2 answer tokens: 0.0654060.
    Position 0 (prompt) and 3 (last, predicts nothing) get wildly different logits: must not count."""
    logits = T([[[9.0, -9.0], [0.0, 0.0], [1.0, 2.0], [5.0, -5.0]]])
    ref = T([[[-9.0, 9.0], [math.log(3.0), 0.0], [1.0, 2.0], [-5.0, 5.0]]])
    labels = T([[-100, -100, 0, 1]])
    assert_close(kl_ref_theta(logits, ref, labels), T(0.0654060), atol=1e-6, rtol=1e-5)


def test_npo_loss():
    """beta = 0.5; log-ratios logp - ref = (-2 - -2, -4 - -3) = (0, -1).
    Sequence 1: -(2/.5) log sigmoid(0) = 4 ln 2 = 2.7725887.
    Sequence 2: -(2/.5) log sigmoid(.5) = 4 ln(1 + e^-.5) = 4 * 0.4740770 = 1.8963081.
    Mean: 2.3344484."""
    assert_close(npo_loss(T([-2.0, -4.0]), T([-2.0, -3.0]), beta=0.5), T(2.3344484))


def test_npo_loss_gradient_is_sequence_level():
    """d/d logp of -(2/b) log sigmoid(-b x) is 2 sigmoid(b x); at x = 0 it is 1 (per item, /B for the mean)."""
    logp = T([-2.0, -5.0], requires_grad=True)
    npo_loss(logp, logp.detach(), beta=0.1).backward()
    assert_close(logp.grad, T([0.5, 0.5]))


def test_simnpo_loss():
    """beta = 2, delta = 1, mnll = (1, 3): b (mnll - d) = (0, 4).
    -(2/2) log sigmoid(0) = ln 2 = 0.6931472; -(2/2) log sigmoid(4) = ln(1 + e^-4) = 0.0181499. Mean 0.3556485."""
    assert_close(simnpo_loss(T([1.0, 3.0]), beta=2.0, delta=1.0), T(0.3556485))


def test_dpo_loss():
    """beta = 1; refusal (w): logp -1, ref -3 -> +2; answer (l): logp -5, ref -4 -> -1; margin 3.
    -(2/1) log sigmoid(3) = 2 ln(1 + e^-3) = 2 * 0.0485874 = 0.0971748."""
    assert_close(dpo_loss(T([-1.0]), T([-5.0]), T([-3.0]), T([-4.0]), beta=1.0), T(0.0971748))


def test_rmu_loss():
    """Forget states (1, 2, 2): token 0 = (1, 0), token 1 = (0, 1) (padding, mask 0); target c*u = (1, 1).
    Token 0: ((1-1)^2 + (0-1)^2) / 2 = 0.5 -> forget term 0.5.
    Retain state (2, 2) vs reference (0, 0): (4 + 4) / 2 = 4; alpha = 3 -> retain term 12."""
    h_f = T([[[1.0, 0.0], [0.0, 1.0]]])
    f, r = rmu_loss(h_f, T([[1.0, 1.0]]), T([[1.0, 0.0]]), T([[[2.0, 2.0]]]), T([[[0.0, 0.0]]]), T([[1.0]]), alpha=3.0)
    assert_close(f, T(0.5))
    assert_close(r, T(12.0))


def test_rmu_directions_uniform_normalised_one_per_subject():
    """u ~ uniform[0, 1)^D then normalised: non-negative entries (a Gaussian would give negatives),
    unit norm, one vector per subject, reproducible from the seed."""
    u = random_directions(["a", "b", "a"], 64, torch.Generator().manual_seed(0))
    assert sorted(u) == ["a", "b"]
    for v in u.values():
        assert (v >= 0).all()
        assert_close(v.norm(), T(1.0))
    again = random_directions(["b", "a"], 64, torch.Generator().manual_seed(0))
    assert torch.equal(u["a"], again["a"]) and not torch.equal(u["a"], u["b"])


def test_undial_loss():
    """One answer token (labels [-100, 0], V = 2, position 0 predicts it), b = ln 3.
    Target: softmax(ref - b * onehot(0)) = softmax([-ln 3, 0]) = (1/4, 3/4).
    Model: softmax([ln 3, 0]) = (3/4, 1/4). CE = -(1/4 ln 3/4 + 3/4 ln 1/4) = 0.0719205 + 1.0397208 = 1.1116413."""
    logits = T([[[math.log(3.0), 0.0], [7.0, -7.0]]])
    ref = T([[[0.0, 0.0], [-7.0, 7.0]]])
    got = undial_loss(logits, ref, T([[-100, 0]]), strength=math.log(3.0))
    assert_close(got, T(1.1116413))


def test_wga_loss_and_stop_gradient_weights():
    """One sequence, p = (.5, .25), beta = 1: weights sg(p) = (.5, .25).
    Loss = mean(.5 ln .5, .25 ln .25) = (-0.3465736 - 0.3465736) / 2 = -0.3465736.
    The weights carry no gradient: d/d logp = weights / 2 = (.25, .125)."""
    logp = T([[math.log(0.5), math.log(0.25)]], requires_grad=True)
    loss = wga_loss(logp, T([[1.0, 1.0]]), beta=1.0)
    assert_close(loss, T(-0.3465736))
    loss.backward()
    assert_close(logp.grad, T([[0.25, 0.125]]))


def test_catnip_log_odds_and_loss():
    """Logits (ln 3, 0, 0) at the position predicting label 0: p = 3/5, odds p/(1-p) = 3/2, log-odds ln 1.5.
    beta = 1: (2/1) ln(1 + 1.5) = 2 ln 2.5 = 1.8325815.  beta = 2: (2/2) ln(1 + 1.5^2) = ln 3.25 = 1.1786550."""
    logits = T([[[math.log(3.0), 0.0, 0.0], [0.0, 0.0, 0.0]]])
    lo, mask = token_log_odds(logits, T([[-100, 0]]))
    assert_close(lo, T([[math.log(1.5)]]))
    assert_close(catnip_loss(lo, mask, beta=1.0), T(1.8325815))
    assert_close(catnip_loss(lo, mask, beta=2.0), T(1.1786550))


def test_catnip_is_stable_when_p_rounds_to_one():
    """Logit gap 100: p = 1 in float32, so log p - log(1 - p) would be inf. From logits the log-odds are
    100 - ln 2 = 99.3068528 (two other tokens at 0), the loss is 2 * softplus(99.31) = 198.6137 and the
    gradient is finite and non-zero."""
    logits = T([[[100.0, 0.0, 0.0], [0.0, 0.0, 0.0]]], requires_grad=True)
    lo, mask = token_log_odds(logits, T([[-100, 0]]))
    loss = catnip_loss(lo, mask, beta=1.0)
    assert_close(loss, T(198.6137056))
    loss.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_scope_sequences():
    """bos = 1, eos = 2. Forget QA [1, 10, 11 | 12, 2] (prompt 3 tokens) and retain QA [1, 20 | 21, 2]
    (prompt 2 tokens) -> [1, 10, 11] + [20, 21, 2], prompt = 3 + (2 - 1) = 4 tokens: only 21 and eos scored.
    A text forget item [1, 30, 31, 2] (prompt = bos only) contributes its whole text without eos."""
    f = [Encoded([1, 10, 11, 12, 2], 3), Encoded([1, 30, 31, 2], 1)]
    r = [Encoded([1, 20, 21, 2], 2), Encoded([1, 20, 21, 2], 2)]
    got = scope_sequences(f, r, n_bos=1, n_eos=1)
    assert (got[0].ids, got[0].n_prompt) == ([1, 10, 11, 20, 21, 2], 4)
    assert (got[1].ids, got[1].n_prompt) == ([1, 30, 31, 20, 21, 2], 4)


def test_sam_perturbation():
    """Gradients (3,) and (4,): global norm 5; rho = 0.1 -> (0.06,) and (0.08,); None stays None."""
    got = sam_perturbation([T([3.0]), None, T([4.0])], 0.1)
    assert_close(got[0], T([0.06]))
    assert got[1] is None
    assert_close(got[2], T([0.08]))


def test_project_l2():
    """(3, 4) has norm 5 > eps = 1 -> (0.6, 0.8); (0.3, 0.4) has norm 0.5 <= 1 -> unchanged."""
    assert_close(project_l2(T([[3.0, 4.0], [0.3, 0.4]]), 1.0), T([[0.6, 0.8], [0.3, 0.4]]))


def test_mrp_projection_and_subspaces():
    """Q = e0: h = (1, 2, 3) -> (0, 2, 3). Forget states spread along e0 around the retain mean
    -> the top direction is +-e0. The union of e0 with a new e0 + e1 is orthonormal and spans e0, e1."""
    assert_close(project_out(T([[1.0, 2.0, 3.0]]), T([[1.0, 0.0, 0.0]])), T([[0.0, 2.0, 3.0]]))
    h_f = T([[5.0, 1.0, 1.0], [-5.0, 1.0, 1.0], [4.0, 1.0, 1.0]])
    h_r = T([[0.0, 1.0, 1.0], [0.0, 1.0, 1.0]])
    d = forget_directions(h_f, h_r, 1)
    assert_close(d.abs(), T([[1.0, 0.0, 0.0]]), atol=1e-5, rtol=0)
    q = orthonormal_union(T([[1.0, 0.0, 0.0]]), T([[1.0, 1.0, 0.0]]) / math.sqrt(2))
    assert q.shape == (2, 3)
    assert_close(q @ q.T, torch.eye(2), atol=1e-6, rtol=0)
    assert_close(project_out(T([[1.0, 1.0, 1.0]]), q), T([[0.0, 0.0, 1.0]]), atol=1e-6, rtol=0)


def test_rocr_rank_one_edit():
    """W = I (2x2), C = I, key k = e0, new value v* = e1:
    W + (v* - W k) k^T / (k^T k) = I + (-1, 1)^T (1, 0) = [[0, 0], [1, 1]].
    Then W k = e1 (redirected), and the C-orthogonal key e1 still maps to W e1 = (0, 1) as before.
    With one key, the joint form equals the rank-one form."""
    W, k, v, C_inv = torch.eye(2), T([1.0, 0.0]), T([0.0, 1.0]), torch.eye(2)
    new = rank_one_edit(W, k, v, C_inv)
    assert_close(new, T([[0.0, 0.0], [1.0, 1.0]]))
    assert_close(new @ k, v)
    assert_close(new @ T([0.0, 1.0]), T([0.0, 1.0]))
    assert_close(multi_edit(W, k[:, None], v[:, None], C_inv), new)
