"""What every benchmark shares: arguments, machine info, data/model setup, interleaved timing, peak memory.

Every figure the suite reports is a *ratio measured side by side in one run*: the compared variants
run interleaved (A B, then B A, ...) and each ratio is the median over rounds of the per-round
ratio, so a burst of load from other processes hits both sides of a pair alike. On the CPU, time is
the process's CPU time with one torch thread (``--threads 1``, the default): on a shared,
oversubscribed machine wall time mostly measures waiting for a core (wall times are kept in the
JSON too).

``lockstep`` interleaves finer: variants in threads taking turns step by step, each timed by its
thread's CPU time.

Peak memory on CPU (``peak_rss_child``): each variant runs in a child process forked from the
benchmark (imports and shared inputs already loaded, so no re-import). The child drops to one
thread (GNU OpenMP is not fork-safe with more), fixes glibc's mmap threshold (resident memory then
tracks live memory), runs a warm-up (faults in library code), returns free heap pages to the OS
(``malloc_trim``), resets its high-water mark (``/proc/self/clear_refs``), builds its own copy of
the model and data, runs, and reports ``resource.getrusage(RUSAGE_SELF).ru_maxrss``. A *baseline*
child that builds the same model and data and then stops gives the floor; a variant's memory is its
peak minus the baseline's peak (the median over repeats of each).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import pickle
import platform
import resource
import signal
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Sequence

RESULTS_DIR = Path(__file__).resolve().parent / "results"
_LOAD_AT_START: list[float] = []  # load average when the current benchmark started (set by ``start``)


# ----------------------------------------------------------------------------- arguments and output


def parser(doc: str | None) -> argparse.ArgumentParser:
    """The flags every benchmark takes: ``--tiny`` (seconds, for the smoke test), ``--out DIR``, ``--repeats``."""
    ap = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0] if doc else None)
    ap.add_argument("--tiny", action="store_true", help="a seconds-long run on the tiniest model (smoke test)")
    ap.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder for NAME.json (default benchmarks/results)")
    ap.add_argument("--repeats", type=int, default=None, help="interleaved rounds (default: per benchmark)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (default 1: on a shared, oversubscribed CPU every multi-threaded "
                         "op waits for a descheduled OpenMP thread; see benchmarks/README.md)")
    return ap


def machine() -> dict:
    """The machine a result was measured on: CPU model, cores, library versions, load, git commit."""
    import torch
    import transformers

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent, text=True,
                                capture_output=True, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "loadavg": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "git": commit,
    }


def write_result(name: str, result: dict, out_dir: Path) -> Path:
    """Write ``out_dir/NAME.json`` (machine info and load at the end added)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result.setdefault("machine", machine())
    if _LOAD_AT_START:
        result["machine"]["loadavg"] = list(_LOAD_AT_START)
    if hasattr(os, "getloadavg"):
        result["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, default=_json_default) + "\n", encoding="utf-8")
    return path


class EquivalenceError(AssertionError):
    """The variants a benchmark compares did not compute the same thing, so its ratio is void."""


def equivalence(checks: dict[str, tuple[float | bool | None, float | None]]) -> dict[str, dict]:
    """Judge a benchmark's equivalence checks: ``name -> (measured, tolerance)``.

    A float is compared with ``measured <= tolerance`` (``None``/NaN measured fails); a bool (tolerance None)
    must be True. Returns ``name -> {"value", "tolerance", "ok"}`` for the result JSON; :func:`require`
    raises on any failure.
    """
    out = {}
    for name, (value, tol) in checks.items():
        if isinstance(value, bool) or tol is None:
            ok = value is True
        else:
            ok = value is not None and value == value and float(value) <= tol
        out[name] = {"value": value, "tolerance": tol, "ok": bool(ok)}
    return out


def require(benchmark: str, judged: dict[str, dict]) -> None:
    """Raise :class:`EquivalenceError` (a non-zero exit of the benchmark) naming every failed check."""
    def need(tol) -> str:
        return "True" if tol is None else f"<= {tol:g}"

    bad = [f"{k} = {v['value']!r} (needs {need(v['tolerance'])})" for k, v in judged.items() if not v["ok"]]
    if bad:
        raise EquivalenceError(f"{benchmark}: the compared variants differ, so the speed-up is void: " + "; ".join(bad))


def _json_default(o):
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o)}")


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], notes: Sequence[str] = ()) -> None:
    """A rich table on stdout (first column left-aligned), then notes."""
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i == 0 else "right")
    for r in rows:
        t.add_row(*[str(x) for x in r])
    console = Console(width=max(160, Console().width))
    console.print(t)
    for n in notes:
        console.print(n, highlight=False, markup=False)


