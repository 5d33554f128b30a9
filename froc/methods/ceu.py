"""Cross-Entropy Unlearning (CE-U): cross-entropy to the model's own distribution with the true token removed.

Paper: Yang et al. 2025, "CE-U: Cross Entropy Unlearning", https://arxiv.org/abs/2503.01224; baseline
``CEU`` of the reference toolkit (locuslab/open-unlearning, ``src/trainer/unlearn/ceu.py``).

Loss per answer token t with logits z (V,) and true token y:
``q = softmax(sg(z) with z_y = -inf)``, ``l_t = -sum_v q_v log softmax(z)_v``. The target is the model's
own (stop-gradient) distribution renormalised over every token but y, so the gradient on the logits is
``softmax(z) - q``: it lowers y and moves the mass to the other tokens in proportion to their current
probability, bounded unlike gradient ascent (l_t >= entropy of q). The first ``ignore_first_n``
answer tokens are not trained on (the footnote of the paper's training settings; reference default 1).

Deviations: per-sequence means over answer tokens, then the batch mean (the reference averages over
every answer token of the batch); an optional retain NLL (``retain_weight``, default 0 = the reference's
forget-only loss) is ours.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from froc.methods.base import Batch, Context, Loss
from froc.methods.common import nll_term, seq_mean
from froc.models.encoding import IGNORE
from froc.models.logprobs import answer_logits


@dataclass
class CEUConfig:
    """Hyperparameters of CE-U.

    Attributes:
        ignore_first_n: answer tokens at the start of each answer left out of the loss.
        retain_weight: w_r, weight of a retain NLL term (0 = none, as in the reference).
    """

    ignore_first_n: int = 1
    retain_weight: float = 0.0


def drop_first_answer_tokens(labels: Tensor, n: int) -> Tensor:
    """Labels (B, T) with the first ``n`` answer labels of each row set to -100 (a copy)."""
    if n <= 0:
        return labels
    answer = labels != IGNORE
    first = answer & (answer.cumsum(-1) <= n)
    return labels.masked_fill(first, IGNORE)


def ceu_token_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Per-token CE-U loss (n,) from answer-position logits (n, V) and true tokens (n,).

    ``-sum_v q_v log softmax(logits)_v`` with ``q = softmax(sg(logits))`` after setting the true token's
    logit to -inf. Raises ValueError for V < 2 (no other token to move the mass to).
    """
    if logits.shape[-1] < 2:
        raise ValueError("CE-U needs a vocabulary of at least 2 tokens")
    logits = logits.float()
    target_logits = logits.detach().scatter(-1, targets.unsqueeze(-1), float("-inf"))
    q = F.softmax(target_logits, dim=-1)  # (n, V), q[y] = 0
    return -(q * F.log_softmax(logits, dim=-1)).sum(-1)


def ceu_loss(logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """``mean_b mean_t l_t`` where ``mask`` (B, T-1) bool marks the n positions of ``logits`` (n, V) row-major."""
    per_tok = torch.zeros(mask.shape, dtype=torch.float32, device=logits.device)
    per_tok = per_tok.masked_scatter(mask, ceu_token_loss(logits, targets))
    return seq_mean(per_tok, mask.float()).mean()


def compute(model, batch: Batch, ctx: Context, cfg: CEUConfig) -> Loss:
    f_batch = dict(batch.forget, labels=drop_first_answer_tokens(batch.forget["labels"], cfg.ignore_first_n))
    logits, targets, mask = answer_logits(model, f_batch)
    f = ceu_loss(logits, targets, mask)
    retain = nll_term(model, batch.retain, cfg.retain_weight)
    parts = {"ceu": f.detach()}
    if retain is not None:
        parts["retain_nll"] = retain.detach() / cfg.retain_weight
    return Loss(forget=f, retain=retain, parts=parts)
