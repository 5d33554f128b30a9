"""The training runs of a sweep: one (method, hyperparameters) trajectory scored at each pending step,
on the local process or as Ray tasks; and the rebuild of one configuration's model (attack stage,
export). Every engine setting comes from one builder, so a resumed run, the attack stage and
``froc unlearn`` train the same model.
"""

from __future__ import annotations

import time
from typing import Callable

from froc.errors import ConfigError
from froc.progress import progress_bar
from froc.sweep.config import SweepConfig
from froc.sweep.prepare import Prepared
from froc.sweep.scores import score_model, torch_threads


class StoreFailure(Exception):
    """Writing a configuration's results failed (full disk, lost store): the run stops, the configuration is
    not recorded as failed (a failure of the machine is not a result of the configuration)."""


def _guarded(emit: Callable[[dict], None]) -> Callable[[dict], None]:
    def wrapped(rec: dict) -> None:
        try:
            emit(rec)
        except BaseException as e:
            raise StoreFailure(str(e)) from e
    return wrapped


def transient(e: BaseException) -> bool:
    """Failures of the machine rather than of the configuration (out of memory, disk full): they stop the run,
    so that a resume retries them instead of recording a "failed" configuration."""
    import errno

    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT, errno.ENOMEM, errno.EIO):
        return True
    name = type(e).__name__
    return name in ("OutOfMemoryError", "IOException") or "out of memory" in str(e).lower()


def _setup(cfg: SweepConfig, group: list[dict], steps: int, checkpoints: list[int], fmt=None):
    """The engine run of a training group: the same builder as the sweep's validation."""
    from froc.sweep.config import engine_setup

    return engine_setup(cfg, group[0], steps, checkpoints, fmt=fmt)


def load_unlearned(group: list[dict], step: int, prep: Prepared, cfg: SweepConfig, *, progress: bool = False):
    """Rebuild the model of configuration ``(group, step)`` by re-running its deterministic training."""
    from froc.engine import unlearn
    from froc.models.loading import load_model

    model, tok = load_model(prep.model_path, device=cfg.device)
    with torch_threads(cfg.threads):
        res = unlearn(model, tok, prep.forget, prep.retain, refusals=prep.refusals, progress=progress,
                      **_setup(cfg, group, step, [], prep.fmt).unlearn_kwargs())
    return res.model, tok, res


def run_group(group: list[dict], pending: list[int], prep: Prepared, cfg: SweepConfig,
              emit: Callable[[dict], None], *, progress: bool = True) -> None:
    """Train one (method, hparams) trajectory to the last pending step, scoring each pending checkpoint.

    ``emit`` receives one record per configuration: config fields, status, scores (DataFrame or None).
    """
    from froc.engine import unlearn
    from froc.models.loading import load_model

    by_step = {c["steps"]: c for c in group}
    model, tok = load_model(prep.model_path, device=cfg.device)
    emitted: set[int] = set()
    emit = _guarded(emit)
    t0 = time.perf_counter()
    scoring = [0.0]

    def on_checkpoint(step: int, m) -> bool:
        ts = time.perf_counter()
        df = score_model(m, tok, prep.probes, cfg, fmt=prep.fmt)
        scoring[0] += time.perf_counter() - ts
        emit({**by_step[step], "status": "ok", "diverged_at": None, "scores": df,
              "train_seconds": ts - t0 - (scoring[0] - (time.perf_counter() - ts)), "score_seconds": time.perf_counter() - ts})
        emitted.add(step)
        return True

    try:
        with torch_threads(cfg.threads):
            res = unlearn(model, tok, prep.forget, prep.retain, refusals=prep.refusals, on_checkpoint=on_checkpoint,
                          progress=progress, **_setup(cfg, group, max(pending), sorted(pending), prep.fmt).unlearn_kwargs())
        status, at, err = res.status, res.diverged_at, None
        missing = [s for s in pending if s not in emitted]
        if status == "completed" and missing and not res.losses:
            # a training-free method (the edit happens in its setup): no step was taken, so no checkpoint
            # was reached; the edited model is the result of every step count
            ts = time.perf_counter()
            df = score_model(res.model, tok, prep.probes, cfg, fmt=prep.fmt)
            for s in missing:
                emit({**by_step[s], "status": "ok", "diverged_at": None, "scores": df, "train_seconds": ts - t0,
                      "score_seconds": time.perf_counter() - ts})
                emitted.add(s)
        elif status == "completed" and missing:
            err = f"training completed without reaching checkpoint(s) {missing}"
    except StoreFailure as e:
        raise e.__cause__ from None
    except (ConfigError, MemoryError) as e:
        raise e
    except Exception as e:  # noqa: BLE001 - a failing configuration is a result, not a crash of the sweep
        if transient(e):
            raise
        status, at, err = "failed", None, f"{type(e).__name__}: {e}"
    for s in pending:
        if s not in emitted:
            emit({**by_step[s], "status": "diverged" if status == "diverged" else "failed", "diverged_at": at,
                  "scores": None, "train_seconds": time.perf_counter() - t0, "score_seconds": 0.0, "error": err})


