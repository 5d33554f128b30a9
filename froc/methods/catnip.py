"""CATNIP: token-level negative preference with the token's own complement as reference.

Seed paper: "CATNIP: LLM Unlearning via Calibrated and Tokenized Negative Preference Alignment".

Loss (spec, unlearning.md section A): NPO applied per answer token with reference ``1 - p_t``:
``L = mean_b (1/|y_b|) sum_t (2/b) log(1 + (p_t / (1 - p_t))^b)``
``  = mean_b mean_t (2/b) softplus(b * l_t)`` with the token log-odds ``l_t = log p_t - log(1 - p_t)``.
Confident tokens (large odds) are pushed hardest; the push fades once p_t is small, which is the
paper's calibration. No retain data and no reference model are needed.

Numerics: the log-odds are computed from the logits as ``z_y - logsumexp_{v != y} z_v`` (exact, with
a gradient even when p_t rounds to 1 in float32), never as ``log p - log(1 - p)``.
Unverified: b is not confirmed by public code; default b = 1, for which the loss is exactly
twice the unlikelihood loss ``-log(1 - p_t)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from froc.methods.base import Batch, Context, Loss
from froc.methods.common import seq_mean, shift


@dataclass
class CatnipConfig:
    """Hyperparameters of CATNIP.

    Attributes:
        beta: b, inverse temperature of the token-level log-sigmoid (unverified default).
    """

    beta: float = 1.0


def token_log_odds(logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Log-odds ``log p_t - log(1 - p_t)`` of each next label token and the answer mask, (B, T-1).

    ``log(p/(1-p)) = z_y - logsumexp_{v != y} z_v``: the softmax normaliser cancels.
    """
    lg, lb, mask = shift(logits, labels)  # (B, T-1, V)
    z_y = lg.gather(-1, lb.unsqueeze(-1)).squeeze(-1)  # (B, T-1)
    others = lg.scatter(-1, lb.unsqueeze(-1), float("-inf"))
    return z_y - torch.logsumexp(others, -1), mask


def catnip_loss(log_odds: Tensor, mask: Tensor, *, beta: float) -> Tensor:
    """``mean_b mean_t (2/b) softplus(b * log_odds)`` over answer tokens; inputs (B, T)."""
    return seq_mean(2.0 / beta * F.softplus(beta * log_odds), mask).mean()


def compute(model, batch: Batch, ctx: Context, cfg: CatnipConfig) -> Loss:
    f = batch.forget
    logits = model(input_ids=f["input_ids"], attention_mask=f["attention_mask"]).logits
    lo, mask = token_log_odds(logits, f["labels"])
    loss = catnip_loss(lo, mask, beta=cfg.beta)
    return Loss(forget=loss, parts={"catnip": loss.detach(), "log_odds": seq_mean(lo, mask).mean().detach()})
