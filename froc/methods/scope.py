"""Scope-aware unlearning (SU): any base loss plus a term that keeps the forgetting in scope.

Seed paper: "Keeping an Eye on LLM Unlearning: The Hidden Risk and Remedy" (scope-aware
unlearning, the remedy to stealthy forget requests).

Loss: ``L = L_base + eta * mean_b mnll(y_r | x_f (+) x_r)``: a forget prompt followed by a retain
prompt must still give the retain answer, so the unlearning signal does not leak into benign
prompts that merely contain forget-like tokens. Forget item b of the step is paired with retain
item b. Token-level concatenation: ``[bos] prompt(x_f) prompt(x_r) answer(y_r) eos`` (for text
forget items the whole forget text is the context; for text retain items the retain text is
the scored continuation). The term is part of the retain side of the loss.
Defaults: eta = 2 (authors use 2-10), base = npo. The base method's hyperparameters are given
alongside (``froc.unlearn(..., method="scope", base="graddiff", eta=5, retain_weight=1)``).
"""

from __future__ import annotations

from dataclasses import dataclass

from froc.methods import wrapper
from froc.methods.base import Batch, Context, Loss
from froc.methods.common import add_terms, mnll
from froc.methods.wrapper import WrapperConfig
from froc.models.encoding import Encoded, collate, to_device
from froc.models.logprobs import token_logprobs


@dataclass
class ScopeConfig(WrapperConfig):
    """Hyperparameters of scope-aware unlearning (and ``base``, see :class:`WrapperConfig`).

    Attributes:
        eta: weight of the scope term.
    """

    eta: float = 2.0


def scope_sequences(forget_enc: list[Encoded], retain_enc: list[Encoded], *, n_bos: int, n_eos: int) -> list[Encoded]:
    """Pair forget and retain encodings into ``forget context + retain prompt -> retain answer`` sequences."""
    out = []
    for f, r in zip(forget_enc, retain_enc):
        context = f.ids[: f.n_prompt] if f.n_prompt > n_bos else f.ids[: len(f.ids) - n_eos]
        tail = r.ids[n_bos:]
        out.append(Encoded(ids=context + tail, n_prompt=len(context) + r.n_prompt - n_bos))
    return out


def compute(model, batch: Batch, ctx: Context, cfg: ScopeConfig) -> Loss:
    out = wrapper.base_loss(model, batch, ctx, cfg)
    if batch.retain is None or cfg.eta == 0:
        return out
    n_bos = int(ctx.fmt.add_bos and ctx.tokenizer.bos_token_id is not None)
    n_eos = int(ctx.fmt.add_eos and ctx.tokenizer.eos_token_id is not None)
    seqs = scope_sequences(batch.forget_enc, batch.retain_enc, n_bos=n_bos, n_eos=n_eos)
    logp, mask = token_logprobs(model, to_device(collate(seqs, ctx.pad_id), ctx.device))
    term = mnll(logp, mask).mean()
    out.retain = add_terms(out.retain, cfg.eta * term)
    out.parts["scope_nll"] = term.detach()
    return out


def needs(cfg: ScopeConfig) -> set[str]:
    """The base method's needs and retain data (the scope term pairs forget with retain items)."""
    return wrapper.needs(cfg) | {"retain"}
