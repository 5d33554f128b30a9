"""froc's unlearning loop vs the field's usual Trainer-subclass implementation of the same losses.

Compared, for ga, npo and graddiff: ``froc.unlearn`` and ``benchmarks.hf_reference`` (a
``transformers.Trainer`` subclass overriding ``compute_loss``; NPO keeps a second full model and
runs it forward every step) on the same model, the same built-in benchmark forget/retain items in
the same batch order, the same batch size, steps and optimizer settings (AdamW; froc's engine
builds it fused where it can, the Trainer's default is fused too). Both are timed end to end (setup
included: froc's one-pass reference log-prob cache, the reference's model copy and Trainer set-up),
run in lockstep (two threads taking turns step by step, ``benchmarks.common.lockstep``; who starts
alternates between rounds), and must agree on the loss curve: the same training tokens and losses within
``LOSS_TOL`` at every step, asserted (``EquivalenceError``, non-zero exit, after the JSON is written).

- tokens/s: training tokens (non-padding tokens of the forward passes with gradients, counted by a
  hook; identical for both) / CPU time of the variant's thread; ratio = median over rounds of
  t_reference / t_froc. Per step: median CPU time of steps 2..S (set-up excluded).
- peak memory: each variant in a forked child (see ``benchmarks.common``), peak RSS above a baseline
  child that builds the same model and data; ratio = froc / reference.

Run: ``python -m benchmarks.unlearn_step [--tiny] [--arch 20m] [--steps 30]``.
"""

from __future__ import annotations

import copy
from typing import Callable, Sequence

import torch

from benchmarks.common import (TokenCounter, bench_data, build_model, equivalence, fmt_x, lockstep, median, met,
                               n_params, paired_ratio, parser, peak_memory, print_table, require, spread, start,
                               write_result)

NAME = "unlearn_step"
METHODS = ("ga", "npo", "graddiff")
TARGETS = {"ga": {"speed": 1.0}, "npo": {"speed": 1.3, "memory": 0.7}, "graddiff": {"speed": 1.0}}
LR = 1e-5
# the loss curves of froc and the reference must agree (measured ~1e-6 to 7e-6: float32, fused vs unfused
# kernels); asserted with the token counts, so a benchmark whose two sides train differently fails
LOSS_TOL = 1e-4


def orders(n_forget: int, n_retain: int, steps: int, batch_size: int, seed: int = 0) -> tuple[list[int], list[int]]:
    """The forget and retain index sequences froc's loop draws (``froc.engine.data.IndexStream``)."""
    from froc.engine.data import IndexStream

    f, r = IndexStream(n_forget, seed), IndexStream(n_retain, seed + 1)
    fo, ro = [], []
    for _ in range(steps):
        fo += f.take(batch_size)
        ro += r.take(batch_size)
    return fo, ro


def run_froc(model, tok, forget, retain, method: str, steps: int, batch_size: int,
             on_step: Callable[[], None] | None = None, gradient_checkpointing: bool = False) -> list[float]:
    """``froc.unlearn``; ``on_step()`` (if given) runs at the end of every step, as a checkpoint callback."""
    from froc import unlearn
    from froc.engine import UnlearnConfig

    cfg = UnlearnConfig(steps=steps, batch_size=batch_size, lr=LR, device="cpu", seed=0,
                        gradient_checkpointing=gradient_checkpointing, checkpoints=list(range(1, steps + 1)) if on_step is not None else [])
    cb = (lambda step, m: on_step()) if on_step is not None else None
    res = unlearn(model, tok, forget, retain, method=method, config=cfg, progress=False, on_checkpoint=cb)
    return res.losses


def run_ref(model, tok, forget, retain, method: str, steps: int, batch_size: int,
            on_step: Callable[[], None] | None = None) -> list[float]:
    """The Trainer-subclass reference on froc's batch order; ``on_step()`` at the end of every step."""
    from benchmarks.hf_reference import run_reference

    fo, ro = orders(len(forget), len(retain), steps, batch_size)
    return run_reference(model, tok, forget, retain, method, steps=steps, batch_size=batch_size, lr=LR,
                         forget_order=fo, retain_order=ro, on_step=on_step)


