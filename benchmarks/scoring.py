"""The batched scorer vs one probe at a time, and batched vs sequential greedy generation.

Wraps ``benchmarks.scoring_speed`` (same model, probes and quantities: ``build`` there) but times
each pair interleaved (batched, naive, then naive, batched, ...) and reports the median over rounds
of the per-round ratio naive time / batched time:
- forward scoring: ``score_probes(generate=False)`` vs ``froc.metrics.naive.score_probes_naive``
  (log-probs of gold/paraphrased/perturbed answers, Min-K%, Min-K%++, argmax hits); target >= 5x.
  Also timed in the same rounds: ``score_probes(generate=False, share_prompts=False)`` (every sequence
  run whole, the batched scorer before shared-prompt scoring), to show what sharing the prompt adds;
- greedy generation: ``greedy_generate`` on left-padded length-bucketed batches with a KV cache vs
  one prompt at a time (same function, batch size 1); the outputs must be identical.

Equivalence is asserted, not only recorded: the batched table must match the naive one (mean gold log-prob
to 1e-6 nats, every other score column to 1e-4), the whole-sequence variant likewise, and the generations
must be identical; otherwise the benchmark raises ``EquivalenceError`` (non-zero exit) after writing its JSON.

Why it matters: every configuration of a sweep is scored (plus the references and every attack),
so scoring is most of a sweep's cost once training is short.

Time is CPU time with one torch thread (``benchmarks.common``). Batching whole sequences does the
same FLOPs in fewer, larger calls (its gain is the per-call overhead it removes); sharing the prompt
also removes FLOPs: a probe's 4-5 answers share one prompt, which then runs once instead of once
per answer. With more cores the large batched GEMMs parallelise and the one-at-a-time calls do not,
so one thread gives the lower end of the speed-up.

Run: ``python -m benchmarks.scoring [--tiny] [--probes 100]``.
"""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.common import (equivalence, fmt_x, interleave, median, met, paired_ratio, parser, print_table,
                               require, start, write_result)

NAME = "scoring"
TARGETS = {"forward_scoring": 5.0}
# what "the same numbers" means (asserted: a benchmark whose variants differ fails, its speed-up is void)
GOLD_LOGP_TOL = 1e-6  # nats, mean gold log-prob: float32 forward passes, padded/cached vs alone
SCORE_TOL = 1e-4  # every other score column (Min-K%++ z-scores amplify float32 rounding)
SCORE_COLUMNS = ("gold_logp_sum", "para_logp_mean", "perturbed_logp_mean", "knowledge", "mink", "minkpp",
                 "gold_token_logp", "perturbed_mink", "perturbed_minkpp", "exact_mem", "extraction_strength")


def max_abs_diff(a, b, columns) -> float:
    """Largest |a - b| over ``columns`` of two score tables (list columns flattened); NaN in the same places
    counts as equal, NaN in one only as inf."""
    worst = 0.0
    for c in columns:
        for x, y in zip(a[c], b[c]):
            x, y = np.atleast_1d(np.asarray(x, float)), np.atleast_1d(np.asarray(y, float))
            if x.shape != y.shape or (np.isnan(x) != np.isnan(y)).any():
                return float("inf")
            d = np.abs(x - y)[~np.isnan(x)]
            worst = max(worst, float(d.max(initial=0.0)))
    return worst


