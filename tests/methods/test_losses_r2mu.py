"""R2MU's loss pieces (froc.methods.r2mu), expected values derived by hand in each docstring."""

from __future__ import annotations

import pytest
import torch

from froc.methods.r2mu import trace_encoding, trace_mse


def test_trace_mse_means_over_trace_tokens_then_over_rows_with_a_trace():
    """Row 0: states 1, 3, 5 (D = 2, both features equal), target 1, trace = tokens 1 and 2: squared errors per
    token (mean over D) 4 and 16, mean 10. Row 1: no trace token, so it does not count (not a 0 in the mean).
    Expected 10 (a mean over all rows would give 5)."""
    h = torch.tensor([[[1.0, 1.0], [3.0, 3.0], [5.0, 5.0]], [[9.0, 9.0], [9.0, 9.0], [9.0, 9.0]]])
    target = torch.ones(2, 2)
    mask = torch.tensor([[0, 1, 1], [0, 0, 0]])
    assert trace_mse(h, target, mask).item() == pytest.approx(10.0)


def test_trace_mse_without_any_trace_is_zero_and_keeps_the_graph():
    h = torch.ones(1, 2, 3, requires_grad=True)
    out = trace_mse(h, torch.zeros(1, 3), torch.zeros(1, 2))
    assert out.item() == 0.0 and out.requires_grad


def test_trace_encoding_marks_exactly_the_trace_tokens(tiny):
    """Question, trace and answer of a QA item: the marked tokens decode to the trace, and the whole response
    is ``trace + " So the answer is " + answer`` (froc.data.schema.REASONING_JOIN, written out by hand here)."""
    from froc.data.schema import QAItem

    _, tok = tiny
    it = QAItem(id="x", subject="Alda Voss", question="In which country was Alda Voss born?", answer="Kelmar",
                reasoning="Alda Voss was born in Marrow Bay. Marrow Bay lies in Kelmar.")
    assert it.response() == "Alda Voss was born in Marrow Bay. Marrow Bay lies in Kelmar. So the answer is Kelmar"
    enc, start, end = trace_encoding(tok, it, _fmt())
    assert tok.decode(enc.ids[start:end]).strip() == it.reasoning
    assert tok.decode(enc.ids[end:], skip_special_tokens=True).strip().startswith("So the answer is Kelmar")
    assert trace_encoding(tok, QAItem(id="y", subject="s", question="q?", answer="a"), _fmt()) is None


def _fmt():
    from froc.models.encoding import DEFAULT_FORMAT

    return DEFAULT_FORMAT
