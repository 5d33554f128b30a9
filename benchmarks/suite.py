"""Run the benchmark suite (``froc bench`` and ``python -m benchmarks``): each benchmark's ``main``,
in one process, then a summary of the headline ratios. See benchmarks/README.md for what each
figure means.
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
import traceback
from pathlib import Path
from typing import Sequence

from benchmarks.common import RESULTS_DIR, machine, print_table

SUITE = ("unlearn_step", "utilisation", "scoring", "sweep", "scaling", "model_load", "gpu")


def _headline(name: str, res: dict) -> str:
    """One line of the key ratios of a benchmark's result."""
    if res.get("skipped"):
        return f"skipped: {res['skipped']}"
    r = res.get("ratios", {})
    f = lambda x, d=2: "-" if x is None else f"{x:.{d}f}"  # noqa: E731
    if name == "unlearn_step":
        return "; ".join(f"{m} {f(v['tokens_per_s'])}x tok/s, {f(v['peak_memory'])}x mem" for m, v in r.items())
    if name == "utilisation":
        return "; ".join(f"{s} {100 * v['fraction_of_gemm_peak']:.1f}% of GEMM peak" for s, v in r.items())
    if name == "scoring":
        return "; ".join(f"{k.replace('_', ' ')} {f(v['speedup'], 1)}x" for k, v in r.items())
    if name == "sweep":
        return f"trajectory sharing {f(r['trajectory_sharing']['speedup'])}x"
    if name == "scaling":
        return "; ".join(f"{k} exponent {f(v['exponent'])} (last two {f(v['exponent_last_two'])})" for k, v in r.items())
    if name == "model_load":
        return (f"first load {f(r['first_load_froc_s'])} s (plain transformers {f(r['first_load_hf_s'])} s; lazy imports "
                f"{f(r['lazy_imports_s'])} s), warm {f(r['warm_load_froc_s'], 3)} s ({f(r['warm_froc_over_hf'])}x plain)")
    if name == "gpu":
        return "; ".join(f"{m} {f(v['tokens_per_s'])}x tok/s, {100 * v['fraction_of_bf16_peak']:.1f}% bf16 peak"
                         for m, v in r.items())
    return json.dumps(r)[:200]


def run(names: Sequence[str] | None = None, *, tiny: bool = False, out: Path | str | None = None,
        threads: int | None = None) -> int:
    """Run the named benchmarks (default: all) and return an exit code (1 if any failed)."""
    from froc.errors import unknown_choice

    names = list(names or SUITE)
    for n in names:
        if n not in SUITE:
            raise unknown_choice("benchmark", n, SUITE)
    out = Path(out) if out else RESULTS_DIR
    argv = (["--tiny"] if tiny else []) + ["--out", str(out)] + (["--threads", str(threads)] if threads else [])
    t_all = time.perf_counter()
    rows, status, failed = [], {}, 0
    demo = None
    if "sweep" in names and not tiny:  # the longest single job: let it run alongside the CPU-timed benchmarks
        from benchmarks.sweep import DemoRun

        demo = DemoRun(threads or 1)
    for n in names:
        t = time.perf_counter()
        try:
            kw = {"demo": demo} if n == "sweep" and demo is not None else {}
            res = importlib.import_module(f"benchmarks.{n}").main(argv, **kw)
            line, ok = _headline(n, res), True
        except Exception as e:  # noqa: BLE001 - report and go on with the rest of the suite
            traceback.print_exc()
            line, ok = f"FAILED: {type(e).__name__}: {e}", False
            failed += 1
        dt = time.perf_counter() - t
        status[n] = {"ok": ok, "seconds": round(dt, 1), "headline": line}
        rows.append([n, f"{dt:.0f}", line])
    if demo is not None:
        demo.cancel()  # no-op once collected
    total = time.perf_counter() - t_all
    out.mkdir(parents=True, exist_ok=True)
    (out / "suite.json").write_text(json.dumps({"tiny": tiny, "seconds": round(total, 1), "benchmarks": status,
                                                "machine": machine()}, indent=2) + "\n")
    print_table(f"froc bench: {len(names)} benchmark(s) in {total:.0f}s{' (--tiny)' if tiny else ''}; JSON in {out}",
                ["benchmark", "s", "headline"], rows)
    return 1 if failed else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Run froc's benchmark suite.")
    ap.add_argument("names", nargs="*", help=f"benchmarks to run (default all: {', '.join(SUITE)})")
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args(argv)
    return run(a.names, tiny=a.tiny, out=a.out, threads=a.threads)


if __name__ == "__main__":
    raise SystemExit(main())
