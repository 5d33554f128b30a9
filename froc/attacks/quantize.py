"""Quantization attack: 8-bit / 4-bit weight quantization of the unlearned model, then re-scoring.

Paper: Zhang et al. 2025, "Catastrophic Failure of LLM Unlearning via Quantization" (ICLR 2025;
preprint "Does your LLM truly unlearn? An embarrassingly simple approach to recover unlearned
knowledge", https://arxiv.org/abs/2410.16454): unlearning by small weight changes can be undone when the
weights are rounded to a low-precision grid; seed "Downgrade to Upgrade" names quantization among
the post-unlearning manipulations that neutralise forgetting.

Default backend ``rtn`` (runs everywhere): symmetric round-to-nearest per output channel (or per
group of ``group_size`` input columns), ``scale = max|W_row| / qmax`` with ``qmax = 2^(bits-1) - 1``,
``W' = clamp(round(W / scale), -qmax, qmax) * scale``, on a copy, dequantized back to the float
dtype. Every ``nn.Linear`` weight is quantized; the input embeddings and the output head
(``lm_head``, often tied to them) only with ``include_embeddings`` (bitsandbytes also keeps the
head in full precision). Backend ``bnb`` (``auto`` picks it when CUDA and bitsandbytes are present)
uses bitsandbytes' own quantize/dequantize pair instead: 8-bit row-wise absmax (as LLM.int8()'s
weights, without its outlier decomposition of activations) and 4-bit NF4 blocks of 64 (QLoRA).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from froc.attacks.base import AttackInputs, knowledge_summary, score, working_copy
from froc.errors import ConfigError, unknown_choice

BACKENDS = ("rtn", "bnb", "auto")


@dataclass
class QuantizeParams:
    """Parameters of weight quantization.

    Attributes:
        bits: bit width (2..8); default 8 for quantize_8bit, 4 for quantize_4bit.
        group_size: 0 = one scale per output channel; g > 0 = one scale per g input columns (rtn only).
        include_embeddings: also quantize the input embeddings and the output head.
        backend: ``rtn`` (ours, everywhere), ``bnb`` (bitsandbytes, CUDA), ``auto`` (bnb when available).
    """

    bits: int = 8
    group_size: int = 0
    include_embeddings: bool = False
    backend: str = "auto"


@dataclass
class Quantize4bitParams(QuantizeParams):
    bits: int = 4


def quantize_rtn(w: torch.Tensor, bits: int, group_size: int = 0) -> torch.Tensor:
    """Symmetric round-to-nearest fake quantization of a 2-D weight (out, in), per row or per group.

    Returns the dequantized weight in ``w``'s dtype (computed in float32).
    """
    qmax = 2 ** (bits - 1) - 1
    x = w.detach().float()
    out_f, in_f = x.shape
    g = in_f if group_size <= 0 or group_size >= in_f else group_size
    pad = (-in_f) % g
    if pad:
        x = torch.nn.functional.pad(x, (0, pad))
    xg = x.view(out_f, -1, g)  # (out, in/g, g)
    scale = xg.abs().amax(-1, keepdim=True) / qmax  # (out, in/g, 1)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.clamp(torch.round(xg / scale), -qmax, qmax)
    deq = (q * scale).view(out_f, -1)[:, :in_f]
    return deq.to(w.dtype)


def quantize_bnb(w: torch.Tensor, bits: int) -> torch.Tensor:  # pragma: no cover - needs CUDA + bitsandbytes
    """bitsandbytes quantize -> dequantize of one weight on CUDA (8-bit row-wise absmax, 4-bit NF4)."""
    import bitsandbytes.functional as bf

    x = w.detach().to("cuda", torch.float16).contiguous()
    if bits == 8:
        q, row_stats, _ = bf.int8_vectorwise_quant(x)
        deq = q.float() * (row_stats.float()[:, None] / 127.0)
    else:
        q, state = bf.quantize_4bit(x, blocksize=64, quant_type="nf4")
        deq = bf.dequantize_4bit(q, state)
    return deq.to(w.device, w.dtype).view_as(w)


def resolve_backend(p: QuantizeParams, model) -> str:
    if p.backend not in BACKENDS:
        raise unknown_choice("quantization backend", p.backend, BACKENDS)
    if p.backend == "rtn":
        return "rtn"
    try:
        import bitsandbytes  # noqa: F401

        has_bnb = torch.cuda.is_available()
    except ImportError:
        has_bnb = False
    if p.backend == "bnb" and not has_bnb:
        raise ConfigError("quantization backend 'bnb' needs CUDA and the bitsandbytes package; use backend=rtn")
    if has_bnb and p.bits in (4, 8):
        return "bnb"
    if p.backend == "bnb":
        raise ConfigError(f"quantization backend 'bnb' supports 4 and 8 bits, got {p.bits}")
    return "rtn"


def _targets(model, include_embeddings: bool) -> list[tuple[str, torch.nn.Parameter]]:
    """(name, weight) of every layer to quantize; shared (tied) weights once."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    emb = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    skip = {id(m.weight) for m in (head, emb) if m is not None and hasattr(m, "weight")}
    seen, out = set(), []
    for name, mod in model.named_modules():
        w = getattr(mod, "weight", None)
        if not isinstance(w, torch.nn.Parameter) or w.dim() != 2 or id(w) in seen:
            continue
        is_lin, is_emb = isinstance(mod, torch.nn.Linear), isinstance(mod, torch.nn.Embedding)
        if not (is_lin or is_emb):
            continue
        if id(w) in skip and not include_embeddings:
            continue
        if is_emb and not include_embeddings:
            continue
        seen.add(id(w))
        out.append((name, w))
    return out


