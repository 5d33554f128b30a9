"""How much of a GPU one training run of a sweep asks Ray for: an estimate of its memory, packed by GPU memory.

Ray schedules by declared resources, not by measured memory: a task that declares ``num_gpus=0.25`` shares its GPU
with three others. The Ray executor (``froc.sweep.training.run_ray``) declares for each training run the share
:func:`gpu_share` computes from :func:`training_bytes`, so several small-model configurations run on one GPU and a
configuration near one GPU's size gets a GPU of its own. Torch-free.

Estimate (full-weight training with AdamW, the engine's default; W = the weights' bytes as stored):
weights W + gradients W + AdamW's two moments 2W (kept in the weights' dtype) = 4W, plus W for methods that hold a
frozen copy of the model (``ref_model``: KL, UNDIAL, ...); LoRA: W (frozen) plus adapters, gradients and moments,
counted as 0.1 W. Activations are not known before a run: ``ACTIVATION_MARGIN`` (30 %) is added, then
``CUDA_OVERHEAD`` (the CUDA context and allocator slack of one process). A configuration that does not fit one GPU
gets one whole GPU (sharding one configuration over several GPUs is not done by the sweep: see README, Scale).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

GIB = 2**30
CUDA_OVERHEAD = GIB
ACTIVATION_MARGIN = 0.3
GPU_MEMORY_ENV = "FROC_GPU_MEMORY_GB"  # the memory of one GPU of the cluster, when the driver cannot measure it
WEIGHT_FILES = (".safetensors", ".bin", ".pt", ".pth")


def weight_bytes(model_path: str | Path) -> int | None:
    """Bytes of the weight files in a local model folder (``*.safetensors``, ``*.bin``, ...); None if not a folder."""
    p = Path(model_path)
    if not p.is_dir():
        return None
    total = sum(f.stat().st_size for f in p.iterdir() if f.is_file() and f.name.endswith(WEIGHT_FILES))
    return total or None


def training_bytes(weights: int, *, lora: bool, reference_copy: bool) -> int:
    """Estimated peak GPU memory (bytes) of one training run of a model whose weights take ``weights`` bytes."""
    states = 1.1 * weights if lora else 4 * weights
    if reference_copy:
        states += weights
    return int(states * (1 + ACTIVATION_MARGIN)) + CUDA_OVERHEAD


def gpu_share(need: int, gpu_memory: int) -> float:
    """``num_gpus`` for a run needing ``need`` bytes on GPUs of ``gpu_memory`` bytes: ``1/k`` for the largest ``k``
    runs that fit one GPU together (rounded down to Ray's 1e-4 granularity), 1.0 when one run needs a whole GPU."""
    if need <= 0 or gpu_memory <= 0:
        raise ValueError(f"need and gpu_memory must be positive, got {need}, {gpu_memory}")
    k = gpu_memory // need
    if k <= 1:
        return 1.0
    return math.floor(1e4 / k) / 1e4


def gpu_memory_from_env() -> int | None:
    """One GPU's memory from ``FROC_GPU_MEMORY_GB`` (bytes), else None."""
    v = os.environ.get(GPU_MEMORY_ENV)
    if not v:
        return None
    try:
        gb = float(v)
    except ValueError:
        from froc.errors import ConfigError

        raise ConfigError(f"{GPU_MEMORY_ENV} must be a number of GiB, got {v!r}") from None
    if not gb > 0:
        from froc.errors import ConfigError

        raise ConfigError(f"{GPU_MEMORY_ENV} must be positive, got {v!r}")
    return int(gb * GIB)