# ----------------------------------------------------------------------------- executors


def _short(c: dict, width: int = 36) -> str:
    """A progress-bar label of a configuration that fits an 80-column line: method and hyperparameters."""
    hp = " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(c["hparams"].items()))
    text = f"{c['method']} {hp}".strip()
    return text if len(text) <= width else text[: width - 1] + "…"


def run_local(todo, prep, cfg, write, progress):
    with progress_bar("sweep (training runs)", len(todo)) as advance:
        for group, pending in todo:
            run_group(group, pending, prep, cfg, write, progress=False)
            advance(1, info=_short(group[0]))


def _ray_group(group, pending, prep, cfg_dict):
    """A Ray streaming task: the records of one training run, yielded as each configuration is scored."""
    import queue
    import threading

    records: queue.Queue = queue.Queue()
    end = object()

    def work():
        try:
            run_group(group, pending, prep, SweepConfig.model_validate(cfg_dict), records.put, progress=False)
        except BaseException as e:  # noqa: BLE001 - re-raised in the task below
            records.put(e)
        finally:
            records.put(end)

    threading.Thread(target=work, daemon=True).start()
    while (rec := records.get()) is not end:
        if isinstance(rec, BaseException):
            raise rec
        yield rec


RAY_RESUBMITS = 2  # times a training run whose worker died is resubmitted (with its still pending steps)


def _gpu_memory(ray) -> int | None:
    """One GPU's memory: FROC_GPU_MEMORY_GB, else measured by a 1-GPU task on the cluster, else None."""
    from froc.sweep.packing import gpu_memory_from_env

    env = gpu_memory_from_env()
    if env is not None:
        return env

    def probe():
        import torch

        return torch.cuda.get_device_properties(0).total_memory if torch.cuda.is_available() else None

    try:
        return ray.get(ray.remote(probe).options(num_gpus=1).remote(), timeout=120)
    except Exception:  # noqa: BLE001 - no measurement: one GPU per run
        return None


def _resources(group, pending, prep, cfg, gpus: float, gpu_memory: int | None) -> dict:
    """What one training run asks Ray for: ``threads`` CPUs, or its share of a GPU by estimated memory."""
    from froc.sweep.config import engine_setup
    from froc.sweep.packing import gpu_share, training_bytes, weight_bytes

    if not gpus:
        return {"num_cpus": cfg.threads or 1}
    weights = weight_bytes(prep.model_path)
    if gpu_memory is None or weights is None:
        return {"num_gpus": 1}
    setup = engine_setup(cfg, group[0], max(pending), [], check_device=False)
    need = training_bytes(weights, lora=setup.config.lora is not None, reference_copy="ref_model" in setup.needs)
    return {"num_gpus": gpu_share(need, gpu_memory)}