def step_seconds(stamps: list[float]) -> float | None:
    """Median duration of steps 2..S from end-of-step stamps (setup and the first step excluded)."""
    d = [b - a for a, b in zip(stamps, stamps[1:])]
    return median(d) if d else None


RUNNERS = {"froc": run_froc, "reference": run_ref}


def run_froc_ckpt(model, tok, forget, retain, method, steps, batch_size, on_step=None) -> list[float]:
    """froc with activation checkpointing (``UnlearnConfig.gradient_checkpointing``)."""
    return run_froc(model, tok, forget, retain, method, steps, batch_size, on_step, gradient_checkpointing=True)


def runners_for(method: str, checkpointing: bool) -> dict[str, Callable]:
    """froc and the reference; for NPO (the memory target) also froc with activation checkpointing."""
    return {**RUNNERS, "froc_ckpt": run_froc_ckpt} if checkpointing and method == "npo" else dict(RUNNERS)


def encode_all(tok, items: Sequence) -> int:
    """What both variants start from besides the model: the encoded items (for the memory baseline)."""
    from froc.models.encoding import DEFAULT_FORMAT, encode_item

    return sum(len(encode_item(tok, it, DEFAULT_FORMAT).ids) for it in items)


def main(argv=None) -> dict:
    from benchmarks.hf_reference import default_optimizer

    ap = parser(__doc__)
    ap.add_argument("--arch", default=None, help="model size (froc.models.build.SIZES); default 5m (tiny: tiny)")
    ap.add_argument("--steps", type=int, default=None, help="optimizer steps per run (default 15; tiny 3)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--people", type=int, default=None, help="benchmark size (default 20: forget10 = 40 items)")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--mem-steps", type=int, default=None,
                    help="steps of each memory child (default 2: Adam's moments exist from step 1's update, "
                         "so step 2 holds everything; tiny 1)")
    ap.add_argument("--mem-repeats", type=int, default=None)
    ap.add_argument("--no-checkpointing", action="store_true",
                    help="skip the third NPO variant (froc with gradient checkpointing)")
    args = ap.parse_args(argv)
    tiny = args.tiny
    arch = args.arch or ("tiny" if tiny else "5m")
    steps = args.steps or (3 if tiny else 15)
    repeats = args.repeats or (1 if tiny else 2)
    mem_repeats = args.mem_repeats or 1
    args.mem_steps = args.mem_steps or (1 if tiny else 2)
    B = 4 if tiny and args.batch_size == 8 else args.batch_size
    start(NAME, args)

    data = bench_data(n_people=args.people or 20, split="forget10")
    tok, forget, retain = data.tokenizer, list(data.views.forget_request), list(data.views.retain)
    template = build_model(tok, arch)
    P = n_params(template)
    fresh = lambda: copy.deepcopy(template)  # noqa: E731  untimed: both variants start from an identical copy

    rows, per_method = [], {}
    for method in args.methods:
        RUNNERS_M = runners_for(method, not args.no_checkpointing)
        if method == args.methods[0]:  # untimed warm-up of both sides on the tiny model (imports, lazy set-up)
            lockstep({n: (lambda tick, n=n: RUNNERS_M[n](build_model(tok, "tiny"), tok, forget, retain, method, 2, B,
                                                        tick)) for n in RUNNERS_M})
        counted: dict[str, dict] = {n: {"cpu_s": [], "step_s": []} for n in RUNNERS_M}
        for r in range(repeats):  # froc and the reference take turns step by step; who starts alternates
            order = list(RUNNERS_M) if r % 2 == 0 else list(RUNNERS_M)[::-1]
            models = {n: fresh() for n in order}  # untimed
            counters = {n: TokenCounter(models[n]) for n in order}
            res = lockstep({n: (lambda tick, n=n: RUNNERS_M[n](models[n], tok, forget, retain, method, steps, B, tick))
                            for n in order})
            for n in order:
                counters[n].remove()
                c = counted[n]
                c["cpu_s"].append(res[n]["cpu_s"])
                c["step_s"].append(step_seconds(res[n]["stamps"]))
                c.update(tokens=counters[n].tokens, passes=counters[n].passes, losses=res[n]["value"])
            models.clear()
        times = {n: counted[n]["cpu_s"] for n in RUNNERS_M}
        tok_f, tok_r = counted["froc"]["tokens"], counted["reference"]["tokens"]
        lf, lr_ = counted["froc"]["losses"], counted["reference"]["losses"]
        loss_diff = max(abs(a - b) for a, b in zip(lf, lr_)) if lf and lr_ else None

        def mem_variant(name: str):
            def run():
                RUNNERS_M[name](fresh(), tok, forget, retain, method, args.mem_steps, B)
            return run

        def baseline():
            model = fresh()  # held while the data is encoded, as in the variants
            n = encode_all(tok, forget) + (encode_all(tok, retain) if method == "graddiff" else 0)
            return n + 0 * n_params(model)

        def warmup():  # the same code paths on the tiniest model, before the high-water mark is reset
            for run in RUNNERS_M.values():
                run(build_model(tok, "tiny"), tok, forget, retain, method, 2, B)

        mem = peak_memory({n: mem_variant(n) for n in RUNNERS_M}, baseline, mem_repeats, warmup=None if tiny else warmup)
        speed = paired_ratio(times["reference"], times["froc"])  # t_ref / t_froc = tokens/s ratio (same tokens)
        sf, sr = counted["froc"]["step_s"], counted["reference"]["step_s"]
        per_step = paired_ratio(sr, sf) if None not in sf + sr else None
        mf = mem.get("froc", {}).get("above_baseline_mb")
        mr = mem.get("reference", {}).get("above_baseline_mb")
        mem_ratio = mf / mr if mf is not None and mr else None
        per_method[method] = {
            "tokens_per_s_froc": tok_f / median(times["froc"]),
            "tokens_per_s_reference": tok_r / median(times["reference"]),
            "tokens_per_s_ratio": speed,
            "peak_mb_above_baseline_froc": mf,
            "peak_mb_above_baseline_reference": mr,
            "peak_memory_ratio": mem_ratio,
            "per_step_ratio": per_step, "step_s_froc": sf, "step_s_reference": sr,
            "model_copy_mb": P * template.dtype.itemsize / 2**20,
            "saved_mb": None if mf is None or mr is None else mr - mf,
            "seconds_froc": times["froc"], "seconds_reference": times["reference"],
            "spread_froc": spread(times["froc"]), "spread_reference": spread(times["reference"]),
            "training_tokens": tok_f, "training_tokens_reference": tok_r,
            "forward_passes_with_grad": counted["froc"]["passes"],
            "max_abs_loss_diff": loss_diff,
            "memory": mem,
            "targets": TARGETS[method],
        }
        t = TARGETS[method]
        rows.append([method, f"{tok_f / median(times['froc']):.0f}", f"{tok_r / median(times['reference']):.0f}",
                     fmt_x(speed), f">= {t['speed']}x: {met(speed, t['speed'])}", fmt_x(per_step),
                     "-" if mf is None else f"{mf:.0f}", "-" if mr is None else f"{mr:.0f}", fmt_x(mem_ratio),
                     f"<= {t['memory']}x: {met(mem_ratio, t['memory'], False)}" if "memory" in t else "-",
                     "-" if loss_diff is None else f"{loss_diff:.1e}"])
        if "froc_ckpt" in RUNNERS_M:  # the memory/time trade-off: activations recomputed in the backward
            c = counted["froc_ckpt"]
            mc = mem.get("froc_ckpt", {}).get("above_baseline_mb")
            sc = paired_ratio(times["reference"], c["cpu_s"])
            pc = paired_ratio(sr, c["step_s"]) if None not in c["step_s"] + sr else None
            mcr = mc / mr if mc is not None and mr else None
            dc = max(abs(a - b) for a, b in zip(c["losses"], lr_)) if c["losses"] and lr_ else None
            per_method[method]["gradient_checkpointing"] = {
                "tokens_per_s": c["tokens"] / median(c["cpu_s"]), "tokens_per_s_ratio": sc, "per_step_ratio": pc,
                "peak_mb_above_baseline": mc, "peak_memory_ratio": mcr, "seconds": c["cpu_s"],
                "step_s": c["step_s"], "max_abs_loss_diff": dc}
            rows.append([f"{method} + ckpt", f"{c['tokens'] / median(c['cpu_s']):.0f}",
                         f"{tok_r / median(times['reference']):.0f}", fmt_x(sc),
                         f">= {t['speed']}x: {met(sc, t['speed'])}", fmt_x(pc), "-" if mc is None else f"{mc:.0f}",
                         "-" if mr is None else f"{mr:.0f}", fmt_x(mcr),
                         f"<= {t['memory']}x: {met(mcr, t['memory'], False)}",
                         "-" if dc is None else f"{dc:.1e}"])

    result = {
        "name": NAME, "tiny": tiny,
        "setup": {"arch": arch, "params": P, "steps": steps, "batch_size": B, "lr": LR, "forget_items": len(forget),
                  "retain_items": len(retain), "repeats": repeats, "mem_repeats": mem_repeats,
                  "mem_steps": args.mem_steps, "threads": torch.get_num_threads(),
                  "optimizer_froc": "torch.optim.AdamW (froc.engine.optim.build_optimizer)",
                  "optimizer_reference": f"Trainer default: {default_optimizer()}",
                  "epochs_over_forget": steps * B / len(forget)},
        "memory_method": next(iter(per_method.values()))["memory"].get("_method") if per_method else None,
        "methods": per_method,
        "ratios": {m: {"tokens_per_s": v["tokens_per_s_ratio"], "peak_memory": v["peak_memory_ratio"]}
                   for m, v in per_method.items()},
    }
    checks = {}
    for m, v in per_method.items():  # both sides do the same training: same tokens, same loss curve
        checks[f"{m}_same_training_tokens"] = (v["training_tokens"] == v["training_tokens_reference"] > 0, None)
        checks[f"{m}_max_abs_loss_diff"] = (v["max_abs_loss_diff"], LOSS_TOL)
        if "gradient_checkpointing" in v:
            checks[f"{m}_ckpt_max_abs_loss_diff"] = (v["gradient_checkpointing"]["max_abs_loss_diff"], LOSS_TOL)
    result["checks"] = checks = equivalence(checks)
    path = write_result(NAME, result, args.out)
    print_table(
        f"unlearn_step: froc vs Trainer-subclass reference, {P / 1e6:.1f}M-param Llama, {steps} steps x batch {B} "
        f"({steps * B / len(forget):.1f} epochs of {len(forget)} forget items), median of {repeats} interleaved rounds",
        ["method", "froc tok/s", "ref tok/s", "speed", "target", "per step", "froc MB", "ref MB", "memory", "target",
         "max |dloss|"], rows,
        ["speed = end-to-end tokens/s ratio (setup included); per step = median step time ratio, steps 2..S",
         "npo + ckpt = froc with UnlearnConfig(gradient_checkpointing=True), against the same reference",
         f"memory: {result['memory_method']}; MB = peak RSS above the baseline ({args.mem_steps} steps, 1 thread); "
         f"one model copy = {P * template.dtype.itemsize / 2**20:.0f} MB",
         f"wrote {path}"])
    require(NAME, checks)  # after writing: the failing numbers stay on disk
    return result


if __name__ == "__main__":
    main()