def fmt_x(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}x"


def met(value: float | None, target: float, higher_is_better: bool = True) -> str:
    if value is None:
        return "-"
    ok = value >= target if higher_is_better else value <= target
    return "yes" if ok else "NO"


# ----------------------------------------------------------------------------- data and models


def tmpdir() -> Path:
    """A temporary folder removed when the process exits."""
    import atexit
    import shutil

    d = Path(tempfile.mkdtemp(prefix="froc-bench-"))
    atexit.register(shutil.rmtree, d, ignore_errors=True)
    return d


@dataclass
class BenchData:
    """A generated built-in benchmark, one forget split's views and a BPE tokenizer fitted to its text."""

    dir: Path
    views: Any
    tokenizer: Any


@lru_cache(maxsize=8)
def bench_data(n_people: int = 40, split: str = "forget10", seed: int = 0, vocab_size: int = 1024) -> BenchData:
    """The built-in synthetic people (``froc.data.benchmark.generate``), cached per process."""
    from froc.data.benchmark import generate, split_views
    from froc.models.tokenizer import train_bpe_tokenizer

    d = tmpdir()
    generate(d, n_people=n_people, seed=seed)
    views = split_views(d, split)
    texts = [f"{p.question} {p.answer}" for p in views.train_all + views.probes]
    return BenchData(d, views, train_bpe_tokenizer(texts, vocab_size=vocab_size))


def views_of(data: BenchData, split: str):
    from froc.data.benchmark import split_views

    return split_views(data.dir, split)


def build_model(tokenizer, arch: str, seed: int = 0, dtype=None):
    """A randomly initialised Llama of size ``arch`` (``froc.models.build.SIZES``), in eval mode."""
    from froc.models.build import build_llama

    m = build_llama(tokenizer, arch, seed=seed)
    if dtype is not None:
        m = m.to(dtype)
    return m.eval()


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def flop_params(model) -> int:
    """Parameters that cost ~2 FLOPs per token in a forward pass: all of them except an *untied* input
    embedding (a lookup, not a matmul); with tied embeddings the shared matrix is the LM head's matmul."""
    n = n_params(model)
    emb, head = model.get_input_embeddings(), model.get_output_embeddings()
    if head is not None and emb.weight is not head.weight:
        n -= emb.weight.numel()
    return n


class TokenCounter:
    """Counts the non-padding tokens of every forward pass of ``model`` that runs with gradients
    (the training forward passes; reference or cache passes run without and are not counted)."""

    def __init__(self, model):
        import torch

        self.tokens = 0
        self.passes = 0

        def hook(_module, args, kwargs):
            if not torch.is_grad_enabled():
                return
            mask = kwargs.get("attention_mask")
            ids = kwargs.get("input_ids", args[0] if args else None)
            self.tokens += int(mask.sum()) if mask is not None else int(ids.numel())
            self.passes += 1

        self.handle = model.register_forward_pre_hook(hook, with_kwargs=True)

    def remove(self) -> None:
        self.handle.remove()


# ----------------------------------------------------------------------------- interleaved timing


def now(clock: str = "cpu") -> float:
    """``cpu``: this process's CPU time (all its threads); ``wall``: ``time.perf_counter()``."""
    return time.process_time() if clock == "cpu" else time.perf_counter()


def interleave(variants: dict[str, Callable[[], Any]], repeats: int, *, warmup: bool | Sequence[str] = True,
               setup: Callable[[str], Any] | None = None, clock: str = "cpu",
               wall: dict[str, list[float]] | None = None) -> dict[str, list[float]]:
    """Times of each variant over ``repeats`` interleaved rounds (order reversed every other round).

    ``clock="cpu"`` (default) times the process's CPU time: with one torch thread and no I/O it is the
    work done, not the time spent waiting for a core on a shared machine; ``"wall"`` for GPU work.
    Wall times are also collected into ``wall`` when given. ``setup(name)`` (untimed) runs before each
    call and its return value is passed to the variant (then ``variants[name](state)``); without it
    variants take no argument. One untimed warm-up call per variant first (imports, lazy set-up)
    unless ``warmup=False``; a list of names warms only those.
    """
    names = list(variants)
    times: dict[str, list[float]] = {n: [] for n in names}
    if wall is not None:
        wall.update({n: [] for n in names})

    def call(n: str) -> tuple[float, float]:
        state = setup(n) if setup else None
        gc.collect()
        t, w = now(clock), time.perf_counter()
        variants[n](state) if setup else variants[n]()
        dt, dw = now(clock) - t, time.perf_counter() - w
        del state
        return dt, dw

    for n in (names if warmup is True else list(warmup or [])):
        call(n)
    for r in range(repeats):
        for n in (names if r % 2 == 0 else names[::-1]):
            dt, dw = call(n)
            times[n].append(dt)
            if wall is not None:
                wall[n].append(dw)
    return times


