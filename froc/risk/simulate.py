"""Validity simulations of the certificate (used by tests/risk and benchmarks/validity_table.py).

Synthetic grids with KNOWN true risks go through the real entry points
(:func:`froc.risk.certify_grid`, :func:`froc.risk.recertify_on_test`, :func:`froc.risk.ucb`)
many times. A violation is counted when the guarantee's event fails:

- ``fwer``: some certified configuration has true forget risk >= alpha_f or true utility
  risk >= alpha_u (risks AT alpha count as nulls: the p-values are valid on the closed
  null, and this is where false certification is most likely);
- ``best_f`` / ``best_u``: the recommended configuration's true risk exceeds its
  selection-valid bound (``best_bound`` / ``best_bound_utility``), among repetitions with a
  recommendation;
- ``attack``: some re-certified attacked configuration has true attacked risk >= alpha_f.

Each rate must be <= delta + 3 SE, SE = sqrt(delta (1 - delta) / reps). The scenario puts
three nulls exactly at alpha and three just above, after four clearly good configurations,
so Holm and fixed-sequence spend most of their level on boundary nulls: with the exact
binomial test a loss of level by 1.5x or more (Holm at 3 delta, p-values / 3) is detected
at >= 1000 repetitions. Conservative tests (Hoeffding, WSR) sit far below delta and cannot
reveal such a loss; that is a property of those tests, not of the check.

Loss types: ``binary`` (Bernoulli), ``continuous`` (Beta), ``unified`` (FROC unified-style:
a point mass at 0 for units scored 0, a point mass at 1 for clipped scores, a Beta bulk).
Sampling units: ``probe`` (i.i.d. probes) and ``cluster`` (subjects of 4 correlated probes
with subject-level risk ~ Beta; certified on cluster means, n = clusters).
"""

from __future__ import annotations

import numpy as np

from froc.risk.bounds import ucb
from froc.risk.fwer import FWER
from froc.risk.grid import certify_grid
from froc.risk.pvalues import PVALUES
from froc.risk.recertify import recertify_on_test
from froc.risk.units import cluster_means

ALPHA, DELTA = 0.1, 0.1
TRUE_F = np.array([0.02, 0.03, 0.04, 0.05, 0.05, 0.10, 0.10, 0.11, 0.12, 0.15])
TRUE_U = np.array([0.02, 0.02, 0.03, 0.03, 0.10, 0.02, 0.03, 0.02, 0.02, 0.02])
TRUE_ATTACK = np.array([0.03, 0.10, 0.10, 0.11, 0.06, 0.20, 0.20, 0.20, 0.20, 0.20])  # attacked forget risk >= TRUE_F
SIZES = {"probe": {"tune": 100, "cal": 300, "test": 300}, "cluster": {"tune": 30, "cal": 120, "test": 120}}
PROBES_PER_CLUSTER, CLUSTER_CONC, BETA_CONC, ZERO_MASS = 4, 4.0, 4.0, 0.2
PVALUE_NAMES = ("hoeffding", "bentkus", "hb", "wsr")
FWER_NAMES = ("bonferroni", "holm", "fixed_sequence", "graph", "pareto")
UNITS = ("probe", "cluster")
LOSSES = ("binary", "continuous", "unified")


def limit(delta: float, reps: int) -> float:
    """delta + 3 standard errors of a rate estimated from ``reps`` repetitions."""
    return delta + 3.0 * np.sqrt(delta * (1 - delta) / max(reps, 1))


def losses_with_mean(rng, m: np.ndarray, loss: str) -> np.ndarray:
    """Per-probe losses in [0, 1] with E[loss] = m (elementwise; ``unified`` exact for m <= 0.8)."""
    if loss == "binary":
        return (rng.random(m.shape) < m).astype(float)
    mc = np.clip(m, 1e-6, 1 - 1e-6)
    if loss == "continuous":
        return rng.beta(mc * BETA_CONC, (1 - mc) * BETA_CONC)
    if loss == "unified":  # 0 w.p. z; else 1 w.p. t, else Beta with mean mb: mean = (1-z)(t + (1-t) mb) = m
        s = np.clip(m / (1 - ZERO_MASS), 1e-6, 1 - 1e-6)
        t = s / 3
        mb = np.clip((s - t) / (1 - t), 1e-6, 1 - 1e-6)
        bulk = rng.beta(mb * BETA_CONC, (1 - mb) * BETA_CONC)
        u = rng.random(m.shape)
        v = rng.random(m.shape)
        return np.where(u < ZERO_MASS, 0.0, np.where(v < t, 1.0, bulk))
    raise ValueError(f"unknown loss type {loss!r}; valid: {', '.join(LOSSES)}")


