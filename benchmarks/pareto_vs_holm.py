"""Pareto Testing vs Holm: certified configurations at the same measured validity, synthetic grids.

Pareto Testing (Laufer-Goldshtein, Fisch, Barzilay, Jaakkola, ICLR 2023) learns the
(forget, utility) Pareto front on the tune split and tests along it with fixed-sequence
testing at full level delta; Holm splits delta over all K configurations. On grids with
structure (risks varying smoothly along lr x steps, forget and utility trading off) the
promising configurations are predictable from the tune split, so testing them first at
level delta certifies more. Both are run through :func:`froc.risk.certify_grid` on the same
simulated data; validity is measured as the share of repetitions certifying a configuration
whose true forget or utility risk is >= alpha.

Grids (binary losses, cal / test = 300 / 300 probes, tune 100 or 300, alpha = 0.1, delta = 0.1):
- ``lr x steps``: 6 learning rates x 6 step counts; strength ``s = log lr + log steps``;
  forget risk falls smoothly with s to a floor of 0.04, utility risk rises with
  ``1.5 log lr + 0.5 log steps`` (high learning rates cost more utility than many steps).
- ``easy 6x6``: the same with a forget floor of 0.01 (many configurations far below alpha,
  which Holm certifies too).
- ``path``: one strength axis (:func:`path_grid`), every configuration on the Pareto front.
- ``flat``: every configuration at the same risks (0.06 forget, 0.03 utility).

Usage:
    python -m benchmarks.pareto_vs_holm [--reps 300] [--seed 0]
    python -m benchmarks.pareto_vs_holm --run froc_out/demo     # the same procedures on a finished sweep

With ``--run`` the stored scores of a sweep (e.g. ``froc demo``) are re-certified with each procedure
(nothing is retrained): certified counts and, as the measured check available without ground truth, the
number of certified configurations whose held-out test risk exceeds the budget.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from froc.risk import certify_grid

ALPHA, DELTA = 0.1, 0.1
N = {"tune": 100, "cal": 300, "test": 300}


def structured_grid(floor: float = 0.04) -> tuple[np.ndarray, np.ndarray]:
    """(forget, utility) true risks of a 6 x 6 lr x steps grid, K = 36 (grid order: lr-major).

    ``floor``: the forget risk of the strongest unlearning (0.04: hard to forget, most eligible
    configurations sit at 0.04-0.09; 0.01: easy, many far below alpha)."""
    lr = np.log(np.geomspace(1e-6, 1e-4, 6))
    steps = np.log(np.geomspace(10, 320, 6))
    L, S = np.meshgrid(lr, steps, indexing="ij")
    z = (L - lr.mean()) / np.ptp(lr) + (S - steps.mean()) / np.ptp(steps)  # strength, ~[-1, 1]
    forget = floor + 0.55 / (1 + np.exp(4.0 * (z + 0.6)))  # ~0.55 (weak) -> floor (strong)
    w = 1.5 * (L - lr.mean()) / np.ptp(lr) + 0.5 * (S - steps.mean()) / np.ptp(steps)
    utility = 0.005 + 0.5 / (1 + np.exp(-4.0 * (w - 1.0)))  # 0.005 (gentle) -> ~0.25 (harsh)
    return forget.ravel(), utility.ravel()


def path_grid() -> tuple[np.ndarray, np.ndarray]:
    """36 configurations along one strength axis (e.g. lr x steps ordered by lr * steps): forget risk
    falls from 0.52 to 0.03, utility rises from 0.005 to 0.29, so every configuration is on the
    Pareto front and the eligible ones form a contiguous band (7 with both risks < 0.1)."""
    s = np.linspace(-1, 1, 36)
    return 0.03 + 0.5 / (1 + np.exp(6 * (s + 0.3))), 0.005 + 0.3 / (1 + np.exp(-6 * (s - 0.5)))


def grids(rng) -> dict:
    f, u = structured_grid()
    return {"path": path_grid(), "lr x steps": (f, u), "easy 6x6": structured_grid(0.01),
            "flat": (np.full(36, 0.06), np.full(36, 0.03))}


def compare(f: np.ndarray, u: np.ndarray, reps: int, seed: int, procs=("holm", "pareto", "fixed_sequence")) -> dict:
    rng = np.random.default_rng(seed)
    null = (f >= ALPHA) | (u >= ALPHA)
    out = {p: {"certified": 0.0, "violations": 0} for p in procs}
    for _ in range(reps):
        F = {s: (rng.random((len(f), n)) < f[:, None]).astype(float) for s, n in N.items()}
        U = {s: (rng.random((len(u), n)) < u[:, None]).astype(float) for s, n in N.items()}
        for p in procs:
            c = certify_grid(F, U, ALPHA, ALPHA, DELTA, pvalue="hb", fwer=p, binary_forget=True, binary_utility=True,
                             bounds=False)
            out[p]["certified"] += c.certified.sum() / reps
            out[p]["violations"] += bool((c.certified & null).any())
    for p in procs:
        out[p]["violation_rate"] = out[p].pop("violations") / reps
    out["eligible"] = int((~null).sum())
    out["ratio_pareto_holm"] = out["pareto"]["certified"] / max(out["holm"]["certified"], 1e-12)
    return out


def on_run(run_dir: str, procs=("holm", "pareto", "fixed_sequence", "bonferroni")) -> dict:
    """Certified counts of each procedure on a finished sweep's stored scores (the sweep's own losses)."""
    from pathlib import Path

    import yaml

    from froc.sweep.certify import certify_sweep
    from froc.sweep.config import parse_sweep
    from froc.sweep.store import Store

    raw = yaml.safe_load((Path(run_dir) / "sweep.resolved.yaml").read_text())
    out = {}
    with Store(Path(run_dir) / "froc.duckdb", read_only=True) as st:
        for p in procs:
            cfg = parse_sweep({**raw, "fwer": p, "resplits": 0})
            s = certify_sweep(st, cfg)
            out[p] = {"certified": len(s.certified), "test_exceed": s.validity.test_exceed, "of": len(s.configs)}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--run", default=None, help="a finished sweep's output folder: compare on its stored scores")
    a = ap.parse_args(argv)
    if a.run:
        r = on_run(a.run)
        for p, v in r.items():
            print(f"{p:<15} certified {v['certified']:>3} of {v['of']}   test-split exceedances {v['test_exceed']}")
        print(f"pareto/holm: {r['pareto']['certified'] / max(r['holm']['certified'], 1e-12):.2f}x")
        return 0
    limit = DELTA + 3 * np.sqrt(DELTA * (1 - DELTA) / a.reps)
    print(f"reps {a.reps}, alpha {ALPHA}, delta {DELTA}, hb p-values, K = 36, validity limit {limit:.3f}")
    print(f"{'grid':<11} {'n_tune':>6} {'eligible':>8} {'holm':>13} {'pareto':>13} {'fixed_seq':>13} {'pareto/holm':>11}")
    for n_tune in (100, 300):
        N["tune"] = n_tune
        for name, (f, u) in grids(np.random.default_rng(a.seed)).items():
            t0 = time.time()
            r = compare(f, u, a.reps, a.seed + 1)
            cell = lambda p: f"{r[p]['certified']:5.2f} ({r[p]['violation_rate']:.3f})"  # noqa: E731
            print(f"{name:<11} {n_tune:>6} {r['eligible']:>8} {cell('holm'):>13} {cell('pareto'):>13} "
                  f"{cell('fixed_sequence'):>13} {r['ratio_pareto_holm']:>10.2f}x   [{time.time() - t0:.0f}s]", flush=True)
    print("cells: mean number certified (FWER violation rate)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
