"""Memory options of an unlearning run, measured: peak memory above model load and CPU time per step.

Issue 15 §3. For NPO (a per-item reference cache) and UNDIAL (a frozen full reference copy, ``ref_model``), on
the CPU model sizes available, each variant of ``froc.unlearn`` runs in its own forked child
(``benchmarks.common.peak_memory``: peak RSS minus a baseline child that builds the same model and data):

- ``fp32``: the default (fp32 weights, gradients and AdamW moments);
- ``checkpointing``: ``gradient_checkpointing=True`` (activations recomputed in the backward pass);
- ``bf16``: ``dtype="bfloat16"``: weights, gradients and AdamW moments in bf16 (no fp32 master copy: froc has
  none; on CPUs without native bf16 matmuls this is slower, see RESULTS.md);
- ``lora``: a LoRA adapter (r 8, alpha 16, every linear layer); base weights frozen, no moments for them.

Not measurable here: 8-bit/paged optimizers and QLoRA (bitsandbytes, CUDA only), a CPU-offloaded reference (on
a CPU-only machine everything is already on the CPU).

Run: ``python -m benchmarks.memory_options [--tiny] [--arch 5m,20m] [--repeats N]``.
"""

from __future__ import annotations

import time

from benchmarks.common import bench_data, build_model, n_params, parser, peak_memory, print_table, start, write_result

NAME = "memory_options"
VARIANTS = {"fp32": {}, "checkpointing": {"gradient_checkpointing": True}, "bf16": {"dtype": "bfloat16"},
            "lora": {"lora": True}}
METHODS = ("npo", "undial")


def _run(arch: str, method: str, settings: dict, steps: int, batch_size: int, build_only: bool = False):
    from froc import unlearn

    data = bench_data()
    model = build_model(data.tokenizer, arch)
    forget, retain = list(data.views.forget_request), list(data.views.retain)
    if build_only:
        return None
    t = time.process_time()
    res = unlearn(model, data.tokenizer, forget, retain, method=method, steps=steps, batch_size=batch_size, lr=1e-5,
                  device="cpu", progress=False, **settings)
    return {"cpu_s_per_step": (time.process_time() - t) / steps, "final_loss": res.losses[-1], "status": res.status}


def main(argv=None, **_) -> dict:
    ap = parser(__doc__)
    ap.add_argument("--arch", default=None, help="comma-separated model sizes (default 5m,20m; --tiny: tiny)")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args(argv)
    start(NAME, args)
    archs = (args.arch or ("tiny" if args.tiny else "5m,20m")).split(",")
    steps = args.steps or (1 if args.tiny else 3)
    repeats = args.repeats or (1 if args.tiny else 2)

    def warm():  # fault in the code of every variant (bf16 kernels, peft, checkpointing) before the reset
        for method in METHODS:
            for s in VARIANTS.values():
                _run("tiny", method, s, 1, 2)

    bench_data()  # generated once, inherited by every forked child
    out, rows = {}, []
    for arch in archs:
        params = n_params(build_model(bench_data().tokenizer, arch))
        for method in METHODS:
            variants = {v: (lambda s=s, a=arch, m=method: _run(a, m, s, steps, args.batch_size))
                        for v, s in VARIANTS.items()}
            mem = peak_memory(variants, lambda a=arch, m=method: _run(a, m, {}, steps, args.batch_size, build_only=True),
                              repeats, timeout=1800, warmup=warm)
            out[f"{arch}/{method}"] = {"params": params, **mem}
            base = mem["fp32"]["above_baseline_mb"]
            for v in VARIANTS:
                m = mem[v]
                rows.append([arch, f"{params / 1e6:.1f}M", method, v, f"{m['above_baseline_mb']:.0f}",
                             f"{m['above_baseline_mb'] / base:.2f}x" if base > 0 else "-",
                             f"{m['value']['cpu_s_per_step']:.2f}"])
    print_table(f"memory options: peak MB above model+data load, batch {args.batch_size} + {args.batch_size}, "
                f"{steps} steps, median of {repeats}", ["arch", "params", "method", "variant", "MB", "vs fp32",
                                                         "CPU s/step"], rows)
    ratios = {k: {v: {"above_load_mb": r[v]["above_baseline_mb"], "cpu_s_per_step": r[v]["value"]["cpu_s_per_step"]}
                  for v in VARIANTS} for k, r in out.items()}
    res = {"tiny": args.tiny, "steps": steps, "batch_size": args.batch_size, "repeats": repeats, "results": out,
           "ratios": ratios}
    write_result(NAME, res, args.out)
    return res


if __name__ == "__main__":
    main()
