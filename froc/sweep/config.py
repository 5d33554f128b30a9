"""The sweep file: one flat YAML describing model, data, grid, budget and statistics.

Unknown keys are errors (with the file and line of the offending key). The resolved config is
saved next to the results (``DIR/sweep.resolved.yaml``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, field_validator, model_serializer,
                      model_validator)

from froc import yaml_io
from froc.data.loaders import PROBE_GROUPS
from froc.errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _At(ValueError):
    """A validation error that knows which key it is about (so the message can give its line)."""

    def __init__(self, path: tuple[str, ...], msg: str):
        super().__init__(msg)
        self.path = tuple(str(p) for p in path)


_TAU = re.compile(r"oracle_q(0?\.\d+|1(\.0*)?)")
GROUPS = PROBE_GROUPS


class BuiltinSpec(_Strict):
    """The built-in benchmark: synthetic people, trained target + retain oracle (cached)."""

    people: int = 200
    forget_split: Literal[1, 5, 10] = 10
    arch: str = "mini"
    data_seed: int = 0
    epochs: int | None = None


_BENCH_KEYS = {"tofu": ("forget_split",), "muse": ("corpus",), "wmdp": ("subset",)}


class DataSpec(_Strict):
    """A user's own request: forget request, retain data, probes (with meta.group), optional refusals;
    or a published benchmark folder: ``{benchmark: tofu, path: DIR, forget_split: forget10}``,
    ``{benchmark: muse, path: DIR, corpus: news}``, ``{benchmark: wmdp, path: DIR, subset: bio}``
    (see docs/BENCHMARKS.md), where ``probes`` adds the user's own probes to the benchmark's."""

    forget: str | None = None
    retain: str | None = None
    probes: str | None = None
    refusals: str | None = None
    benchmark: Literal["tofu", "muse", "wmdp"] | None = None
    path: str | None = None
    forget_split: Literal["forget01", "forget05", "forget10"] | None = None
    corpus: Literal["news", "books"] | None = None
    subset: Literal["bio", "cyber"] | None = None

    @model_validator(mode="after")
    def _check(self):
        given = lambda keys: [k for k in keys if getattr(self, k) is not None]  # noqa: E731
        options = [k for keys in _BENCH_KEYS.values() for k in keys]
        if self.benchmark is None:
            for k in given(["path", *options]):
                raise _At(("data", k), f"data.{k} is a benchmark option; set data.benchmark (tofu, muse, wmdp) too")
            for k in ("forget", "retain", "probes"):
                if getattr(self, k) is None:
                    raise _At(("data",), f"data.{k} is missing: a user request needs forget, retain and probes "
                                         "(or set data.benchmark and data.path)")
            return self
        if self.path is None:
            raise _At(("data", "benchmark"), f"data.benchmark {self.benchmark} needs data.path, the local folder "
                                             "of its published files")
        for k in given(["forget", "retain"]):
            raise _At(("data", k), f"data.{k}: the forget request and retain data come from the {self.benchmark} "
                                   "folder; drop this key")
        for k in given([o for o in options if o not in _BENCH_KEYS[self.benchmark]]):
            raise _At(("data", k), f"data.{k} is not an option of {self.benchmark}; valid: "
                                   f"{', '.join(_BENCH_KEYS[self.benchmark])}")
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        # benchmark keys are left out while unset, so the dump (and the config ids hashed from it) of a
        # sweep written before they existed does not change
        d = handler(self)
        for k in ("benchmark", "path", "forget_split", "corpus", "subset"):
            if d.get(k) is None:
                d.pop(k, None)
        return d


class LoraSettings(_Strict):
    """LoRA adapter settings of a sweep (peft): ``lora: {r: 16, alpha: 32, target_modules: [q_proj, v_proj]}``."""

    r: int = Field(8, ge=1)
    alpha: int = Field(16, ge=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: str | list[str] = "all-linear"


class PromptSpec(_Strict):
    """How questions become prompts (``froc.models.encoding.PromptFormat``); unset fields keep the model folder's
    ``prompt_format.json`` (written by ``froc unlearn`` / ``froc export``), else froc's default."""

    template: str | None = None
    answer_prefix: str | None = None
    add_bos: bool | None = None
    add_eos: bool | None = None
    chat: bool | None = None
    system_prompt: str | None = None

    @field_validator("template")
    @classmethod
    def _template(cls, v):
        if v is not None and "{question}" not in v:
            raise ValueError(f"the prompt template must contain '{{question}}', got {v!r}")
        return v


