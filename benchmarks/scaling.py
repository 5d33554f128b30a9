"""Cost of one sweep configuration (one unlearning run + one scoring pass) as the request and the model grow.

A configuration is what a sweep pays per grid point: ``froc.unlearn`` (npo with a retain term, as
in ``froc demo``, at a fixed step budget, since sweeps specify steps) followed by ``score_probes``
with generation on the probe set (every held-out probe of the forgotten people, plus a fixed
sample of utility probes, as ``froc.sweep.prepare`` builds it).

- request axis: forget01 / forget05 / forget10 of a 100-person benchmark (1 / 5 / 10 people) on the
  ``small`` model: the forget set and the forget probes grow, the step budget does not;
- model axis: tiny / mini / small / 1m / 5m on forget05.

Every point of an axis runs in each round (order reversed every other round); times are medians
and each is also given relative to the axis' first point (median of per-round ratios). The growth
exponent k in time ~ size^k is the least-squares slope on the log-log points, over the whole axis
and over its last two points (where fixed per-run overheads matter least).

Run: ``python -m benchmarks.scaling [--tiny]``.
"""

from __future__ import annotations

import copy
import math
import random
import time

import numpy as np
import torch

from benchmarks.common import (bench_data, build_model, interleave, median, n_params, paired_ratio, parser,
                               print_table, start, views_of, write_result)

NAME = "scaling"


def probe_set(views, n_utility: int, seed: int = 0) -> list:
    """Every held-out probe of the forgotten people plus a seeded sample of ``n_utility`` utility probes."""
    heldout = [p for p in views.probes if p.meta.get("template_split") == "heldout"]
    forget = [p for p in heldout if p.meta.get("group") == "forget"]
    other = [p for p in heldout if p.meta.get("group") != "forget"]
    rng = random.Random(seed)
    return forget + [other[i] for i in sorted(rng.sample(range(len(other)), min(n_utility, len(other))))]


def slope(x: list[float], y: list[float]) -> float | None:
    """Least-squares slope of log y on log x."""
    if len(x) < 2:
        return None
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def main(argv=None) -> dict:
    from froc import unlearn
    from froc.engine import UnlearnConfig
    from froc.metrics.scoring import score_probes

    ap = parser(__doc__)
    ap.add_argument("--steps", type=int, default=None, help="unlearning steps per configuration (default 5; tiny 1)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--sizes", nargs="+", default=None, help="model axis (default tiny mini small 1m 5m)")
    ap.add_argument("--max-new-tokens", type=int, default=None, help="default 12 (as sweeps; tiny 2)")
    args = ap.parse_args(argv)
    tiny = args.tiny
    steps = args.steps or (1 if tiny else 5)
    sizes = args.sizes or (["tiny", "mini"] if tiny else ["tiny", "mini", "small", "1m", "5m"])
    splits = ["forget01", "forget10"] if tiny else ["forget01", "forget05", "forget10"]
    repeats = args.repeats or (1 if tiny else 2)
    new = args.max_new_tokens or (2 if tiny else 12)
    n_util = 10 if tiny else 60
    start(NAME, args)

    data = bench_data(n_people=20 if tiny else 100, split="forget10")
    tok = data.tokenizer
    views = {s: views_of(data, s) for s in splits}
    probes = {s: probe_set(v, n_util) for s, v in views.items()}
    if tiny:
        probes = {s: p[:24] for s, p in probes.items()}
    cfg = UnlearnConfig(steps=steps, batch_size=args.batch_size, lr=1e-4, device="cpu")
    templates = {a: build_model(tok, a) for a in sorted(set(sizes) | {"small"})}
    parts: dict[str, dict[str, list[float]]] = {}

    def config(arch: str, split: str):
        def call(model):
            v = views[split]
            t = time.process_time()
            unlearn(model, tok, v.forget_request, v.retain, method="npo", config=cfg, progress=False,
                    retain_weight=1.0)
            t_u = time.process_time() - t
            t = time.process_time()
            score_probes(model, tok, probes[split], batch_size=64, generate=True, max_new_tokens=new, progress=False)
            rec = parts.setdefault(f"{arch}/{split}", {"unlearn": [], "score": []})
            rec["unlearn"].append(t_u)
            rec["score"].append(time.process_time() - t)
        return call

    model_split = "forget10" if tiny else "forget05"
    axes = {"request": {s: ("small", s) for s in splits}, "model": {a: (a, model_split) for a in sizes}}
    result = {"name": NAME, "tiny": tiny,
              "setup": {"method": "npo", "retain_weight": 1.0, "steps": steps, "batch_size": args.batch_size,
                        "max_new_tokens": new, "utility_probes": n_util, "repeats": repeats,
                        "threads": torch.get_num_threads(), "people": 20 if tiny else 100},
              "axes": {}, "ratios": {}}
    for axis, points in axes.items():
        variants = {k: config(*v) for k, v in points.items()}
        first = next(iter(points))
        times = interleave(variants, repeats, setup=lambda k, pts=points: copy.deepcopy(templates[pts[k][0]]),
                           warmup=[first])
        for k in parts:  # drop the warm-up's parts
            for lst in parts[k].values():
                del lst[: len(lst) - repeats]
        xs, rows, per = [], [], {}
        for k, (arch, split) in points.items():
            x = len(views[split].forget_request) if axis == "request" else n_params(templates[arch])
            xs.append(x)
            p = parts[f"{arch}/{split}"]
            rel = paired_ratio(times[k], times[first])
            per[k] = {"x": x, "seconds": times[k], "median_s": median(times[k]), "relative_to_first": rel,
                      "unlearn_s": median(p["unlearn"]), "score_s": median(p["score"]),
                      "probes": len(probes[split]), "forget_items": len(views[split].forget_request)}
            rows.append([k, x, len(probes[split]), f"{median(p['unlearn']):.2f}", f"{median(p['score']):.2f}",
                         f"{median(times[k]):.2f}", f"{rel:.2f}x", f"{math.log10(x):.2f}",
                         f"{math.log10(median(times[k])):.2f}"])
        ys = [per[k]["median_s"] for k in points]
        k_all, k_top = slope(xs, ys), slope(xs[-2:], ys[-2:])
        result["axes"][axis] = {"points": per, "exponent": k_all, "exponent_last_two": k_top,
                                "x": "forget items" if axis == "request" else "parameters"}
        result["ratios"][axis] = {"exponent": k_all, "exponent_last_two": k_top,
                                  "last_over_first": per[list(points)[-1]]["relative_to_first"]}
        what = "forget request (small model)" if axis == "request" else f"model size ({model_split})"
        print_table(f"scaling by {what}: one config = npo run ({steps} steps x batch {args.batch_size}) + scoring "
                    f"with generation; median of {repeats} interleaved rounds",
                    ["point", "forget items" if axis == "request" else "params", "probes", "unlearn s", "score s",
                     "total s", "vs first", "log10 x", "log10 s"], rows,
                    [f"time ~ x^k: k = {k_all:.2f} over the axis, {k_top:.2f} over its last two points"])
    path = write_result(NAME, result, args.out)
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
