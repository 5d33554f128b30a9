"""A normalised, defensive view of a sweep's `summary.json` (pure: no plotting, no HTML).

Real summaries come from long runs that may have been cut short, so every field
may be missing, None, NaN or of the wrong type. `load_summary` turns whatever is
there into typed rows once; the plots and the page only ever read these rows.
The selections a reviewer sees (closest configurations when none is certified,
the configurations compared in the semantic-shift view, the landscape grids) are
computed here so that tests can check them without drawing anything.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from froc.report.fmt import fmt_value, num

FORM_ORDER = ("qa", "paraphrase", "cloze", "mcq", "yesno", "reverse")
GROUP_ORDER = ("forget", "neighbour", "retain", "world")
METRIC_ORDER = (
    "forget_quality", "model_utility", "privleak", "forget_knowledge", "forget_rouge",
    "retain_accuracy", "neighbour_accuracy", "world_accuracy",
)
RISK_FIELDS = (
    "cur", "utility_ucb", "risk_forget_cal", "risk_utility_cal", "risk_forget_test", "risk_utility_test",
    "p_forget", "p_utility", "p_value",
)
OK = "ok"


def as_dict(x: Any) -> dict:
    return dict(x) if isinstance(x, Mapping) else {}


def as_list(x: Any) -> list:
    return list(x) if isinstance(x, (list, tuple)) else []


def as_text(x: Any) -> str | None:
    """Non-empty text or None (numbers are turned into text, containers are not)."""
    if x is None or isinstance(x, (dict, list, tuple)):
        return None
    s = str(x)
    return s if s.strip() else None


@dataclass(frozen=True)
class Budget:
    """The risk budget of the certificate; any field may be unknown (None)."""

    alpha_forget: float | None = None
    alpha_utility: float | None = None
    delta: float | None = None
    pvalue: str | None = None
    fwer: str | None = None
    forget_loss: str | None = None
    utility_loss: str | None = None
    tau_forget: str | None = None


@dataclass(frozen=True)
class AttackResult:
    """One attack on one configuration: CUR after the attack and whether it stays certified."""

    cur: float | None
    risk_forget_test: float | None
    certified: bool | None


@dataclass
class ConfigRow:
    """One configuration of the grid (or a reference model) with every value made safe to read."""

    config_id: str
    method: str
    hparams: dict[str, Any]
    steps: Any
    status: str
    certified: bool = False
    diverged_at: Any = None
    cur: float | None = None
    utility_ucb: float | None = None
    risk_forget_cal: float | None = None
    risk_utility_cal: float | None = None
    risk_forget_test: float | None = None
    risk_utility_test: float | None = None
    p_forget: float | None = None
    p_utility: float | None = None
    p_value: float | None = None
    metrics: dict[str, float | None] = field(default_factory=dict)
    cur_by_form: dict[str, float | None] = field(default_factory=dict)
    risk_by_group: dict[str, float | None] = field(default_factory=dict)
    attacks: dict[str, AttackResult] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == OK


@dataclass
class ReportData:
    """Everything the report shows, normalised."""

    froc_version: str | None
    created: str | None
    seconds: float | None
    question: str | None
    budget: Budget
    data_sizes: dict[str, Any]
    model: dict[str, Any]
    grid: dict[str, Any]
    configs: list[ConfigRow]
    methods: list[str]
    certified: list[ConfigRow]  # recommended first, then by utility bound, then CUR
    recommended_id: str | None
    recommended: ConfigRow | None
    recommendation_reason: str | None
    reference: dict[str, ConfigRow]  # "original", "oracle" (those present)
    validity: dict[str, Any]
    attack_names: list[str]
    attacks_certified: dict[str, list[str]]
    timings: dict[str, float | None]

    def by_id(self, config_id: str) -> ConfigRow | None:
        for r in self.configs:
            if r.config_id == config_id:
                return r
        return None


def _num_dict(x: Any) -> dict[str, float | None]:
    return {str(k): num(v) for k, v in as_dict(x).items()}


def _steps(x: Any) -> Any:
    v = num(x)
    if v is not None and v == int(v):
        return int(v)
    return x if isinstance(x, (str, int, float)) and not isinstance(x, bool) else None


def _bool(x: Any) -> bool | None:
    return x if isinstance(x, bool) else None


def _row(raw: Mapping[str, Any], index: int, certified_ids: set[str], *, default_status: str = OK) -> ConfigRow:
    cid = as_text(raw.get("config_id")) or f"#{index}"
    status = (as_text(raw.get("status")) or default_status).strip().lower()
    attacks = {}
    for name, a in as_dict(raw.get("attacks")).items():
        a = as_dict(a)
        attacks[str(name)] = AttackResult(num(a.get("cur")), num(a.get("risk_forget_test")), _bool(a.get("certified")))
    row = ConfigRow(
        config_id=cid,
        method=as_text(raw.get("method")) or "?",
        hparams={str(k): v for k, v in as_dict(raw.get("hparams")).items()},
        steps=_steps(raw.get("steps")),
        status=status,
        certified=bool(raw.get("certified") is True or cid in certified_ids) and status == OK,
        diverged_at=raw.get("diverged_at"),
        metrics=_num_dict(raw.get("metrics")),
        cur_by_form=_num_dict(raw.get("cur_by_form")),
        risk_by_group=_num_dict(raw.get("risk_by_group")),
        attacks=attacks,
    )
    for f in RISK_FIELDS:
        setattr(row, f, num(raw.get(f)))
    return row


def _sort_key(v: Any) -> tuple:
    """Order mixed hyperparameter values: numbers first (by value), then text, then None."""
    if v is None:
        return (2, "")
    n = num(v)
    if n is not None and not isinstance(v, str):
        return (0, n, "")
    return (1, 0.0, str(v))


def hkey(v: Any) -> Any:
    """A hashable, rounding-tolerant key for a hyperparameter value (0.1 and 0.1000000000001 coincide)."""
    if isinstance(v, float):
        return float(f"{v:.12g}") if math.isfinite(v) else repr(v)
    if isinstance(v, (list, tuple)):
        return tuple(hkey(u) for u in v)
    if isinstance(v, Mapping):
        return json.dumps(v, sort_keys=True, default=str)
    return v


def _certified_order(rows: list[ConfigRow], recommended_id: str | None) -> list[ConfigRow]:
    big = math.inf
    return sorted(
        rows,
        key=lambda r: (r.config_id != recommended_id,
                       r.utility_ucb if r.utility_ucb is not None else big,
                       r.cur if r.cur is not None else big),
    )


def load_summary(summary: Mapping[str, Any]) -> ReportData:
    """Normalise a `summary.json` dict; never raises on missing or malformed fields."""
    if not isinstance(summary, Mapping):
        raise TypeError(f"summary must be a dict (the parsed summary.json), got {type(summary).__name__}")
    b = as_dict(summary.get("budget"))
    budget = Budget(
        alpha_forget=num(b.get("alpha_forget")), alpha_utility=num(b.get("alpha_utility")), delta=num(b.get("delta")),
        pvalue=as_text(b.get("pvalue")), fwer=as_text(b.get("fwer")), forget_loss=as_text(b.get("forget_loss")),
        utility_loss=as_text(b.get("utility_loss")), tau_forget=as_text(b.get("tau_forget")),
    )
    certified_ids = {s for s in (as_text(x) for x in as_list(summary.get("certified"))) if s}
    configs = [_row(c, i, certified_ids)
               for i, c in enumerate(as_list(summary.get("configs"))) if isinstance(c, Mapping)]

    grid = as_dict(summary.get("grid"))
    methods: list[str] = []
    for m in list(as_dict(grid.get("methods"))) + [r.method for r in configs]:
        if m not in methods and any(r.method == m for r in configs):
            methods.append(str(m))

    rec_id = as_text(summary.get("recommended"))
    recommended = next((r for r in configs if r.config_id == rec_id), None) if rec_id else None
    reference = {}
    for name, raw in as_dict(summary.get("reference")).items():
        if isinstance(raw, Mapping):
            ref = _row({"config_id": name, "method": name, **raw}, 0, set(), default_status="reference")
            ref.certified = False
            reference[str(name)] = ref

    attack_names: list[str] = []
    for r in configs:
        for a in r.attacks:
            if a not in attack_names:
                attack_names.append(a)
    attacks_certified = {str(k): [str(x) for x in as_list(v)]
                         for k, v in as_dict(summary.get("attacks_certified")).items()}
    for a in attacks_certified:
        if a not in attack_names:
            attack_names.append(a)

    return ReportData(
        froc_version=as_text(summary.get("froc_version")),
        created=as_text(summary.get("created")),
        seconds=num(summary.get("seconds")),
        question=as_text(summary.get("question")),
        budget=budget,
        data_sizes=as_dict(summary.get("data")),
        model=as_dict(summary.get("model")),
        grid=grid,
        configs=configs,
        methods=methods,
        certified=_certified_order([r for r in configs if r.certified], rec_id),
        recommended_id=rec_id,
        recommended=recommended,
        recommendation_reason=as_text(summary.get("recommendation_reason")),
        reference=reference,
        validity=as_dict(summary.get("validity")),
        attack_names=attack_names,
        attacks_certified=attacks_certified,
        timings={str(k): num(v) for k, v in as_dict(summary.get("timings")).items()},
    )


# ---- risk landscapes ----


@dataclass(frozen=True)
class Landscape:
    """One heatmap panel: CUR of one method over lr (rows) x steps (columns).

    `status` is "ok" (coloured by CUR), "n/a" (ok but no CUR), "diverged", "failed",
    another status string, or "missing" (no configuration in the cell).
    """

    method: str
    label: str  # panel title: "" (single panel), "beta=0.1", or "lowest CUR over beta"
    mode: str  # "single", "per-value" or "best-over"
    lrs: list[Any]
    steps: list[Any]
    cur: np.ndarray  # (n_lr, n_steps) float, NaN where not coloured
    status: np.ndarray  # (n_lr, n_steps) str
    certified: np.ndarray  # (n_lr, n_steps) bool
    config_ids: np.ndarray  # (n_lr, n_steps) object, "" where missing

    @property
    def shape(self) -> tuple[int, int]:
        return self.cur.shape


def swept_extras(rows: Iterable[ConfigRow]) -> list[str]:
    """Hyperparameters other than lr that take more than one value among `rows`."""
    values: dict[str, set] = {}
    rows = list(rows)
    for r in rows:
        for k in r.hparams:
            if k != "lr":
                values.setdefault(k, set())
    for k in values:
        values[k] = {hkey(r.hparams.get(k)) for r in rows}
    return [k for k, v in values.items() if len(v) > 1]


def _panel(method: str, label: str, mode: str, rows: list[ConfigRow], lrs: list, steps: list) -> Landscape:
    shape = (len(lrs), len(steps))
    cur = np.full(shape, np.nan)
    status = np.full(shape, "missing", dtype=object)
    certified = np.zeros(shape, dtype=bool)
    ids = np.full(shape, "", dtype=object)
    li = {hkey(v): i for i, v in enumerate(lrs)}
    si = {hkey(v): j for j, v in enumerate(steps)}
    cells: dict[tuple[int, int], list[ConfigRow]] = {}
    for r in rows:
        cells.setdefault((li[hkey(r.hparams.get("lr"))], si[hkey(r.steps)]), []).append(r)
    for (i, j), cands in cells.items():
        scored = [r for r in cands if r.ok and r.cur is not None]
        certified[i, j] = any(r.certified for r in cands)
        if scored:
            best = min(scored, key=lambda r: (r.cur, not r.certified))
            cur[i, j], status[i, j], ids[i, j] = best.cur, OK, best.config_id
            continue
        statuses = [r.status for r in cands]
        st = "n/a" if OK in statuses else ("diverged" if "diverged" in statuses else
                                           "failed" if "failed" in statuses else statuses[0])
        status[i, j], ids[i, j] = st, cands[0].config_id
    return Landscape(method, label, mode, list(lrs), list(steps), cur, status, certified, ids)


def landscape_panels(rows: Iterable[ConfigRow], method: str, *, max_panels: int = 6) -> list[Landscape]:
    """The heatmap panels of one method: CUR over lr x steps.

    When the method sweeps further hyperparameters (e.g. NPO's beta), there is one
    panel per combination of their values (small multiples) up to `max_panels`;
    beyond that a single panel shows, per cell, the lowest CUR over them and marks
    the cell certified when any configuration in it is.
    """
    rows = [r for r in rows if r.method == method]
    if not rows:
        return []
    lr_vals: dict[Any, Any] = {}
    st_vals: dict[Any, Any] = {}
    for r in rows:
        lr_vals.setdefault(hkey(r.hparams.get("lr")), r.hparams.get("lr"))
        st_vals.setdefault(hkey(r.steps), r.steps)
    lrs = sorted(lr_vals.values(), key=_sort_key)
    steps = sorted(st_vals.values(), key=_sort_key)
    extras = swept_extras(rows)
    if not extras:
        return [_panel(method, "", "single", rows, lrs, steps)]
    combos: dict[tuple, list[ConfigRow]] = {}
    for r in rows:
        combos.setdefault(tuple(hkey(r.hparams.get(k)) for k in extras), []).append(r)
    if len(combos) > max_panels:
        return [_panel(method, "lowest CUR over " + ", ".join(extras), "best-over", rows, lrs, steps)]
    panels = []
    for combo in sorted(combos, key=lambda t: tuple(_sort_key(v) for v in t)):
        first = combos[combo][0]
        label = ", ".join(f"{k}={fmt_value(first.hparams.get(k))}" for k in extras)
        panels.append(_panel(method, label, "per-value", combos[combo], lrs, steps))
    return panels


# ---- selections shown in the report ----


@dataclass(frozen=True)
class Closest:
    """A configuration that comes closest to the budget by one criterion (shown when none is certified)."""

    criterion: str
    row: ConfigRow


def closest_configs(rows: Iterable[ConfigRow], budget: Budget) -> list[Closest]:
    """The configurations nearest to the budget, one per criterion (only ok runs with both bounds).

    1. lowest CUR among those whose utility bound is within alpha_u;
    2. lowest utility bound among those whose CUR is within alpha_f;
    3. smallest max(CUR / alpha_f, utility bound / alpha_u), the closest overall.
    """
    cands = [r for r in rows if r.ok and r.cur is not None and r.utility_ucb is not None]
    af, au = budget.alpha_forget, budget.alpha_utility
    out: list[Closest] = []
    if au is not None:
        pool = [r for r in cands if r.utility_ucb <= au]
        if pool:
            out.append(Closest("lowest CUR with utility bound ≤ α_u", min(pool, key=lambda r: (r.cur, r.utility_ucb))))
    if af is not None:
        pool = [r for r in cands if r.cur <= af]
        if pool:
            out.append(Closest("lowest utility bound with CUR ≤ α_f", min(pool, key=lambda r: (r.utility_ucb, r.cur))))
    if af and au and cands:
        best = min(cands, key=lambda r: (max(r.cur / af, r.utility_ucb / au), r.cur))
        out.append(Closest("closest overall: smallest max(CUR/α_f, utility bound/α_u)", best))
    elif cands:
        out.append(Closest("lowest CUR + utility bound", min(cands, key=lambda r: r.cur + r.utility_ucb)))
    return out


def shift_series(data: ReportData, *, max_configs: int = 4) -> list[tuple[str, ConfigRow]]:
    """The models compared in the semantic-shift view: original, recommended + top certified, oracle.

    Without certified configurations, the closest ones (see `closest_configs`) stand in.
    """
    picked: list[ConfigRow] = []
    pool = data.certified or [c.row for c in closest_configs(data.configs, data.budget)]
    for r in ([data.recommended] if data.recommended else []) + pool:
        if r is not None and all(r is not p for p in picked) and len(picked) < max_configs:
            picked.append(r)
    out: list[tuple[str, ConfigRow]] = []
    if "original" in data.reference:
        out.append(("original model", data.reference["original"]))
    for r in picked:
        out.append((("recommended: " if r is data.recommended else "") + r.config_id, r))
    if "oracle" in data.reference:
        out.append(("retain oracle", data.reference["oracle"]))
    return out


def ordered_keys(dicts: Iterable[Mapping[str, Any]], preferred: Iterable[str]) -> list[str]:
    """Keys present in any of `dicts`: the preferred ones first (in that order), then the rest as met."""
    seen: list[str] = []
    for d in dicts:
        for k in d:
            if k not in seen:
                seen.append(k)
    pref = [k for k in preferred if k in seen]
    return pref + [k for k in seen if k not in pref]
