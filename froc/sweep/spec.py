"""The typed sweep file (pydantic): every key of a sweep YAML, its default, its type and its own checks.

Loading, line numbers, cross-checks against the registries and the grid live in ``froc.sweep.config``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer, model_validator

from froc.data.request import PROBE_GROUPS


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
