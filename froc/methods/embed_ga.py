"""Embedding-only gradient ascent: GA with every weight frozen except the input embeddings.

Seed paper: "A More Practical Approach to Machine Unlearning" (first-epoch / embedding-layer
gradient ascent on GPT-2).

Loss: as ``ga`` (``-mnll_f``), optionally ``+ w_r * mnll_r``; only the input embedding matrix is
trained. With tied input/output embeddings (as in the tiny and built-in models) the output
projection is the same tensor and changes with it. Unverified: the paper's restriction to the
first epoch is left to the caller (``steps``); default w_r = 0 (plain GA).
"""

from __future__ import annotations

from dataclasses import dataclass

from froc.methods.base import Batch, Context, Loss
from froc.methods.common import nll_term
from froc.methods.ga import ga_loss
from froc.models.logprobs import token_logprobs


@dataclass
class EmbedGAConfig:
    """Hyperparameters of embedding-only GA.

    Attributes:
        retain_weight: w_r, weight of an optional retain NLL (0 = plain GA).
    """

    retain_weight: float = 0.0


def trainable(model, cfg: EmbedGAConfig) -> list[str]:
    """Names of the parameters trained: the input embedding weight only."""
    emb = model.get_input_embeddings().weight
    return [n for n, p in model.named_parameters() if p is emb]


def compute(model, batch: Batch, ctx: Context, cfg: EmbedGAConfig) -> Loss:
    logp, mask = token_logprobs(model, batch.forget)
    f = ga_loss(logp, mask)
    return Loss(forget=f, retain=nll_term(model, batch.retain, cfg.retain_weight), parts={"forget_nll": -f.detach()})
