"""PDU: primal-dual unlearning with a logit-margin flattening loss and a retain-loss constraint.

Paper: Entesari et al. 2025, "Constrained Entropic Unlearning: A Primal-Dual Framework for Large
Language Models", https://arxiv.org/abs/2506.05314; baseline ``PDU`` of the reference toolkit
(locuslab/open-unlearning, ``src/trainer/unlearn/pdu.py``).

Problem: ``min_theta F(theta)  s.t.  R(theta) <= eps`` with the forget loss
``F = mean_b mean_t (max_v z_t,v - mean_v z_t,v)^2`` over the logits z of the positions predicting forget
answer tokens (zero exactly when the next-token distribution is uniform) and ``R = mean mnll_r`` the
retain NLL. Lagrangian ``L = g * F + lam * (R - eps)``; the dual variable follows projected ascent,
``lam <- max(0, lam + eta * (R - eps))``, once per optimizer step: every micro-batch of step s uses the same
lam_s, and lam_(s+1) is computed from the mean retain loss of step s's micro-batches when step s+1 starts
(so the update does not depend on how a batch is split into micro-batches). lam_1 = ``retain_preference``.
With ``primal_dual=False`` lam stays fixed (a plain weighted sum).

Defaults (reference toolkit's config): g = 1, lam_0 = 1, eta = 1, no dual warm-up. The reference leaves
``retain_loss_eps`` to the user ("look at the retain loss of the pretrained model and choose a larger
value"); ours: when it is None, eps = the model's mean retain mnll before unlearning (over at most 512
retain items, one no-grad pass in ``setup``) + ``eps_margin``.

Deviations: the margin is taken on the positions that predict answer tokens (the reference masks the
unshifted logits, one position later); warm-up counts optimizer steps (``dual_warmup_steps``), not epochs;
per-sequence means, then the batch mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from froc.errors import ConfigError
from froc.methods.base import Batch, Context, Loss
from froc.methods.common import mnll, seq_mean
from froc.models.encoding import collate, to_device
from froc.models.logprobs import answer_logits, token_logprobs


@dataclass
class PDUConfig:
    """Hyperparameters of PDU.

    Attributes:
        forget_weight: g, weight of the logit-margin loss.
        retain_preference: lam_0, the initial dual variable (the retain term's weight).
        retain_loss_eps: eps, the retain-loss bound (None = the original model's retain NLL + eps_margin).
        eps_margin: added to the measured retain NLL when ``retain_loss_eps`` is None.
        primal_dual: update the dual variable (False = fixed weight lam_0).
        dual_step_size: eta, step of the dual ascent.
        dual_warmup_steps: optimizer steps before the dual variable starts to move.
    """

    forget_weight: float = 1.0
    retain_preference: float = 1.0
    retain_loss_eps: float | None = None
    eps_margin: float = 0.1
    primal_dual: bool = True
    dual_step_size: float = 1.0
    dual_warmup_steps: int = 0

    def __post_init__(self):
        if self.retain_preference < 0 or self.dual_step_size < 0 or self.dual_warmup_steps < 0:
            raise ConfigError("pdu: retain_preference, dual_step_size and dual_warmup_steps must be >= 0")


def logit_margin_loss(logits: Tensor, mask: Tensor) -> Tensor:
    """``mean_b mean_t (max_v z - mean_v z)^2``; logits (n, V) at the n True positions of ``mask`` (B, T-1)."""
    z = logits.float()
    margin = (z.max(-1).values - z.mean(-1)).pow(2)  # (n,)
    per_tok = torch.zeros(mask.shape, dtype=margin.dtype, device=margin.device).masked_scatter(mask, margin)
    return seq_mean(per_tok, mask.float()).mean()


def dual_update(lam: float, retain_loss: float, eps: float, step_size: float) -> float:
    """Projected dual ascent: ``max(0, lam + step_size * (retain_loss - eps))``."""
    return max(0.0, lam + step_size * (retain_loss - eps))


@torch.no_grad()
def mean_retain_nll(model, data, ctx: Context, max_items: int = 512, batch_size: int = 32) -> float:
    """Mean per-sequence mnll over the first ``max_items`` retain sequences under ``model`` as it is now."""
    encs = data.retain_enc[:max_items]
    vals = []
    for i in range(0, len(encs), batch_size):
        b = to_device(collate(encs[i : i + batch_size], ctx.pad_id), ctx.device)
        vals.append(mnll(*token_logprobs(model, b)).float())
    return float(torch.cat(vals).mean())


def setup(model, data, ctx: Context, cfg: PDUConfig) -> dict:
    if not data.retain_enc:
        raise ConfigError("pdu needs retain data: its constraint is on the retain loss")
    eps = cfg.retain_loss_eps
    initial = None
    if eps is None:
        initial = mean_retain_nll(model, data, ctx)
        eps = initial + cfg.eps_margin
    ctx.state.update(lam=float(cfg.retain_preference), eps=float(eps), cur_step=0, pending=[])
    return {"retain_loss_eps": eps, "initial_retain_nll": initial}


def compute(model, batch: Batch, ctx: Context, cfg: PDUConfig) -> Loss:
    logits, _, mask = answer_logits(model, batch.forget)
    f = logit_margin_loss(logits, mask)
    logp_r, mask_r = token_logprobs(model, batch.retain)
    r = mnll(logp_r, mask_r).mean()
    st = ctx.state
    if ctx.step != st["cur_step"]:  # a new optimizer step: the dual update from the previous step's retain losses
        if cfg.primal_dual and st["pending"] and st["cur_step"] > cfg.dual_warmup_steps:
            st["lam"] = dual_update(st["lam"], sum(st["pending"]) / len(st["pending"]), st["eps"], cfg.dual_step_size)
        st["cur_step"], st["pending"] = ctx.step, []
    lam, eps = st["lam"], st["eps"]
    retain = lam * (r - eps)
    if torch.is_grad_enabled():  # only training passes feed the dual update (not no-grad evaluations)
        st["pending"].append(float(r.detach()))
    parts = {"logit_margin": f.detach(), "retain_nll": r.detach(), "retain_preference": torch.tensor(lam)}
    return Loss(forget=cfg.forget_weight * f, retain=retain, parts=parts)
