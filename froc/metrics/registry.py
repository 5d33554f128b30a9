"""The metric registry: every reported number, by name, with its direction and aggregation.

A :class:`MetricSpec`'s ``fn`` takes a :class:`ScoreSet` (the per-sample tables of the target and,
when given, the retain oracle and the original model) and returns a float or a dict of floats
(reported as ``name/key``). The functions here only select rows and columns; the arithmetic lives
in the pure modules (:mod:`~froc.metrics.tofu`, :mod:`~froc.metrics.muse`, ...).

Probe groups come from ``meta.group``: ``forget``, ``neighbour``, ``retain``, ``world`` and
optionally a non-member group (default ``holdout``) for membership inference. Without a non-member
group, the perturbed (wrong) answers of the forget probes serve as non-members: same questions, answers
of the same type, never trained on by any model (a deviation from MUSE's held-out documents, noted
in the evaluation notes).

``higher_is_better``: True/False from the point of view of a good unlearning result; None where the
ideal is a point (PrivLeak 0, membership AUC 0.5) or the number is descriptive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from froc.metrics import extraction as E
from froc.metrics import forms as F
from froc.metrics import membership as M
from froc.metrics import muse as MU
from froc.metrics import overforget as O
from froc.metrics import representation as R
from froc.metrics import tofu as T

UTILITY_GROUPS = ("retain", "neighbour", "world")
MODELS = ("target", "oracle", "original")


class MissingData(ValueError):
    """The scores hold nothing this metric can be computed from (the message says what is missing)."""


@dataclass(frozen=True)
class ScoreSet:
    """Per-sample tables of the compared models, row-aligned (same probes, same order)."""

    target: pd.DataFrame
    oracle: pd.DataFrame | None = None
    original: pd.DataFrame | None = None
    hidden: Mapping[str, Mapping[int, np.ndarray]] = field(default_factory=dict)  # model -> layer -> (N, H)
    nonmember_group: str = "holdout"

    def table(self, which: str) -> pd.DataFrame:
        df = getattr(self, which)
        if df is None:
            raise MissingData(f"needs the {which} model's scores")
        return df

    def mask(self, group: str, kind: str | None = None) -> np.ndarray:
        m = (self.target["group"] == group).to_numpy(dtype=bool)
        if kind is not None:
            m = m & (self.target["kind"] == kind).to_numpy(dtype=bool)
        return m

    def rows(self, which: str, group: str, kind: str | None = None, *, required: bool = True) -> pd.DataFrame:
        d = self.table(which)[self.mask(group, kind)]
        if required and d.empty:
            what = f"{kind} probes" if kind else "probes"
            raise MissingData(f"no {what} with meta.group '{group}'")
        return d


@dataclass(frozen=True)
class MetricSpec:
    """One reported metric."""

    fn: Callable[[ScoreSet], float | dict[str, float]]
    higher_is_better: bool | None
    aggregation: str  # how per-sample values become the number: mean, ks_pvalue, harmonic_mean, roc_auc, ...
    doc: str
    requires: tuple[str, ...] = ()  # models besides the target: "oracle", "original"


# ----------------------------------------------------------------------------- column helpers


def col(df: pd.DataFrame, name: str) -> np.ndarray:
    return df[name].to_numpy(dtype=np.float64, na_value=np.nan)


def _mean(x: np.ndarray, what: str = "per-sample value") -> float:
    x = x[~np.isnan(x)]
    if x.size == 0:
        raise MissingData(f"no finite {what}")
    return float(x.mean())


_WHY_NAN = {"rouge_l_recall": "ROUGE (no greedy generations: generate=False?)",
            "rouge_l_f1": "ROUGE (no greedy generations: generate=False?)",
            "gen_correct": "greedy-answer correctness (no greedy generations: generate=False?)",
            "knowledge": "knowledge score (probes without perturbed answers)",
            "correct_choice": "choice accuracy (probes without perturbed answers)"}


def _mean_col(d: pd.DataFrame, name: str) -> float:
    return _mean(col(d, name), _WHY_NAN.get(name, name))


def _lists(df: pd.DataFrame, name: str) -> list[list[float]]:
    return [list(v) if v is not None else [] for v in df[name]]


def _tr(df: pd.DataFrame) -> np.ndarray:
    return T.truth_ratio(_lists(df, "perturbed_logp_mean"), col(df, "para_logp_mean"), col(df, "gold_logp_mean")).values


# ----------------------------------------------------------------------------- TOFU


def _probability(group: str):
    def fn(s: ScoreSet) -> float:
        d = s.rows("target", group, "qa")
        if group == "world":  # TOFU: option-normalised probability on world facts
            return _mean_col(d, "knowledge")
        return T.probability(col(d, "gold_logp_mean"))
    return fn


def _rouge(group: str):
    def fn(s: ScoreSet) -> float:
        return _mean_col(s.rows("target", group, "qa"), "rouge_l_recall")
    return fn


def _truth_ratio(group: str):
    def fn(s: ScoreSet) -> float:
        v = T.truth_ratio_score(_tr(s.rows("target", group, "qa")), forget=group == "forget")
        if math.isnan(v):
            raise MissingData(f"no '{group}' probe has perturbed answers")
        return v
    return fn


def forget_quality(s: ScoreSet) -> float:
    return T.forget_quality(_tr(s.rows("target", "forget", "qa")), _tr(s.rows("oracle", "forget", "qa")))


def model_utility(s: ScoreSet) -> float:
    comps = []
    for g in UTILITY_GROUPS:
        if not s.mask(g, "qa").any():
            continue
        for fn in (_probability(g), _rouge(g), _truth_ratio(g)):
            try:
                comps.append(fn(s))
            except MissingData:
                pass
    if not comps:
        raise MissingData(f"no probes with meta.group in {UTILITY_GROUPS}")
    return T.model_utility(comps)


# ----------------------------------------------------------------------------- knowledge (FROC's k_i)


def _knowledge(group: str, column: str):
    def fn(s: ScoreSet) -> float:
        return _mean_col(s.rows("target", group, "qa"), column)
    return fn


# ----------------------------------------------------------------------------- MUSE and membership


def _verbmem(s: ScoreSet) -> float:
    return MU.verbmem(col(s.rows("target", "forget", "text"), "rouge_l_f1"))


def _knowmem(group: str):
    def fn(s: ScoreSet) -> float:
        return MU.knowmem(col(s.rows("target", group, "qa"), "rouge_l_f1"))
    return fn


_SCORE_COLUMNS = {  # score -> (gold column(s), perturbed column(s))
    "loss": ("gold_logp_mean", "perturbed_logp_mean"),
    "mink": ("mink", "perturbed_mink"),
    "minkpp": ("minkpp", "perturbed_minkpp"),
}


def membership_sets(s: ScoreSet, which: str, score: str) -> tuple[np.ndarray, np.ndarray]:
    """Member scores (forget probes' gold answers) and non-member scores for one model.

    Non-members: the ``nonmember_group`` probes' gold answers when there are any, else the forget
    probes' perturbed answers. Scores are oriented higher = member; NaN scores are dropped.
    """
    f = s.rows(which, "forget")
    h = s.rows(which, s.nonmember_group, required=False)

    def gold(d):
        if score == "zlib":
            return M.zlib_score(col(d, "gold_logp_mean"), col(d, "gold_zlib_len"))
        return col(d, _SCORE_COLUMNS[score][0])

    def perturbed(d):
        if score == "zlib":
            lp, zl = _lists(d, "perturbed_logp_mean"), _lists(d, "perturbed_zlib_len")
            return np.array([a / b for x, y in zip(lp, zl) for a, b in zip(x, y)], dtype=np.float64)
        return np.array([v for vs in _lists(d, _SCORE_COLUMNS[score][1]) for v in vs], dtype=np.float64)

    members = gold(f)
    nonmembers = gold(h) if len(h) else perturbed(f)
    members, nonmembers = members[~np.isnan(members)], nonmembers[~np.isnan(nonmembers)]
    if members.size == 0 or nonmembers.size == 0:
        raise MissingData(f"membership needs forget probes and non-members (meta.group "
                          f"'{s.nonmember_group}' or perturbed answers of forget probes)")
    return members, nonmembers


def _auc(score: str):
    def fn(s: ScoreSet) -> float:
        return M.roc_auc(*membership_sets(s, "target", score))
    return fn


def reference_auc(s: ScoreSet) -> float:
    mt, nt = membership_sets(s, "target", "loss")
    mo, no = membership_sets(s, "oracle", "loss")
    if mt.shape != mo.shape or nt.shape != no.shape:
        raise MissingData("target and oracle scores are not aligned (different NaN samples)")
    return M.roc_auc(M.reference_score(mt, mo), M.reference_score(nt, no))


def privleak(s: ScoreSet) -> float:
    return MU.privleak(M.roc_auc(*membership_sets(s, "target", "mink")),
                       M.roc_auc(*membership_sets(s, "oracle", "mink")))


# ----------------------------------------------------------------------------- extraction


def _extraction(group: str, column: str):
    agg = E.mean_extraction_strength if column == "extraction_strength" else E.mean_exact_memorisation

    def fn(s: ScoreSet) -> float:
        v = agg(col(s.rows("target", group), column))
        if math.isnan(v):
            raise MissingData(f"no finite {column} on '{group}' probes")
        return v
    return fn


# ----------------------------------------------------------------------------- forms


def _form_scores(d: pd.DataFrame) -> np.ndarray:
    """Knowledge score per probe; greedy-answer correctness where a probe has no perturbed answers."""
    k = col(d, "knowledge")
    return np.where(np.isnan(k), col(d, "gen_correct"), k)


def form_per_form(s: ScoreSet) -> dict[str, float]:
    d = s.rows("target", "forget", "qa")
    return F.per_form_means(d["form"].tolist(), _form_scores(d))


def form_spread(s: ScoreSet) -> dict[str, float]:
    d = s.rows("target", "forget", "qa")
    sp = F.form_spread(d["form"].tolist(), _form_scores(d))
    if len(sp.per_form) < 2:
        raise MissingData("form spread needs forget probes in at least two forms")
    return {"range": sp.range, "std": sp.std}


# ----------------------------------------------------------------------------- representation


def _cka(other: str):
    def fn(s: ScoreSet) -> dict[str, float]:
        a, b = s.hidden.get("target") or {}, s.hidden.get(other) or {}
        if not set(a) & set(b):
            raise MissingData(f"no hidden states of both the target and the {other} (pass hidden_layers)")
        rows = np.flatnonzero(s.mask("forget"))
        if rows.size < 2:
            raise MissingData("CKA needs at least two forget probes")
        return {f"layer_{k}": v for k, v in R.cka_per_layer(a, b, rows).items()}
    return fn


# ----------------------------------------------------------------------------- over-forgetting


def _neighbour_acc(column: str):
    def fn(s: ScoreSet) -> float:
        return O.accuracy(col(s.rows("target", "neighbour", "qa"), column))
    return fn


def _neighbour_vs_original(column: str, field_: str):
    def fn(s: ScoreSet) -> float:
        r = O.over_forgetting(col(s.rows("target", "neighbour", "qa"), column),
                              col(s.rows("original", "neighbour", "qa"), column))
        return getattr(r, field_)
    return fn


# ----------------------------------------------------------------------------- the registry


def _entries():
    e: dict[str, MetricSpec] = {}
    for g in ("forget", *UTILITY_GROUPS):
        good = g != "forget"
        e[f"tofu/{g}_probability"] = MetricSpec(
            _probability(g), good, "mean",
            "Mean option-normalised probability P(a)/(P(a)+sum P(a~)) (TOFU, world facts)." if g == "world" else
            f"Mean length-normalised gold-answer probability exp(mean log p) on {g} probes (TOFU).")
        e[f"tofu/{g}_rouge"] = MetricSpec(_rouge(g), good, "mean",
                                          f"Mean ROUGE-L recall of the greedy answer vs the gold answer on {g} probes (TOFU).")
        e[f"tofu/{g}_truth_ratio"] = MetricSpec(
            _truth_ratio(g), True, "mean",
            "Mean min(TR, 1/TR) on forget probes (TOFU; 1 = cannot tell true from false)." if g == "forget" else
            f"Mean max(0, 1 - TR) on {g} probes (TOFU; high = prefers the true answer).")
    e["tofu/forget_quality"] = MetricSpec(
        forget_quality, True, "ks_pvalue",
        "KS two-sample p-value between the target's and the retain oracle's forget-probe truth ratios (TOFU).",
        ("oracle",))
    e["tofu/model_utility"] = MetricSpec(
        model_utility, True, "harmonic_mean",
        "Harmonic mean of {probability, ROUGE, truth-ratio score} over retain, neighbour and world probes (TOFU); "
        "components that cannot be computed are left out.")
    for g in ("forget", *UTILITY_GROUPS):
        good = g != "forget"
        e[f"knowledge/{g}"] = MetricSpec(_knowledge(g, "knowledge"), good, "mean",
                                         f"Mean knowledge score k_i = P(a)/(P(a)+sum P(a~)) on {g} probes (FROC).")
        e[f"knowledge/{g}_choice_acc"] = MetricSpec(
            _knowledge(g, "correct_choice"), good, "mean",
            f"Share of {g} probes whose gold answer out-scores every perturbed answer.")
        e[f"knowledge/{g}_gen_acc"] = MetricSpec(
            _knowledge(g, "gen_correct"), good, "mean",
            f"Share of {g} probes whose greedy answer contains the normalised gold answer.")
    e["muse/verbmem_forget"] = MetricSpec(_verbmem, False, "mean",
                                          "VerbMem: mean ROUGE-L F1 of greedy continuations of forget texts (MUSE).")
    e["muse/knowmem_forget"] = MetricSpec(_knowmem("forget"), False, "mean",
                                          "KnowMem: mean ROUGE-L F1 of greedy answers on forget QA probes (MUSE).")
    e["muse/knowmem_retain"] = MetricSpec(_knowmem("retain"), True, "mean",
                                          "KnowMem: mean ROUGE-L F1 of greedy answers on retain QA probes (MUSE).")
    e["muse/privleak"] = MetricSpec(
        privleak, None, "roc_auc_ratio",
        "PrivLeak = (AUC_target - AUC_oracle)/AUC_oracle*100 with Min-K% membership, forget vs non-members "
        "(MUSE; ideal 0).", ("oracle",))
    for score, name in (("loss", "loss"), ("zlib", "zlib ratio"), ("mink", "Min-K%"), ("minkpp", "Min-K%++")):
        e[f"mia/{score}_auc"] = MetricSpec(
            _auc(score), None, "roc_auc",
            f"ROC-AUC of the {name} membership score, forget vs non-members, on the target (ideal: the oracle's).")
    e["mia/reference_auc"] = MetricSpec(
        reference_auc, None, "roc_auc",
        "ROC-AUC of the reference-model score (target minus oracle mean log-prob), forget vs non-members.",
        ("oracle",))
    for g in ("forget", "retain"):
        good = g != "forget"
        e[f"extraction/{g}_strength"] = MetricSpec(_extraction(g, "extraction_strength"), good, "mean",
                                                   f"Mean extraction strength 1 - k*/|y| on {g} probes.")
        e[f"extraction/{g}_exact_mem"] = MetricSpec(_extraction(g, "exact_mem"), good, "mean",
                                                    f"Mean exact memorisation (share of argmax hits) on {g} probes.")
    e["forms/forget_per_form"] = MetricSpec(
        form_per_form, False, "mean_per_form",
        "Mean forget knowledge score per probe form (greedy correctness where a probe has no options).")
    e["forms/forget_spread"] = MetricSpec(
        form_spread, False, "range_std_over_forms",
        "Spread of the per-form forget scores across forms: max-min and std (form independence).")
    e["repr/cka_original"] = MetricSpec(
        _cka("original"), None, "linear_cka",
        "Linear CKA per layer between the target's and the original's forget-probe representations "
        "(near 1 = representations unchanged).", ("original",))
    e["repr/cka_oracle"] = MetricSpec(
        _cka("oracle"), True, "linear_cka",
        "Linear CKA per layer between the target's and the retain oracle's forget-probe representations.", ("oracle",))
    for column, tag in (("correct_choice", "choice"), ("gen_correct", "gen")):
        e[f"overforget/neighbour_{tag}_acc"] = MetricSpec(_neighbour_acc(column), True, "mean",
                                                          f"Neighbour accuracy ({column}) of the target.")
        e[f"overforget/neighbour_{tag}_drop"] = MetricSpec(
            _neighbour_vs_original(column, "drop"), False, "mean_difference",
            f"Original's minus target's neighbour accuracy ({column}).", ("original",))
        e[f"overforget/neighbour_{tag}_forgotten"] = MetricSpec(
            _neighbour_vs_original(column, "forgotten_rate"), False, "mean",
            f"Share of neighbour probes the original got right ({column}) that the target gets wrong.", ("original",))
    return e


METRICS: Mapping[str, MetricSpec] = MappingProxyType(_entries())


def flatten(name: str, value: float | dict[str, float]) -> dict[str, float]:
    if isinstance(value, dict):
        return {f"{name}/{k}": float(v) for k, v in value.items()}
    return {name: float(value)}


def compute_metrics(scores: ScoreSet, names=None) -> tuple[dict[str, float], list[str]]:
    """Every applicable metric: ``({name: value}, notes)``.

    Metrics whose extra model is missing are skipped (one note each kind); metrics without the data
    they need get NaN and a note saying why.
    """
    from froc.errors import unknown_choice

    names = list(METRICS) if names is None else list(names)
    for n in names:
        if n not in METRICS:
            raise unknown_choice("metric", n, METRICS)
    out: dict[str, float] = {}
    notes: list[str] = []
    skipped: dict[str, list[str]] = {}
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
            notes.append(f"{n}: {e}")
        else:
            notes += [f"{k}: no finite value" for k, v in values.items() if math.isnan(v)]
        out.update(values)
    for m, ns in skipped.items():
        notes.append(f"skipped (need the {m} model): {', '.join(ns)}")
    return out, notes


def data_notes(scores: ScoreSet) -> list[str]:
    """Facts about the probes that change how metrics read (truth-ratio fallbacks, non-member source)."""
    t = scores.target
    notes = []
    qa = t[t["kind"] == "qa"]
    has_pert = np.array([len(v) > 0 for v in _lists(qa, "perturbed_logp_mean")], dtype=bool)
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
