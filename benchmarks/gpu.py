"""The unlearn_step and utilisation measurements on a GPU: a ~100M-parameter Llama in bf16.

When CUDA is present: froc's loop vs the Trainer-subclass reference (``benchmarks.hf_reference``)
for ga, npo and graddiff on the ``100m`` model built from config (bf16 weights, same data, batch
order, batch size and steps, interleaved): tokens/s ratio and peak-memory ratio, where peak memory
is ``torch.cuda.max_memory_allocated`` during the run minus what was allocated before it (model
and data); and the training FLOP/s of froc's loop (6 x N x tokens) as a fraction of the bf16 peak
torch reaches on a large GEMM in the same run, interleaved with the training runs.

Without CUDA it prints "skipped: no CUDA", writes ``{"skipped": "no CUDA"}`` and exits 0: the suite
never fails for lack of a GPU. ``--device cpu`` runs the same code on the CPU (to check it, not to
measure: CPU memory is not tracked there).

Run: ``python -m benchmarks.gpu [--tiny] [--device cuda]``.
"""

from __future__ import annotations

import copy

import torch

from benchmarks.common import (TokenCounter, bench_data, build_model, flop_params, fmt_x, interleave, median, met,
                               paired_ratio, parser, print_table, start, write_result)
from benchmarks.unlearn_step import METHODS, TARGETS, orders
from benchmarks.utilisation import gemm_flops

NAME = "gpu"
LR = 1e-5


