"""IdkPO: DPO with a refusal preferred over the true forget answer, plus a retain NLL term.

Papers: Rafailov et al. 2023, "Direct Preference Optimization", https://arxiv.org/abs/2305.18290;
used for unlearning with "I don't know" answers in TOFU (Maini et al. 2024,
https://arxiv.org/abs/2401.06121) and in the NPO paper (https://arxiv.org/abs/2404.05868).

Loss: ``L = mean_b -(2/b) log sigmoid(b [(log P(w_b) - log P_ref(w_b)) - (log P(l_b) - log P_ref(l_b))])
+ w_r * mnll_r`` with w = refusal answer, l = true answer, *summed* answer log-probs, reference
values from the engine's cache. The 2/b scale follows the unlearning implementations (it makes
the loss NPO's when the preferred term is dropped); plain DPO is this divided by 2/b.
Defaults: b = 0.1, w_r = 1.

Refusals: each forget item is paired with one refusal drawn once from the given list with the
run's seeded RNG (so the reference cache covers exactly the pairs used). Deviation: TOFU draws a
new refusal each time an item is seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

from froc.methods.base import Batch, Context, Loss
from froc.methods.common import nll_term
from froc.models.logprobs import sequence_logprobs


@dataclass
class IdkPOConfig:
    """Hyperparameters of IdkPO.

    Attributes:
        beta: b, DPO inverse temperature.
        retain_weight: w_r, weight of the retain NLL.
    """

    beta: float = 0.1
    retain_weight: float = 1.0


def dpo_loss(logp_w: Tensor, logp_l: Tensor, ref_w: Tensor, ref_l: Tensor, *, beta: float) -> Tensor:
    """``mean_b -(2/b) log sigmoid(b ((logp_w - ref_w) - (logp_l - ref_l)))``; all inputs (B,) summed log-probs."""
    margin = (logp_w - ref_w) - (logp_l - ref_l)
    return (-2.0 / beta * F.logsigmoid(beta * margin)).mean()


def compute(model, batch: Batch, ctx: Context, cfg: IdkPOConfig) -> Loss:
    idx = batch.forget_idx
    logp_l, _ = sequence_logprobs(model, batch.forget)
    logp_w, _ = sequence_logprobs(model, batch.refusal)
    f = dpo_loss(logp_w, logp_l, ctx.ref_refusal[idx], ctx.ref_forget[idx], beta=cfg.beta)
    retain = nll_term(model, batch.retain, cfg.retain_weight)
    parts = {"dpo": f.detach(), "logp_refusal": logp_w.mean().detach(), "logp_answer": logp_l.mean().detach()}
    if retain is not None:
        parts["retain_nll"] = retain.detach() / cfg.retain_weight
    return Loss(forget=f, retain=retain, parts=parts)