def lockstep(variants: dict[str, Callable[[Callable[[], None]], Any]]) -> dict[str, dict]:
    """Run the variants in threads that take turns, one step each: the finest interleaving.

    ``variants[name](tick)`` runs one variant and calls ``tick()`` at the end of each of its steps;
    ``tick`` records the thread's CPU time and hands the turn to the next variant (in the order given,
    skipping finished ones). Only one variant runs at any moment, and a few hundred milliseconds later
    the next one, so load from other processes hits all of them alike. Returns, per variant,
    ``{"cpu_s": thread CPU time of the whole call, "stamps": CPU time at each tick, "value": result}``.
    Needs torch at one intra-op thread (the suite's default) so each variant's work runs on its own
    thread; ``time.thread_time`` then measures it.
    """
    import threading

    names = list(variants)
    cond = threading.Condition()
    state = {"turn": names[0], "done": set()}
    out: dict[str, dict] = {n: {"cpu_s": None, "stamps": [], "value": None} for n in names}
    errors: list[BaseException] = []

    def pass_turn(me: str) -> None:  # call with cond held
        i = names.index(me)
        for k in range(1, len(names) + 1):
            nxt = names[(i + k) % len(names)]
            if nxt not in state["done"]:
                state["turn"] = nxt
                break
        cond.notify_all()

    def wait_turn(me: str) -> None:  # call with cond held
        cond.wait_for(lambda: state["turn"] == me or errors)

    def worker(me: str) -> None:
        with cond:
            wait_turn(me)
        t0 = time.thread_time()

        def tick() -> None:
            out[me]["stamps"].append(time.thread_time() - t0)
            with cond:
                pass_turn(me)
                wait_turn(me)
            if errors:
                raise RuntimeError("another lockstep variant failed")

        try:
            out[me]["value"] = variants[me](tick)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller
            errors.append(e)
        finally:
            out[me]["cpu_s"] = time.thread_time() - t0
            with cond:
                state["done"].add(me)
                pass_turn(me)

    threads = [threading.Thread(target=worker, args=(n,), name=f"lockstep-{n}") for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return out


def child_result(returncode: int, stdout: str, stderr: str, what: str = "child") -> dict:
    """The JSON a benchmark's child process printed on its ``RESULT {...}`` line; RuntimeError with the end of its
    stderr when it failed or printed none."""
    line = next((x for x in stdout.splitlines() if x.startswith("RESULT ")), None)
    if returncode != 0 or line is None:
        raise RuntimeError(f"{what} failed: {stderr[-2000:]}")
    return json.loads(line[len("RESULT "):])


def median(x: Sequence[float]) -> float:
    return float(statistics.median(x))


def paired_ratio(num: Sequence[float], den: Sequence[float]) -> float:
    """Median over rounds of ``num[i] / den[i]`` (both lists from the same interleaved rounds)."""
    return median([a / b for a, b in zip(num, den)])


def spread(x: Sequence[float]) -> float:
    """Relative spread (max - min) / median of one variant's repeats: how noisy the load was."""
    m = median(x)
    return (max(x) - min(x)) / m if m else float("nan")


# ----------------------------------------------------------------------------- peak memory in a child


def _vm(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _fixed_malloc(mmap_threshold: int = 64 * 1024) -> None:
    """Make resident memory track live memory: every allocation >= 64 KiB (every tensor that matters)
    gets its own mmap, returned to the OS when freed, and the heap top is trimmed. glibc otherwise
    raises its mmap threshold as blocks are freed and keeps later blocks on the heap, so peak RSS
    depends on the allocation history (+-20 MB run to run at 5M parameters)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, mmap_threshold)  # M_MMAP_THRESHOLD (also stops its dynamic adjustment)
        libc.mallopt(-1, mmap_threshold)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def peak_rss_child(fn: Callable[[], Any], timeout: float = 300.0, warmup: Callable[[], Any] | None = None) -> dict:
    """Run ``fn()`` in a forked child and return its peak resident memory since the start of ``fn``.

    Returns ``{"peak_kb", "start_kb", "reset": bool, "value": fn's (picklable) return value}``;
    ``warmup()`` runs first, before the high-water mark is reset: a forked child re-faults every
    library page it executes (tens of MB of libtorch code), which is not memory the measured run
    allocates; a warm-up on a tiny model touches the same code.
    ``reset`` says whether the high-water mark could be reset at the start (Linux ``clear_refs``);
    without it the peak cannot go below the RSS inherited at the fork. Without ``os.fork`` (not
    Linux/macOS) nothing is measured: ``{"peak_kb": None, ...}``.
    """
    if not hasattr(os, "fork"):
        return {"peak_kb": None, "start_kb": None, "reset": False, "value": None}
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.close(r)
            import torch

            torch.set_num_threads(1)  # libgomp's thread pool does not survive fork; one thread never enters it
            _fixed_malloc()
            if warmup is not None:  # fault in the code pages and one-time state the measured run will touch
                warmup()
            gc.collect()
            try:
                ctypes.CDLL("libc.so.6").malloc_trim(0)
            except OSError:
                pass
            reset = True
            try:
                with open("/proc/self/clear_refs", "w") as f:
                    f.write("5")  # reset the peak-RSS high-water mark to the current RSS
            except OSError:
                reset = False
            start = _vm("VmRSS")
            value = fn()
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
            payload = {"peak_kb": peak, "start_kb": start, "reset": reset, "value": value}
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            payload, code = {"error": f"{type(e).__name__}: {e}"}, 1
        try:
            data = pickle.dumps(payload)
            with os.fdopen(w, "wb") as f:
                f.write(data)
        finally:
            os._exit(code)
    os.close(w)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    import select

    with os.fdopen(r, "rb") as f:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise TimeoutError(f"memory child did not finish in {timeout:.0f}s")
            ready, _, _ = select.select([f], [], [], min(left, 1.0))
            if ready:
                b = os.read(f.fileno(), 1 << 20)
                if not b:
                    break
                chunks.append(b)
    os.waitpid(pid, 0)
    payload = pickle.loads(b"".join(chunks)) if chunks else {"error": "child wrote nothing"}
    if "error" in payload:
        raise RuntimeError(f"memory child failed: {payload['error']}")
    return payload


def peak_memory(variants: dict[str, Callable[[], Any]], baseline: Callable[[], Any], repeats: int,
                timeout: float = 300.0, warmup: Callable[[], Any] | None = None) -> dict[str, dict]:
    """Peak RSS above the baseline (MB) of each variant, each run in its own forked child, interleaved.

    Every child (the baseline's too) runs ``warmup()`` before its high-water mark is reset.
    Returns ``{name: {"peak_mb": median peak, "above_baseline_mb": median peak - median baseline peak,
    "runs_mb": [...]}}`` plus ``"baseline"``.
    """
    names = ["baseline"] + list(variants)
    fns = {"baseline": baseline, **variants}
    runs: dict[str, list[float]] = {n: [] for n in names}
    values: dict[str, Any] = {}
    reset = True
    for rep in range(repeats):
        for n in (names if rep % 2 == 0 else names[::-1]):
            out = peak_rss_child(fns[n], timeout=timeout, warmup=warmup)
            if out["peak_kb"] is None:
                return {"_method": "not measured (no os.fork on this platform)"}
            reset &= bool(out["reset"])
            runs[n].append(out["peak_kb"] / 1024)
            values[n] = out["value"]
    base = median(runs["baseline"])
    res = {n: {"peak_mb": median(runs[n]), "above_baseline_mb": median(runs[n]) - base, "runs_mb": runs[n],
               "value": values[n]} for n in names}
    res["_method"] = ("forked child per run, 1 thread, glibc mmap threshold fixed at 64 KiB, "
                      + ("warm-up run on a tiny model, " if warmup else "") + "malloc_trim + high-water reset ("
                      + ("/proc/self/clear_refs" if reset else "NOT available: peaks floored at the fork's RSS")
                      + "), ru_maxrss after the run minus the same for a baseline child that builds the same "
                        "model and data")
    return res


def start(name: str, args: argparse.Namespace) -> None:
    """Apply ``--threads``, note the load average, and print the benchmark's banner."""
    import torch

    if hasattr(os, "getloadavg"):
        _LOAD_AT_START[:] = [round(x, 2) for x in os.getloadavg()]
    if args.threads and args.threads > 0:
        torch.set_num_threads(args.threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # keep tokenization on the calling thread
    try:  # "Loading weights" bars of every load_model call would drown the tables
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass
    print(f"\n== benchmark {name}{' (--tiny)' if args.tiny else ''}, {torch.get_num_threads()} torch thread(s) ==",
          flush=True)