def run_ray(todo, prep, cfg, write, progress, address=None, num_cpus=None):
    """One Ray task per training run; workers stream records and the driver alone writes the store.

    - Packing: on a cluster with GPUs each run asks for its share of a GPU by estimated memory
      (``froc.sweep.packing``; one GPU's memory from FROC_GPU_MEMORY_GB or measured by a probe task), so several
      small-model runs share a GPU; without GPUs, ``threads`` CPUs per run.
    - Streaming: each configuration's record reaches the driver as soon as it is scored (a Ray streaming
      generator), is written to the store at once and advances the progress bar (one tick per configuration).
    - Retries: a run whose worker or node died (``WorkerCrashedError``, ``NodeDiedError``, ...) is resubmitted up
      to ``RAY_RESUBMITS`` times with only its steps not yet written; Ray's memory monitor killing a packed run
      resubmits it with a whole GPU. Records already written are kept. A run still failing after that does not
      stop the others; at the end a RuntimeError names it (run the same command again to resume). An error raised
      by the training itself propagates as with the local executor.

    Without ``address`` (and no Ray already initialised in this process) a local Ray instance is
    started with ``num_cpus`` CPUs (default: all) and shut down again at the end.
    """
    try:
        import ray
    except ImportError:
        raise ConfigError("the ray executor needs the 'ray' package: pip install 'froc[ray]'") from None
    from ray import exceptions as rex

    died = (rex.WorkerCrashedError, rex.NodeDiedError, rex.OwnerDiedError, rex.ObjectLostError,
            rex.LocalRayletDiedError, rex.OutOfMemoryError)
    started = False
    if not ray.is_initialized():
        kw = {"address": address} if address else {"num_cpus": num_cpus}
        ray.init(**kw, include_dashboard=False, log_to_driver=False)
        started = True
    try:
        gpus = ray.cluster_resources().get("GPU", 0)
        gpu_memory = _gpu_memory(ray) if gpus else None
        task = ray.remote(_ray_group)
        prep_ref = ray.put(prep)
        cfg_dict = cfg.model_dump()
        running: dict = {}  # generator -> (group, steps not yet written, resources, resubmits so far)
        lost: list[str] = []

        def submit(group, pending, res, tries):
            gen = task.options(**res, max_retries=0, num_returns="streaming").remote(group, pending, prep_ref, cfg_dict)
            running[gen] = (group, list(pending), res, tries)

        for g, p in todo:
            submit(g, p, _resources(g, p, prep, cfg, gpus, gpu_memory), 0)
        where = f"{int(gpus)} GPUs" if gpus else f"{int(ray.cluster_resources().get('CPU', 0))} CPUs"
        with progress_bar(f"sweep on ray ({where})", sum(len(p) for _, p in todo)) as advance:
            while running:
                ready, _ = ray.wait(list(running), num_returns=1)
                gen = ready[0]
                group, pending, res, tries = running[gen]
                try:
                    rec = ray.get(next(gen))
                except StopIteration:
                    del running[gen]
                    continue
                except died as e:
                    del running[gen]
                    if isinstance(e, rex.OutOfMemoryError) and res.get("num_gpus", 1) < 1:
                        res = {"num_gpus": 1}  # packed too tightly: a whole GPU
                    if tries < RAY_RESUBMITS:
                        submit(group, pending, res, tries + 1)
                    else:
                        lost.append(f"{group[0]['method']} {group[0]['hparams']} (steps {pending}): {type(e).__name__}")
                    continue
                write(rec)  # the driver alone writes the store
                pending.remove(rec["steps"])
                advance(1, info=f"{_short(rec)} s{rec['steps']}")
        if lost:
            raise RuntimeError(f"{len(lost)} training run(s) lost their Ray worker {RAY_RESUBMITS + 1} times: "
                               f"{'; '.join(lost)}. Completed configurations are stored; run the same command "
                               "again to train the rest")
    finally:
        if started:
            ray.shutdown()
