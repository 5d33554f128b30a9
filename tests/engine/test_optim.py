"""Optimizers and the learning-rate schedule, checked by hand."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from froc.engine import UnlearnConfig
from froc.engine.optim import SignAdam, SignSGD, is_zeroth_order_step, lr_factor, spsa_gradient_


def _step(opt_cls, grad, **kw):
    p = torch.nn.Parameter(torch.tensor([1.0, -1.0, 0.5]))
    opt = opt_cls([p], **kw)
    p.grad = torch.tensor(grad)
    opt.step()
    return p.detach()


def test_signsgd_steps_by_the_sign():
    """momentum 0, lr 0.1: p - 0.1 sign(g) = (1 - .1, -1 + .1, .5 - .1) for g = (.5, -2, 3)."""
    assert_close(_step(SignSGD, [0.5, -2.0, 3.0], lr=0.1, momentum=0.0), torch.tensor([0.9, -0.9, 0.4]))


def test_signsgd_momentum_and_decoupled_weight_decay():
    """momentum .9: m = .1 g, same sign; weight decay .5: p (1 - .1 * .5) - .1 sign(g)."""
    got = _step(SignSGD, [0.5, -2.0, 3.0], lr=0.1, momentum=0.9, weight_decay=0.5)
    assert_close(got, torch.tensor([1.0, -1.0, 0.5]) * 0.95 - 0.1 * torch.tensor([1.0, -1.0, 1.0]))


def test_sign_adam_first_step_is_sign_of_gradient():
    """Step 1: m_hat = g, v_hat = g^2, m_hat / (sqrt(v_hat) + eps) has the sign of g."""
    assert_close(_step(SignAdam, [1e-6, -2.0, 3.0], lr=0.1), torch.tensor([0.9, -0.9, 0.4]))


def test_lr_schedule():
    """warm-up 2 of 4 steps: 1/2, 1, then constant (1, 1) or linear decay ((4-3+1)/2 = 1, 1/2)."""
    const = lr_factor(UnlearnConfig(steps=4, warmup_steps=2))
    lin = lr_factor(UnlearnConfig(steps=4, warmup_steps=2, schedule="linear"))
    assert [const(i) for i in range(4)] == [0.5, 1.0, 1.0, 1.0]
    assert [lin(i) for i in range(4)] == [0.5, 1.0, 1.0, 0.5]


def test_zo_alternation():
    cfg = UnlearnConfig(optimizer="zo_hybrid", zo_every=3)
    assert [is_zeroth_order_step(cfg, s) for s in range(1, 7)] == [False, False, True, False, False, True]
    assert not is_zeroth_order_step(UnlearnConfig(), 2)


@pytest.mark.parametrize("dist", ["rademacher", "gaussian"])
def test_spsa_is_exact_directional_derivative_on_a_quadratic(dist):
    """L = 0.5 ||theta||^2: the central difference (L(t + mu z) - L(t - mu z)) / (2 mu) = t . z exactly,
    so the estimate is (t . z) z; the weights are restored bit-exactly; the mean of the two losses
    is 0.5 ||t||^2 + 0.5 mu^2 ||z||^2."""
    a = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    b = torch.nn.Parameter(torch.tensor([[0.5], [3.0]]))
    keep = [a.detach().clone(), b.detach().clone()]
    loss_fn = lambda: 0.5 * ((a.double() ** 2).sum() + (b.double() ** 2).sum())
    seen = spsa_gradient_([a, b], loss_fn, mu=1e-2, n_directions=1, dist=dist, seed=5)
    assert torch.equal(a.detach(), keep[0]) and torch.equal(b.detach(), keep[1])
    za, zb = a.grad, b.grad
    # recover z: grad = (t.z) z, so z is parallel to grad; for rademacher all |z_i| = 1
    g = torch.Generator().manual_seed(5 * 1_000_003)
    from froc.engine.optim import _direction

    z = [_direction(a, g, dist), _direction(b, g, dist)]
    tz = float((keep[0] * z[0]).sum() + (keep[1] * z[1]).sum())
    assert_close(za, tz * z[0], atol=1e-4, rtol=1e-4)
    assert_close(zb, tz * z[1], atol=1e-4, rtol=1e-4)
    zz = float((z[0] ** 2).sum() + (z[1] ** 2).sum())
    assert_close(seen, torch.tensor(0.5 * (1 + 4 + 0.25 + 9) + 0.5 * 1e-4 * zz, dtype=seen.dtype))
