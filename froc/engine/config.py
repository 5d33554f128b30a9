"""``UnlearnConfig``: the one typed configuration of an unlearning run (method hyperparameters live
in each method's own config dataclass, see ``froc.methods``)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from froc.errors import ConfigError, unknown_choice
from froc.models.encoding import PromptFormat
from froc.models.loading import LoraSpec

SCHEDULES = ("constant", "linear")
OPTIMIZERS = ("adamw", "sgd", "signsgd", "sign_adam", "zo_hybrid")
ZO_DISTRIBUTIONS = ("rademacher", "gaussian")


@dataclass
class UnlearnConfig:
    """Engine settings shared by every method.

    Attributes:
        steps: optimizer steps.
        lr: peak learning rate (after warm-up).
        batch_size: forget items per micro-batch (and as many retain items).
        grad_accum: micro-batches per optimizer step.
        warmup_steps: linear warm-up from 0 to ``lr``.
        schedule: ``constant`` after warm-up (default: step s of a long run equals a run of s
            steps, so trajectory checkpoints are valid shorter runs) or ``linear`` decay to 0 at
            ``steps`` (then they are not).
        max_grad_norm: gradient clipping (None = off).
        optimizer: ``adamw`` | ``sgd`` | ``signsgd`` | ``sign_adam`` | ``zo_hybrid`` (froc.engine.optim).
        weight_decay: decoupled weight decay (adamw, signsgd, sign_adam, zo_hybrid); L2 for sgd.
        betas: Adam moments (adamw, sign_adam, zo_hybrid).
        momentum: momentum of sgd and signsgd (0 = plain SGD / signSGD).
        zo_every: zo_hybrid takes a zeroth-order step every ``zo_every``-th step (1 = ZO only).
        zo_mu: SPSA smoothing radius mu.
        zo_directions: random directions averaged per ZO step.
        zo_dist: distribution of the directions, ``rademacher`` or ``gaussian``.
        seed: seeds torch, python ``random``, data order and method noise.
        checkpoints: steps at which ``on_checkpoint`` is called (and snapshots written).
        divergence_bound: stop as ``diverged`` when |loss| exceeds it (None = only NaN/inf).
            Default 1e4: per-token NLLs in the thousands only occur once the logits have blown
            up; GA-type losses grow without limit as the model collapses and end here.
        lora: train a fresh LoRA adapter instead of the full weights (None = full weights).
        device: ``auto`` | ``cpu`` | ``cuda``.
        dtype: ``auto`` keeps the model's dtype; otherwise the model is cast.
        autocast: bf16 autocast for forward passes on CUDA (ignored on CPU).
        gradient_checkpointing: keep only each layer's input during the forward pass and recompute
            the rest in the backward (transformers' ``gradient_checkpointing_enable``): activation
            memory drops to ~one layer's worth for ~one more forward pass per step (see
            benchmarks/RESULTS.md for the measured trade-off).
        prompt_format: how questions and answers become token sequences.
        max_length: longest encoded sequence (prompt truncated from the left).
    """

    steps: int = 100
    lr: float = 1e-5
    batch_size: int = 4
    grad_accum: int = 1
    warmup_steps: int = 0
    schedule: str = "constant"
    max_grad_norm: float | None = 1.0
    optimizer: str = "adamw"
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    momentum: float = 0.9
    zo_every: int = 2
    zo_mu: float = 1e-3
    zo_directions: int = 1
    zo_dist: str = "rademacher"
    seed: int = 0
    checkpoints: list[int] = field(default_factory=list)
    divergence_bound: float | None = 1e4
    lora: LoraSpec | None = None
    device: str = "auto"
    dtype: str = "auto"
    autocast: bool = False
    gradient_checkpointing: bool = False
    prompt_format: PromptFormat = field(default_factory=PromptFormat)
    max_length: int | None = 512

    def __post_init__(self):
        if isinstance(self.lora, dict):
            self.lora = LoraSpec(**self.lora)
        elif self.lora is True:
            self.lora = LoraSpec()
        elif self.lora is False:
            self.lora = None
        if isinstance(self.prompt_format, dict):
            self.prompt_format = PromptFormat(**self.prompt_format)
        self.betas = tuple(self.betas)
        self.checkpoints = sorted({int(s) for s in self.checkpoints})
        self.validate()

    def validate(self) -> None:
        for name in ("steps", "batch_size", "grad_accum", "zo_every", "zo_directions"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {getattr(self, name)!r}")
        if self.warmup_steps < 0:
            raise ConfigError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr must be a positive number, got {self.lr!r}")
        if self.schedule not in SCHEDULES:
            raise unknown_choice("schedule", self.schedule, SCHEDULES)
        if self.optimizer not in OPTIMIZERS:
            raise unknown_choice("optimizer", self.optimizer, OPTIMIZERS)
        if self.zo_dist not in ZO_DISTRIBUTIONS:
            raise unknown_choice("zo_dist", self.zo_dist, ZO_DISTRIBUTIONS)
        bad = [s for s in self.checkpoints if not 1 <= s <= self.steps]
        if bad:
            raise ConfigError(f"checkpoints {bad} outside 1..steps ({self.steps})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "UnlearnConfig":
        """Build from a flat dict (e.g. one YAML); unknown keys raise ConfigError listing the valid ones."""
        unknown = sorted(set(d) - set(cls.field_names()))
        if unknown:
            raise ConfigError(f"unknown UnlearnConfig field(s) {', '.join(unknown)}; "
                              f"valid fields: {', '.join(cls.field_names())}")
        return cls(**d)