def main(argv=None) -> dict:
    from benchmarks.scoring_speed import build
    from froc.metrics.naive import score_probes_naive
    from froc.metrics.scoring import greedy_generate, plan_probes, score_probes

    ap = parser(__doc__)
    ap.add_argument("--probes", type=int, default=None, help="probes (default 100; tiny 12)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--max-new-tokens", type=int, default=None, help="default 16 (tiny 4)")
    args = ap.parse_args(argv)
    tiny = args.tiny
    n_probes = args.probes or (12 if tiny else 100)
    new = args.max_new_tokens or (4 if tiny else 16)
    repeats = args.repeats or (1 if tiny else 3)
    start(NAME, args)

    model, tok, probes, params = build(n_probes)
    plan = plan_probes(tok, probes, max_new_tokens=new, max_length=model.config.max_position_embeddings)
    kw = dict(max_new_tokens=new)
    out: dict = {}
    score_probes(model, tok, probes[:8], batch_size=args.batch_size, progress=False, **kw)  # warm-up (imports, lazy set-up)
    score_probes_naive(model, tok, probes[:8], **kw)

    def forward_batched():
        out["fast"] = score_probes(model, tok, probes, batch_size=args.batch_size, generate=False, progress=False, **kw)

    def forward_whole():
        out["whole"] = score_probes(model, tok, probes, batch_size=args.batch_size, generate=False, progress=False,
                                    share_prompts=False, **kw)

    def forward_naive():
        out["slow"] = score_probes_naive(model, tok, probes, generate=False, **kw)

    def gen_batched():
        with torch.inference_mode():
            out["gen_b"] = greedy_generate(model, tok, plan.prompts, batch_size=args.batch_size, **kw)

    def gen_sequential():
        with torch.inference_mode():
            out["gen_s"] = [greedy_generate(model, tok, [p], batch_size=1, **kw)[0] for p in plan.prompts]

    stages = {"forward_scoring": {"batched": forward_batched, "whole": forward_whole, "naive": forward_naive},
              "greedy_generation": {"batched": gen_batched, "naive": gen_sequential}}
    per_stage, rows = {}, []
    for stage, variants in stages.items():
        # scoring: one full untimed call each first (the first full-size call also grows the allocator)
        times = interleave(variants, repeats, warmup=stage == "forward_scoring")
        ratio = paired_ratio(times["naive"], times["batched"])
        per_stage[stage] = {"batched_s": times["batched"], "naive_s": times["naive"],
                            "batched_probes_per_s": len(probes) / median(times["batched"]),
                            "naive_probes_per_s": len(probes) / median(times["naive"]), "speedup": ratio}
        target = TARGETS.get(stage)
        rows.append([stage.replace("_", " "), f"{len(probes) / median(times['batched']):.1f}",
                     f"{len(probes) / median(times['naive']):.1f}", fmt_x(ratio, 1),
                     f">= {target}x: {met(ratio, target)}" if target else "-"])
        if "whole" in times:
            whole = paired_ratio(times["naive"], times["whole"])
            per_stage[stage].update(whole_s=times["whole"], whole_probes_per_s=len(probes) / median(times["whole"]),
                                    speedup_whole_sequences=whole,
                                    prompt_sharing_gain=paired_ratio(times["whole"], times["batched"]))
            rows.append(["  (whole sequences, no prompt sharing)", f"{len(probes) / median(times['whole']):.1f}",
                         f"{len(probes) / median(times['naive']):.1f}", fmt_x(whole, 1), "-"])
    fast, slow, whole = out["fast"].table, out["slow"].table, out["whole"].table
    diff = max_abs_diff(fast, slow, ["gold_logp_mean"])
    same = out["gen_b"] == out["gen_s"]
    checks = equivalence({
        "max_abs_diff_gold_logp_mean": (diff, GOLD_LOGP_TOL),
        "max_abs_diff_scores": (max_abs_diff(fast, slow, SCORE_COLUMNS), SCORE_TOL),
        "max_abs_diff_whole_sequences": (max_abs_diff(fast, whole, ["gold_logp_mean", *SCORE_COLUMNS]), SCORE_TOL),
        "generations_identical": (same, None),
    })
    result = {
        "name": NAME, "tiny": tiny,
        "setup": {"arch": "small", "params": params, "probes": len(probes), "sequences": len(plan.seqs),
                  "batch_size": args.batch_size, "max_new_tokens": new, "repeats": repeats,
                  "threads": torch.get_num_threads()},
        "stages": per_stage,
        "checks": checks,
        "ratios": {k: {f: v[f] for f in ("speedup", "speedup_whole_sequences") if f in v}
                   for k, v in per_stage.items()},
        "targets": TARGETS,
    }
    path = write_result(NAME, result, args.out)
    print_table(f"scoring: {len(probes)} probes ({len(plan.seqs)} sequences), {params / 1e6:.2f}M-param Llama, "
                f"batch {args.batch_size}, {new} new tokens, median of {repeats} interleaved rounds",
                ["stage", "batched probes/s", "one-at-a-time probes/s", "speed-up", "target"], rows,
                [f"max |gold_logp_mean| difference {diff:.1e} (<= {GOLD_LOGP_TOL:g} asserted); generations identical: "
                 f"{same}", f"wrote {path}"])
    require(NAME, checks)  # after writing: the failing numbers stay on disk
    return result


if __name__ == "__main__":
    main()
