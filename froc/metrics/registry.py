"""The metric registry: every reported number, by name, merged from the families that declare them.

Each family declares its metrics next to their functions, with literal names (``grep -rn
tofu/forget_quality froc/`` finds the declaration): TOFU (:mod:`~froc.metrics.tofu`), FROC's knowledge
score (:mod:`~froc.metrics.knowledge`), MUSE (:mod:`~froc.metrics.muse`), membership inference
(:mod:`~froc.metrics.membership`), extraction (:mod:`~froc.metrics.extraction`), form independence
(:mod:`~froc.metrics.forms`), representation similarity (:mod:`~froc.metrics.representation`) and
over-forgetting (:mod:`~froc.metrics.overforget`). What a declaration holds: :class:`MetricSpec`.
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Mapping

import numpy as np

from froc.metrics import extraction, forms, knowledge, membership, muse, overforget, representation, tofu
from froc.metrics.spec import MODELS, UTILITY_GROUPS, MetricSpec, MissingData, ScoreSet, col, lists  # noqa: F401

FAMILIES = (tofu, knowledge, muse, membership, extraction, forms, representation, overforget)


def _merge(families) -> Mapping[str, MetricSpec]:
    out: dict[str, MetricSpec] = {}
    for fam in families:
        for spec in fam.METRICS:
            if spec.name in out:
                raise ValueError(f"metric '{spec.name}' is declared twice ({fam.__name__})")
            out[spec.name] = spec
    return MappingProxyType(out)


METRICS: Mapping[str, MetricSpec] = _merge(FAMILIES)


def flatten(name: str, value: float | dict[str, float]) -> dict[str, float]:
    """``{name: value}``, or ``{name/key: value}`` for a dict-valued metric."""
    if isinstance(value, dict):
        return {f"{name}/{k}": float(v) for k, v in value.items()}
    return {name: float(value)}


def base_name(flat_name: str) -> str:
    """Registry name of a flattened metric name (``forms/forget_per_form/qa`` -> ``forms/forget_per_form``).

    Raises:
        KeyError: no registered name is a prefix of ``flat_name``.
    """
    parts = flat_name.split("/")
    for i in range(len(parts), 0, -1):
        if "/".join(parts[:i]) in METRICS:
            return "/".join(parts[:i])
    raise KeyError(flat_name)


def check_metric_names(names=None) -> list[str]:
    """The metric names to compute (all when ``names`` is None); raises ConfigError naming an unknown one and the
    valid ones. Called before any scoring, so a typo costs nothing."""
    from froc.errors import unknown_choice

    names = list(METRICS) if names is None else list(names)
    for n in names:
        if n not in METRICS:
            raise unknown_choice("metric", n, METRICS)
    return names


def compute_metrics(scores: ScoreSet, names=None) -> tuple[dict[str, float], list[str]]:
    """Every applicable metric: ``({name: value}, notes)``.

    Metrics whose extra model is missing are skipped (one note each kind); metrics without the data
    they need get NaN and a note saying why.
    """
    names = check_metric_names(names)
    out: dict[str, float] = {}
    notes: list[str] = []
    skipped: dict[str, list[str]] = {}
    no_data: dict[str, list[str]] = {}  # reason -> the metrics it left NaN (one note per reason, not per metric)
    for n in names:
        spec = METRICS[n]
        missing = [m for m in spec.requires if getattr(scores, m) is None]
        if missing:
            skipped.setdefault(missing[0], []).append(n)
            continue
        try:
            values = flatten(n, spec.fn(scores))
        except ValueError as e:  # MissingData, or a pure function refusing its input
            values = {n: float("nan")}
            no_data.setdefault(str(e), []).append(n)
        else:
            notes += [f"{k}: no finite value" for k, v in values.items() if math.isnan(v)]
        out.update(values)
    notes = [f"{ns[0]}: {why}" if len(ns) == 1 else f"{why} ({len(ns)} metrics NaN): {', '.join(ns)}"
             for why, ns in no_data.items()] + notes
    for m, ns in skipped.items():
        notes.append(f"skipped (need the {m} model): {', '.join(ns)}")
    return out, notes


def data_notes(scores: ScoreSet) -> list[str]:
    """Facts about the probes that change how metrics read (truth-ratio fallbacks, non-member source)."""
    t = scores.target
    notes = []
    qa = t[t["kind"] == "qa"]
    has_pert = np.array([len(v) > 0 for v in lists(qa, "perturbed_logp_mean")], dtype=bool)
    no_para = np.isnan(col(qa, "para_logp_mean"))
    if (has_pert & no_para).any():
        notes.append(f"truth ratio: {int((has_pert & no_para).sum())} of {len(qa)} QA probes have no paraphrased "
                     "answer; their gold answer stands in for it")
    if (~has_pert).any():
        notes.append(f"{int((~has_pert).sum())} of {len(qa)} QA probes have no perturbed answers: no knowledge score, "
                     "truth ratio or choice accuracy for them")
    if (t["group"] == "forget").any() and not (t["group"] == scores.nonmember_group).any():
        notes.append(f"membership (mia/*, muse/privleak): no '{scores.nonmember_group}' probes; the perturbed answers "
                     "of forget probes serve as non-members")
    if t["group"].isna().all():
        notes.append("no probe has meta.group; group metrics (forget/retain/neighbour/world) cannot be computed")
    return notes
