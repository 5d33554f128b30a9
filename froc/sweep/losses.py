"""Stored per-sample scores -> per-unit loss matrices (tune / cal / test) for ``froc.risk``.

This module only pivots the store's score table and applies the loss builders of
:mod:`froc.risk.losses`; every statistical step (p-values, FWER, bounds) happens in ``froc.risk``.

Loss definitions (``SweepConfig.losses``; each in [0, 1], per probe):
- forget, ``binary`` (default): :func:`froc.risk.forget_loss_binary` ``1[k_i > tau_i]`` with ``k_i`` the
  knowledge score P(a)/(P(a)+sum P(a~)) stored by the scorer, and ``tau_forget`` one of ``oracle_qQ``
  (per probe form, the Q-quantile of the retain oracle's k on the *tune* forget probes), ``chance``
  (1/(1+#perturbed)) or a number. Probes without perturbed answers use greedy-answer correctness.
- forget, ``unified``: the FROC unified continuous score (:func:`froc.risk.froc_unified_losses`), its
  normalisers fitted on the tune split; a single risk (the utility constraint is inside the score).
- utility, ``binary`` (default): :func:`froc.risk.utility_loss_binary`, ``1[the original knew the probe
  and the configuration no longer does]``; ``continuous``: :func:`froc.risk.utility_loss_continuous`
  on mean answer log-probs with bound ``utility_bound``.

Sampling unit (``splits.by``): ``probe`` (each probe one sample) or ``subject`` (whole subjects were
assigned to a split, so the sample is the subject: one loss per subject, the mean of its probes'
losses, via :func:`froc.risk.cluster_means`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from froc.errors import ConfigError
from froc.risk import (
    chance_level,
    cluster_means,
    fit_unified_normalisers,
    forget_loss_binary,
    froc_unified_losses,
    utility_loss_binary,
    utility_loss_continuous,
)
from froc.sweep.config import _TAU, SweepConfig

SPLITS = ("tune", "cal", "test")
ORIGINAL, ORACLE = "__original__", "__oracle__"  # store ids of the reference models
REFERENCES = {"original": ORIGINAL, "oracle": ORACLE}


def pivot(scores: pd.DataFrame, col: str, ids: list[str], probes: list[str]) -> np.ndarray:
    """(K, N) matrix of ``col`` for configurations ``ids`` over probes ``probes`` (NaN where absent)."""
    if scores.empty or col not in scores:
        return np.full((len(ids), len(probes)), np.nan)
    p = scores.pivot_table(index="config_id", columns="probe_id", values=col, aggfunc="first", dropna=False)
    return p.reindex(index=ids, columns=probes).to_numpy(dtype=np.float64, na_value=np.nan)


def loss_types(cfg: SweepConfig) -> tuple[bool, bool]:
    """(forget, utility): whether the statistics may treat the losses as 0/1 (exact binomial test). Only binary
    losses in the probe unit are: cluster means of 0/1 losses are not 0/1, and the unified score is continuous."""
    probe = cfg.splits.by == "probe"
    return (probe and cfg.losses.forget == "binary", probe and cfg.losses.forget != "unified"
            and cfg.losses.utility == "binary")


def _separating(known: np.ndarray, never: np.ndarray) -> float:
    """The threshold maximising ``mean(known > t) - mean(never > t)`` (Youden's J), the middle of the interval
    of thresholds that reach the maximum. ``known``: scores of a model that knows the items; ``never``: of one
    that never learnt them."""
    a, b = known[np.isfinite(known)], never[np.isfinite(never)]
    cand = np.unique(np.concatenate([a, b, [0.0, 1.0]]))
    gap = np.array([(a > c).mean() - (b > c).mean() for c in cand])
    best = np.flatnonzero(gap == gap.max())
    lo, hi = cand[best[0]], cand[min(best[-1] + 1, len(cand) - 1)]
    return float((lo + hi) / 2)


def _known(scores: pd.DataFrame, ids: list[str], probes: list[str]) -> np.ndarray:
    """(K, N) 0/1 "answers correctly": the multiple-choice pick where the probe has options, else the
    greedy answer's correctness (NaN where neither was scored)."""
    cc = pivot(scores, "correct_choice", ids, probes)
    gc = pivot(scores, "gen_correct", ids, probes)
    return np.where(np.isnan(cc), gc, cc)


class LossBuilder:
    """Turns a store's scores into forget / utility loss matrices per split, in the sampling unit."""

    def __init__(self, scores: pd.DataFrame, cfg: SweepConfig):
        self.cfg = cfg
        orig = scores[scores["config_id"] == ORIGINAL].sort_values("probe_id")
        if orig.empty:
            raise ConfigError("the store has no scores of the original model")
        self.scores = scores
        self.probes = orig["probe_id"].tolist()
        self.side = orig["side"].to_numpy()
        self.split = orig["split"].to_numpy()
        self.form = orig["form"].astype(str).to_numpy()
        self.group = orig["grp"].astype(str).to_numpy()
        self.subject = orig["subject"].astype(str).to_numpy() if "subject" in orig else np.array(self.probes)
        n_pert = orig["n_perturbed"].to_numpy(dtype=float) if "n_perturbed" in orig else np.full(len(orig), 3.0)
        self.chance = chance_level(np.where(np.isnan(n_pert), 3.0, n_pert))
        self.orig_known = _known(scores, [ORIGINAL], self.probes)[0]
        self.orig_logp = orig["gold_logp_mean"].to_numpy(dtype=float)
        self.unit = "probe" if cfg.splits.by == "probe" else cfg.splits.by
        self.notes: list[str] = []
        self.tau_fallback = False
        self.tau, self.tau_used = self._tau()
        self.has_utility = bool((self.side == "utility").any())
        for side in ("forget", "utility"):
            if side == "utility" and not self.has_utility and cfg.budget.alpha_utility is None:
                continue  # a forget-only certificate (alpha_utility: null) needs no utility probes
            if not self.mask(side, "cal").any():
                raise ConfigError(f"no {side} probe landed in the calibration split; add {side} probes or raise "
                                  "splits.cal")

    # ------------------------------------------------------------------ masks and thresholds

    def mask(self, side: str, split: str | tuple[str, ...]) -> np.ndarray:
        splits = (split,) if isinstance(split, str) else split
        return (self.side == side) & np.isin(self.split, splits)

    def _tau(self) -> tuple[np.ndarray, str]:
        """Per-probe forget threshold and a text saying what was actually used."""
        t = self.cfg.losses.tau_forget
        if isinstance(t, (int, float)):
            return np.full(len(self.probes), float(t)), f"{float(t):g} (fixed)"
        if t == "chance":
            return self.chance.copy(), "chance level 1/(1+#wrong answers) of each probe"
        if t == "separate":
            return self._tau_separate()
        m = _TAU.fullmatch(str(t))
        if not m:
            raise ConfigError(f"losses.tau_forget must be 'chance', 'oracle_qQ' (e.g. oracle_q0.9) or a number, got {t!r}")
        q = float(m.group(1))
        oracle = self.scores[self.scores["config_id"] == ORACLE]
        if oracle.empty:
            self.notes.append(f"tau_forget: '{t}' needs a retain oracle and the sweep has none, so the chance level "
                              "1/(1+#wrong answers) of each probe was used instead")
            self.tau_fallback = True
            return self.chance.copy(), "chance level (fallback: no retain oracle)"
        k = pivot(oracle, "knowledge", [ORACLE], self.probes)[0]
        tune = self.mask("forget", "tune") & np.isfinite(k)
        if not tune.any():
            self.notes.append(f"tau_forget: '{t}' needs oracle scores on tune forget probes and there are none, so "
                              "the chance level was used instead")
            self.tau_fallback = True
            return self.chance.copy(), "chance level (fallback: no tune forget probes)"
        tau = self.chance.copy()
        overall = float(np.quantile(k[tune], q))
        per_form = []
        for f in np.unique(self.form):
            sel = tune & (self.form == f)
            v = float(np.quantile(k[sel], q)) if sel.sum() >= 10 else overall
            tau[self.form == f] = v
            per_form.append(f"{f} {v:.3f}")
        return tau, f"per form, the {q:g}-quantile of the retain oracle's knowledge score on tune forget probes " \
                    f"({', '.join(per_form)})"

    def _tau_separate(self) -> tuple[np.ndarray, str]:
        """Per probe form, fitted on the TUNE forget probes: the knowledge-score threshold that best separates the
        original model ("still knows") from the retain oracle ("never learnt"): it maximises (share of the form's
        tune probes the original scores above tau) - (share the oracle scores above tau), Youden's J of the two
        tune distributions. Among thresholds with the same J it takes the middle of their interval (the widest
        margin on both sides). Forms with fewer than 10 tune probes use the threshold fitted on all of them.
        Never looks at the calibration or test split."""
        oracle = self.scores[self.scores["config_id"] == ORACLE]
        tune = self.mask("forget", "tune")
        if oracle.empty or not tune.any():
            self.tau_fallback = True
            why = "no retain oracle" if oracle.empty else "no tune forget probes"
            self.notes.append(f"tau_forget: 'separate' needs the retain oracle's and the original's scores on tune "
                              f"forget probes ({why}), so the chance level 1/(1+#wrong answers) was used instead")
            return self.chance.copy(), f"chance level (fallback: {why})"
        k_or = pivot(oracle, "knowledge", [ORACLE], self.probes)[0]
        k_og = pivot(self.scores, "knowledge", [ORIGINAL], self.probes)[0]
        overall = _separating(k_og[tune], k_or[tune])
        tau = self.chance.copy()
        parts = []
        for f in np.unique(self.form[self.side == "forget"]):
            sel = tune & (self.form == f)
            v = _separating(k_og[sel], k_or[sel]) if sel.sum() >= 10 else overall
            tau[self.form == f] = v
            parts.append(f"{f} {v:.3f}")
        return tau, ("per form, the knowledge score that best separates the original from the retain oracle on "
                     f"the tune forget probes ({', '.join(parts)})")

    # ------------------------------------------------------------------ per-probe losses

    def forget_probe_losses(self, ids: list[str], table: pd.DataFrame | None = None) -> np.ndarray:
        """(K, N) binary forget losses over all probes (NaN for absent / diverged)."""
        tab = self.scores if table is None else table
        k = pivot(tab, "knowledge", ids, self.probes)
        gen = pivot(tab, "gen_correct", ids, self.probes)
        loss = forget_loss_binary(np.nan_to_num(k), self.tau[None, :])
        loss = np.where(np.isnan(k), gen, loss)  # free-form probes: the greedy answer is still right
        return loss

    def utility_probe_losses(self, ids: list[str]) -> np.ndarray:
        """(K, N) utility losses over all probes (NaN for absent / diverged)."""
        if self.cfg.losses.utility == "continuous":
            lp = pivot(self.scores, "gold_logp_mean", ids, self.probes)
            out = utility_loss_continuous(self.orig_logp[None, :], np.nan_to_num(lp, nan=-np.inf),
                                          self.cfg.losses.utility_bound)
            return np.where(np.isnan(lp), np.nan, out)
        known = _known(self.scores, ids, self.probes)
        orig = np.nan_to_num(self.orig_known)[None, :].repeat(len(ids), 0)
        out = utility_loss_binary(orig, np.nan_to_num(known))
        return np.where(np.isnan(known), np.nan, out)

    # ------------------------------------------------------------------ per-unit matrices

    def units(self, losses: np.ndarray, side: str, split: str) -> np.ndarray:
        """(K, n) losses of ``side``/``split`` in the sampling unit (probe or cluster mean)."""
        sel = self.mask(side, split)
        x = losses[:, sel]
        if self.unit == "probe":
            return x
        keys = self.subject[sel]
        return cluster_means(x, keys)[0]

    def n_units(self, side: str, split: str) -> int:
        sel = self.mask(side, split)
        return int(sel.sum()) if self.unit == "probe" else len(np.unique(self.subject[sel]))

    def split_dict(self, losses: np.ndarray, side: str) -> dict[str, np.ndarray]:
        return {s: self.units(losses, side, s) for s in SPLITS}

    def binary(self) -> tuple[bool, bool]:
        """Loss types as the statistics must treat them (see :func:`loss_types`)."""
        return loss_types(self.cfg)

    def unified(self, ids: list[str], norm=None):
        """FROC unified per-unit losses per split, and the normalisers (fitted on tune when None).

        Accuracy of a probe is its multiple-choice pick where it has options and its greedy answer's
        correctness otherwise (free-form probes count, they are not 0)."""
        nll = -pivot(self.scores, "gold_logp_mean", ids, self.probes)
        acc = np.nan_to_num(_known(self.scores, ids, self.probes))

        def parts(sp):
            f, u = self.mask("forget", sp), self.mask("utility", sp)
            return nll[:, f], acc[:, f], nll[:, u], acc[:, u]

        if norm is None:
            ok = np.isfinite(nll).all(axis=1)
            if not ok.any():
                raise ConfigError("no configuration has finite scores on the tune split")
            lf, af, lu, au = parts("tune")
            norm = fit_unified_normalisers(lf[ok], af[ok], lu[ok], au[ok], seed=self.cfg.seed)
        out = {}
        for sp in SPLITS:
            lf, af, lu, au = parts(sp)
            m = np.full((len(ids), min(lf.shape[1], lu.shape[1])), np.nan)
            for i in range(len(ids)):
                if np.isfinite(lf[i]).all() and np.isfinite(lu[i]).all() and m.shape[1]:
                    m[i] = froc_unified_losses(lf[i], af[i], lu[i], au[i], norm, seed=self.cfg.seed)
            out[sp] = m
        return out, norm
