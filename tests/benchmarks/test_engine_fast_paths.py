"""The two engine fast paths the benchmarks led to: the cheap non-finite-weights check and fused AdamW."""

from __future__ import annotations

import pytest
import torch

from froc.engine.config import UnlearnConfig
from froc.engine.loop import _all_finite
from froc.engine.optim import build_optimizer
from froc.models.sft import fused_adamw_ok


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
def test_all_finite_matches_the_exact_check(dtype):
    ps = [torch.randn(8, 8).to(dtype) for _ in range(3)]
    assert _all_finite(ps)
    for bad in (float("nan"), float("inf"), -float("inf")):
        ps[1][2, 3] = bad
        assert not _all_finite(ps)
        ps[1][2, 3] = 0.5
    # finite weights whose float32 sum overflows are still finite (the exact check decides)
    big = torch.full((16,), 3e38, dtype=torch.float32 if dtype == torch.float16 else dtype)
    assert _all_finite([big]) == bool(torch.isfinite(big).all())


def test_adamw_is_fused_where_supported_and_takes_the_same_steps():
    torch.manual_seed(0)
    w = torch.randn(32, 16)
    grads = [torch.randn(32, 16) for _ in range(5)]
    cfg = UnlearnConfig(lr=1e-2, weight_decay=0.01)
    p_fast, p_ref = torch.nn.Parameter(w.clone()), torch.nn.Parameter(w.clone())
    fast = build_optimizer(cfg, [p_fast])
    ref = torch.optim.AdamW([p_ref], lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    assert fast.defaults["fused"] is True and fused_adamw_ok([p_fast])
    for g in grads:
        p_fast.grad, p_ref.grad = g.clone(), g.clone()
        fast.step()
        ref.step()
    torch.testing.assert_close(p_fast.detach(), p_ref.detach(), rtol=1e-5, atol=1e-6)
    assert not fused_adamw_ok([torch.nn.Parameter(torch.zeros(2)), torch.zeros(2, dtype=torch.long)])