class Budget(_Strict):
    alpha_forget: float = Field(0.2, gt=0, lt=1)
    alpha_utility: float | None = Field(0.2, gt=0, lt=1)
    delta: float = Field(0.1, gt=0, lt=1)


class LossSpec(_Strict):
    """How per-sample losses are built (see froc.risk.losses)."""

    forget: Literal["binary", "unified"] = "binary"
    # "chance", "oracle_qQ" (quantile of the oracle's k on tune), "separate" (the threshold that best separates the
    # original from the retain oracle on tune), or a number
    tau_forget: str | float = "oracle_q0.9"
    utility: Literal["binary", "continuous"] = "binary"
    utility_bound: float = Field(2.0, gt=0)  # B of the continuous utility loss (nats of mean log-prob)

    @field_validator("tau_forget")
    @classmethod
    def _tau(cls, v):
        if isinstance(v, str) and v not in ("chance", "separate") and not _TAU.fullmatch(v):
            raise ValueError(f"must be 'chance', 'separate', 'oracle_qQ' with 0 < Q <= 1 (e.g. oracle_q0.9) or a "
                             f"number, got {v!r}")
        if isinstance(v, float) and not 0.0 <= v <= 1.0:
            raise ValueError(f"a numeric threshold must lie in [0, 1] (knowledge scores do), got {v}")
        return v


class Splits(_Strict):
    """Fractions of probes (per side: forget, utility) for tune / calibration / test.

    ``by`` is the sampling unit: ``probe`` (each probe is a sample) or ``subject`` (whole subjects go to one
    split, and each subject is one sample: the mean of its probes' losses; n = the number of subjects)."""

    tune: float = Field(0.2, ge=0)
    cal: float = Field(0.4, gt=0)
    test: float = Field(0.4, ge=0)
    by: Literal["probe", "subject"] = "probe"

    @model_validator(mode="after")
    def _sum(self):
        if abs(self.tune + self.cal + self.test - 1.0) > 1e-6:
            raise ValueError(f"splits must sum to 1 (got {self.tune}+{self.cal}+{self.test})")
        return self


class SweepConfig(_Strict):
    """One sweep: model x data x methods grid x steps, with the risk budget and statistics."""

    name: str = "sweep"
    model: str = "builtin"
    builtin: BuiltinSpec = Field(default_factory=BuiltinSpec)
    data: DataSpec | None = None
    oracle: str | None = None
    device: str = "auto"
    methods: dict[str, dict[str, list[Any]]]
    steps: list[int] = Field(default_factory=lambda: [10, 20, 40])
    batch_size: int | None = Field(None, ge=1)  # None: the engine's default (as `froc unlearn`)
    optimizer: str | None = None  # None: the engine's default (adamw)
    prompt_format: PromptSpec | None = None  # None: the model folder's prompt_format.json, else the default
    lora: bool | LoraSettings = False  # true: LoRA with defaults (r 8, alpha 16, all linear layers); or the settings
    budget: Budget = Field(default_factory=Budget)
    pvalue: str = "hb"
    fwer: str = "holm"
    losses: LossSpec = Field(default_factory=LossSpec)
    splits: Splits = Field(default_factory=Splits)
    probes_per_group: dict[str, int | None] = Field(
        default_factory=lambda: {"forget": None, "neighbour": 400, "retain": 400, "world": 100})
    attack_top: int = Field(3, ge=0)  # attack at most this many certified configurations (best first)
    score_batch_size: int = Field(64, ge=1)
    # CPU threads (torch intra-op) of each training run and scoring pass. CPU results depend on it
    # (the order of floating-point reductions in backward passes), so it is fixed rather than "all
    # cores": the local and the ray executor, a resumed run and the attack stage's rebuild of a
    # configuration then compute bit-identical models. None = torch's default (not reproducible across
    # machines). Ray runs one training run per ``threads`` CPUs.
    threads: int | None = Field(1, ge=1)
    max_new_tokens: int = Field(12, ge=1)
    attacks: list[str] = Field(default_factory=list)
    attack_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    resplits: int = Field(200, ge=0)
    seed: int = 0

    @field_validator("steps")
    @classmethod
    def _steps(cls, v):
        if not v or any(s < 1 for s in v):
            raise ValueError("steps must be a non-empty list of positive integers")
        return sorted(set(v))

    @model_validator(mode="after")
    def _check(self):
        if self.model != "builtin" and self.data is None:
            raise _At(("model",), f"a sweep on a user model ({self.model}) needs a 'data' section (forget, retain, probes; "
                                  "or benchmark and path)")
        if not self.methods:
            raise _At(("methods",), "'methods' must name at least one method")
        for m, grid in self.methods.items():
            for k, vals in grid.items():
                if not isinstance(vals, list) or not vals:
                    raise _At(("methods", m, k), f"methods.{m}.{k} must be a non-empty list of values (the grid)")
        bad = sorted(set(self.probes_per_group) - set(GROUPS))
        if bad:
            raise _At(("probes_per_group", bad[0]), f"unknown probe group '{bad[0]}'; valid groups: {', '.join(GROUPS)}")
        if self.losses.forget == "unified" and self.splits.by != "probe":
            raise _At(("losses", "forget"), "losses.forget 'unified' pairs forget and utility probes at random, one "
                                            "pair per sample; it needs splits.by: probe (got "
                                            f"'{self.splits.by}')")
        bad = sorted(set(self.attack_params) - set(self.attacks))
        if bad:
            raise _At(("attack_params", bad[0]), f"attack_params.{bad[0]}: '{bad[0]}' is not in 'attacks' "
                                                 f"({', '.join(self.attacks) or 'empty'})")
        return self


