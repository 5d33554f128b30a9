"""Quantization attack: 8-bit / 4-bit weight quantization of the unlearned model, then re-scoring.

Paper: Zhang et al. 2025, "Catastrophic Failure of LLM Unlearning via Quantization" (ICLR 2025;
preprint "Does your LLM truly unlearn? An embarrassingly simple approach to recover unlearned
knowledge", https://arxiv.org/abs/2410.16454): unlearning by small weight changes can be undone when the
weights are rounded to a low-precision grid; seed "Downgrade to Upgrade" names quantization among
the post-unlearning manipulations that neutralise forgetting.

Backends (``backend``; the one that ran is recorded in the attack's details):

- ``quanto``: optimum-quanto (``pip install froc[quantize]``), the quantizer users deploy on CPU: each weight
  goes through a frozen ``QLinear`` (``qint8``: symmetric per output channel; ``qint4``/``qint2``: affine
  groups of 128 input columns, quanto's defaults) and its dequantized weight is written back, so the model
  stays a plain transformers model; quanto's ``QLinear`` computes with exactly this dequantized weight
  (checked in the tests). 2, 4 and 8 bits; ``group_size`` must be 0 (quanto's own grouping). On CPU, 4 and 2
  bits compile quanto's C++ extension on first use (about two minutes, once).
- ``bnb``: bitsandbytes' quantize/dequantize pair on CUDA (``pip install froc[gpu-quantize]``; not run by
  froc's CPU test suite): 8-bit row-wise absmax (LLM.int8()'s weights, without its outlier decomposition of
  activations) and 4-bit NF4 blocks of 64 (QLoRA).
- ``rtn``: froc's dependency-free fallback: symmetric round-to-nearest per output channel (or per group of
  ``group_size`` input columns), ``scale = max|W_row| / qmax``, ``qmax = 2^(bits-1) - 1``,
  ``W' = clamp(round(W / scale), -qmax, qmax) * scale``, 2..8 bits.
- ``auto`` (default): ``bnb`` with CUDA and bitsandbytes, else ``quanto`` when it is installed and takes the
  bits and group size, else ``rtn``; the details say why a fallback was taken (``backend_reason``).

Every ``nn.Linear`` weight is quantized, on a copy, and dequantized back to the float dtype; the input
embeddings and the output head (``lm_head``, often tied to them) only with ``include_embeddings``
(bitsandbytes and quanto also keep the head in full precision by default).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from froc.attacks.base import AttackInputs, knowledge_summary, score, working_copy
from froc.errors import ConfigError, unknown_choice

BACKENDS = ("auto", "quanto", "bnb", "rtn")
QUANTO_BITS = {8: "qint8", 4: "qint4", 2: "qint2"}


@dataclass
class QuantizeParams:
    """Parameters of weight quantization.

    Attributes:
        bits: bit width (2..8); default 8 for quantize_8bit, 4 for quantize_4bit.
        group_size: 0 = one scale per output channel; g > 0 = one scale per g input columns (rtn only).
        include_embeddings: also quantize the input embeddings and the output head.
        backend: ``auto``, ``quanto`` (optimum-quanto), ``bnb`` (bitsandbytes, CUDA) or ``rtn`` (froc's
            round-to-nearest, no dependency); see the module docstring.
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


def quantize_quanto(w: torch.Tensor, bits: int) -> torch.Tensor:
    """optimum-quanto's weight quantization of one 2-D weight (out, in), dequantized back to ``w``'s dtype.

    The weight goes through ``QLinear.from_module(...).freeze()`` with quanto's default optimizer for the
    qtype (``qint8``: absmax per output channel; ``qint4``/``qint2``: affine groups of 128).
    """
    from optimum.quanto import QLinear, qint2, qint4, qint8

    qtype = {8: qint8, 4: qint4, 2: qint2}[bits]
    lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=False, device=w.device, dtype=w.dtype)
    with torch.no_grad():
        lin.weight.copy_(w)
    q = QLinear.from_module(lin, weights=qtype)
    q.freeze()
    return q.qweight.dequantize().detach().to(w.dtype).view_as(w)


