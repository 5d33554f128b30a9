"""Typed records that cross stage boundaries: a sweep's ``summary.json`` (torch-free).

Written by one stage (the sweep's certification, ``froc.sweep.certify``), read by the next (the
report, the CLI, ``froc export``). Every field has one name here; a renamed or dropped field fails
:func:`SweepSummary.from_dict` round-trip tests instead of silently disappearing from a page.

What each bound covers (the report quotes these texts):
- ``certified``: the Learn-then-Test certificate; simultaneous over the whole certified set.
- ``cur`` / ``utility_ucb``: POINTWISE upper confidence bounds on calibration data, valid for a
  configuration fixed before calibration; not for one chosen by looking at them.
- ``cur_simultaneous`` / ``utility_ucb_simultaneous``: valid for every configuration of the grid
  at once (so also for one selected with calibration data).
- ``Recommendation.bound_forget`` / ``bound_utility``: computed on the held-out test split, which the
  selection did not see: valid for the recommended configuration after selection.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from froc.utils import json_safe

COVERS = {
    "certified": "the whole certified set simultaneously: with probability >= 1-delta every certified configuration "
                 "has forget risk <= alpha_f and utility risk <= alpha_u (Learn-then-Test with the FWER procedure)",
    "cur": "pointwise: a 1-delta upper bound on the forget risk of one configuration fixed in advance, on calibration "
           "probes; not valid for a configuration chosen by looking at the results",
    "cur_simultaneous": "simultaneous over the grid: holds for every configuration at once with probability >= 1-delta "
                        "(Bonferroni over the grid), so also for one selected with the calibration data",
    "recommendation": "after selection: computed on the held-out test split, which the selection of the recommended "
                      "configuration did not use",
    "attack": "re-certification under attack on the held-out test split (the attacked configurations were chosen on "
              "calibration data)",
}


def clean(o: Any) -> Any:
    """JSON-safe copy (NaN/inf -> None, numpy -> Python, dataclasses -> dicts); unknown types raise TypeError."""
    return json_safe(o, default=None)


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _int(x: Any) -> int | None:
    v = _num(x)
    return int(v) if v is not None and v == int(v) else None


def _text(x: Any) -> str | None:
    if x is None or isinstance(x, (dict, list, tuple)):
        return None
    s = str(x)
    return s if s.strip() else None


def _dict(x: Any) -> dict:
    return dict(x) if isinstance(x, Mapping) else {}


def _list(x: Any) -> list:
    return list(x) if isinstance(x, (list, tuple)) else []


def _nums(x: Any) -> dict[str, float | None]:
    return {str(k): _num(v) for k, v in _dict(x).items()}


def _fill(cls, raw: Mapping[str, Any]):
    """Build dataclass ``cls`` from ``raw`` leniently: numbers, texts, bools and dicts are coerced by the
    field's declared default type; unknown keys are ignored (older/newer summaries still load)."""
    kw = {}
    for f in dataclasses.fields(cls):
        if f.name not in raw:
            continue
        v = raw[f.name]
        t = str(f.type)
        if t.startswith("float"):
            v = _num(v)
        elif t.startswith("int"):
            v = _int(v)
        elif t.startswith("bool"):
            v = v if isinstance(v, bool) else (None if "None" in t else False)
        elif t.startswith("str"):
            v = _text(v)
        elif t.startswith("dict[str, float"):
            v = _nums(v)
        elif t.startswith("dict"):
            v = _dict(v)
        elif t.startswith("list"):
            v = _list(v)
        kw[f.name] = v
    return cls(**kw)


@dataclass
class Budget:
    """The risk budget and the statistics of the certificate."""

    alpha_forget: float | None = None
    alpha_utility: float | None = None
    delta: float | None = None
    pvalue: str | None = None
    fwer: str | None = None
    unit: str | None = None  # "probe" or the cluster key ("subject", ...)
    forget_loss: str | None = None
    utility_loss: str | None = None
    tau_forget: str | None = None  # as configured
    tau_forget_used: str | None = None  # what was actually used (a fallback says so)
    tau_forget_fallback: bool = False  # True when the configured rule could not apply (e.g. no oracle)


@dataclass
class AttackRecord:
    """One attack on one configuration; risks on the held-out test split."""

    status: str | None = None
    cur: float | None = None  # 1-delta UCB of the post-attack forget risk on the test split
    risk_forget_cal: float | None = None
    risk_forget_test: float | None = None
    n_test: int | None = None
    p_value: float | None = None
    certified: bool | None = None  # still certified under this attack (re-tested on test)
    details: dict = field(default_factory=dict)


