"""Per-sample loss builders in [0, 1] (pure numpy), as specified in docs/spec risk.md.

Inputs are per-probe arrays produced by froc's scoring pass; outputs are the per-sample
losses fed to :class:`froc.risk.RiskController`. Shapes are written ``(..., N)``: any
leading axes (typically K configurations) are carried through. Every choice marked
"(ours)" is a parameter with a default, as FROC (arXiv 2512.13337) only fixes the
overall design.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp


# --------------------------------------------------------------------------- knowledge and binary losses


def knowledge_score(logp_gold_mean, logp_perturbed_mean) -> np.ndarray:
    """Knowledge score ``k = P(a) / (P(a) + sum_j P(a_j~))`` of each probe (TOFU's truth ratio style).

    ``P = exp(mean token log-prob)`` is the length-normalised answer probability. Computed
    stably as ``exp(g - logsumexp([g, p_1, ..., p_J]))``, so very negative log-probs do
    not underflow to 0/0.

    Args:
        logp_gold_mean: (...,) mean log-prob of the gold answer.
        logp_perturbed_mean: (..., J) mean log-probs of J perturbed (wrong) answers; pad
            probes with fewer perturbed answers with ``-inf`` (contributes P = 0).

    Returns:
        (...,) scores in [0, 1]; the chance level with J equally likely answers is 1/(1+J).
    """
    g = np.asarray(logp_gold_mean, dtype=float)
    pp = np.asarray(logp_perturbed_mean, dtype=float)
    if pp.ndim == 0 or pp.shape[:-1] != g.shape:
        raise ValueError(
            f"logp_perturbed_mean must have shape {g.shape + ('J',)} (gold shape + number of perturbed answers), got {pp.shape}"
        )
    if np.isnan(g).any() or np.isnan(pp).any():
        raise ValueError("log-probs must not be NaN (pad missing perturbed answers with -inf)")
    allv = np.concatenate([g[..., None], pp], axis=-1)
    return np.exp(g - logsumexp(allv, axis=-1))


def chance_level(n_perturbed) -> np.ndarray | float:
    """Chance level ``1 / (1 + n_perturbed)`` of the knowledge score (default forget threshold)."""
    n = np.asarray(n_perturbed, dtype=float)
    if (n < 0).any():
        raise ValueError(f"n_perturbed must be >= 0, got {n_perturbed!r}")
    out = 1.0 / (1.0 + n)
    return float(out) if out.ndim == 0 else out


def forget_loss_binary(k, tau=None, *, n_perturbed=None) -> np.ndarray:
    """Binary forget loss ``1[k > tau]``: the forgotten item is still known.

    Its mean is "the probability that a forgotten item is still known", so its UCB is CUR.

    Args:
        k: (..., N) knowledge scores.
        tau: threshold(s), broadcastable to ``k``. Default (None): the chance level
            ``1/(1 + n_perturbed)`` of each probe (spec default); pass the retain-oracle's
            score of each probe instead when an oracle model exists.
        n_perturbed: number(s) of perturbed answers, used only when ``tau`` is None.

    Returns:
        float array of 0/1 losses, shape of ``k``.
    """
    if tau is None:
        if n_perturbed is None:
            raise ValueError("give tau, or n_perturbed to use the chance level 1/(1+n_perturbed)")
        tau = chance_level(n_perturbed)
    k = np.asarray(k, dtype=float)
    return (k > np.asarray(tau, dtype=float)).astype(float)


def utility_loss_binary(known_orig, known_new, *, tau=None) -> np.ndarray:
    """Binary utility loss ``1[original model knew j and the unlearned model no longer does]``.

    Args:
        known_orig: (..., N) whether the original model knew each utility probe
            (booleans / 0-1), or knowledge scores if ``tau`` is given.
        known_new: same for the unlearned model.
        tau: optional threshold turning scores into "known" (``score > tau``);
            default None (inputs are already booleans).

    Returns:
        float array of 0/1 losses. Items the original model did not know never count.
    """
    a = np.asarray(known_orig)
    b = np.asarray(known_new)
    if tau is not None:
        a = np.asarray(a, dtype=float) > tau
        b = np.asarray(b, dtype=float) > tau
    else:
        for name, x in (("known_orig", a), ("known_new", b)):
            if x.dtype != bool and not np.isin(x, (0, 1)).all():
                raise ValueError(f"{name} must be boolean/0-1 (or pass tau to threshold scores)")
        a, b = a.astype(bool), b.astype(bool)
    return (a & ~b).astype(float)


def utility_loss_continuous(logp_orig, logp_new, B: float = 1.0) -> np.ndarray:
    """Continuous utility loss ``clip((logP_orig - logP_new) / B, 0, 1)``.

    Args:
        logp_orig: (..., N) length-normalised log-prob of the gold answer, original model.
        logp_new: same for the unlearned model.
        B: the drop (in nats of mean per-token log-prob) that counts as a full loss;
            default 1.0 (ours: the answer became e times less likely per token).

    Returns:
        losses in [0, 1]; improvements count as 0.
    """
    if not B > 0:
        raise ValueError(f"B must be positive, got {B}")
    d = (np.asarray(logp_orig, dtype=float) - np.asarray(logp_new, dtype=float)) / B
    return np.clip(d, 0.0, 1.0)


# --------------------------------------------------------------------------- FROC unified continuous score


@dataclass(frozen=True)
class UnifiedNormalisers:
    """Constants of the FROC unified score, fitted on the ``tune`` split (never on ``*_cal``).

    Attributes:
        max_acc_f: max over the grid of the mean forget accuracy (Acc_F).
        max_acc_r: max over the grid of the mean retain/utility accuracy (Acc_R).
        min_loss_r: min over the grid of the mean retain/utility loss (Loss_R, NLL).
        alpha_hat: target forgetting shift in ``softplus(alpha_hat - s)``.
        cap: the cap B; per-unit scores are divided by it and clipped to [0, 1].
        w_f: weight of the forgetting term (default 1.0).
        w_u: weight of the utility term (default 1.0).
    """

    max_acc_f: float
    max_acc_r: float
    min_loss_r: float
    alpha_hat: float
    cap: float
    w_f: float = 1.0
    w_u: float = 1.0

    def __post_init__(self):
        for name in ("max_acc_f", "max_acc_r", "min_loss_r", "alpha_hat", "cap", "w_f", "w_u"):
            if not np.isfinite(getattr(self, name)):
                raise ValueError(f"UnifiedNormalisers.{name} must be finite")
        if self.min_loss_r <= 0 or self.cap <= 0 or self.w_f < 0 or self.w_u < 0:
            raise ValueError("min_loss_r and cap must be positive; w_f and w_u non-negative")


def pair_units(n_forget: int, n_utility: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random one-to-one pairing of forget and utility probes into calibration units (ours).

    Both splits are shuffled with ``seed`` and the first ``min(n_forget, n_utility)`` of
    each are paired; the surplus of the larger split is not used. The pairing is the
    same for every configuration, so unit i means the same two probes across the grid.

    Returns:
        (forget indices, utility indices), each of length ``min(n_forget, n_utility)``.
    """
    rng = np.random.default_rng(seed)
    m = min(int(n_forget), int(n_utility))
    return rng.permutation(int(n_forget))[:m], rng.permutation(int(n_utility))[:m]


def _check_pair(loss, acc, name: str) -> tuple[np.ndarray, np.ndarray]:
    loss = np.asarray(loss, dtype=float)
    acc = np.asarray(acc, dtype=float)
    if loss.shape != acc.shape or loss.ndim == 0:
        raise ValueError(f"loss_{name} and acc_{name} must have the same shape (..., N), got {loss.shape} and {acc.shape}")
    if (loss < 0).any():
        raise ValueError(f"loss_{name} are per-sample NLLs and must be >= 0")
    if (acc < 0).any() or (acc > 1).any():
        raise ValueError(f"acc_{name} must lie in [0, 1]")
    return loss, acc


def unified_components(
    loss_forget, acc_forget, loss_utility, acc_utility, *, max_acc_f, max_acc_r, min_loss_r, seed=0, eps=1e-6
) -> tuple[np.ndarray, np.ndarray]:
    """Per-unit forgetting shift ``s`` and utility degradation ``r`` of the FROC unified score.

    ``s = log Loss_F + max Acc_F - Acc_F`` and
    ``r = log Loss_R - log min Loss_R + max Acc_R - Acc_R`` (FROC, as summarised in the
    spec), evaluated per calibration unit (ours): unit i pairs forget probe
    ``pair_units(...)[0][i]`` with utility probe ``pair_units(...)[1][i]``; ``Loss`` is that
    probe's NLL (floored at ``eps`` before the log) and ``Acc`` its accuracy in [0, 1].

    Returns:
        (s, r), each of shape (..., min(N, M)).
    """
    lf, af = _check_pair(loss_forget, acc_forget, "forget")
    lu, au = _check_pair(loss_utility, acc_utility, "utility")
    i_f, i_u = pair_units(lf.shape[-1], lu.shape[-1], seed)
    s = np.log(np.maximum(lf[..., i_f], eps)) + max_acc_f - af[..., i_f]
    r = np.log(np.maximum(lu[..., i_u], eps)) - np.log(max(min_loss_r, eps)) + max_acc_r - au[..., i_u]
    return s, r


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def fit_unified_normalisers(
    loss_forget,
    acc_forget,
    loss_utility,
    acc_utility,
    *,
    w_f: float = 1.0,
    w_u: float = 1.0,
    alpha_hat: float | None = None,
    alpha_hat_quantile: float = 0.5,
    cap: float | None = None,
    cap_quantile: float = 1.0,
    seed: int = 0,
    eps: float = 1e-6,
) -> UnifiedNormalisers:
    """Fit the unified-score constants on the TUNE split over the whole grid.

    Args:
        loss_forget, acc_forget: (K, N_t) per-sample NLL and accuracy of the K grid
            configurations on the tune forget probes ((N_t,) = one configuration).
        loss_utility, acc_utility: (K, M_t) same on the tune utility probes.
        w_f, w_u: term weights stored in the result (default 1.0 each).
        alpha_hat: fixed target forgetting shift; default None = the
            ``alpha_hat_quantile`` quantile (default 0.5, the median) over configurations of
            the mean per-unit ``s`` on tune (ours). Pass e.g. the retain-oracle's mean ``s``
            when an oracle exists.
        cap: fixed cap B; default None = the ``cap_quantile`` quantile (default 1.0, the
            maximum) of the per-unit score ``e`` over all tune units and configurations (ours).
        seed: seed of the tune-split unit pairing.
        eps: floor of losses before taking logs.

    Returns:
        A frozen :class:`UnifiedNormalisers`. Calibration data never enters here.
    """
    lf, af = _check_pair(loss_forget, acc_forget, "forget")
    lu, au = _check_pair(loss_utility, acc_utility, "utility")
    lf, af, lu, au = (np.atleast_2d(x) for x in (lf, af, lu, au))
    for q, name in ((alpha_hat_quantile, "alpha_hat_quantile"), (cap_quantile, "cap_quantile")):
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {q}")
    max_acc_f = float(np.nanmax(af.mean(axis=-1)))
    max_acc_r = float(np.nanmax(au.mean(axis=-1)))
    min_loss_r = max(float(np.nanmin(lu.mean(axis=-1))), eps)
    s, r = unified_components(
        lf, af, lu, au, max_acc_f=max_acc_f, max_acc_r=max_acc_r, min_loss_r=min_loss_r, seed=seed, eps=eps
    )
    if alpha_hat is None:
        alpha_hat = float(np.nanquantile(s.mean(axis=-1), alpha_hat_quantile))
    if cap is None:
        e = w_f * _softplus(alpha_hat - s) + w_u * _softplus(r)
        cap = max(float(np.nanquantile(e, cap_quantile)), eps)
    return UnifiedNormalisers(
        max_acc_f=max_acc_f,
        max_acc_r=max_acc_r,
        min_loss_r=min_loss_r,
        alpha_hat=float(alpha_hat),
        cap=float(cap),
        w_f=float(w_f),
        w_u=float(w_u),
    )


def froc_unified_losses(
    loss_forget, acc_forget, loss_utility, acc_utility, norm: UnifiedNormalisers, *, seed: int = 0, eps: float = 1e-6
) -> np.ndarray:
    """Per-unit FROC unified loss ``clip((w_f softplus(alpha_hat - s) + w_u softplus(r)) / B, 0, 1)``.

    FROC (arXiv 2512.13337) defines the unified score ``e`` on aggregate metrics; the
    per-sample version (ours, spec "FROC unified continuous score") evaluates ``s`` and
    ``r`` per calibration unit (one forget probe paired at random with one utility
    probe, see :func:`pair_units`), divides by the cap ``B = norm.cap`` and clips to [0, 1].
    All constants come from ``norm`` (fitted on the tune split by
    :func:`fit_unified_normalisers`), so the calibration data only enters as samples.
    Low loss = enough forgetting and little utility damage.

    Args:
        loss_forget, acc_forget: (..., N) per-sample NLL and accuracy on the calibration forget probes.
        loss_utility, acc_utility: (..., M) same on the calibration utility probes.
        norm: the tune-split constants.
        seed: seed of the unit pairing (default 0; keep it fixed across the grid).
        eps: floor of losses before taking logs.

    Returns:
        (..., min(N, M)) losses in [0, 1].
    """
    s, r = unified_components(
        loss_forget,
        acc_forget,
        loss_utility,
        acc_utility,
        max_acc_f=norm.max_acc_f,
        max_acc_r=norm.max_acc_r,
        min_loss_r=norm.min_loss_r,
        seed=seed,
        eps=eps,
    )
    e = norm.w_f * _softplus(norm.alpha_hat - s) + norm.w_u * _softplus(r)
    return np.clip(e / norm.cap, 0.0, 1.0)
