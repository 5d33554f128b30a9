"""Losses must not depend on how a batch is split into micro-batches (issue 18, section 8).

Every registered method trains 1 step on the tiny Llama with batch 4 x accumulation 1, 2 x 2 and 1 x 4.
The micro-batches of one step hold the same 4 forget (and retain) items in every layout (one seeded
shuffle, taken ``batch_size`` at a time), and the loop scales each micro-batch's gradient by
1 / accumulation, so a loss that is a mean of per-sequence terms gives the same gradient in every layout,
up to float32 summation order.

Tolerance: the final weights may differ by at most 1e-3 of the update's size,
``||W_layout - W_4x1|| / ||W_4x1 - W_0|| <= 1e-3`` over the trained weights. Summation-order noise is
~1e-7 relative per gradient; AdamW's first steps divide by sqrt(v) and can amplify it where a gradient
entry is near zero, which the issue measured at <= 1.2e-5 for per-sequence methods. A loss averaged over
the tokens of a micro-batch (rmu before the fix: 7-19%) changes the update by orders of magnitude more.
"""

from __future__ import annotations


import pytest
import torch

from unlearn_fixtures import TINY_HPARAMS, forget, method_data, refusals, retain  # noqa: F401 (fixtures)

from froc.engine import unlearn
from froc.methods import METHODS

TOL = 1e-3
LAYOUTS = [(4, 1), (2, 2), (1, 4)]
# Found by this test (new methods of helper C, reported to their owner): they average over the tokens or items
# of a micro-batch. strict: the test fails once they are fixed, so this list shrinks.
KNOWN_SPLIT_DEPENDENT: dict[str, str] = {}  # icu (in-batch negatives) and pdu (dual step mid-step) fixed by H


def _train(method, forget, retain, refusals, batch_size, grad_accum):
    from froc.models.tiny import tiny_model_and_tokenizer

    model, tok = tiny_model_and_tokenizer()
    forget, retain = method_data(method, forget, retain)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    res = unlearn(model, tok, forget, retain, method=method, refusals=refusals, steps=1, lr=1e-3,
                  batch_size=batch_size, grad_accum=grad_accum, progress=False, **TINY_HPARAMS.get(method, {}))
    after = {n: p.detach().clone() for n, p in res.model.named_parameters()} if hasattr(res, "model") and res.model \
        is not None else {n: p.detach().clone() for n, p in model.named_parameters()}
    return before, after


@pytest.mark.parametrize("method", sorted(METHODS))
def test_final_weights_do_not_depend_on_the_batch_split(method, forget, retain, refusals, request):
    if method in KNOWN_SPLIT_DEPENDENT:
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"{KNOWN_SPLIT_DEPENDENT[method]} (owner: helper C)"))
    if getattr(METHODS[method], "wrapper", False):
        pytest.skip("a wrapper: its base method is tested by name")
    runs = {lay: _train(method, forget, retain, refusals, *lay) for lay in LAYOUTS}
    w0, ref = runs[LAYOUTS[0]]
    names = [n for n in ref if n in w0 and ref[n].shape == w0[n].shape]
    update = torch.sqrt(sum(((ref[n].float() - w0[n].float()) ** 2).sum() for n in names))
    if update == 0:
        pytest.skip(f"{method} changes no weight in 1 step (a training-free or hook-only method)")
    for lay in LAYOUTS[1:]:
        w = runs[lay][1]
        diff = torch.sqrt(sum(((w[n].float() - ref[n].float()) ** 2).sum() for n in names))
        assert float(diff / update) <= TOL, f"{method} {lay[0]}x{lay[1]} vs 4x1: {float(diff / update):.2e} of the update"


def test_rmu_loss_is_per_sequence():
    """Hand-derived: two sequences, one of 1 token with squared error 4 and one of 3 tokens with 0; the
    per-sequence mean is (4 + 0) / 2 = 2 (a token mean over the micro-batch would give 4 / 4 = 1)."""
    from froc.methods.rmu import rmu_loss

    h = torch.zeros(2, 3, 1)
    h[0, 0, 0] = 2.0
    mask = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    forget, _ = rmu_loss(h, torch.zeros(2, 1), mask, alpha=1.0)
    assert float(forget) == pytest.approx(2.0)
