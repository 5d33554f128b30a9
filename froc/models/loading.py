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


def _why(e: BaseException) -> str:
    """What went wrong while loading, in words (the library's message, first line only, with its type)."""
    name = type(e).__name__
    first = (str(e).strip().splitlines() or [""])[0]
    if name == "SafetensorError" or "safetensors" in type(e).__module__:
        return f"a *.safetensors file is damaged or not safetensors ({first})"
    if isinstance(e, RuntimeError) and ("size mismatch" in str(e) or "ignore_mismatched_sizes" in str(e)):
        return ("the shapes in config.json do not match the weights in *.safetensors (was config.json edited, "
                f"or copied from another model?) ({first})")
    if isinstance(e, OSError) and getattr(e, "filename", None):
        return f"cannot read '{e.filename}' ({e.strerror or first})"
    return f"{name}: {first}" if first else name


def check_vocab(model, tokenizer, path: str | Path = "<model>") -> None:
    """A tokenizer must not produce ids the model has no embedding for (every longer id would fail deep
    inside a forward pass with an IndexError).

    Raises:
        ConfigError: naming the folder, the tokenizer's size and the embedding table's rows.
    """
    emb = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    rows = getattr(emb, "num_embeddings", None)
    if rows is None:
        return
    n = len(tokenizer)
    if n > rows:
        raise ConfigError(f"'{path}': the tokenizer has {n} tokens but the model's embedding table has {rows} rows "
                          "(ids >= {rows} cannot be embedded); the tokenizer files belong to another model, or the "
                          "embeddings were not resized after adding tokens".replace("{rows}", str(rows)))


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
    except Exception as e:  # noqa: BLE001 - any library error is re-raised with the folder named
        raise ConfigError(f"could not load a tokenizer from '{p}': {_why(e)}") from None
    if tokenizer is None or not callable(tokenizer):
        raise ConfigError(f"could not load a tokenizer from '{p}': no tokenizer files (tokenizer.json or "
                          "tokenizer_config.json + vocabulary)")
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token is None:
            raise ConfigError(f"tokenizer of '{p}' has neither a pad nor an end-of-sequence token; froc needs one "
                              "to pad batches and end answers")
        tokenizer.pad_token = tokenizer.eos_token
    try:
        # its "Loading weights" bar only where loading takes a while (and not with FROC_NO_PROGRESS=1): a sweep
        # loads small models dozens of times
        big = sum(f.stat().st_size for f in p.glob("*.safetensors")) >= BIG_MODEL_BYTES
        with hf_progress(enabled() and big):
            model = AutoModelForCausalLM.from_pretrained(str(p), dtype=dt, use_safetensors=True,
                                                         trust_remote_code=trust_remote_code)
    except Exception as e:  # noqa: BLE001 - SafetensorError, RuntimeError (shape mismatch), OSError, ValueError ...
        raise ConfigError(f"could not load a causal LM from '{p}': {_why(e)}") from None
    check_vocab(model, tokenizer, p)
    model.to(dev)
    model.eval()
    if lora is not None:
        model = apply_lora(model, lora)
    return model, tokenizer


def apply_lora(model, lora: LoraSpec | dict | None = None):
    """Wrap ``model`` with a trainable LoRA adapter; the base weights are frozen."""
    from peft import LoraConfig, get_peft_model

    import warnings

    from transformers.pytorch_utils import Conv1D

    spec = lora if isinstance(lora, LoraSpec) else LoraSpec(**(lora or {}))
    # GPT-2-style models store linear layers transposed (Conv1D): say so instead of letting peft warn and guess
    conv1d = any(isinstance(m, Conv1D) for m in model.modules())
    cfg = LoraConfig(r=spec.r, lora_alpha=spec.alpha, lora_dropout=spec.dropout, fan_in_fan_out=conv1d,
                     target_modules=spec.target_modules, task_type="CAUSAL_LM")
    with warnings.catch_warnings():  # peft reads transformers' deprecated is_gradient_checkpointing alias
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return get_peft_model(model, cfg)


def is_peft(model) -> bool:
    try:
        from peft import PeftModel
    except ImportError:  # pragma: no cover
        return False
    return isinstance(model, PeftModel)


def save_model(model, tokenizer, out: str | Path, *, merge_lora: bool = False) -> Path:
    """Save as safetensors in Hugging Face format; LoRA adapters merged when ``merge_lora``."""
    from froc.safe_write import replace_link

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for f in out.iterdir():  # save_pretrained opens files by name: replace symlinks, never write through them
        replace_link(f)
    if is_peft(model) and merge_lora:
        model = model.merge_and_unload()
    with hf_progress():
        model.save_pretrained(str(out), safe_serialization=True)
    if tokenizer is not None:
        tokenizer.save_pretrained(str(out))
    return out
