"""TRU: targeted reasoning unlearning, a reasoning-based target per forget item learned by cross-entropy.

Seed paper: "Explainable LLM Unlearning Through Reasoning" (targeted reasoning unlearning, TRU). Idea (issue
16): each forget item gets a target that states the scope of what is forgotten and the intended response (a
short rationale ending in a refusal); the model learns it with cross-entropy, combined with a GA-style loss on
the original answer. The paper's exact targets and weights are not public: the template, the weights and the
retain term below are ours.

Loss: ``L = mean_b mnll(t_b | x_b) - g * mean_b mnll(y_b | x_b) + w_r * mnll_r`` where t_b is the reasoning
target of forget question x_b and y_b its original answer (answer tokens only, per-sequence means).

Targets: ``item.meta["reasoning_target"]`` when the user gives one (a string in the item's JSONL), else
``target_template`` filled with ``{subject}`` and ``{question}`` (default: "This asks about {subject}, which
I have been asked to forget, so I will not answer it. I don't know."). Text forget items have no
question to answer: only QA items are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from froc.errors import ConfigError
from froc.methods.base import Batch, Context, Loss
from froc.methods.common import mnll, nll_term
from froc.models.encoding import collate, encode_item, to_device
from froc.models.logprobs import token_logprobs

DEFAULT_TEMPLATE = ("This asks about {subject}, which I have been asked to forget, so I will not answer it. "
                    "I don't know.")


@dataclass
class TRUConfig:
    """Hyperparameters of TRU.

    Attributes:
        ga_weight: g, weight of the gradient-ascent term on the original answer (0 = targets only).
        retain_weight: w_r, weight of the retain NLL.
        target_template: template of the reasoning target (``{subject}``, ``{question}``); an item's
            ``meta.reasoning_target`` takes precedence.
    """

    ga_weight: float = 0.5
    retain_weight: float = 1.0
    target_template: str = DEFAULT_TEMPLATE


def reasoning_target(item, template: str) -> str:
    """The item's own ``meta.reasoning_target`` or the template filled with its subject and question.

    Raises ConfigError for a template with an unknown placeholder.
    """
    own = (getattr(item, "meta", None) or {}).get("reasoning_target")
    if isinstance(own, str) and own.strip():
        return own
    try:
        return template.format(subject=getattr(item, "subject", "") or "this subject", question=item.question)
    except (KeyError, IndexError) as e:
        raise ConfigError(f"tru target_template {template!r}: unknown placeholder {e}; use {{subject}}, {{question}}")


def tru_loss(logp_t: Tensor, mask_t: Tensor, logp_f: Tensor, mask_f: Tensor, *, ga_weight: float) -> Tensor:
    """``mean mnll(target) - g * mean mnll(answer)``; per-token log-probs and masks (B, T)."""
    return mnll(logp_t, mask_t).mean() - ga_weight * mnll(logp_f, mask_f).mean()


def setup(model, data, ctx: Context, cfg: TRUConfig) -> dict:
    if any(not hasattr(it, "question") for it in data.forget_items):
        raise ConfigError("tru needs QA forget items (question/answer), not text items")
    texts = [reasoning_target(it, cfg.target_template) for it in data.forget_items]
    ctx.state["target_enc"] = [encode_item(ctx.tokenizer, it, ctx.fmt, answer=t)
                               for it, t in zip(data.forget_items, texts)]
    own = sum(1 for it in data.forget_items if (getattr(it, "meta", None) or {}).get("reasoning_target"))
    return {"user_targets": own, "template_targets": len(texts) - own}


def compute(model, batch: Batch, ctx: Context, cfg: TRUConfig) -> Loss:
    tgt = to_device(collate([ctx.state["target_enc"][i] for i in batch.forget_idx.tolist()], ctx.pad_id), ctx.device)
    logp_t, mask_t = token_logprobs(model, tgt)
    parts = {"target_nll": mnll(logp_t, mask_t).mean().detach()}
    if cfg.ga_weight != 0:
        logp_f, mask_f = token_logprobs(model, batch.forget)
        f = tru_loss(logp_t, mask_t, logp_f, mask_f, ga_weight=cfg.ga_weight)
        parts["forget_nll"] = mnll(logp_f, mask_f).mean().detach()
    else:
        f = mnll(logp_t, mask_t).mean()
    retain = nll_term(model, batch.retain, cfg.retain_weight)
    if retain is not None:
        parts["retain_nll"] = retain.detach() / cfg.retain_weight
    return Loss(forget=f, retain=retain, parts=parts)
