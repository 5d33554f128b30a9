"""UNDIAL: self-distillation towards reference logits with the true token's logit lowered.

Paper: Dong et al. 2024, "UNDIAL: Self-Distillation with Adjusted Logits for Robust Unlearning in
Large Language Models", https://arxiv.org/abs/2402.10052.

Loss: on every answer token t of a forget sequence, cross-entropy from the target distribution
``q_t = softmax(z_ref,t - b * onehot(y_t))`` to the model's ``p_theta,t``:
``L = mean_b mean_t [-sum_v q_t(v) log p_theta,t(v)]`` (answer tokens only; averaging over prompt
and padding is a known pitfall). Default b = 10 (authors). Forget data only; needs the
reference logits (``ref_model``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from froc.methods.base import Batch, Context, Loss
from froc.methods.common import seq_mean, shift


@dataclass
class UndialConfig:
    """Hyperparameters of UNDIAL.

    Attributes:
        strength: b, how much the true token's reference logit is lowered.
    """

    strength: float = 10.0


def undial_loss(logits: Tensor, ref_logits: Tensor, labels: Tensor, *, strength: float) -> Tensor:
    """Cross-entropy to ``softmax(ref_logits - b * onehot(label))`` on answer tokens.

    Args:
        logits, ref_logits: (B, T, V). labels: (B, T), -100 on prompt and padding.
    """
    lg, lb, mask = shift(logits, labels)  # (B, T-1, V), (B, T-1), (B, T-1)
    rlg, _, _ = shift(ref_logits, labels)
    target = F.softmax(rlg - strength * F.one_hot(lb, rlg.shape[-1]).to(rlg.dtype), -1)
    ce = -(target * F.log_softmax(lg, -1)).sum(-1)  # (B, T-1)
    return seq_mean(ce, mask).mean()


def compute(model, batch: Batch, ctx: Context, cfg: UndialConfig) -> Loss:
    f = batch.forget
    logits = model(input_ids=f["input_ids"], attention_mask=f["attention_mask"]).logits
    with torch.no_grad():
        ref_logits = ctx.ref.logits(f)
    loss = undial_loss(logits, ref_logits, f["labels"], strength=cfg.strength)
    return Loss(forget=loss, parts={"undial": loss.detach()})