def main(argv=None) -> dict:
    ap = parser(__doc__)
    ap.add_argument("--device", default=None, help="default cuda when available")
    ap.add_argument("--arch", default=None, help="model size (default 100m; tiny: tiny)")
    ap.add_argument("--steps", type=int, default=None, help="default 20 (tiny 2)")
    ap.add_argument("--batch-size", type=int, default=None, help="default 64 (tiny 4)")
    ap.add_argument("--gemm", type=int, default=None, help="GEMM size n (default 8192; tiny 256)")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    args = ap.parse_args(argv)
    tiny = args.tiny
    if args.device is None and not torch.cuda.is_available():
        print("skipped: no CUDA")
        path = write_result(NAME, {"name": NAME, "tiny": tiny, "skipped": "no CUDA", "ratios": {}}, args.out)
        print(f"wrote {path}")
        return {"skipped": "no CUDA"}
    start(NAME, args)
    device = torch.device(args.device or "cuda")
    cuda = device.type == "cuda"
    arch = args.arch or ("tiny" if tiny else "100m")
    steps = args.steps or (2 if tiny else 20)
    B = args.batch_size or (4 if tiny else 64)
    repeats = args.repeats or (1 if tiny else 3)
    n_gemm = args.gemm or (256 if tiny else 8192)
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    from benchmarks.hf_reference import run_reference
    from froc import unlearn
    from froc.engine import UnlearnConfig

    data = bench_data(n_people=20 if tiny else 200, split="forget10")  # forget10 of 200 = 400 items
    tok, forget, retain = data.tokenizer, list(data.views.forget_request), list(data.views.retain)
    template = build_model(tok, arch, dtype=torch.bfloat16).to(device)
    N = flop_params(template)
    P = sum(p.numel() for p in template.parameters())
    fo, ro = orders(len(forget), len(retain), steps, B)

    def run_froc(model, method):
        cfg = UnlearnConfig(steps=steps, batch_size=B, lr=LR, device=str(device), seed=0)
        return unlearn(model, tok, forget, retain, method=method, config=cfg, progress=False).losses

    def run_ref(model, method):
        return run_reference(model, tok, forget, retain, method, steps=steps, batch_size=B, lr=LR,
                             forget_order=fo, retain_order=ro)

    runners = {"froc": run_froc, "reference": run_ref}
    per_method, rows = {}, []
    gemm_runs: list[tuple[float, float]] = []
    clock = "wall" if cuda else "cpu"

    def gemm(_state):
        gemm_runs.append(gemm_flops(n_gemm, torch.bfloat16, device))

    for method in args.methods:
        rec: dict[str, dict] = {}

        def variant(name):
            def call(model):
                counter = TokenCounter(model)
                if cuda:
                    torch.cuda.reset_peak_memory_stats(device)
                    before = torch.cuda.memory_allocated(device)
                losses = runners[name](model, method)
                sync()
                counter.remove()
                peak = (torch.cuda.max_memory_allocated(device) - before) / 2**20 if cuda else None
                r = rec.setdefault(name, {"peak_mb": []})
                r.update(tokens=counter.tokens, losses=losses)
                r["peak_mb"].append(peak)
            return call

        variants = {"gemm": gemm, "froc": variant("froc"), "reference": variant("reference")}
        times = interleave(variants, repeats, setup=lambda n: copy.deepcopy(template) if n != "gemm" else None,
                           warmup=method == args.methods[0], clock=clock)
        tokens = rec["froc"]["tokens"]
        speed = paired_ratio(times["reference"], times["froc"])
        pf = [x for x in rec["froc"]["peak_mb"] if x is not None]
        pr = [x for x in rec["reference"]["peak_mb"] if x is not None]
        mem = median(pf) / median(pr) if pf and pr else None
        fps = [6.0 * N * tokens / t for t in times["froc"]]
        peak_fps = [w / t for t, w in gemm_runs[-repeats:]]
        frac = paired_ratio(fps, peak_fps)
        dl = max(abs(a - b) for a, b in zip(rec["froc"]["losses"], rec["reference"]["losses"]))
        per_method[method] = {
            "tokens_per_s_froc": tokens / median(times["froc"]),
            "tokens_per_s_reference": rec["reference"]["tokens"] / median(times["reference"]),
            "tokens_per_s_ratio": speed, "peak_mb_froc": median(pf) if pf else None,
            "peak_mb_reference": median(pr) if pr else None, "peak_memory_ratio": mem,
            "train_tflops_s": median(fps) / 1e12, "bf16_gemm_tflops_s": median(peak_fps) / 1e12,
            "fraction_of_bf16_peak": frac, "max_abs_loss_diff": dl,
            "seconds_froc": times["froc"], "seconds_reference": times["reference"], "targets": TARGETS[method],
        }
        t = TARGETS[method]
        rows.append([method, f"{tokens / median(times['froc']):.0f}",
                     f"{rec['reference']['tokens'] / median(times['reference']):.0f}", fmt_x(speed),
                     f">= {t['speed']}x: {met(speed, t['speed'])}",
                     "-" if not pf else f"{median(pf):.0f}", "-" if not pr else f"{median(pr):.0f}", fmt_x(mem),
                     f"<= {t['memory']}x: {met(mem, t['memory'], False)}" if "memory" in t else "-",
                     f"{100 * frac:.1f}%", f"{dl:.1e}"])
    result = {
        "name": NAME, "tiny": tiny, "device": torch.cuda.get_device_name(device) if cuda else str(device),
        "setup": {"arch": arch, "params": P, "params_matmul": N, "dtype": "bfloat16", "steps": steps, "batch_size": B,
                  "repeats": repeats, "gemm_n": n_gemm, "forget_items": len(forget)},
        "memory_method": "torch.cuda.max_memory_allocated during the run minus memory_allocated before it"
                         if cuda else "not measured (not CUDA)",
        "methods": per_method,
        "ratios": {m: {"tokens_per_s": v["tokens_per_s_ratio"], "peak_memory": v["peak_memory_ratio"],
                       "fraction_of_bf16_peak": v["fraction_of_bf16_peak"]} for m, v in per_method.items()},
    }
    path = write_result(NAME, result, args.out)
    print_table(f"gpu: froc vs Trainer-subclass reference on {result['device']}, {P / 1e6:.0f}M-param Llama (bf16), "
                f"{steps} steps x batch {B}, median of {repeats} interleaved rounds",
                ["method", "froc tok/s", "ref tok/s", "speed", "target", "froc MB", "ref MB", "memory", "target",
                 "froc of bf16 peak", "max |dloss|"], rows,
                [f"bf16 GEMM {n_gemm}^3: {median([w / t for t, w in gemm_runs]) / 1e12:.1f} TFLOP/s; "
                 f"memory: {result['memory_method']}", f"wrote {path}"])
    return result


if __name__ == "__main__":
    main()
