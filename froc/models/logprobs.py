"""Answer-token log-probabilities: the one place where logits become per-token log p(label).

Only answer tokens are ever scored or trained on, so the vocabulary projection runs only at the
positions that predict one: transformers' causal LMs take a boolean ``logits_to_keep`` mask
(B, T) and return the kept positions' logits flattened to (n, V). Prompt positions (~80% of the
tokens of a short QA item) never reach the LM head, its log-softmax or their backward: less time
and no (B, T, V) activation kept for the backward pass. Models whose forward lacks
``logits_to_keep`` fall back to full logits with the same results.

Shapes: B batch, T sequence length, V vocabulary, n answer tokens in the batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from froc.models.encoding import IGNORE
from froc.models.kvcache import forward_params

_KEEP_SUPPORT: dict[type, bool] = {}


def logprobs_from_logits(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log p(label) for next-token prediction.

    Args:
        logits: (B, T, V) model outputs.
        labels: (B, T) with -100 where a position is not scored (prompt, padding).

    Returns:
        ``(logp, mask)``, both (B, T-1): ``logp[b, t] = log p(labels[b, t+1] | ids[b, :t+1])``
        (0 where masked) and ``mask`` as float.
    """
    shift_logits = logits[:, :-1, :]  # (B, T-1, V)
    shift_labels = labels[:, 1:]  # (B, T-1)
    mask = shift_labels != IGNORE
    B, T1, V = shift_logits.shape
    nll = F.cross_entropy(
        shift_logits.reshape(B * T1, V).float(), shift_labels.reshape(B * T1), ignore_index=IGNORE, reduction="none"
    ).view(B, T1)
    return -nll * mask, mask.to(torch.float32)


def takes_logits_mask(model) -> bool:
    """Whether ``model(..., logits_to_keep=<bool (B, T) mask>)`` returns only the kept logits.

    True for transformers' causal LMs (every one that accepts ``logits_to_keep`` slices with
    ``slice_logits_to_keep``, which flattens a boolean mask) and PEFT wrappers around them.
    """
    kind = type(model.get_base_model() if hasattr(model, "get_base_model") else model)
    if kind not in _KEEP_SUPPORT:  # set to False by answer_logits if the model ignores a boolean mask
        _KEEP_SUPPORT[kind] = "logits_to_keep" in forward_params(model)
    return _KEEP_SUPPORT[kind]


def answer_logits(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits at the positions that predict an answer token.

    Returns ``(logits, targets, mask)``: logits (n, V) in row-major order of ``mask``, the n target
    token ids (n,), and ``mask`` (B, T-1) bool (``mask[b, t]``: position t predicts ``labels[b, t+1]``).
    """
    labels = batch["labels"]
    mask = labels[:, 1:] != IGNORE  # (B, T-1)
    targets = labels[:, 1:][mask]  # (n,)
    if takes_logits_mask(model):
        keep = torch.zeros_like(labels, dtype=torch.bool)  # (B, T)
        keep[:, :-1] = mask
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False,
                       logits_to_keep=keep).logits  # (n, V)
        if logits.dim() == 2 and logits.shape[0] == targets.shape[0]:
            return logits, targets, mask
        _KEEP_SUPPORT[type(model.get_base_model() if hasattr(model, "get_base_model") else model)] = False
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits  # (B, T, V)
    return logits[:, :-1][mask], targets, mask


def token_logprobs(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``model`` on a collated batch; return per-token answer log-probs and mask, (B, T-1).

    Same values as ``logprobs_from_logits(model(...).logits, labels)``; the LM head runs only on
    answer positions (see the module docstring).
    """
    logits, targets, mask = answer_logits(model, batch)
    nll = F.cross_entropy(logits.float(), targets, reduction="none")  # (n,)
    logp = torch.zeros(mask.shape, dtype=nll.dtype, device=nll.device).masked_scatter(mask, -nll)
    return logp, mask.to(torch.float32)


def sequence_logprobs(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed answer log-prob per sequence (B,) and the number of answer tokens (B,)."""
    logp, mask = token_logprobs(model, batch)
    return logp.sum(-1), mask.sum(-1)