@torch.no_grad()
def quantize_model_(model, p: QuantizeParams, backend: str = "rtn") -> dict:
    """Fake-quantize ``model``'s weights in place; returns error statistics."""
    targets = _targets(model, p.include_embeddings)
    rel, max_abs, numel = [], 0.0, 0
    for _, w in targets:
        new = quantize_rtn(w, p.bits, p.group_size) if backend == "rtn" else quantize_bnb(w, p.bits)
        diff = (new.float() - w.float())
        rel.append(float(diff.norm() / w.float().norm().clamp_min(1e-12)))
        max_abs = max(max_abs, float(diff.abs().max()))
        numel += w.numel()
        w.copy_(new)
    return {"n_layers": len(targets), "n_weights": numel, "layers": [n for n, _ in targets],
            "rel_error_mean": float(sum(rel) / len(rel)) if rel else 0.0,
            "rel_error_max": max(rel) if rel else 0.0, "max_abs_error": max_abs}


def check(p: QuantizeParams) -> None:
    if not isinstance(p.bits, int) or not 2 <= p.bits <= 8:
        raise ConfigError(f"quantize: bits must be an integer in 2..8, got {p.bits!r}")
    if p.group_size < 0:
        raise ConfigError(f"quantize: group_size must be >= 0 (0 = per output channel), got {p.group_size}")


def attack(inputs: AttackInputs, p: QuantizeParams):
    check(p)
    backend = resolve_backend(p, inputs.model)
    model = working_copy(inputs.model)
    note = None
    try:
        stats = quantize_model_(model, p, backend)
    except Exception as e:  # pragma: no cover - a bitsandbytes API change under backend=auto
        if p.backend != "auto" or backend != "bnb":
            raise
        note = f"bitsandbytes failed ({e!r}); fell back to rtn"
        del model
        model, backend = working_copy(inputs.model), "rtn"
        stats = quantize_model_(model, p, backend)
    table = score(model, inputs.tokenizer, inputs.probes, inputs, model_name=f"quantize_{p.bits}bit")
    details = {"bits": p.bits, "backend": backend, "group_size": p.group_size,
               "include_embeddings": p.include_embeddings, **stats, "after": knowledge_summary(table)}
    if note:
        details["note"] = note
    del model
    return table, details
