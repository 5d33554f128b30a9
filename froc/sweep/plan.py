"""``froc plan SWEEP.yaml``: what a sweep will do and whether its budget can be certified, before any compute.

Validates the sweep (every check the run makes), resolves the data and the probe splits without training
or loading a model, and applies :func:`froc.sweep.certify.preflight`: the smallest calibration sample at
which a configuration with zero empirical risk could be certified, for this budget, grid size, p-value
and FWER procedure.
"""

from __future__ import annotations

from pathlib import Path

from froc.sweep.certify import preflight
from froc.sweep.config import SweepConfig, expand_grid, load_sweep
from froc.sweep.prepare import prepare


def plan_sweep(config: SweepConfig | str | Path, cache_dir: str | Path | None = None) -> dict:
    """The plan of a sweep: grid size, training runs, samples per side and split, feasibility.

    Returns:
        ``{"configurations", "training_runs", "methods", "unit", "samples": {side: {split: n}},
        "feasibility": froc.risk.feasibility.feasibility(...) output}``.

    Raises:
        ConfigError / DataError: the same errors ``froc run`` would give for the file and its data.
    """
    cfg = config if isinstance(config, SweepConfig) else load_sweep(config, check_files=True)
    prep = prepare(cfg, cache_dir, models=False)
    grid = expand_grid(cfg)
    samples: dict[str, dict[str, int]] = {}
    for p in prep.probes:
        side, split = p.meta["side"], p.meta["split"]
        samples.setdefault(side, {}).setdefault(split, set()).add(p.id if cfg.splits.by == "probe" else p.subject)
    counts = {side: {s: len(v) for s, v in d.items()} for side, d in samples.items()}
    return {"configurations": len(grid), "training_runs": len({c["train_key"] for c in grid}),
            "methods": sorted(cfg.methods), "unit": cfg.splits.by, "samples": counts,
            "feasibility": preflight(cfg, prep)}
