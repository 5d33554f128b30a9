"""Speed of the batched scorer vs a naive one-probe-at-a-time loop (not a test).

Same model, same probes, same quantities, measured in one run:
- forward scoring (log-probs of gold/paraphrased/perturbed answers, Min-K%, Min-K%++, argmax hits):
  ``score_probes(generate=False)`` vs ``score_probes_naive(generate=False)``;
- greedy generation: left-padded batches with a KV cache vs one prompt at a time;
- the whole pipeline (both together).

Run: ``python -m benchmarks.scoring_speed [--probes 300] [--batch-size 64] [--max-new-tokens 16]``.
Writes ``benchmarks/results/scoring_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results" / "scoring_speed.json"


def build(n_probes: int, seed: int = 0):
    """~1M-parameter Llama ("small") with a BPE tokenizer fitted to the built-in benchmark's text, and
    ``n_probes`` probes drawn (seeded) from the benchmark's forget10 view: every form, mixed lengths."""
    from froc.data.benchmark import generate, split_views
    from froc.models.build import build_llama, n_params
    from froc.models.tokenizer import train_bpe_tokenizer

    d = Path(tempfile.mkdtemp(prefix="froc-speed-"))
    generate(d, n_people=20, seed=seed)
    views = split_views(d, "forget10")
    texts = [f"{p.question} {p.answer}" for p in views.train_all + views.probes]
    tok = train_bpe_tokenizer(texts, vocab_size=1024)
    model = build_llama(tok, "small", seed=seed).eval()
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(views.probes), size=min(n_probes, len(views.probes)), replace=False)
    return model, tok, [views.probes[i] for i in sorted(idx)], n_params(model)


def timed(label: str, fn):
    t = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t
    print(f"  {label}: {dt:.2f}s", flush=True)
    return dt, out


def main(argv=None) -> dict:
    from benchmarks.common import equivalence, require
    from benchmarks.scoring import GOLD_LOGP_TOL, SCORE_COLUMNS, SCORE_TOL, max_abs_diff
    from froc.metrics.naive import score_probes_naive
    from froc.metrics.scoring import greedy_generate, plan_probes, score_probes

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--probes", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    model, tok, probes, params = build(args.probes)
    plan = plan_probes(tok, probes, max_new_tokens=args.max_new_tokens,
                       max_length=model.config.max_position_embeddings)
    n = len(probes)
    kw = dict(max_new_tokens=args.max_new_tokens)
    score_probes(model, tok, probes[:8], batch_size=args.batch_size, progress=False, **kw)  # warm-up (imports)
    score_probes_naive(model, tok, probes[:8], **kw)

    rows = {}
    t_b, fast = timed("batched forward", lambda: score_probes(model, tok, probes, batch_size=args.batch_size, generate=False,
                                           progress=False, **kw))
    t_n, slow = timed("naive forward", lambda: score_probes_naive(model, tok, probes, generate=False, **kw))
    diff = max_abs_diff(fast.table, slow.table, ["gold_logp_mean"])
    rows["forward scoring"] = (t_b, t_n)
    with torch.inference_mode():
        t_gb, gen_b = timed("batched generation", lambda: greedy_generate(model, tok, plan.prompts, batch_size=args.batch_size, **kw))
        t_gs, gen_s = timed("sequential generation", lambda: [greedy_generate(model, tok, [p], batch_size=1, **kw)[0] for p in plan.prompts])
    rows["greedy generation"] = (t_gb, t_gs)
    t_fb, _ = timed("batched full", lambda: score_probes(model, tok, probes, batch_size=args.batch_size, progress=False, **kw))
    t_fn, _ = timed("naive full", lambda: score_probes_naive(model, tok, probes, **kw))
    rows["full pipeline"] = (t_fb, t_fn)

    result = {
        "model": {"arch": "small", "params": params, "vocab": len(tok)},
        "probes": n, "sequences": len(plan.seqs), "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens, "torch_threads": torch.get_num_threads(),
        "device": "cpu", "cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
        "max_abs_diff_gold_logp_mean": diff, "generations_identical": gen_b == gen_s,
        "checks": equivalence({"max_abs_diff_gold_logp_mean": (diff, GOLD_LOGP_TOL),
                               "max_abs_diff_scores": (max_abs_diff(fast.table, slow.table, SCORE_COLUMNS), SCORE_TOL),
                               "generations_identical": (gen_b == gen_s, None)}),
        "stages": {k: {"batched_s": b, "naive_s": s, "batched_probes_per_s": n / b, "naive_probes_per_s": n / s,
                       "speedup": s / b} for k, (b, s) in rows.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"scoring speed: {n} probes ({len(plan.seqs)} sequences), {params / 1e6:.2f}M-parameter Llama, "
                    f"{torch.get_num_threads()} thread(s)", title_justify="left")
    for c in ("stage", "batched probes/s", "naive probes/s", "speed-up"):
        t.add_column(c, justify="left" if c == "stage" else "right")
    for k, v in result["stages"].items():
        t.add_row(k, f"{v['batched_probes_per_s']:.1f}", f"{v['naive_probes_per_s']:.1f}", f"{v['speedup']:.1f}x")
    console = Console()
    console.print(t)
    console.print(f"max |gold_logp_mean| difference {diff:.2e}; generations identical: {result['generations_identical']}; "
                  f"wrote {args.out}", highlight=False)
    require("scoring_speed", result["checks"])  # asserted, after the JSON is written
    return result


if __name__ == "__main__":
    main()
