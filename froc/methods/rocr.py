"""Rank-one Concept Redirection (ROCR): a training-free ROME-style edit of one MLP down-projection.

Seed paper: "LLM Unlearning Should Be Form-Independent" (ROCR). Closed form from ROME: Meng et
al. 2022, "Locating and Editing Factual Associations in GPT", https://arxiv.org/abs/2202.05262.

The MLP of decoder layer l maps its key (the input of ``down_proj``, size I) to a value
``W k`` (size D). For each forget subject s, the key ``k_s`` is the mean down_proj input at the
subject's last token over the forget prompts of s; its new value ``v*_s = W k_h`` is the value of
a harmless concept h (a retain subject drawn with the run's seeded RNG, or ``target_subject``),
``k_h`` measured the same way on h's retain prompts. With ``C = E[k k^T]`` over the non-padding
tokens of the retain sequences (plus a ridge ``lambda * tr(C)/I * I``), the edit is

    ``W <- W + (v* - W k) k^T C^{-1} / (k^T C^{-1} k)``       (one subject: ROME's rank-one update)

and for several subjects the joint minimum-norm form ``W <- W + R (K^T C^{-1} K)^{-1} K^T C^{-1}``
with ``R = V* - W K`` (equal to the above for one subject; exact for every subject at once).
Only that one weight changes; it takes seconds. Wherever the model now reads subject s, the
layer writes what it writes for h, so every form of question about s is redirected.

Unverified (chosen here): layer = n_layers // 4 when None (ROME edits early-middle layers);
ridge lambda = 1e-2; the subject's last token is found by tokenising the prompt up to the end
of the first case-insensitive occurrence of the subject (the last prompt token when the subject
does not occur); harmless target = one random retain subject per forget subject.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from torch import Tensor

from froc.errors import ConfigError
from froc.methods.base import Context
from froc.methods.common import check_layer, decoder_layers, num_layers
from froc.models.encoding import Encoded, collate, encode_prompt, prefix_ids, to_device


@dataclass
class ROCRConfig:
    """Hyperparameters of ROCR.

    Attributes:
        layer: decoder layer whose MLP down_proj is edited (None = n_layers // 4).
        target_subject: harmless subject whose value the forget subjects are redirected to
            (None = a random retain subject per forget subject).
        ridge: lambda, relative ridge added to the key covariance C.
    """

    layer: int | None = None
    target_subject: str | None = None
    ridge: float = 1e-2


def rank_one_edit(W: Tensor, k: Tensor, v_star: Tensor, C_inv: Tensor) -> Tensor:
    """ROME's closed form ``W + (v* - W k) (C^{-1} k)^T / (k^T C^{-1} k)``; W (D, I), k (I,), v* (D,), C_inv (I, I)."""
    ck = C_inv @ k  # (I,)
    return W + torch.outer(v_star - W @ k, ck) / (k @ ck)


def multi_edit(W: Tensor, K: Tensor, V_star: Tensor, C_inv: Tensor) -> Tensor:
    """Joint edit for n keys: ``W + (V* - W K) (K^T C^{-1} K)^{-1} K^T C^{-1}``; K (I, n), V* (D, n)."""
    CK = C_inv @ K  # (I, n)
    return W + (V_star - W @ K) @ torch.linalg.solve(K.T @ CK, CK.T)


def _subject_position(tokenizer, item, fmt) -> tuple[list[int], int]:
    """Prompt ids of an item (question prompt, or the text without eos) and the index of the subject's last token."""
    subject = getattr(item, "subject", None)
    if not subject:
        raise ConfigError(f"rocr needs a 'subject' on every item; item '{getattr(item, 'id', '?')}' has none")
    if hasattr(item, "question"):
        text, head = item.question, fmt.template.split("{question}", 1)[0]
        ids = encode_prompt(tokenizer, text, fmt)
        bos = prefix_ids(tokenizer, fmt, fmt.render(tokenizer, text))
    else:
        text, head = item.text, ""
        bos = prefix_ids(tokenizer, fmt, text)
        ids = bos + list(tokenizer(text, add_special_tokens=False)["input_ids"])
    at = text.casefold().find(subject.casefold())
    if at < 0:
        return ids, len(ids) - 1
    prefix = bos + list(tokenizer(head + text[: at + len(subject)], add_special_tokens=False)["input_ids"])
    return ids, min(max(len(prefix) - 1, 0), len(ids) - 1)


def _keys(model, down_proj, ids: list[list[int]], positions: list[int] | None, ctx: Context) -> Tensor:
    """down_proj inputs: at ``positions`` (n, I) or, when None, at every non-padding token (N, I)."""
    got = {}
    handle = down_proj.register_forward_hook(lambda m, inp, out: got.__setitem__("k", inp[0]))
    try:
        with torch.no_grad():
            b = to_device(collate([Encoded(x, len(x)) for x in ids], ctx.pad_id), ctx.device)
            model(input_ids=b["input_ids"], attention_mask=b["attention_mask"])
    finally:
        handle.remove()
    k = got["k"].float()  # (B, T, I)
    if positions is None:
        return k[b["attention_mask"].bool()]
    return k[torch.arange(len(ids)), torch.tensor(positions, device=k.device)]


def _mean_key(model, down_proj, items, ctx: Context) -> Tensor:
    pairs = [_subject_position(ctx.tokenizer, it, ctx.fmt) for it in items]
    return _keys(model, down_proj, [p[0] for p in pairs], [p[1] for p in pairs], ctx).mean(0)


def setup(model, data, ctx: Context, cfg: ROCRConfig) -> dict:
    """Apply the edit in place; returns which subjects were redirected to which."""
    layer = check_layer(model, cfg.layer if cfg.layer is not None else num_layers(model) // 4, "rocr layer")
    down = decoder_layers(model)[layer].mlp.down_proj
    W = down.weight
    by_subject: dict[str, list] = {}
    for it in data.forget_items:
        by_subject.setdefault(getattr(it, "subject", None) or "", []).append(it)
    retain_by: dict[str, list] = {}
    for it in data.retain_items:
        retain_by.setdefault(getattr(it, "subject", None) or "", []).append(it)
    candidates = sorted(s for s in retain_by if s and s not in by_subject)
    if cfg.target_subject is None and not candidates:
        raise ConfigError("rocr needs retain items about at least one subject that is not being forgotten "
                          "(the harmless concept), or target_subject")
    rng = random.Random(ctx.generator.initial_seed())
    targets = {s: cfg.target_subject or rng.choice(candidates) for s in sorted(by_subject)}
    for t in set(targets.values()):
        if t not in retain_by:
            raise ConfigError(f"rocr target subject '{t}' has no retain items")

    C_keys = []
    for i in range(0, len(data.retain_enc), 16):
        C_keys.append(_keys(model, down, [e.ids for e in data.retain_enc[i : i + 16]], None, ctx))
    Kr = torch.cat(C_keys).double()  # (N, I)
    C = Kr.T @ Kr / Kr.shape[0]
    C = C + cfg.ridge * C.trace() / C.shape[0] * torch.eye(C.shape[0], dtype=C.dtype, device=C.device)
    C_inv = torch.linalg.inv(C)

    subjects = sorted(by_subject)
    K = torch.stack([_mean_key(model, down, by_subject[s], ctx) for s in subjects], 1).double()  # (I, n)
    Wd = W.detach().double()
    V = torch.stack([Wd @ _mean_key(model, down, retain_by[targets[s]], ctx).double() for s in subjects], 1)  # (D, n)
    with torch.no_grad():
        W.copy_(multi_edit(Wd, K, V, C_inv).to(W.dtype))
    return {"layer": layer, "targets": targets}