def sample(rng, true: np.ndarray, split: str, loss: str, unit: str, reps: int):
    """(reps, K, n_probes) losses with population risk ``true`` per configuration, and cluster labels
    (n_probes,) or None. Cluster unit: subject risk r_c ~ Beta(true c, (1 - true) c), probes of a
    subject have mean r_c (correlated), so the population risk is still ``true``."""
    k = len(true)
    n = SIZES[unit][split]
    t = np.asarray(true, dtype=float)[None, :, None]
    if unit == "probe":
        return losses_with_mean(rng, np.broadcast_to(t, (reps, k, n)), loss), None
    r = rng.beta(t * CLUSTER_CONC, (1 - t) * CLUSTER_CONC, size=(reps, k, n))
    m = np.repeat(r, PROBES_PER_CLUSTER, axis=2)
    return losses_with_mean(rng, m, loss), np.repeat(np.arange(n), PROBES_PER_CLUSTER)


def _attacked(rng, base: np.ndarray) -> np.ndarray:
    """Attack: each probe's loss becomes 1 with probability e_k, so E = e + (1 - e) f = TRUE_ATTACK."""
    e = ((TRUE_ATTACK - TRUE_F) / (1 - TRUE_F))[None, :, None]
    return np.where(rng.random(base.shape) < e, 1.0, base)


def simulate(pvalue: str, fwer: str, unit: str, loss: str, reps: int, seed: int = 0, *, chunk: int = 100,
             p_scale: float = 1.0, delta_scale: float = 1.0, attack: bool = True) -> dict:
    """Violation rates of one combination (see the module docstring).

    ``p_scale`` / ``delta_scale`` inject deliberate bugs (p-values multiplied by p_scale,
    the FWER procedure run at delta * delta_scale) to show the check can detect them.

    Returns:
        dict: reps, fwer, certified (mean size), best_f, best_u, n_best, attack, limit, ok.
    """
    rng = np.random.default_rng(seed)
    null = (TRUE_F >= ALPHA) | (TRUE_U >= ALPHA)
    binary = loss == "binary"
    pf_orig = PVALUES[pvalue]
    scaled = (lambda x, a, *, binary=None: np.minimum(1.0, p_scale * pf_orig(x, a, binary=binary))) if p_scale != 1 else pvalue
    proc = FWER[fwer]
    fw = (lambda p, d, *, order=None: proc(p, min(d * delta_scale, 0.999), order=order)) if delta_scale != 1 else fwer
    if delta_scale != 1 and fwer in ("fixed_sequence", "graph", "pareto"):
        raise ValueError("delta_scale is meant for order-free procedures")
    v = {"fwer": 0, "certified": 0, "best_f": 0, "best_u": 0, "n_best": 0, "attack": 0}
    done = 0
    while done < reps:
        r = min(chunk, reps - done)
        F, U, labels = {}, {}, None
        for s in ("tune", "cal", "test"):
            F[s], labels = sample(rng, TRUE_F, s, loss, unit, r)
            U[s], _ = sample(rng, TRUE_U, s, loss, unit, r)
        att = _attacked(rng, F["test"]) if attack else None
        lab = None if labels is None else {s: np.repeat(np.arange(SIZES[unit][s]), PROBES_PER_CLUSTER)
                                           for s in ("tune", "cal", "test")}
        for i in range(r):
            c = certify_grid({s: F[s][i] for s in F}, {s: U[s][i] for s in U}, ALPHA, ALPHA, DELTA, pvalue=scaled,
                             fwer=fw if fw is not fwer else fwer, binary_forget=binary, binary_utility=binary,
                             clusters=None if lab is None else {"forget": lab, "utility": lab}, bounds=False)
            v["fwer"] += bool((c.certified & null).any())
            v["certified"] += int(c.certified.sum())
            if c.best is not None:
                v["n_best"] += 1
                v["best_f"] += TRUE_F[c.best] > c.best_bound
                v["best_u"] += TRUE_U[c.best] > c.best_bound_utility
            cert = np.flatnonzero(c.certified)
            if attack and cert.size:
                a = att[i][cert]
                if lab is not None:
                    a = cluster_means(a, lab["test"])[0]
                rc = recertify_on_test(a, ALPHA, DELTA, pvalue=scaled, fwer="holm",
                                       binary=binary and lab is None, bounds=False)
                v["attack"] += bool((rc.certified & (TRUE_ATTACK[cert] >= ALPHA)).any())
        done += r
    out = {"reps": reps, "fwer": v["fwer"] / reps, "certified": v["certified"] / reps,
           "best_f": v["best_f"] / max(v["n_best"], 1), "best_u": v["best_u"] / max(v["n_best"], 1),
           "n_best": v["n_best"], "attack": v["attack"] / reps if attack else None, "limit": limit(DELTA, reps)}
    best_lim = limit(DELTA, v["n_best"])
    out["ok"] = bool(out["fwer"] <= out["limit"] and out["best_f"] <= best_lim and out["best_u"] <= best_lim
                     and (not attack or out["attack"] <= out["limit"]))
    return out


