"""How much of the machine's matmul throughput froc's unlearning loop uses, by model size.

Compared: the training FLOP/s of ``froc.unlearn`` (gradient ascent: one forward and one backward
per step, so ``6 x N x tokens`` FLOPs, N = matmul parameters, tokens = non-padding training
tokens) with the FLOP/s torch reaches on one large fp32 GEMM (``2 n^3`` FLOPs), measured on the
same machine in the same run, interleaved with the training runs (GEMM, 1m, 5m, 20m, then reversed,
...). The fraction is the median over rounds of (training FLOP/s / GEMM FLOP/s of that round).

Why it matters: on CPU, small models are bound by per-op overhead (Python, dispatch, tiny GEMMs),
not by arithmetic; the fraction shows where that stops and the loop becomes compute-bound.

Run: ``python -m benchmarks.utilisation [--tiny] [--sizes 1m 5m 20m] [--steps 20]``.
"""

from __future__ import annotations

import copy

import torch

from benchmarks.common import (TokenCounter, start, bench_data, build_model, flop_params, interleave, median,
                               paired_ratio, parser, print_table, write_result)

NAME = "utilisation"


def gemm_flops(n: int, dtype=torch.float32, device="cpu", iters: int = 3) -> tuple[float, float]:
    """(seconds, FLOPs) of ``iters`` products of two n x n matrices (set-up and one warm-up product
    untimed); CPU time on the CPU, wall time (synchronised) on CUDA."""
    from benchmarks.common import now

    cuda = str(device).startswith("cuda")
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    c = a @ b  # warm
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    sync()
    clock = "wall" if cuda else "cpu"
    t = now(clock)
    for _ in range(iters):
        torch.matmul(a, b, out=c)
    sync()
    return now(clock) - t, 2.0 * n**3 * iters


def main(argv=None) -> dict:
    ap = parser(__doc__)
    ap.add_argument("--sizes", nargs="+", default=None, help="model sizes (default 1m 5m 20m; tiny: tiny mini)")
    ap.add_argument("--steps", type=int, default=None, help="unlearning steps per run (default 10; tiny 2)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--gemm", type=int, default=None, help="GEMM size n (default 2048; tiny 256)")
    args = ap.parse_args(argv)
    tiny = args.tiny
    sizes = args.sizes or (["tiny", "mini"] if tiny else ["1m", "5m", "20m"])
    steps = args.steps or (2 if tiny else 10)
    repeats = args.repeats or (1 if tiny else 2)
    n_gemm = args.gemm or (256 if tiny else 2048)
    start(NAME, args)

    from froc import unlearn
    from froc.engine import UnlearnConfig

    data = bench_data(n_people=20, split="forget10")
    tok, forget = data.tokenizer, list(data.views.forget_request)
    templates = {s: build_model(tok, s) for s in sizes}
    cfg = UnlearnConfig(steps=steps, batch_size=args.batch_size, lr=1e-5, device="cpu")
    tokens: dict[str, int] = {}
    gemm_runs: list[tuple[float, float]] = []  # (seconds, FLOPs) of the GEMM itself, per round

    def train(size: str):
        def call(model):
            c = TokenCounter(model)
            unlearn(model, tok, forget, method="ga", config=cfg, progress=False)
            c.remove()
            tokens[size] = c.tokens
        return call

    def gemm(_state):
        gemm_runs.append(gemm_flops(n_gemm))

    variants = {"gemm": gemm, **{s: train(s) for s in sizes}}
    times = interleave(variants, repeats, setup=lambda n: copy.deepcopy(templates[n]) if n in templates else None,
                       warmup=["gemm", sizes[0]])  # imports and lazy set-up; CPU time needs no per-size warm-up
    gemm_fps = [w / t for t, w in gemm_runs[-repeats:]]
    rows, per_size = [], {}
    for s in sizes:
        N = flop_params(templates[s])
        work = 6.0 * N * tokens[s]
        fps = [work / t for t in times[s]]
        frac = paired_ratio(fps, gemm_fps)
        per_size[s] = {"params_matmul": N, "tokens": tokens[s], "train_flops": work, "seconds": times[s],
                       "train_gflops_s": median(fps) / 1e9, "fraction_of_gemm_peak": frac}
        rows.append([s, f"{N / 1e6:.2f}M", tokens[s], f"{median(times[s]):.2f}", f"{median(fps) / 1e9:.2f}",
                     f"{median(gemm_fps) / 1e9:.1f}", f"{100 * frac:.1f}%"])
    result = {
        "name": NAME, "tiny": tiny,
        "setup": {"method": "ga", "steps": steps, "batch_size": args.batch_size, "gemm_n": n_gemm, "dtype": "float32",
                  "repeats": repeats, "threads": torch.get_num_threads(), "forget_items": len(forget)},
        "gemm_gflops_s": median(gemm_fps) / 1e9, "gemm_seconds": [t for t, _ in gemm_runs[-repeats:]],
        "clock": "process CPU time",
        "sizes": per_size,
        "ratios": {s: {"fraction_of_gemm_peak": v["fraction_of_gemm_peak"]} for s, v in per_size.items()},
    }
    path = write_result(NAME, result, args.out)
    print_table(f"utilisation: froc.unlearn (ga, {steps} steps x batch {args.batch_size}) FLOP/s vs a {n_gemm}^3 fp32 "
                f"GEMM, {torch.get_num_threads()} thread(s), median of {repeats} interleaved rounds",
                ["size", "N (matmul)", "tokens", "s/run", "train GFLOP/s", "GEMM GFLOP/s", "of peak"], rows,
                ["training FLOPs = 6 x N x non-padding tokens (attention T^2 terms ignored; the run's setup, "
                 "encoding included, counts as time)", f"wrote {path}"])
    return result


if __name__ == "__main__":
    main()
