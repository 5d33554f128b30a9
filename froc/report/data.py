"""The report's view of a sweep's summary (pure: no plotting, no HTML).

The summary is read once through :class:`froc.records.SweepSummary` (the typed record the sweep
writes), so a field renamed there fails the report's tests instead of silently dropping a column.
The report's rows are the records themselves (:class:`froc.records.ConfigRecord`). The selections a
reviewer sees (labels, closest configurations when none is certified, the models compared in the
semantic-shift view, the landscape grids, each metric's direction and meaning) are computed here so
that tests can check them without drawing anything.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np

from froc.records import Budget, ConfigRecord, SweepSummary
from froc.report.fmt import fmt_many, fmt_value, num

ConfigRow = ConfigRecord  # one configuration of the grid, or a reference model
FORM_ORDER = ("qa", "paraphrase", "cloze", "mcq", "yesno", "reverse")
GROUP_ORDER = ("forget", "neighbour", "retain", "world")
# registry names (froc.metrics.registry.METRICS) shown first in the metrics tables
METRIC_ORDER = (
    "tofu/forget_quality", "tofu/model_utility", "knowledge/forget", "knowledge/retain", "knowledge/neighbour",
    "knowledge/world", "muse/privleak", "tofu/forget_rouge", "tofu/forget_truth_ratio",
)
REFERENCE_LABELS = {"original": "original model", "oracle": "retain oracle"}
OK = "ok"

__all__ = ["Budget", "ConfigRow", "ReportData", "load_summary", "config_labels", "metric_info", "closest_configs",
           "landscape_panels", "shift_series", "swept_extras", "ordered_keys", "upgrade_legacy"]


def upgrade_legacy(raw: Mapping[str, Any]) -> dict:
    """A summary written before :mod:`froc.records` in today's shape (a copy; newer summaries pass unchanged).

    Old summaries kept the recommendation at the top level (``recommended``, ``recommendation_reason``)
    and counted test-split exceedances as ``validity.test_violations`` over every certified configuration.
    """
    raw = dict(raw)
    if "recommendation" not in raw and ("recommended" in raw or "recommendation_reason" in raw):
        raw["recommendation"] = {"config_id": raw.get("recommended"), "reason": raw.get("recommendation_reason")}
    v = raw.get("validity")
    if isinstance(v, Mapping) and "test_violations" in v and "test_checked" not in v:
        v = dict(v)
        v["test_exceed"] = v.pop("test_violations")
        v["test_checked"] = v.get("n_certified", 0)
        rs = {k: v.pop(k) for k in ("resplits", "violation_rate") if k in v}
        if rs and "resplit" not in v:
            v["resplit"] = rs
        raw["validity"] = v
    return raw


@dataclass
class ReportData:
    """Everything the report shows: the typed summary plus the selections made from it."""

    summary: SweepSummary
    configs: list[ConfigRecord]
    methods: list[str]
    certified: list[ConfigRecord]  # recommended first, then by utility bound, then CUR
    recommended: ConfigRecord | None
    reference: dict[str, ConfigRecord]  # "original", "oracle" (those present)
    attack_names: list[str]
    labels: dict[str, str]  # config_id -> method + the hyperparameters that vary ("npo lr=3e-4, beta=0.1, 20 steps")
    builtin: bool  # the data is froc's built-in benchmark (fictitious people): its wording may be used
    run_dir: str | None = None  # the run's folder, for the export command (set by the renderer when known)

    @property
    def budget(self) -> Budget:
        return self.summary.budget

    @property
    def recommended_id(self) -> str | None:
        return self.summary.recommendation.config_id

    @property
    def data_sizes(self) -> dict[str, Any]:
        return self.summary.data

    def by_id(self, config_id: str) -> ConfigRecord | None:
        return next((r for r in self.configs if r.config_id == config_id), None)

    def label(self, r: ConfigRecord) -> str:
        """The readable name of a configuration or reference model (never a cut hash)."""
        if r.method == "reference":
            return REFERENCE_LABELS.get(r.config_id, r.config_id)
        return self.labels.get(r.config_id, r.config_id)


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


def config_labels(configs: Iterable[ConfigRecord]) -> dict[str, str]:
    """``config_id -> "method k=v, ..., N steps"`` naming only what varies.

    Per method, the hyperparameters that take more than one value among its configurations are
    shown (``lr`` first); steps are shown when they vary anywhere in the grid. Two configurations
    that would get the same label (they differ in nothing swept) get their full config id appended.
    """
    configs = list(configs)
    steps_vary = len({hkey(r.steps) for r in configs}) > 1
    out: dict[str, str] = {}
    for m in dict.fromkeys(r.method for r in configs):
        rows = [r for r in configs if r.method == m]
        keys = list(dict.fromkeys(k for r in rows for k in r.hparams))
        vary = [k for k in keys if len({hkey(r.hparams.get(k)) for r in rows}) > 1]
        vary.sort(key=lambda k: k != "lr")
        shown = {}  # one number style per hyperparameter (1e-4 and 1e-3, not 1e-4 and 0.001)
        for k in vary:
            vals = list({hkey(r.hparams.get(k)): r.hparams.get(k) for r in rows}.items())
            shown[k] = dict(zip([h for h, _ in vals], fmt_many([v for _, v in vals])))
        for r in rows:
            bits = [f"{k}={shown[k][hkey(r.hparams.get(k))]}" for k in vary]
            if steps_vary:
                bits.append(f"{fmt_value(r.steps)} step{'' if r.steps == 1 else 's'}")
            out[r.config_id] = f"{m} {', '.join(bits)}" if bits else str(m)
    seen: dict[str, int] = {}
    for lab in out.values():
        seen[lab] = seen.get(lab, 0) + 1
    return {cid: (lab if seen[lab] == 1 else f"{lab} ({cid})") for cid, lab in out.items()}


def _certified_order(rows: list[ConfigRecord], recommended_id: str | None) -> list[ConfigRecord]:
    big = math.inf
    return sorted(rows, key=lambda r: (r.config_id != recommended_id,
                                       r.utility_ucb if r.utility_ucb is not None else big,
                                       r.cur if r.cur is not None else big))


def load_summary(summary: Mapping[str, Any] | SweepSummary) -> ReportData:
    """The report's view of a parsed ``summary.json`` (or a :class:`SweepSummary`); never raises on
    missing or malformed fields, only on a summary that is not a JSON object (TypeError)."""
    if isinstance(summary, SweepSummary):
        s = copy.deepcopy(summary)  # the flags below are reconciled on a copy, not on the caller's record
    elif isinstance(summary, Mapping):
        s = SweepSummary.from_dict(upgrade_legacy(summary))
    else:
        raise TypeError(f"summary must be a dict (the parsed summary.json), got {type(summary).__name__}")
    listed = set(s.certified)
    configs = list(s.configs)
    for r in configs:  # the certified list and the per-configuration flag must agree; a diverged run never is
        r.certified = (r.certified or r.config_id in listed) and r.ok
    methods: list[str] = []
    grid_methods = s.grid.get("methods") if isinstance(s.grid.get("methods"), (Mapping, list)) else []
    for m in [str(x) for x in grid_methods] + [r.method for r in configs]:
        if m not in methods and any(r.method == m for r in configs):
            methods.append(m)
    rec_id = s.recommendation.config_id
    recommended = next((r for r in configs if r.config_id == rec_id), None) if rec_id else None
    attack_names: list[str] = []
    for a in [a for r in configs for a in r.attacks] + list(s.attacks_certified):
        if a not in attack_names:
            attack_names.append(a)
    return ReportData(
        summary=s, configs=configs, methods=methods,
        certified=_certified_order([r for r in configs if r.certified], rec_id),
        recommended=recommended, reference=dict(s.reference), attack_names=attack_names,
        labels=config_labels(configs), builtin=s.data.get("source") == "builtin",
    )


def metric_info(name: str) -> tuple[bool | None, str | None]:
    """``(higher_is_better, one-line meaning)`` of a reported metric name, ``(None, None)`` when unknown.

    Looks the name up in :data:`froc.metrics.registry.METRICS` (a flattened name such as
    ``forms/forget_per_form/form/qa`` by its longest registered prefix). Read defensively: the
    registry's field names may be ``description`` or ``doc``; an import failure leaves both unknown.
    """
    try:
        from froc.metrics.registry import METRICS
    except Exception:  # noqa: BLE001 -- the report must render without the metrics package
        return None, None
    parts = name.split("/")
    spec = next((METRICS["/".join(parts[:i])] for i in range(len(parts), 0, -1) if "/".join(parts[:i]) in METRICS),
                None)
    if spec is None:
        return None, None
    hib = getattr(spec, "higher_is_better", None)
    text = getattr(spec, "description", None) or getattr(spec, "doc", None)
    line = " ".join(str(text).split()) if text else None
    if line and ". " in line:
        line = line.split(". ")[0] + "."
    return (hib if isinstance(hib, bool) else None), line


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


def swept_extras(rows: Iterable[ConfigRecord]) -> list[str]:
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


def _panel(method: str, label: str, mode: str, rows: list[ConfigRecord], lrs: list, steps: list) -> Landscape:
    shape = (len(lrs), len(steps))
    cur = np.full(shape, np.nan)
    status = np.full(shape, "missing", dtype=object)
    certified = np.zeros(shape, dtype=bool)
    ids = np.full(shape, "", dtype=object)
    li = {hkey(v): i for i, v in enumerate(lrs)}
    si = {hkey(v): j for j, v in enumerate(steps)}
    cells: dict[tuple[int, int], list[ConfigRecord]] = {}
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


def landscape_panels(rows: Iterable[ConfigRecord], method: str, *, max_panels: int = 6) -> list[Landscape]:
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
    combos: dict[tuple, list[ConfigRecord]] = {}
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
    row: ConfigRecord


def closest_configs(rows: Iterable[ConfigRecord], budget: Budget) -> list[Closest]:
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


def shift_series(data: ReportData, *, max_configs: int = 4) -> list[tuple[str, ConfigRecord]]:
    """The models compared in the semantic-shift view: original, recommended + top certified, oracle.

    Without certified configurations, the closest ones (see `closest_configs`) stand in.
    """
    picked: list[ConfigRecord] = []
    pool = data.certified or [c.row for c in closest_configs(data.configs, data.budget)]
    for r in ([data.recommended] if data.recommended else []) + pool:
        if r is not None and all(r is not p for p in picked) and len(picked) < max_configs:
            picked.append(r)
    out: list[tuple[str, ConfigRecord]] = []
    if "original" in data.reference:
        out.append(("original model", data.reference["original"]))
    for r in picked:
        out.append((("recommended: " if r is data.recommended else "") + data.label(r), r))
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
