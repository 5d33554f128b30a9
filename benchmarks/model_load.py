"""Where model-load time goes: imports, the first load of a process, a warm load; froc vs plain transformers.

Issue 15 §4 measured froc spending 2.4 s in model loading where the field's reference toolkit spent 0.04 s (5M
parameters). The first ``from_pretrained`` of a process pays transformers' lazy imports (the model's modeling
module, the tokenizer classes, generation utilities), whoever calls it; a later load does not. This benchmark
separates the phases, each in a **fresh Python process** (a second load in the same process would be warm):

- ``import torch``, ``import transformers`` (lazy: a stub), ``import froc.models.loading``;
- ``lazy_imports``: ``transformers.models.llama.modeling_llama`` and the fast tokenizer classes imported
  explicitly (what a first load pulls in) — measured in the ``classes_first`` process only;
- ``first``: the first load of the process; ``warm``: a second load of the same folder;
- three process kinds, interleaved round by round: ``froc_first`` (froc ``load_model`` twice, then the plain
  load), ``hf_first`` (``AutoTokenizer`` + ``AutoModelForCausalLM.from_pretrained`` twice, then froc),
  ``classes_first`` (the lazy imports by hand, then froc's load: what remains is the load itself).

Both wall and CPU time (``time.process_time``, one thread) are recorded; medians over rounds. The model is a
5M-parameter Llama saved as safetensors with its BPE tokenizer (``--tiny``: the 0.05M ``tiny`` model).

Run: ``python -m benchmarks.model_load [--tiny] [--repeats N]``.
"""

from __future__ import annotations

import os
import subprocess
import sys

from benchmarks.common import bench_data, build_model, child_result, median, n_params, parser, print_table, start, tmpdir, write_result

NAME = "model_load"
KINDS = ("froc_first", "hf_first", "classes_first")

CHILD = r"""
import json, sys, time
T = {}
def clock():
    return time.perf_counter(), time.process_time()
def timed(name, fn):
    w, c = clock()
    out = fn()
    T[name] = {"wall": time.perf_counter() - w, "cpu": time.process_time() - c}
    return out
kind, path = sys.argv[1], sys.argv[2]
timed("import_torch", lambda: __import__("torch"))
import torch
torch.set_num_threads(1)
timed("import_transformers", lambda: __import__("transformers"))
timed("import_froc", lambda: __import__("froc.models.loading"))
from froc.models.loading import load_model
def hf():
    from transformers import AutoModelForCausalLM, AutoTokenizer
    return AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path, use_safetensors=True)
def froc_load():
    return load_model(path, device="cpu")
def lazy():
    import transformers.models.llama.modeling_llama
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast, GenerationMixin
    return AutoModelForCausalLM
if kind == "froc_first":
    timed("froc_first", froc_load); timed("froc_warm", froc_load); timed("hf_warm", hf)
elif kind == "hf_first":
    timed("hf_first", hf); timed("hf_warm", hf); timed("froc_warm", froc_load)
else:
    timed("lazy_imports", lazy); timed("froc_after_lazy_imports", froc_load); timed("froc_warm", froc_load)
print("RESULT " + json.dumps(T))
"""


def run_child(kind: str, path: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FROC_NO_PROGRESS": "1", "TOKENIZERS_PARALLELISM": "false"}
    out = subprocess.run([sys.executable, "-c", CHILD, kind, path], capture_output=True, text=True, env=env,
                         timeout=600, check=False)
    return child_result(out.returncode, out.stdout, out.stderr, f"{kind} child")


def main(argv=None, **_) -> dict:
    ap = parser(__doc__)
    ap.add_argument("--arch", default=None, help="model size (default 5m; --tiny: tiny)")
    args = ap.parse_args(argv)
    start(NAME, args)
    from froc.models.loading import save_model

    arch = args.arch or ("tiny" if args.tiny else "5m")
    repeats = args.repeats or (1 if args.tiny else 5)
    data = bench_data()
    model = build_model(data.tokenizer, arch)
    path = tmpdir() / "model"
    save_model(model, data.tokenizer, path)
    rounds = []
    for r in range(repeats):  # interleaved: the order of the kinds rotates every round
        order = KINDS[r % 3:] + KINDS[: r % 3]
        rounds.append({k: run_child(k, str(path)) for k in order})
    phases = sorted({p for rnd in rounds for k in KINDS for p in rnd[k]})
    med = {}
    for k in KINDS:
        for p in phases:
            if p in rounds[0][k]:
                med[f"{k}/{p}"] = {c: median([rnd[k][p][c] for rnd in rounds]) for c in ("wall", "cpu")}
    m = lambda key, c="cpu": med[key][c]  # noqa: E731
    ratios = {
        "first_load_froc_s": m("froc_first/froc_first"),
        "first_load_hf_s": m("hf_first/hf_first"),
        "lazy_imports_s": m("classes_first/lazy_imports"),
        "froc_load_after_lazy_imports_s": m("classes_first/froc_after_lazy_imports"),
        "warm_load_froc_s": m("froc_first/froc_warm"),
        "warm_load_hf_s": m("froc_first/hf_warm"),
        "warm_froc_over_hf": m("froc_first/froc_warm") / m("froc_first/hf_warm"),
        "first_froc_over_hf": m("froc_first/froc_first") / m("hf_first/hf_first"),
    }
    rows = [[k, p, f"{v['cpu']:.3f}", f"{v['wall']:.3f}"] for key, v in med.items() for k, p in [key.split("/")]]
    print_table(f"model load, {arch} ({n_params(model) / 1e6:.2f}M parameters), median of {repeats} fresh processes",
                ["process", "phase", "CPU s", "wall s"], rows,
                notes=[f"first load: froc {ratios['first_load_froc_s']:.3f} s, plain transformers "
                       f"{ratios['first_load_hf_s']:.3f} s CPU; of which lazy imports {ratios['lazy_imports_s']:.3f} s",
                       f"warm load: froc {ratios['warm_load_froc_s']:.3f} s, plain {ratios['warm_load_hf_s']:.3f} s "
                       f"({ratios['warm_froc_over_hf']:.2f}x)"])
    res = {"tiny": args.tiny, "arch": arch, "n_params": n_params(model), "repeats": repeats, "rounds": rounds, "medians": med,
           "ratios": ratios}
    write_result(NAME, res, args.out)
    return res


if __name__ == "__main__":
    main()