_Loader = yaml_io.Loader  # safe tags, 1e-3 as a float, duplicate keys refused (froc.yaml_io)


def _key_lines(text) -> dict[tuple[str, ...], int]:
    """Map key paths to 1-based line numbers using yaml's node positions (``text``: the file's content, or the
    node :func:`froc.yaml_io.load_yaml` already composed, so the file is not composed twice)."""
    if isinstance(text, yaml.Node):
        return yaml_io.key_lines(text)
    try:
        return yaml_io.key_lines(yaml_io.load_yaml(text)[1])
    except ConfigError:
        return {}


class _Where:
    """``where(path)`` -> ``file:line`` of the deepest known key on ``path`` (just ``file`` if none)."""

    def __init__(self, source: str, text: str | None):
        self.source = source
        self.lines = _key_lines(text) if text else {}

    def __call__(self, path=()) -> str:
        loc = tuple(str(x) for x in path)
        for n in range(len(loc), 0, -1):
            if loc[:n] in self.lines:
                return f"{self.source}:{self.lines[loc[:n]]}"
        return f"{self.source}:1" if self.lines else self.source  # e.g. a missing top-level key


def load_sweep(path: str | Path, *, check_files: bool = False) -> SweepConfig:
    """Read and validate a sweep YAML; errors name the file, line and key."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"sweep file '{p}' does not exist")
    raw, node = yaml_io.load_yaml_file(p, "sweep file")  # bounded alias expansion, composed once
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}:1: expected a mapping of sweep settings at the top level, got "
                          f"{'an empty file' if raw is None else type(raw).__name__}")
    return parse_sweep(raw, source=str(p), text=node, base_dir=p.parent, check_files=check_files)


def _model_at(loc: tuple[str, ...]):
    """The pydantic model class that owns the last key of ``loc`` (for listing valid keys)."""
    parent = SweepConfig
    for part in loc[:-1]:
        f = parent.model_fields.get(part)
        ann = getattr(f, "annotation", None) if f else None
        sub = next((a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if sub is None:
            return None
        parent = sub
    return parent


def parse_sweep(raw: dict, *, source: str = "<sweep>", text: str | None = None, base_dir: Path | None = None,
                check_files: bool = False) -> SweepConfig:
    """Validate a parsed sweep mapping (``text``, the file's content, gives line numbers to errors)."""
    where = _Where(source, text)
    try:
        cfg = SweepConfig.model_validate(raw)
    except ValidationError as e:
        msgs = []
        for err in e.errors():
            loc = tuple(str(x) for x in err["loc"])
            msg = err["msg"]
            exc = (err.get("ctx") or {}).get("error")
            if isinstance(exc, _At):
                loc, msg = exc.path, str(exc)
            elif err["type"] == "extra_forbidden":
                owner = _model_at(loc)
                msg = "unknown key" + (f"; valid keys: {', '.join(owner.model_fields)}" if owner else "")
            elif err["type"] == "missing":
                msg = "required key is missing"
            msg = msg.removeprefix("Value error, ")
            msgs.append(f"{where(loc)}: field '{'.'.join(loc) or '<top>'}': {msg}")
        raise ConfigError("\n".join(msgs)) from None
    if base_dir is not None:
        _resolve_paths(cfg, base_dir)
    n = grid_size(cfg)
    if n > MAX_GRID:  # refused before the per-configuration checks below, which would themselves take hours
        per = "; ".join(f"{m}: {math.prod(len(v) for v in g.values())} hyperparameter combinations"
                        for m, g in cfg.methods.items())
        raise ConfigError(f"{where(('methods',))}: the grid means {n:,} configurations ({per}; x {len(cfg.steps)} "
                          f"step counts), more than the {MAX_GRID:,} froc runs in one sweep; use fewer values per "
                          "hyperparameter")
    _check_names(cfg, where)
    if check_files:
        _check_files(cfg, raw, where)
    return cfg


MAX_GRID = 100_000  # configurations of one sweep (each is a trained and scored model)


def grid_size(cfg: SweepConfig) -> int:
    """Configurations of the grid (what :func:`expand_grid` returns, counted without building it)."""
    return len(cfg.steps) * sum(math.prod(len(v) for v in g.values()) for g in cfg.methods.values())


def _resolve_paths(cfg: SweepConfig, base: Path) -> None:
    def res(x):
        return str((base / x).resolve()) if x and not Path(x).is_absolute() else x

    if cfg.model != "builtin":
        cfg.model = res(cfg.model)
    if cfg.oracle:
        cfg.oracle = res(cfg.oracle)
    if cfg.data:
        for k in ("forget", "retain", "probes", "refusals", "path"):
            setattr(cfg.data, k, res(getattr(cfg.data, k)))


def _check_names(cfg: SweepConfig, where) -> None:
    """Methods, hyperparameters (names and values), p-value, FWER and attack names must exist
    (errors list the valid ones) — checked before anything runs, with the line of the offending key."""
    from froc.risk import CERTIFYING_PVALUES, FWER, PVALUES

    if cfg.pvalue in PVALUES and cfg.pvalue not in CERTIFYING_PVALUES:
        raise ConfigError(f"{where(('pvalue',))}: pvalue '{cfg.pvalue}' is asymptotic (not valid at a finite sample "
                          "size), so it cannot certify; it is a diagnostic only. Valid for certification: "
                          f"{', '.join(CERTIFYING_PVALUES)}")
    if cfg.pvalue not in PVALUES:
        raise ConfigError(f"{where(('pvalue',))}: pvalue '{cfg.pvalue}' unknown; valid: {', '.join(CERTIFYING_PVALUES)}")
    if cfg.fwer not in FWER:
        raise ConfigError(f"{where(('fwer',))}: fwer '{cfg.fwer}' unknown; valid: {', '.join(sorted(FWER))}")
    from froc.engine.config import engine_config
    from froc.methods.registry import METHODS

    inputs = ["retain"] + (["refusals"] if cfg.model == "builtin" or (cfg.data and cfg.data.refusals) else [])
    for m, grid in cfg.methods.items():
        if m not in METHODS:
            raise ConfigError(f"{where(('methods', m))}: method '{m}' unknown; valid methods: {', '.join(sorted(METHODS))}")
        valid = valid_hparams(m)
        for k in grid:
            if k in ("steps", "checkpoints"):
                raise ConfigError(f"{where(('methods', m, k))}: methods.{m}: '{k}' is set by the sweep's top-level "
                                  "'steps' list, not per method")
            if valid is not None and k not in valid:
                raise ConfigError(f"{where(('methods', m, k))}: methods.{m}: unknown hyperparameter '{k}'; "
                                  f"valid: {', '.join(sorted(valid))}")
        keys = sorted(grid)
        for values in itertools.product(*(grid[k] for k in keys)):
            hp = dict(zip(keys, values))
            try:
                engine_setup(cfg, {"method": m, "hparams": hp}, max(cfg.steps), [], inputs=inputs)
            except ConfigError as e:
                msg = str(e)
                bad = next((k for k in keys if re.search(rf"(^|[\s'(]){re.escape(k)}([\s')=:,]|$)", msg)), None)
                if cfg.lora and "LoRA" in msg:
                    raise ConfigError(f"{where(('lora',))}: 'lora: true' cannot be used with methods.{m}: {msg}") from None
                if bad is None and "device" in msg.lower().split(";")[0]:
                    raise ConfigError(f"{where(('device',))}: device '{cfg.device}': {msg}") from None
                path = ("methods", m) + ((bad,) if bad else ())
                raise ConfigError(f"{where(path)}: methods.{m} {hp}: {msg}") from None
    if cfg.attacks:
        try:
            from froc.attacks import ATTACKS
        except ImportError:
            return
        for i, a in enumerate(cfg.attacks):
            if a not in ATTACKS:
                raise ConfigError(f"{where(('attacks', i))}: attack '{a}' unknown; valid attacks: {', '.join(sorted(ATTACKS))}")


def _check_files(cfg: SweepConfig, raw: dict, where) -> None:
    """The model and oracle folders exist (froc never downloads: a hub name gets how to fetch it first), before
    any data is read or model loaded."""
    for key in ("model", "oracle"):
        path = getattr(cfg, key)
        if path is None or (key == "model" and path == "builtin"):
            continue
        if not Path(path).is_dir():
            given = str(raw.get(key))
            hub = "/" in given and not given.startswith((".", "/", "~")) and given.count("/") == 1
            hint = (f" It looks like a hub name: froc reads local folders only and never downloads. Download it "
                    f"first (e.g. `huggingface-cli download {given} --local-dir models/{given.split('/')[-1]}`) and "
                    f"give that folder." if hub else " froc reads local model folders (save_pretrained output) only.")
            raise ConfigError(f"{where((key,))}: {key}: '{given}' is not a local folder ({path} does not exist).{hint}")


def _lora(v):
    if v is False or v is None:
        return None
    return {} if v is True else v.model_dump()


def sweep_format(cfg: SweepConfig, model_path: str | None):
    """The prompt format of a sweep: the model folder's ``prompt_format.json`` (else the default) with the sweep's
    ``prompt_format`` overrides. Used for training, scoring, attacks and export alike."""
    from froc.models.encoding import model_format

    over = cfg.prompt_format.model_dump(exclude_none=True) if cfg.prompt_format is not None else {}
    folder = model_path if model_path and model_path != "builtin" else None
    return model_format(folder, **over)


def engine_setup(cfg: SweepConfig, entry: dict, steps: int, checkpoints: list[int], *, inputs=None,
                 check_device: bool = True, fmt=None):
    """The one builder from a sweep entry to a checked engine run (``froc.engine.config.engine_config``),
    used by validation and by the runner, so whatever the engine would refuse is refused before anything
    runs. Settings the sweep leaves unset (None) take the engine's own defaults, as ``froc unlearn`` does."""
    from froc.engine.config import engine_config

    return engine_config(entry, inputs=inputs, check_device=check_device, steps=steps, checkpoints=checkpoints,
                         batch_size=cfg.batch_size, optimizer=cfg.optimizer, seed=cfg.seed, device=cfg.device,
                         lora=_lora(cfg.lora), prompt_format=fmt)


def valid_hparams(method: str) -> list[str] | None:
    """Hyperparameters a grid may sweep for ``method``: its own plus the loop's (None: a wrapper
    method, whose base method's hyperparameters are checked by the engine when it runs)."""
    import dataclasses

    from froc.engine import UnlearnConfig
    from froc.methods.registry import METHODS

    spec = METHODS[method]
    if getattr(spec, "wrapper", False):
        return None
    loop = [f.name for f in dataclasses.fields(UnlearnConfig) if f.name not in ("steps", "checkpoints")]
    return list(spec.hparams()) + loop


def _h(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def expand_grid(cfg: SweepConfig) -> list[dict]:
    """Every configuration of the grid as ``{method, hparams, steps, train_key, config_id}``.

    Configurations that differ only in ``steps`` share ``train_key`` (one training run with
    trajectory checkpoints) unless their learning-rate schedule decays with the run's length. Ids are content hashes, so editing the sweep file keeps the ids of
    configurations that did not change.
    """
    base = {"model": cfg.model, "builtin": cfg.builtin.model_dump() if cfg.model == "builtin" else None,
            "data": cfg.data.model_dump() if cfg.data else None, "batch_size": cfg.batch_size,
            "optimizer": cfg.optimizer, "lora": cfg.lora if isinstance(cfg.lora, bool) else cfg.lora.model_dump(),
            "seed": cfg.seed}
    if cfg.prompt_format is not None:  # what the methods train on (kept out of the hash when unset)
        base["prompt_format"] = cfg.prompt_format.model_dump(exclude_none=True)
    if cfg.threads != 1:  # part of what determines the weights on CPU (kept out of the hash at its default)
        base["threads"] = cfg.threads
    out = []
    for method in cfg.methods:
        grid = cfg.methods[method]
        keys = sorted(grid)
        for values in itertools.product(*(grid[k] for k in keys)):
            hp = dict(zip(keys, values))
            train_key = f"{method}-{_h({'m': method, 'hp': hp, **base})}"
            shared = hp.get("schedule", "constant") == "constant"
            for s in cfg.steps:
                # A decaying schedule depends on the run's length: step s of a longer run is not a run of
                # s steps, so each length gets its own training run (and its own key).
                key = train_key if shared else f"{method}-{_h({'m': method, 'hp': hp, **base, 'steps': s})}"
                out.append({"method": method, "hparams": hp, "steps": s, "train_key": key,
                            "config_id": f"{train_key}-s{s}"})
    return out


def resolved_yaml(cfg: SweepConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
