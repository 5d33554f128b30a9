"""Form independence (seed: "LLM Unlearning Should Be Form-Independent").

The same forgotten fact is probed in several forms (qa, paraphrase, cloze, mcq, yesno, reverse).
An unlearning method that only removed one surface form leaves the others high. We report the
forget score per form and its spread across forms (max - min, and the population std).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from froc.metrics.spec import MetricSpec, MissingData, ScoreSet, col


@dataclass(frozen=True)
class FormSpread:
    per_form: dict[str, float]  # form -> mean score (forms with no finite score left out)
    range: float  # max - min over forms (NaN with no form)
    std: float  # population std (ddof=0) over forms

    def as_dict(self) -> dict[str, float]:
        return {**{f"form/{k}": v for k, v in self.per_form.items()}, "range": self.range, "std": self.std}


def per_form_means(forms: Sequence[str], scores: np.ndarray) -> dict[str, float]:
    """Mean score per form (NaN scores skipped; forms without a finite score left out), sorted by form."""
    s = np.asarray(scores, dtype=np.float64)
    f = np.asarray(list(forms), dtype=object)
    if f.shape != s.shape:
        raise ValueError(f"{f.size} forms but {s.size} scores")
    out = {}
    for form in sorted(set(f.tolist()), key=str):
        v = s[(f == form) & ~np.isnan(s)]
        if v.size:
            out[str(form)] = float(v.mean())
    return out


def form_spread(forms: Sequence[str], scores: np.ndarray) -> FormSpread:
    """Per-form means and their spread (max-min, std with ddof=0); one form gives spread 0."""
    per = per_form_means(forms, scores)
    v = np.array(list(per.values()), dtype=np.float64)
    if v.size == 0:
        return FormSpread(per, float("nan"), float("nan"))
    return FormSpread(per, float(v.max() - v.min()), float(v.std()))


# ----------------------------------------------------------------------------- the reported metrics


def _form_scores(d: pd.DataFrame) -> np.ndarray:
    """Knowledge score per probe; greedy-answer correctness where a probe has no perturbed answers."""
    k = col(d, "knowledge")
    return np.where(np.isnan(k), col(d, "gen_correct"), k)


def forget_per_form(s: ScoreSet) -> dict[str, float]:
    """Mean forget score per probe form (``{form: mean}``)."""
    d = s.rows("target", "forget", "qa")
    return per_form_means(d["form"].tolist(), _form_scores(d))


def forget_spread(s: ScoreSet) -> dict[str, float]:
    """Spread of the per-form forget scores: ``{"range": max - min, "std": population std}``."""
    d = s.rows("target", "forget", "qa")
    sp = form_spread(d["form"].tolist(), _form_scores(d))
    if len(sp.per_form) < 2:
        raise MissingData("form spread needs forget probes in at least two forms")
    return {"range": sp.range, "std": sp.std}


METRICS = (
    MetricSpec("forms/forget_per_form", forget_per_form, False, "mean_per_form",
               "Mean forget knowledge score per probe form (greedy correctness where a probe has no options).",
               keys=("<form>",)),
    MetricSpec("forms/forget_spread", forget_spread, False, "range_std_over_forms",
               "Spread of the per-form forget scores across forms: max-min and std (form independence).",
               keys=("range", "std")),
)