def cur_coverage(pvalue: str, loss: str, reps: int, seed: int = 0, risk: float = ALPHA, n: int = 300) -> float:
    """Pointwise CUR coverage of a configuration fixed in advance: P(true risk > CUR), must be <= delta."""
    rng = np.random.default_rng(seed)
    x = losses_with_mean(rng, np.full((reps, n), risk), loss)
    return float(np.mean(risk > ucb(x, DELTA, pvalue, binary=loss == "binary")))


def selected_coverage(pvalue: str, reps: int, seed: int = 0, k: int = 20, risk: float = 0.05, n: int = 300) -> dict:
    """The recommended (lowest cal risk) configuration of a forget-only grid of ``k`` equal risks.

    Returns ``naive`` = P(true risk > its pointwise cal CUR) (selection bias: must FAIL) and
    ``best_bound`` = P(true risk > certify_grid's best_bound on test) (must hold)."""
    rng = np.random.default_rng(seed)
    naive = held = nb = 0
    for _ in range(reps):
        F = {s: (rng.random((k, n)) < risk).astype(float) for s in ("cal", "test")}
        c = certify_grid(F, None, ALPHA, None, DELTA, pvalue=pvalue, binary_forget=True, bounds=False)
        if c.best is None:
            continue
        nb += 1
        naive += risk > ucb(F["cal"][c.best], DELTA, pvalue, binary=True)
        held += risk > c.best_bound
    return {"naive": naive / max(nb, 1), "best_bound": held / max(nb, 1), "n": nb}


def negative_clt(reps: int, seed: int = 0) -> float:
    """Negative control: CLT p-values, no multiplicity correction (reject every p <= delta). Must FAIL."""
    rng = np.random.default_rng(seed)
    null = (TRUE_F >= ALPHA) | (TRUE_U >= ALPHA)
    f, _ = sample(rng, TRUE_F, "cal", "binary", "probe", reps)
    u, _ = sample(rng, TRUE_U, "cal", "binary", "probe", reps)
    k, n = len(TRUE_F), f.shape[2]
    p = np.maximum(PVALUES["clt"](f.reshape(-1, n), ALPHA), PVALUES["clt"](u.reshape(-1, n), ALPHA)).reshape(reps, k)
    return float(np.mean(((p <= DELTA) & null).any(axis=1)))


def negative_probe_level(reps: int, seed: int = 0, n_clusters: int = 8, probes: int = 25, risk: float = 0.3) -> dict:
    """Negative control (issue 12's setup): 25 correlated probes per subject, 8 subjects in cal.
    ``probe_level`` (probes as independent samples) must FAIL; ``cluster_level`` must hold."""
    rng = np.random.default_rng(seed)
    r = rng.beta(risk, 1 - risk, size=(reps, n_clusters, 1))
    x = (rng.random((reps, n_clusters, probes)) < r).astype(float).reshape(reps, -1)
    probe = ucb(x, DELTA, "hb", binary=True)
    clus = ucb(cluster_means(x, np.repeat(np.arange(n_clusters), probes))[0], DELTA, "hb")
    return {"probe_level": float(np.mean(risk > probe)), "cluster_level": float(np.mean(risk > clus))}
