"""``UnlearnConfig``: the one typed configuration of an unlearning run (method hyperparameters live
in each method's own config dataclass, see ``froc.methods``), and :func:`engine_config`, the one builder
from user settings (a sweep entry, ``froc unlearn`` options) to a checked run."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Iterable, Iterator, Mapping

from froc.errors import ConfigError, unknown_choice
from froc.models.encoding import PromptFormat
from froc.models.loading import LoraSpec
from froc.settings import coerce_fields

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
        fsdp: on 2+ processes (torchrun), shard the weights, gradients and optimizer state over them (FSDP2)
            instead of replicating them; for the methods and settings ``froc.engine.distributed.fsdp_refusal``
            accepts. Ignored on one process.
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
    fsdp: bool = False

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


# ----------------------------------------------------------------------------- user settings -> engine config


def resolve_config(spec, config, hparams: Mapping[str, Any]) -> tuple[UnlearnConfig, Any]:
    """Route ``hparams`` to the method's config (and its base's) or to ``UnlearnConfig`` fields, coerced.

    ``config``: an ``UnlearnConfig``, a flat dict of its fields, or None (defaults); ``hparams`` override it.
    Returns ``(UnlearnConfig, method config)``.

    Raises:
        ConfigError: an unknown name (listing the method's hyperparameters and the engine fields), a value
            of the wrong type, an invalid engine setting.
    """
    from froc.methods.registry import build_config

    try:
        mcfg, rest = build_config(spec, dict(hparams))
        base = config if isinstance(config, UnlearnConfig) else UnlearnConfig.from_dict(dict(config or {}))
        unknown = sorted(set(rest) - set(UnlearnConfig.field_names()))
        if unknown:
            own = list(spec.hparams())
            if spec.wrapper:
                own += [f"{k} (base {mcfg.base})" for k in mcfg.base_spec.hparams()]
            raise ConfigError(f"unknown hyperparameter(s) {', '.join(unknown)} for method '{spec.name}'; "
                              f"method hyperparameters: {', '.join(own) or '(none)'}; "
                              f"engine settings: {', '.join(UnlearnConfig.field_names())}")
        return dataclasses.replace(base, **coerce_fields(UnlearnConfig, rest, what="engine setting")), mcfg
    except TypeError as e:  # a value of a type coercion lets through reached a dataclass
        raise ConfigError(f"invalid hyperparameter for method '{spec.name}': {e}") from None


def check_lora(spec, mcfg, lora: bool) -> None:
    """Raise ConfigError when LoRA is asked for (``lora``) and the method cannot train adapters."""
    from froc.methods.registry import can_use_lora

    if lora and not can_use_lora(spec, mcfg):
        who = f"{spec.name}' (base '{mcfg.base}')" if spec.lora else f"{spec.name}'"
        raise ConfigError(f"method '{who} changes chosen weights directly and cannot train LoRA adapters; "
                          "run it on full weights (lora: false / no --lora)")


@dataclass(frozen=True)
class EngineSetup:
    """A checked unlearning run, as :func:`engine_config` builds it.

    Attributes:
        method: the registry name.
        config: the engine settings.
        hparams: the method's (and a wrapper's base method's) hyperparameters, coerced, as given (defaults
            not filled in): ``unlearn(..., method=method, config=config, **hparams)`` runs exactly this.
        method_config: the method's config dataclass (``base_config``/``base_spec`` set for wrappers).
        needs: what the engine will prepare (``retain``, ``refusals``, ``ref_seq_logprobs``, ``ref_model``).

    Unpacks as ``config, hparams = engine_config(...)``.
    """

    method: str
    config: UnlearnConfig
    hparams: dict[str, Any]
    method_config: Any
    needs: frozenset[str]

    def __iter__(self) -> Iterator[Any]:
        return iter((self.config, self.hparams))

    def unlearn_kwargs(self) -> dict[str, Any]:
        """``method``, ``config`` and the hyperparameters, for ``froc.unlearn(model, tok, forget, retain, **kw)``."""
        return {"method": self.method, "config": self.config, **self.hparams}


INPUTS = ("retain", "refusals")  # what a caller provides besides the forget set


def engine_config(entry: Mapping[str, Any] | str, *, base: UnlearnConfig | Mapping[str, Any] | None = None,
                  inputs: Iterable[str] | None = None, check_device: bool = True, **engine: Any) -> EngineSetup:
    """One checked unlearning run from user settings: every check ``froc.unlearn`` makes before it touches a model.

    Used by ``froc.unlearn`` itself, ``froc unlearn`` and the sweep (validation and runner), so whatever the
    engine would refuse is refused before anything runs.

    Args:
        entry: ``{"method": name, "hparams": {...}}`` (a sweep grid entry; other keys are ignored) or a method
            name. ``hparams`` may hold the method's hyperparameters (for ``sam``/``scope`` also the base
            method's) and ``UnlearnConfig`` fields (``lr``, ``schedule``, ...); values from YAML or ``--set``
            are coerced to the fields' types.
        base: engine settings the keywords and ``hparams`` override (an ``UnlearnConfig`` or a flat dict).
        inputs: the inputs the caller will provide among ``retain`` and ``refusals``; when given, a method
            needing one that is missing is refused (None: not checked; ``unlearn`` checks the data itself).
        check_device: resolve ``device`` here (``cuda`` without a GPU is refused); False for a run that will
            happen on another machine.
        **engine: ``UnlearnConfig`` fields (``steps``, ``checkpoints``, ``batch_size``, ``optimizer``, ``seed``,
            ``device``, ``lora`` (True/False/dict/``LoraSpec``), ``gradient_checkpointing``, ...); None = not set.

    Returns:
        :class:`EngineSetup` (``config, hparams = engine_config(...)`` unpacks it).

    Raises:
        ConfigError: unknown method (listing the valid ones), unknown hyperparameter or engine field (listing
            the valid ones), a value of the wrong type or out of range, an unknown base method, LoRA with a
            method that cannot use it (rmu, rocr, embed_ga, or a wrapper around one), an unknown or unavailable
            device, an unknown dtype, a needed input missing from ``inputs``.

    Not checked here (they need the model or the data): whether the model supports gradient checkpointing,
    that the forget set is non-empty and of the right kind, layer indices against the model's depth.
    """
    from froc.methods.registry import get_method, method_hparams
    from froc.models.loading import resolve_device, resolve_dtype

    if isinstance(entry, str):
        entry = {"method": entry}
    if "method" not in entry:
        raise ConfigError(f"an unlearning entry needs a 'method'; got keys {', '.join(map(str, entry)) or '(none)'}")
    spec = get_method(str(entry["method"]))
    hparams = dict(entry.get("hparams") or {})
    unknown = sorted(set(engine) - set(UnlearnConfig.field_names()))
    if unknown:
        raise ConfigError(f"unknown engine setting(s) {', '.join(unknown)}; valid: {', '.join(UnlearnConfig.field_names())}")
    settings = base.to_dict() if isinstance(base, UnlearnConfig) else dict(base or {})
    settings.update({k: v for k, v in engine.items() if v is not None})
    if isinstance(base, UnlearnConfig):  # keep the typed sub-configs as they are
        settings["lora"], settings["prompt_format"] = base.lora, base.prompt_format
        if "lora" in engine and engine["lora"] is not None:
            settings["lora"] = engine["lora"]
    config = UnlearnConfig.from_dict(coerce_fields(UnlearnConfig, settings, what="engine setting"))
    cfg, mcfg = resolve_config(spec, config, hparams)
    if check_device:
        device = resolve_device(cfg.device)
    else:
        device = None
    resolve_dtype(cfg.dtype, device)
    check_lora(spec, mcfg, cfg.lora is not None)
    needs = frozenset(spec.needs_for(mcfg))
    if inputs is not None:
        missing = sorted((needs & set(INPUTS)) - set(inputs))
        if missing:
            raise ConfigError(f"method '{spec.name}' needs {' and '.join(missing)} data "
                              f"({'set its retain weight to 0 or ' if missing == ['retain'] else ''}provide it)")
    own = {k: v for k, v in hparams.items() if k not in UnlearnConfig.field_names()}
    coerced = method_hparams(mcfg)
    return EngineSetup(spec.name, cfg, {k: coerced.get(k, v) for k, v in own.items()}, mcfg, needs)