def _has(module: str) -> bool:
    """Whether ``module`` is importable (``find_spec`` of a dotted name imports its parent, which raises
    ModuleNotFoundError when the parent package itself is missing, e.g. no ``optimum`` at all)."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ModuleNotFoundError, ValueError):
        return False


def resolve_backend(p: QuantizeParams) -> tuple[str, str]:
    """``(backend, reason)``: the backend that will run for ``p`` and why (for ``auto``).

    Raises:
        ConfigError: an unknown backend, or a named one that is not installed or cannot take the settings.
    """
    if p.backend not in BACKENDS:
        raise unknown_choice("quantization backend", p.backend, BACKENDS)
    bnb_ok = torch.cuda.is_available() and _has("bitsandbytes")
    quanto_ok = _has("optimum.quanto")
    if p.backend == "rtn":
        return "rtn", "asked for"
    if p.backend == "bnb":
        if not bnb_ok:
            raise ConfigError("quantization backend 'bnb' needs CUDA and the bitsandbytes package "
                              "(pip install froc[gpu-quantize]); use backend=quanto or rtn")
        if p.bits not in (4, 8):
            raise ConfigError(f"quantization backend 'bnb' supports 4 and 8 bits, got {p.bits}")
        return "bnb", "asked for"
    if p.backend == "quanto":
        if not quanto_ok:
            raise ConfigError("quantization backend 'quanto' needs optimum-quanto (pip install froc[quantize]); "
                              "use backend=rtn")
        if p.bits not in QUANTO_BITS or p.group_size:
            raise ConfigError(f"quantization backend 'quanto' takes bits in {sorted(QUANTO_BITS)} and group_size 0 "
                              f"(its own grouping), got bits={p.bits}, group_size={p.group_size}; use backend=rtn")
        return "quanto", "asked for"
    if bnb_ok and p.bits in (4, 8):
        return "bnb", "auto: CUDA and bitsandbytes present"
    if not quanto_ok:
        return "rtn", "auto: optimum-quanto is not installed (pip install froc[quantize])"
    if p.bits not in QUANTO_BITS or p.group_size:
        return "rtn", f"auto: quanto does not take bits={p.bits}, group_size={p.group_size}"
    return "quanto", "auto: optimum-quanto present" + ("" if torch.cuda.is_available() else " (no CUDA for bitsandbytes)")


_QUANTIZERS = {"rtn": lambda w, p: quantize_rtn(w, p.bits, p.group_size),
               "quanto": lambda w, p: quantize_quanto(w, p.bits),
               "bnb": lambda w, p: quantize_bnb(w, p.bits)}


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
        new = _QUANTIZERS[backend](w, p)
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


def _version(backend: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    dist = {"quanto": "optimum-quanto", "bnb": "bitsandbytes"}.get(backend)
    try:
        return version(dist) if dist else None
    except PackageNotFoundError:  # pragma: no cover - resolved as present a moment ago
        return None


def attack(inputs: AttackInputs, p: QuantizeParams):
    check(p)
    backend, reason = resolve_backend(p)
    model = working_copy(inputs.model)
    note = None
    try:
        stats = quantize_model_(model, p, backend)
    except Exception as e:  # pragma: no cover - a library API change under backend=auto
        if p.backend != "auto" or backend == "rtn":
            raise
        note = f"{backend} failed ({e!r}); fell back to rtn"
        del model
        model, backend, reason = working_copy(inputs.model), "rtn", "auto: fallback after an error"
        stats = quantize_model_(model, p, backend)
    table = score(model, inputs.tokenizer, inputs.probes, inputs, model_name=f"quantize_{p.bits}bit")
    details = {"bits": p.bits, "backend": backend, "backend_reason": reason, "backend_version": _version(backend),
               "group_size": p.group_size, "include_embeddings": p.include_embeddings, **stats,
               "after": knowledge_summary(table)}
    if note:
        details["note"] = note
    del model
    return table, details
