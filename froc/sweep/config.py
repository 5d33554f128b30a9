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

import yaml
from pydantic import BaseModel, ValidationError

from froc import yaml_io
from froc.errors import ConfigError
from froc.sweep.spec import (  # noqa: F401  (the sweep's types, re-exported: froc.sweep.config is their home for users)
    _TAU,
    GROUPS,
    Budget,
    BuiltinSpec,
    DataSpec,
    LoraSettings,
    LossSpec,
    PromptSpec,
    Splits,
    SweepConfig,
    _At,
)


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
