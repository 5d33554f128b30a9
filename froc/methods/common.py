"""Tensor and model helpers shared by the methods (answer-only reductions, decoder-layer hooks).

Every reduction here counts answer tokens only: ``mask`` is 1 on answer tokens, 0 on prompt
and padding (from ``froc.models.logprobs``). Per-sequence means first, then the batch mean, so
a loss does not depend on how items are grouped into batches.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import Tensor

from froc.models.encoding import IGNORE
from froc.models.logprobs import token_logprobs


def seq_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``x`` over masked positions of each sequence: (B, T) -> (B,). Empty rows give 0."""
    return (x * mask).sum(-1) / mask.sum(-1).clamp_min(1.0)


def mnll(logp: Tensor, mask: Tensor) -> Tensor:
    """Per-sequence mean negative log-likelihood over answer tokens, (B, T) -> (B,)."""
    return -seq_mean(logp, mask)


def nll_term(model, batch: dict[str, Tensor] | None, weight: float) -> Tensor | None:
    """``weight * mean_b mnll(y_b | x_b)``, the retain term of most methods; None when unused."""
    if batch is None or weight == 0:
        return None
    logp, mask = token_logprobs(model, batch)
    return weight * mnll(logp, mask).mean()


def shift(logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Align next-token logits with labels: (B, T, V), (B, T) -> logits (B, T-1, V), labels, mask (B, T-1).

    Labels at masked positions are replaced by 0 (a valid index) so they can be gathered; the mask
    zeroes them out.
    """
    lg = logits[:, :-1, :].float()
    lb = labels[:, 1:]
    mask = (lb != IGNORE).float()
    return lg, lb.clamp_min(0), mask


def add_terms(*terms: Tensor | None) -> Tensor | None:
    """Sum of the terms that are not None (None when all are)."""
    kept = [t for t in terms if t is not None]
    return sum(kept[1:], kept[0]) if kept else None


# ---------------------------------------------------------------- decoder layers and hooks


def decoder_layers(model) -> torch.nn.ModuleList:
    """The ``ModuleList`` of transformer blocks of a Hugging Face causal LM (peft-wrapped or not)."""
    from froc.errors import ConfigError
    from froc.models.loading import is_peft

    base = model.get_base_model() if is_peft(model) else model
    dec = base.get_decoder() if hasattr(base, "get_decoder") else getattr(base, "model", None)
    layers = getattr(dec, "layers", None)
    if layers is None:
        raise ConfigError(f"cannot find the decoder layers of {type(base).__name__}; "
                          "methods that act on hidden states support Llama-style models (model.model.layers)")
    return layers


def num_layers(model) -> int:
    return len(decoder_layers(model))


def check_layer(model, layer: int, what: str = "layer") -> int:
    from froc.errors import ConfigError

    n = num_layers(model)
    if not -n <= layer < n:
        raise ConfigError(f"{what} {layer} out of range: the model has {n} decoder layers (0..{n - 1})")
    return layer % n


def layer_hidden(output):
    """A decoder layer returns a tensor (transformers >= 5) or a tuple whose first entry is one."""
    return output[0] if isinstance(output, tuple) else output


def replace_layer_hidden(output, h):
    return (h,) + tuple(output[1:]) if isinstance(output, tuple) else h


@contextmanager
def capture_layer(model, layer: int) -> Iterator[dict[str, Tensor]]:
    """Record the output hidden state (B, T, D) of decoder layer ``layer`` under key ``"h"``."""
    got: dict[str, Tensor] = {}

    def hook(_module, _inputs, output):
        got["h"] = layer_hidden(output)

    handle = decoder_layers(model)[layer].register_forward_hook(hook)
    try:
        yield got
    finally:
        handle.remove()


@contextmanager
def perturb_layer(model, layer: int, delta: Tensor) -> Iterator[None]:
    """Add ``delta`` (B, T, D) to the output of decoder layer ``layer`` (the residual stream) while active."""

    def hook(_module, _inputs, output):
        h = layer_hidden(output)
        return replace_layer_hidden(output, h + delta.to(h.dtype))

    handle = decoder_layers(model)[layer].register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def forward_layer_output(model, batch: dict[str, Tensor], layer: int) -> Tensor:
    """Run ``model`` (with gradient) and return the output of decoder layer ``layer``, (B, T, D)."""
    with capture_layer(model, layer) as got:
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    return got["h"]


def masked_mse(a: Tensor, b: Tensor, mask: Tensor) -> Tensor:
    """Per-sequence mean over unmasked tokens and hidden dimensions of ``(a - b)^2``, then the mean over the
    batch; a, b (B, T, D), mask (B, T).

    Per sequence, like every other loss of froc: a mean over all tokens of a micro-batch would weight a long
    sequence more in one grouping than in another, so the loss (and the trained weights) would depend on how
    a batch is split into micro-batches (batch 4 x accumulation 1 vs 2 x 2)."""
    sq = (a.float() - b.float()).pow(2).mean(-1)  # (B, T)
    per_seq = (sq * mask).sum(-1) / mask.sum(-1).clamp_min(1.0)  # (B,)
    return per_seq.mean()
