"""R2MU: reasoning-aware representation misdirection (RMU on reasoning traces too, CoT supervision on retain).

Paper: Wang, Fan, Zhang, Jia, Wei, Ram, Baracaldo, Liu 2025, "Reasoning Model Unlearning: Forgetting Traces, Not
Just Answers, While Preserving Reasoning Skills", https://arxiv.org/abs/2506.12963 (code:
github.com/OPTML-Group/Unlearn-R2MU). Unlearning only the final answers of a reasoning model leaves the forgotten
facts in its chain of thought; R2MU extends RMU (Li et al. 2024, https://arxiv.org/abs/2403.03218) so that the
layer-l states of the reasoning-trace tokens are misdirected too, and keeps reasoning intact with supervision on
the reasoning traces of retain data.

Loss (per micro-batch, means over sequences)::

    L = mean ||h_l(x_f) - c u||^2                                   RMU on the forget question + answer
      + g * mean_{f with a trace} mean_{t in trace} ||h_l([x_f; r_f; y_f])_t - c u||^2     the "unthinking" term
      + a * mean ||h_l(x_r) - h_l^ref(x_r)||^2                      RMU's retain term
      + b * mean_{i in batch} mnll(r_k(i) + JOIN + y_k(i) | x_k(i))  CoT supervision on retain reasoning

``u``: one unit vector per subject, uniform on [0, 1)^D then normalised (as RMU); token means over non-padding
tokens (the first term) or over the trace tokens only (the second); only the MLP ``down_proj`` of layers l-2 .. l
train (as RMU). ``JOIN`` is ``froc.data.schema.REASONING_JOIN``. The CoT set is the retain items with a
``reasoning`` trace, drawn like the paper's separate CoT batches: forget item i of the forget set pairs at step s
with CoT item ``k(i) = (i + s * N_forget) mod N_cot``, so every micro-batch split of a step sees the same pairs and
the steps walk through the whole CoT set.

Traces: a forget item's own ``reasoning`` field; an item without one gets the trace the model writes for its
question before unlearning (greedy, ``trace_tokens`` new tokens, generated once in ``setup``), as the paper's
traces are the reasoning model's own generations. Retain items with a ``reasoning`` field form the CoT supervision
set (the paper uses a separate high-quality CoT corpus, LIMO: ours is whatever reasoning the user's retain data
holds; with none the term is absent and ``setup`` reports ``cot_items = 0``).

Deviations (ours): traces are written by the user or greedy (the paper samples the model's reasoning); the CoT
term is a per-sequence mean NLL (froc's convention) on retain items instead of a separate corpus; defaults
c = 6.5, a = 1200 (RMU's, 7B scale), g = 1, b = 1.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import Tensor

from froc.errors import ConfigError
from froc.methods import rmu
from froc.methods.base import Batch, Context, Loss
from froc.methods.common import forward_layer_output, mnll
from froc.models.encoding import Encoded, collate, encode_prompt, encode_qa, to_device
from froc.models.logprobs import token_logprobs


@dataclass
class R2MUConfig:
    """Hyperparameters of R2MU.

    Attributes:
        layer: l, the decoder layer whose output is steered (None = n_layers // 4 - 1, as RMU; on small models a
            later layer: the built-in 4-layer model forgets at layer 3, see the slow behaviour test).
        steering_coeff: c, length of the random target vector.
        alpha: a, weight of the retain representation term.
        trace_weight: g, weight of the misdirection of reasoning-trace tokens (0 = plain RMU).
        cot_weight: b, weight of the CoT supervision on retain items with a reasoning trace.
        trace_tokens: length of the trace generated for a forget item without its own ``reasoning``.
        trained_layers: layers whose MLP down_proj is trained (None = l-2 .. l).
    """

    layer: int | None = None
    steering_coeff: float = 6.5
    alpha: float = 1200.0
    trace_weight: float = 1.0
    cot_weight: float = 1.0
    trace_tokens: int = 32
    trained_layers: list[int] | None = None

    def __post_init__(self):
        if self.trace_weight < 0 or self.cot_weight < 0:
            raise ConfigError("r2mu: trace_weight and cot_weight must be >= 0")
        if self.trace_tokens < 1:
            raise ConfigError(f"r2mu trace_tokens must be >= 1, got {self.trace_tokens}")


def trace_mse(h: Tensor, target: Tensor, trace_mask: Tensor) -> Tensor:
    """Mean over the sequences that have a trace of the mean over their trace tokens of ``||h_t - target||^2 / D``.

    Args:
        h: (B, T, D) layer-l states of ``[question; trace; answer]`` sequences.
        target: (B, D) ``c * u`` per sequence.
        trace_mask: (B, T) 1 on trace tokens; a row without any counts nothing (0 when no row has one).
    """
    per_tok = (h.float() - target.float().unsqueeze(1)).pow(2).mean(-1)  # (B, T)
    m = trace_mask.float()
    n = m.sum(-1)
    has = n > 0
    if not bool(has.any()):
        return h.sum() * 0.0
    return ((per_tok * m).sum(-1)[has] / n[has]).mean()


def trace_encoding(tokenizer, item, fmt) -> tuple[Encoded, int, int] | None:
    """``(Encoded [question; trace; JOIN; answer], trace start, trace end)`` for an item with a ``reasoning``
    field (token positions, end exclusive), else None. The trace's tokens are those the whole response shares
    with the trace encoded alone (a merge across the trace's end shortens it by a token at most)."""
    trace = getattr(item, "reasoning", None)
    if not trace:
        return None
    full = encode_qa(tokenizer, item.question, item.response(), fmt)
    alone = encode_qa(tokenizer, item.question, trace, fmt)
    end = alone.n_prompt
    while end < min(len(alone.ids), len(full.ids)) and alone.ids[end] == full.ids[end]:
        end += 1
    return full, full.n_prompt, end


def trainable(model, cfg: R2MUConfig) -> list[str]:
    return rmu.trainable(model, cfg)


def setup(model, data, ctx: Context, cfg: R2MUConfig) -> dict:
    if any(not hasattr(it, "question") for it in data.forget_items):
        raise ConfigError("r2mu needs QA forget items (question, answer, optional reasoning), not text items")
    info = rmu.setup(model, data, ctx, cfg)  # the layer and one random direction per subject, as RMU
    traces, missing = [], []  # missing: forget items without their own trace
    if cfg.trace_weight != 0:
        traces = [trace_encoding(ctx.tokenizer, it, ctx.fmt) for it in data.forget_items]
        missing = [k for k, t in enumerate(traces) if t is None]
        if missing:  # the model's own greedy trace of each such question, before unlearning
            from froc.metrics.generate import greedy_ids

            prompts = [encode_prompt(ctx.tokenizer, data.forget_items[k].question, ctx.fmt) for k in missing]
            was_training = model.training
            model.eval()
            with torch.no_grad():
                gens = greedy_ids(model, ctx.tokenizer, prompts, max_new_tokens=cfg.trace_tokens, device=ctx.device)
            model.train(was_training)
            for k, p, ids in zip(missing, prompts, gens):
                traces[k] = (Encoded(p + ids, len(p)), len(p), len(p) + len(ids))
    cot = [encode_qa(ctx.tokenizer, it.question, it.response(), ctx.fmt)
           for it in getattr(data, "retain_items", None) or [] if getattr(it, "reasoning", None)]
    if cfg.cot_weight != 0 and not cot:
        warnings.warn("r2mu: no retain item has a 'reasoning' trace, so the CoT supervision term (cot_weight) is off "
                      "and only RMU's retain term keeps reasoning; add retain items with a 'reasoning' field",
                      UserWarning, stacklevel=2)
    ctx.state.update(traces=traces, cot=cot, n_forget=len(data.forget_items))
    return {**info, "own_traces": len(traces) - len(missing), "generated_traces": len(missing), "cot_items": len(cot)}


def _trace_batch(ctx: Context, idx: list[int]) -> tuple[dict[str, Tensor], Tensor]:
    encs = [ctx.state["traces"][i] for i in idx]
    b = to_device(collate([e for e, _, _ in encs], ctx.pad_id), ctx.device)
    mask = torch.zeros_like(b["attention_mask"])
    for row, (_, s, e) in enumerate(encs):
        mask[row, s:e] = 1
    return b, mask


def cot_indices(forget_idx: list[int], step: int, n_forget: int, n_cot: int) -> list[int]:
    """The CoT item paired with each forget item at ``step``: ``(i + step * n_forget) mod n_cot``."""
    return [(i + step * n_forget) % n_cot for i in forget_idx]


def compute(model, batch: Batch, ctx: Context, cfg: R2MUConfig) -> Loss:
    target = cfg.steering_coeff * rmu.subject_rows(ctx.state["u"], batch.forget_items)  # (B, D)
    loss = rmu.misdirection_loss(model, batch, ctx, target, cfg.alpha)  # RMU's forget and retain terms
    if cfg.trace_weight != 0:
        tb, tmask = _trace_batch(ctx, batch.forget_idx.tolist())
        t = trace_mse(forward_layer_output(model, tb, ctx.state["layer"]), target, tmask)
        loss.forget = loss.forget + cfg.trace_weight * t
        loss.parts["trace_mse"] = t.detach()
    if cfg.cot_weight != 0 and ctx.state["cot"]:
        pick = cot_indices(batch.forget_idx.tolist(), ctx.step, ctx.state["n_forget"], len(ctx.state["cot"]))
        cb = to_device(collate([ctx.state["cot"][k] for k in pick], ctx.pad_id), ctx.device)
        cot = mnll(*token_logprobs(model, cb)).mean()
        loss.retain = cfg.cot_weight * cot if loss.retain is None else loss.retain + cfg.cot_weight * cot
        loss.parts["cot_nll"] = cot.detach()
    return loss
