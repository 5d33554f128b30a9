"""Answer-token log-probabilities: the one place where logits become per-token log p(label).

Shapes: B batch, T sequence length, V vocabulary.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from froc.models.encoding import IGNORE


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


def token_logprobs(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``model`` on a collated batch; return per-token answer log-probs and mask, (B, T-1)."""
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    return logprobs_from_logits(out.logits, batch["labels"])


def sequence_logprobs(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed answer log-prob per sequence (B,) and the number of answer tokens (B,)."""
    logp, mask = token_logprobs(model, batch)
    return logp.sum(-1), mask.sum(-1)
