"""Memory per process of one unlearning run on 2 processes: replicated (data parallel) vs fully sharded (fsdp).

Issue 15 §1/§3. Each process (gloo, CPU, 1 thread, launched as torchrun would) builds the same model and data,
notes its resident memory, runs NPO with a retain term, and reports its peak resident memory above that point
(``ru_maxrss`` minus the RSS after the build; glibc's mmap threshold fixed at 64 KiB as in
``benchmarks.common.peak_rss_child``, so freed tensors leave the resident set). A single process runs the same
global batch for comparison. Sharding divides the gradients and AdamW moments (and the weights, once FSDP has
moved them into its shards) by the number of processes; activations are per process either way.

Run: ``python -m benchmarks.distributed_memory [--tiny] [--arch 20m]``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from benchmarks.common import child_result, median, parser, print_table, start, write_result

NAME = "distributed_memory"
ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, os, resource, sys, time
import torch
torch.set_num_threads(1)
from benchmarks.common import _fixed_malloc, _vm, bench_data, build_model
import torch.distributed as dist
from froc.engine.distributed import init_from_env, current
from froc import unlearn
arch, steps, batch, accum, fsdp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
_fixed_malloc()
init_from_env("cpu")
data = bench_data()
model = build_model(data.tokenizer, arch)
forget, retain = list(data.views.forget_request), list(data.views.retain)
unlearn(model, data.tokenizer, forget[:8], retain[:8], method="npo", steps=1, batch_size=2, lr=1e-5, device="cpu",
        progress=False, retain_weight=1.0)  # warm-up (code pages, one-time state), then a fresh model
model = build_model(data.tokenizer, arch)
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
start_kb = _vm("VmRSS")
t = time.process_time()
res = unlearn(model, data.tokenizer, forget, retain, method="npo", steps=steps, batch_size=batch, grad_accum=accum,
              lr=1e-5, device="cpu", progress=False, retain_weight=1.0, fsdp=fsdp)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
dp = current()
print("RESULT " + json.dumps({"rank": dp.rank if dp else 0, "above_start_mb": (peak - start_kb) / 1024,
                              "cpu_s": time.process_time() - t, "loss": res.losses[-1]}))
if dist.is_initialized():
    dist.destroy_process_group()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(world: int, args: list[str]) -> list[dict]:
    port, procs = _free_port(), []
    for rank in range(world):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "FROC_NO_PROGRESS": "1",
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        if world > 1:
            env.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                       MASTER_PORT=str(port))
        procs.append(subprocess.Popen([sys.executable, "-c", CHILD, *args], env=env, cwd=ROOT, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=1800)
        out.append(child_result(p.returncode, stdout, stderr))
    return out


def main(argv=None, **_) -> dict:
    ap = parser(__doc__)
    ap.add_argument("--arch", default=None, help="model size (default 20m; --tiny: tiny)")
    args = ap.parse_args(argv)
    start(NAME, args)
    arch = args.arch or ("tiny" if args.tiny else "20m")
    steps, batch = (1, 2) if args.tiny else (3, 8)
    repeats = args.repeats or 1
    runs: dict[str, list[list[dict]]] = {"one process": [], "2 processes, replicated": [], "2 processes, fsdp": []}
    for _ in range(repeats):
        runs["one process"].append(launch(1, [arch, str(steps), str(batch), "2", "0"]))
        runs["2 processes, replicated"].append(launch(2, [arch, str(steps), str(batch), "1", "0"]))
        runs["2 processes, fsdp"].append(launch(2, [arch, str(steps), str(batch), "1", "1"]))
    rows, ratios = [], {}
    for name, rs in runs.items():
        mb = median([max(r["above_start_mb"] for r in rnd) for rnd in rs])
        cpu = median([max(r["cpu_s"] for r in rnd) for rnd in rs])
        ratios[name] = {"peak_above_start_mb_per_process": mb, "cpu_s_per_process": cpu}
        rows.append([name, f"{mb:.0f}", f"{cpu:.1f}", f"{rs[-1][0]['loss']:.6f}"])
    print_table(f"npo on {arch}, global batch {2 * batch} x {steps} steps: peak MB above the built model per process",
                ["layout", "MB/process", "CPU s/process", "final loss"], rows)
    res = {"tiny": args.tiny, "arch": arch, "steps": steps, "batch_per_process": batch, "runs": runs, "ratios": ratios}
    write_result(NAME, res, args.out)
    return res


if __name__ == "__main__":
    main()
