"""Load a user's causal LM and tokenizer from a local folder; save models as safetensors.

Weights load only from safetensors (no pickles); ``trust_remote_code`` stays off unless asked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from froc.errors import ConfigError, unknown_choice
from froc.progress import enabled, hf_progress

# a model at least this large (weight files) shows transformers' loading bar
BIG_MODEL_BYTES = 500 * 2**20

DTYPES = {"auto": None, "float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
          "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> cuda when available, else cpu; ``cuda`` without a GPU is an error."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device '{device}' requested but CUDA is not available; use --device cpu or auto")
        return torch.device(device)
    if device == "cpu":
        return torch.device("cpu")
    raise unknown_choice("device", device, DEVICES)


def resolve_dtype(dtype: str | torch.dtype = "auto", device: torch.device | None = None) -> torch.dtype:
    """``auto`` -> bfloat16 on CUDA with bf16 support, float32 otherwise."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise unknown_choice("dtype", dtype, DTYPES)
    if DTYPES[dtype] is not None:
        return DTYPES[dtype]
    if device is not None and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


@dataclass
class LoraSpec:
    """LoRA adapter settings (peft)."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: str | list[str] = "all-linear"


def check_model_dir(path: str | Path) -> Path:
    """Raise a clear ConfigError when ``path`` is not a local Hugging Face causal-LM folder."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"model path '{p}' does not exist")
    if not p.is_dir():
        raise ConfigError(f"model path '{p}' is a file; expected a folder saved with save_pretrained "
                          "(config.json + *.safetensors)")
    if not (p / "config.json").is_file():
        raise ConfigError(f"'{p}' is not a model folder: config.json is missing")
    try:
        json.loads((p / "config.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p / 'config.json'}: not valid JSON ({e})") from None
    if not list(p.glob("*.safetensors")) and not (p / "adapter_config.json").is_file():
        found = sorted(x.name for x in p.iterdir() if x.suffix in (".bin", ".pt", ".pth", ".ckpt"))
        hint = f" (found {', '.join(found)}: pickle checkpoints are not loaded; convert to safetensors)" if found else ""
        raise ConfigError(f"'{p}' has no *.safetensors weights{hint}")
    return p


def load_model(path: str | Path, *, dtype: str | torch.dtype = "auto", device: str | torch.device = "auto",
               trust_remote_code: bool = False, lora: LoraSpec | dict | None = None):
    """Load ``(model, tokenizer)`` from a local folder.

    Args:
        path: folder written by ``save_pretrained`` (config.json, *.safetensors, tokenizer files).
        dtype: ``auto`` | ``float32`` | ``bfloat16`` | ``float16``.
        device: ``auto`` | ``cpu`` | ``cuda``.
        trust_remote_code: only when the user asks for it.
        lora: attach a fresh LoRA adapter (peft) for adapter-only training.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    p = check_model_dir(path)
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(p), trust_remote_code=trust_remote_code)
    except Exception as e:  # noqa: BLE001 - re-raised with the path named
        raise ConfigError(f"could not load a tokenizer from '{p}': {e}") from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    try:
        # its "Loading weights" bar only where loading takes a while (and not with FROC_NO_PROGRESS=1): a sweep
        # loads small models dozens of times
        big = sum(f.stat().st_size for f in p.glob("*.safetensors")) >= BIG_MODEL_BYTES
        with hf_progress(enabled() and big):
            model = AutoModelForCausalLM.from_pretrained(str(p), dtype=dt, use_safetensors=True,
                                                         trust_remote_code=trust_remote_code)
    except ValueError as e:
        raise ConfigError(f"could not load a causal LM from '{p}': {e}") from None
    model.to(dev)
    model.eval()
    if lora is not None:
        model = apply_lora(model, lora)
    return model, tokenizer


def apply_lora(model, lora: LoraSpec | dict | None = None):
    """Wrap ``model`` with a trainable LoRA adapter; the base weights are frozen."""
    from peft import LoraConfig, get_peft_model

    spec = lora if isinstance(lora, LoraSpec) else LoraSpec(**(lora or {}))
    cfg = LoraConfig(r=spec.r, lora_alpha=spec.alpha, lora_dropout=spec.dropout,
                     target_modules=spec.target_modules, task_type="CAUSAL_LM")
    return get_peft_model(model, cfg)


def is_peft(model) -> bool:
    try:
        from peft import PeftModel
    except ImportError:  # pragma: no cover
        return False
    return isinstance(model, PeftModel)


def save_model(model, tokenizer, out: str | Path, *, merge_lora: bool = False) -> Path:
    """Save as safetensors in Hugging Face format; LoRA adapters merged when ``merge_lora``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if is_peft(model) and merge_lora:
        model = model.merge_and_unload()
    with hf_progress():
        model.save_pretrained(str(out), safe_serialization=True)
    if tokenizer is not None:
        tokenizer.save_pretrained(str(out))
    return out