@dataclass
class ConfigRecord:
    """One configuration of the grid, or a reference model (``method == "reference"``)."""

    config_id: str
    method: str = "?"
    hparams: dict = field(default_factory=dict)
    steps: int | None = None
    status: str = "ok"
    diverged_at: int | None = None
    error: str | None = None
    train_seconds: float | None = None
    score_seconds: float | None = None
    certified: bool = False
    p_forget: float | None = None
    p_utility: float | None = None
    p_value: float | None = None
    fwer_level: float | None = None  # the level p_value was compared with in the FWER procedure (None: not reached)
    why: str | None = None  # one sentence: why (not) certified
    cur: float | None = None  # pointwise (see COVERS)
    utility_ucb: float | None = None  # pointwise
    cur_simultaneous: float | None = None
    utility_ucb_simultaneous: float | None = None
    risk_forget_tune: float | None = None
    risk_forget_cal: float | None = None
    risk_forget_test: float | None = None
    risk_utility_tune: float | None = None
    risk_utility_cal: float | None = None
    risk_utility_test: float | None = None
    cur_by_form: dict[str, float | None] = field(default_factory=dict)  # pointwise, per probe form
    risk_by_group: dict[str, float | None] = field(default_factory=dict)
    metrics: dict[str, float | None] = field(default_factory=dict)
    attacks: dict = field(default_factory=dict)  # name -> AttackRecord

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "ConfigRecord":
        raw = _dict(raw)
        rec = _fill(cls, {"config_id": _text(raw.get("config_id")) or "?", **raw})
        rec.config_id = rec.config_id or "?"
        rec.method = rec.method or "?"
        rec.status = (rec.status or "ok").strip().lower()
        rec.certified = bool(rec.certified) and rec.status == "ok"
        rec.attacks = {str(k): _fill(AttackRecord, _dict(v)) for k, v in _dict(raw.get("attacks")).items()}
        return rec


@dataclass
class Recommendation:
    """The recommended configuration and its selection-valid bounds (on the held-out test split)."""

    config_id: str | None = None
    reason: str | None = None
    bound_forget: float | None = None
    bound_utility: float | None = None
    n_test_forget: int | None = None
    n_test_utility: int | None = None
    covers: str | None = COVERS["recommendation"]


@dataclass
class Validity:
    """Checks of the certificate on data it did not use."""

    n_certified: int = 0
    test_checked: int = 0  # certified configurations checked on the test split (0: nothing to check)
    test_exceed: int = 0  # of them, empirical test risk above the budget (descriptive; test risks are noisy)
    resplit: dict = field(default_factory=dict)  # froc.risk.validity.resplit_check output (descriptive)


@dataclass
class SweepSummary:
    """The whole ``summary.json`` of a sweep."""

    froc_version: str | None = None
    created: str | None = None
    question: str | None = None
    seconds: float | None = None  # wall time of the whole run, across resumes
    timings: dict[str, float | None] = field(default_factory=dict)
    budget: Budget = field(default_factory=Budget)
    data: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)
    grid: dict = field(default_factory=dict)
    order: dict = field(default_factory=dict)  # testing order of sequence procedures and how it was learned
    configs: list = field(default_factory=list)  # ConfigRecord
    reference: dict = field(default_factory=dict)  # "original" / "oracle" -> ConfigRecord
    certified: list = field(default_factory=list)  # config ids
    recommendation: Recommendation = field(default_factory=Recommendation)
    validity: Validity = field(default_factory=Validity)
    attacks_certified: dict = field(default_factory=dict)  # attack -> config ids still certified
    calibration_size: dict = field(default_factory=dict)  # froc.risk ncal_curve output
    covers: dict = field(default_factory=lambda: dict(COVERS))
    notes: list = field(default_factory=list)

    @property
    def recommended(self) -> str | None:
        return self.recommendation.config_id

    def by_id(self, config_id: str) -> ConfigRecord | None:
        return next((c for c in self.configs if c.config_id == config_id), None)

    def to_dict(self) -> dict:
        return clean(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "SweepSummary":
        """Read a parsed ``summary.json`` leniently: missing or malformed fields become None/empty."""
        if not isinstance(raw, Mapping):
            raise TypeError(f"a summary is a JSON object, got {type(raw).__name__}")
        s = _fill(cls, raw)
        s.budget = _fill(Budget, _dict(raw.get("budget")))
        s.configs = [ConfigRecord.from_dict(c) for c in _list(raw.get("configs")) if isinstance(c, Mapping)]
        s.reference = {str(k): ConfigRecord.from_dict({"config_id": str(k), "method": "reference", **_dict(v)})
                       for k, v in _dict(raw.get("reference")).items() if isinstance(v, Mapping)}
        s.certified = [str(x) for x in _list(raw.get("certified")) if _text(x)]
        s.recommendation = _fill(Recommendation, _dict(raw.get("recommendation")))
        s.validity = _fill(Validity, _dict(raw.get("validity")))
        s.attacks_certified = {str(k): [str(x) for x in _list(v)] for k, v in _dict(raw.get("attacks_certified")).items()}
        s.covers = {**COVERS, **{str(k): str(v) for k, v in _dict(raw.get("covers")).items()}}
        s.notes = [str(x) for x in _list(raw.get("notes"))]
        return s


def read_summary(out_dir) -> SweepSummary:
    """The typed summary of a sweep output folder (``DIR/summary.json``), with clear errors for a folder
    that is not one (:class:`froc.errors.ConfigError`)."""
    import json
    from pathlib import Path

    from froc.errors import ConfigError

    out = Path(out_dir)
    s = out / "summary.json"
    if not out.is_dir():
        raise ConfigError(f"{out} is not a folder; give the --out folder of a `froc run`")
    if not s.is_file():
        raise ConfigError(f"{out} has no summary.json (not a sweep output folder, or its run stopped before "
                          f"certification); run `froc run SWEEP.yaml --out {out}` to complete it")
    try:
        raw = json.loads(s.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ConfigError(f"{s}: not a valid summary ({e}); run `froc run` again to rewrite it") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{s}: not a valid summary (expected a JSON object)")
    return SweepSummary.from_dict(raw)
