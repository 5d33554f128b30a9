"""Trajectory sharing in sweeps, and where the time of ``froc demo --quick`` goes.

1. Sharing: a sweep grid lists several step counts per (method, hyperparameters). froc's runner
   (``froc.sweep.runner.run_group``) trains each trajectory once to the largest step count and
   scores the model at every listed step (valid because the default schedule is constant after
   warm-up, so step s of a long run *is* an s-step run). Compared with one run per step value
   (``run_group`` called once per configuration) on the same grid, model, data and probes,
   interleaved; ratio = median over rounds of t_separate / t_shared. Both must produce the same scores,
   bit for bit, for every configuration: asserted (``EquivalenceError``, non-zero exit, after the JSON is
   written), not only recorded.
2. Stage breakdown: ``froc demo --quick`` in a subprocess with a fresh temporary ``--out`` and
   ``--cache`` (so it includes generating the benchmark and training the target and oracle), read
   from ``summary.json["timings"]`` (wall seconds; its total CPU time is recorded too). It runs
   alongside the sharing measurement (which is timed in CPU time); ``froc bench`` starts it before
   all other benchmarks. Skipped with ``--tiny``.

Run: ``python -m benchmarks.sweep [--tiny] [--no-demo]``.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import (bench_data, build_model, equivalence, fmt_x, interleave, median, paired_ratio, parser,
                               print_table, require, start, tmpdir, write_result)
from benchmarks.scoring import SCORE_COLUMNS, max_abs_diff

NAME = "sweep"
GROUPS = ("forget", "neighbour", "retain", "world")


def prepared(tiny: bool, steps: list[int], arch: str):
    """A ``Prepared`` sweep input on the built-in people with a saved (untrained) model, and its config."""
    from froc.sweep.config import SweepConfig
    from froc.sweep.prepare import Prepared, assign_splits

    data = bench_data(n_people=20, split="forget10")
    views, tok = data.views, data.tokenizer
    model_dir = tmpdir() / "model"
    build_model(tok, arch).save_pretrained(str(model_dir))
    tok.save_pretrained(str(model_dir))
    caps = {"forget": 8 if tiny else None, "neighbour": 4 if tiny else 40, "retain": 4 if tiny else 40,
            "world": 2 if tiny else 10}
    cfg = SweepConfig.model_validate({
        "methods": {"npo": {"lr": [1e-3], "beta": [0.1], "retain_weight": [1.0]}}, "steps": steps,
        "batch_size": 4 if tiny else 16, "device": "cpu", "max_new_tokens": 4 if tiny else 12,
        "score_batch_size": 64, "probes_per_group": caps, "seed": 0})
    rng = random.Random("bench-probes")
    heldout = [p for p in views.probes if p.meta.get("template_split") == "heldout"]
    probes = []
    for g in GROUPS:
        sel = [p for p in heldout if p.meta.get("group") == g]
        cap = caps[g]
        probes += sel if cap is None or len(sel) <= cap else [sel[i] for i in sorted(rng.sample(range(len(sel)), cap))]
    prep = Prepared(model_path=str(model_dir), oracle_path=None, forget=list(views.forget_request),
                    retain=list(views.retain), refusals=list(views.refusals), probes=assign_splits(probes, cfg),
                    question="benchmark")
    return prep, cfg


class DemoRun:
    """``froc demo --quick`` in a subprocess with a fresh temporary --out and --cache, started at once.

    ``froc bench`` starts it before the other benchmarks so it runs alongside them (they are
    single-threaded and timed in CPU time); ``result()`` waits for it and returns its stage timings
    (``summary.json["timings"]``, wall seconds), its wall time and its CPU time (``os.wait4``).
    """

    def __init__(self, threads: int | None, timeout: float = 900.0):
        self.tmp = tempfile.TemporaryDirectory(prefix="froc-bench-demo-")
        d = Path(self.tmp.name)
        env = {**os.environ, "FROC_NO_PROGRESS": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
        if threads:  # the same thread count as the rest of the suite (see benchmarks/README.md)
            env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
        self.threads, self.timeout = threads, timeout
        self.log = open(d / "demo.log", "wb")
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "froc.cli", "demo", "--quick", "--out", str(d / "out"),
                                      "--cache", str(d / "cache")], env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def cancel(self) -> None:
        """Stop the run if it is still going (a benchmark failed before collecting it)."""
        if self.proc.returncode is None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.log.closed:
            self.log.close()
        self.tmp.cleanup()

    def result(self) -> dict:
        d = Path(self.tmp.name)
        deadline = self.t0 + self.timeout
        status, usage = None, None
        while status is None:
            pid, st, ru = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                status, usage = st, ru
            elif time.perf_counter() > deadline:
                self.proc.kill()
                os.wait4(self.proc.pid, 0)
                return {"error": f"timed out after {self.timeout:.0f}s"}
            else:
                time.sleep(0.5)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - self.t0
        self.log.close()
        try:
            if self.proc.returncode != 0:
                tail = (d / "demo.log").read_text(errors="replace")[-2000:]
                return {"error": f"exit {self.proc.returncode}: {tail}", "wall_s": wall}
            summary = json.loads((d / "out" / "summary.json").read_text())
            return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "threads": self.threads,
                    "timings": summary.get("timings", {}), "configs": len(summary.get("configs", [])),
                    "command": "froc demo --quick --out TMP/out --cache TMP/cache"}
        finally:
            self.tmp.cleanup()


def main(argv=None, demo: DemoRun | None = None) -> dict:
    """``demo``: an already started ``froc demo --quick`` run (``froc bench`` starts it early)."""
    from froc.sweep.config import expand_grid
    from froc.sweep.training import run_group

    ap = parser(__doc__)
    ap.add_argument("--steps", type=int, nargs="+", default=None, help="grid step values (default 10 25 50, as froc demo)")
    ap.add_argument("--arch", default=None, help="model size (default small, as froc demo; tiny: tiny)")
    ap.add_argument("--no-demo", action="store_true", help="skip the froc demo --quick stage breakdown")
    args = ap.parse_args(argv)
    tiny = args.tiny
    steps = args.steps or ([1, 2] if tiny else [10, 25, 50])
    arch = args.arch or ("tiny" if tiny else "small")
    repeats = args.repeats or (1 if tiny else 2)
    start(NAME, args)
    concurrent = demo is not None
    if demo is None and not (tiny or args.no_demo):
        demo = DemoRun(args.threads)  # runs alongside the sharing measurement (CPU-timed)

    prep, cfg = prepared(tiny, steps, arch)
    grid = expand_grid(cfg)
    groups: dict[str, list[dict]] = {}
    for c in grid:
        groups.setdefault(c["train_key"], []).append(c)
    records: dict[str, list[dict]] = {"shared": [], "separate": []}

    def shared():
        records["shared"] = []
        for group in groups.values():
            run_group(group, sorted(c["steps"] for c in group), prep, cfg, records["shared"].append, progress=False)

    def separate():
        records["separate"] = []
        for c in grid:
            run_group([c], [c["steps"]], prep, cfg, records["separate"].append, progress=False)

    warm = {**grid[0], "steps": 1}  # untimed: imports and lazy set-up of training and scoring
    run_group([warm], [1], prep, cfg, lambda rec: None, progress=False)
    times = interleave({"shared": shared, "separate": separate}, repeats, warmup=False)
    ratio = paired_ratio(times["separate"], times["shared"])
    score_s = {k: sum(r.get("score_seconds", 0.0) for r in v) for k, v in records.items()}
    by_id = {k: {r["config_id"]: r for r in v} for k, v in records.items()}
    scored = {k: {cid for cid, r in v.items() if r.get("scores") is not None} for k, v in by_id.items()}
    diffs = [max_abs_diff(by_id["shared"][cid]["scores"], by_id["separate"][cid]["scores"],
                          ["gold_logp_mean", *SCORE_COLUMNS]) for cid in scored["shared"] & scored["separate"]]
    checks = equivalence({  # trajectory sharing must not change a single score (same training, same scoring)
        "every_configuration_scored_both_ways": (scored["shared"] == scored["separate"] == {c["config_id"] for c in grid},
                                                 None),
        "max_abs_diff_scores": (max(diffs) if diffs else None, 0.0),
    })
    steps_shared = sum(max(c["steps"] for c in g) for g in groups.values())
    steps_separate = sum(c["steps"] for c in grid)
    sharing = {
        "configs": len(grid), "trajectories": len(groups), "steps": steps, "arch": arch,
        "probes": len(prep.probes), "batch_size": cfg.batch_size,
        "training_steps_shared": steps_shared, "training_steps_separate": steps_separate,
        "seconds_shared": times["shared"], "seconds_separate": times["separate"],
        "last_round_scoring_wall_s": score_s,
        "speedup": ratio, "ideal_training_only_speedup": steps_separate / steps_shared,
        "max_abs_diff_scores": max(diffs) if diffs else None,
        "statuses": sorted({r["status"] for v in records.values() for r in v}),
    }
    rows = [["trajectory sharing", f"{median(times['shared']):.1f}", f"{median(times['separate']):.1f}",
             fmt_x(ratio), f"{steps_separate}/{steps_shared} steps"]]

    if demo is not None:
        demo = {**demo.result(), "started_before_other_benchmarks": concurrent}
    else:
        demo = {"skipped": "--tiny" if tiny else "--no-demo"}
    result = {"name": NAME, "tiny": tiny, "sharing": sharing, "demo_quick": demo, "checks": checks,
              "ratios": {"trajectory_sharing": {"speedup": ratio}}}
    path = write_result(NAME, result, args.out)
    print_table(f"sweep: {len(grid)} configurations (npo, steps {steps}) on a {arch} model, {len(prep.probes)} probes, "
                f"median of {repeats} interleaved rounds",
                ["what", "shared s", "one run per step s", "speed-up", "training work"], rows,
                [f"scores identical (asserted): max difference over every score column {sharing['max_abs_diff_scores']}; "
                 f"scoring in the last round (wall): shared {score_s['shared']:.1f}s, separate {score_s['separate']:.1f}s"])
    if "timings" in demo:
        tm = demo["timings"]
        total = tm.get("total") or sum(v for k, v in tm.items() if k != "total")
        print_table(f"froc demo --quick stage breakdown (fresh cache; {demo['configs']} configurations, "
                    f"wall {demo['wall_s']:.0f}s incl. start-up)", ["stage", "seconds", "share"],
                    [[k, f"{v:.1f}", f"{100 * v / total:.0f}%" if k not in ("total", "report") else "-"]
                     for k, v in tm.items()])
    elif "error" in demo:
        print(f"froc demo --quick failed: {demo['error']}")
    print(f"wrote {path}")
    require(NAME, checks)  # after writing: the failing numbers stay on disk
    return result


if __name__ == "__main__":
    main()
