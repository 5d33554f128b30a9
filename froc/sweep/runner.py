"""Run a sweep end to end: prepare -> score references -> unlearning grid -> certify -> attack -> report.

Resumable: every configuration is written to the DuckDB store in one transaction when it
completes; running the same command again skips completed configurations (and attacks) and gives
results identical to an uninterrupted run (training and scoring are deterministic on CPU with a fixed
number of threads, ``SweepConfig.threads``; a training run whose later checkpoints are missing is
re-run from step 0, recomputing the earlier steps' weights but not their scores; trajectory
checkpoints equal runs of that many steps because the default schedule is constant, and runs with a
decaying schedule are not shared).
"""

from __future__ import annotations

import json
import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from froc.errors import ConfigError, unknown_choice
from froc.progress import console, progress_bar
from froc.sweep.config import SweepConfig, expand_grid, load_sweep, resolved_yaml
from froc.sweep.prepare import Prepared, prepare
from froc.sweep.store import Store

EXECUTORS = ("local", "ray")
REFERENCES = {"original": "__original__", "oracle": "__oracle__"}
EVENTS_ENV = "FROC_SWEEP_EVENTS"  # optional: a file that gets one JSON line per configuration committed to the store


def _event(**fields) -> None:
    """Append one line to ``$FROC_SWEEP_EVENTS`` (progress side channel for monitors and tests; the
    DuckDB file itself can only be opened while no writer holds it)."""
    path = os.environ.get(EVENTS_ENV)
    if not path:
        return
    line = json.dumps({**fields, "pid": os.getpid(), "time": time.time()}, default=str)
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    except OSError as e:  # a monitoring side channel never stops the sweep
        console.print(f"[yellow]{EVENTS_ENV}: cannot append to {path}: {e}[/]")


@dataclass
class SweepResult:
    out_dir: Path
    summary: dict
    report: Path | None
    timings: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- scoring


@contextmanager
def torch_threads(n: int | None):
    """Run with ``n`` torch intra-op threads (CPU results depend on it; see ``SweepConfig.threads``)."""
    import torch

    if n is None:
        yield
        return
    prev = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(prev)


def score_model(model, tokenizer, probes: list, cfg: SweepConfig, *, progress: bool = False) -> pd.DataFrame:
    """Per-sample scores of one model on the sweep's probes, with ``side`` and ``split`` columns."""
    from froc.metrics.scoring import score_probes

    res = score_probes(model, tokenizer, probes, batch_size=cfg.score_batch_size, generate=True,
                       max_new_tokens=cfg.max_new_tokens, progress=progress, seed=cfg.seed)
    df = res.table.reset_index(drop=True).copy()
    ids = [p.id for p in probes]
    if df["probe_id"].tolist() != ids:
        raise RuntimeError("score table rows are not aligned with the probes")
    df["n_perturbed"] = [len(p.perturbed_answers or []) for p in probes]
    df["side"] = [p.meta["side"] for p in probes]
    df["split"] = [p.meta["split"] for p in probes]
    return df


def config_metrics(scores: pd.DataFrame, refs: dict[str, pd.DataFrame]) -> dict:
    """All applicable registered metrics of one configuration (NaN -> None for JSON)."""
    from froc.metrics.registry import ScoreSet, compute_metrics

    vals, _ = compute_metrics(ScoreSet(target=scores, oracle=refs.get("oracle"), original=refs.get("original")))
    return {k: (None if v is None or (isinstance(v, float) and not math.isfinite(v)) else float(v)) for k, v in vals.items()}


# ----------------------------------------------------------------------------- one training run


def _unlearn_config(cfg: SweepConfig, steps: int, checkpoints: list[int]):
    from froc.engine import UnlearnConfig

    return UnlearnConfig(steps=steps, checkpoints=checkpoints, batch_size=cfg.batch_size, optimizer=cfg.optimizer,
                         seed=cfg.seed, device=cfg.device, lora={} if cfg.lora else None)


def load_unlearned(group: list[dict], step: int, prep: Prepared, cfg: SweepConfig, *, progress: bool = False):
    """Rebuild the model of configuration ``(group, step)`` by re-running its deterministic training."""
    from froc.engine import unlearn
    from froc.models.loading import load_model

    model, tok = load_model(prep.model_path, device=cfg.device)
    with torch_threads(cfg.threads):
        res = unlearn(model, tok, prep.forget, prep.retain, method=group[0]["method"], refusals=prep.refusals,
                      config=_unlearn_config(cfg, step, []), progress=progress, **group[0]["hparams"])
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
    t0 = time.perf_counter()
    scoring = [0.0]

    def on_checkpoint(step: int, m) -> bool:
        ts = time.perf_counter()
        df = score_model(m, tok, prep.probes, cfg)
        scoring[0] += time.perf_counter() - ts
        emit({**by_step[step], "status": "ok", "diverged_at": None, "scores": df,
              "train_seconds": ts - t0 - (scoring[0] - (time.perf_counter() - ts)), "score_seconds": time.perf_counter() - ts})
        emitted.add(step)
        return True

    try:
        with torch_threads(cfg.threads):
            res = unlearn(model, tok, prep.forget, prep.retain, method=group[0]["method"], refusals=prep.refusals,
                          config=_unlearn_config(cfg, max(pending), sorted(pending)), on_checkpoint=on_checkpoint,
                          progress=progress, **group[0]["hparams"])
        status, at, err = res.status, res.diverged_at, None
        missing = [s for s in pending if s not in emitted]
        if status == "completed" and missing and not res.losses:
            # a training-free method (the edit happens in its setup): no step was taken, so no checkpoint
            # was reached; the edited model is the result of every step count
            ts = time.perf_counter()
            with torch_threads(cfg.threads):
                df = score_model(res.model, tok, prep.probes, cfg)
            for s in missing:
                emit({**by_step[s], "status": "ok", "diverged_at": None, "scores": df, "train_seconds": ts - t0,
                      "score_seconds": time.perf_counter() - ts})
                emitted.add(s)
        elif status == "completed" and missing:
            err = f"training completed without reaching checkpoint(s) {missing}"
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - a failing configuration is a result, not a crash of the sweep
        status, at, err = "failed", None, f"{type(e).__name__}: {e}"
    for s in pending:
        if s not in emitted:
            emit({**by_step[s], "status": "diverged" if status == "diverged" else "failed", "diverged_at": at,
                  "scores": None, "train_seconds": time.perf_counter() - t0, "score_seconds": 0.0, "error": err})


# ----------------------------------------------------------------------------- executors


def _run_local(todo, prep, cfg, write, progress):
    with progress_bar("sweep (training runs)", len(todo)) as advance:
        for group, pending in todo:
            run_group(group, pending, prep, cfg, write, progress=False)
            advance(1, info=f"{group[0]['method']} {group[0]['hparams']}")


def _ray_group(group, pending, prep, cfg_dict):
    out: list[dict] = []
    run_group(group, pending, prep, SweepConfig.model_validate(cfg_dict), out.append, progress=False)
    return out


def _run_ray(todo, prep, cfg, write, progress, address=None, num_cpus=None):
    """One Ray task per training run; workers return records and the driver alone writes the store.

    Without ``address`` (and no Ray already initialised in this process) a local Ray instance is
    started with ``num_cpus`` CPUs (default: all) and shut down again at the end.
    """
    try:
        import ray
    except ImportError:
        raise ConfigError("the ray executor needs the 'ray' package: pip install 'froc[ray]'") from None
    started = False
    if not ray.is_initialized():
        kw = {"address": address} if address else {"num_cpus": num_cpus}
        ray.init(**kw, include_dashboard=False, log_to_driver=False)
        started = True
    try:
        gpus = ray.cluster_resources().get("GPU", 0)
        remote = ray.remote(_ray_group).options(**({"num_gpus": 1} if gpus else {"num_cpus": cfg.threads or 1}),
                                                max_retries=0)
        prep_ref = ray.put(prep)
        cfg_dict = cfg.model_dump()
        refs = [remote.remote(g, p, prep_ref, cfg_dict) for g, p in todo]
        where = f"{int(gpus)} GPUs" if gpus else f"{int(ray.cluster_resources().get('CPU', 0))} CPUs"
        with progress_bar(f"sweep on ray ({where})", len(refs)) as advance:
            while refs:
                ready, refs = ray.wait(refs, num_returns=1)
                for rec in ray.get(ready[0]):  # the driver alone writes the store
                    write(rec)
                advance(1)
    finally:
        if started:
            ray.shutdown()


# ----------------------------------------------------------------------------- the sweep


def _check_fingerprint(store: Store, prep: Prepared, cfg: SweepConfig, out: Path) -> None:
    """Stored scores are reusable only with the same models, data, probes, split and scoring settings."""
    fp = {"v": 2, "probes": prep.fingerprint(), "max_new_tokens": cfg.max_new_tokens,
          "score_batch_size": cfg.score_batch_size}
    old = store.get_meta("fingerprint")
    if old is not None and "v" not in json.loads(old):  # a store of the first version: probe ids and splits only
        legacy = {"probes": prep.legacy_fingerprint(), "max_new_tokens": cfg.max_new_tokens}
        old = json.dumps(fp) if json.loads(old) == legacy else old
    if old is not None and json.loads(old) != fp:
        changed = ", ".join(k for k in fp if json.loads(old).get(k) != fp[k])
        raise ConfigError(f"{out} holds results computed with other inputs ({changed} differ: the model, data, "
                          "probes_per_group, splits, seed, max_new_tokens or score_batch_size changed); "
                          "use a new --out folder")
    store.set_meta("fingerprint", fp)


def _duckdb_interrupt(e: BaseException) -> bool:
    """Whether ``e`` is DuckDB's answer to a Ctrl-C that landed inside one of its queries (``InterruptException``
    or a RuntimeError "Query interrupted"; the transaction was rolled back, so it is an interruption like any
    other)."""
    import duckdb

    return isinstance(e, getattr(duckdb, "InterruptException", ())) or (
        type(e) is RuntimeError and "query interrupted" in str(e).lower())


def run_sweep(config: SweepConfig | str | Path, out_dir: str | Path, *, executor: str = "local",
              address: str | None = None, cache_dir: str | Path | None = None, progress: bool = True,
              attacks: bool = True, report: bool = True, num_cpus: int | None = None) -> SweepResult:
    """Run (or resume) a sweep and write ``summary.json``, ``froc.duckdb`` and ``report.html`` to ``out_dir``.

    ``executor="ray"`` runs the training runs as Ray tasks: on the cluster at ``address``, or on a
    local Ray instance with ``num_cpus`` CPUs (default all) started for this call and shut down after.
    Interrupting (Ctrl-C, kill -9) loses at most the configurations in progress; the same call again
    continues where it stopped.
    """
    from froc.models.loading import load_model
    from froc.sweep.certify import certify_sweep

    if executor not in EXECUTORS:
        raise unknown_choice("executor", executor, EXECUTORS)
    cfg = config if isinstance(config, SweepConfig) else load_sweep(config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.resolved.yaml").write_text(resolved_yaml(cfg))
    timings: dict[str, float] = {}
    t_all = time.perf_counter()

    t = time.perf_counter()
    prep = prepare(cfg, cache_dir)
    timings["prepare (benchmark + models)"] = time.perf_counter() - t

    with Store(out / "froc.duckdb") as store:
        _check_fingerprint(store, prep, cfg, out)
        store.set_meta("sweep", resolved_yaml(cfg))
        done = store.done_configs()

        computed: list[str] = []

        def commit(**row) -> None:
            store.write_config(**row)
            computed.append(row["config_id"])
            _event(event="config", config_id=row["config_id"], status=row["status"])

        try:
            t = time.perf_counter()
            refs: dict[str, pd.DataFrame] = {}
            for name, path in (("original", prep.model_path), ("oracle", prep.oracle_path)):
                if path is None:
                    continue
                cid = REFERENCES[name]
                if cid not in done:
                    m, tok = load_model(path, device=cfg.device)
                    ts = time.perf_counter()
                    with torch_threads(cfg.threads):
                        df = score_model(m, tok, prep.probes, cfg, progress=progress)
                    commit(config_id=cid, train_key=cid, method="reference", hparams={"path": path}, steps=0,
                           status="ok", diverged_at=None, train_seconds=0.0, score_seconds=time.perf_counter() - ts,
                           metrics={}, scores=df)
                refs[name] = store.table(cid)
            timings["score references"] = time.perf_counter() - t

            grid = expand_grid(cfg)
            groups: dict[str, list[dict]] = {}
            for c in grid:
                groups.setdefault(c["train_key"], []).append(c)
            todo = []
            for key, group in groups.items():
                pending = [c["steps"] for c in group if c["config_id"] not in done]
                if pending:
                    todo.append((group, sorted(pending)))
            n_done = len(grid) - sum(len(p) for _, p in todo)
            console.print(f"sweep: {len(grid)} configurations in {len(groups)} training runs; "
                          f"{n_done} already complete, {len(todo)} runs to do")

            def write(rec: dict) -> None:
                scores = rec.get("scores")
                metrics = config_metrics(scores, refs) if scores is not None else {}
                if rec.get("error"):
                    metrics["error"] = rec["error"]
                commit(config_id=rec["config_id"], train_key=rec["train_key"], method=rec["method"],
                       hparams=rec["hparams"], steps=rec["steps"], status=rec["status"],
                       diverged_at=rec.get("diverged_at"), train_seconds=float(rec.get("train_seconds", 0.0)),
                       score_seconds=float(rec.get("score_seconds", 0.0)), metrics=metrics, scores=scores)

            t = time.perf_counter()
            if todo:
                if executor == "ray":
                    _run_ray(todo, prep, cfg, write, progress, address, num_cpus)
                else:
                    _run_local(todo, prep, cfg, write, progress)
            timings["sweep (unlearning + scoring)"] = time.perf_counter() - t
        except BaseException as e:
            if not (isinstance(e, KeyboardInterrupt) or _duckdb_interrupt(e)):
                raise
            try:
                n = f"{len(store.done_configs() - set(REFERENCES.values()))} configuration(s) are"
            except Exception:  # noqa: BLE001 - only for the message
                n = "completed configurations are"
            console.print(f"[yellow]interrupted:[/] {n} safely stored in {out / 'froc.duckdb'}; "
                          "run the same command again to continue")
            if isinstance(e, KeyboardInterrupt):
                raise
            raise KeyboardInterrupt from e

        t = time.perf_counter()
        summary = certify_sweep(store, cfg, prep, groups)
        timings["certify"] = time.perf_counter() - t

        if attacks and cfg.attacks:
            from froc.sweep.attack_stage import run_attack_stage

            t = time.perf_counter()
            run_attack_stage(store, cfg, prep, groups, summary, progress=progress)
            summary = certify_sweep(store, cfg, prep, groups)
            timings["attacks"] = time.perf_counter() - t

    summary["timings"] = {k: round(v, 2) for k, v in timings.items()}  # stages only: the report adds the total
    summary["seconds"] = round(time.perf_counter() - t_all, 2)
    _write_summary(out, summary)
    report_path = None
    if report:
        t = time.perf_counter()
        report_path = render(out, summary)
        summary["timings"]["report"] = round(time.perf_counter() - t, 2)
        summary["seconds"] = round(time.perf_counter() - t_all, 2)
        _write_summary(out, summary)
    n_new = len([c for c in computed if c not in REFERENCES.values()])
    console.print(f"sweep: finished in {summary['seconds']:.1f}s; {n_new} configuration(s) computed, "
                  f"{len(grid) - n_new} reused from {out / 'froc.duckdb'}")
    return SweepResult(out_dir=out, summary=summary, report=report_path, timings=summary["timings"])


def _write_summary(out: Path, summary: dict) -> None:
    """Write ``summary.json`` atomically (a crash never leaves a half-written file)."""
    tmp = out / f".summary.json.tmp{os.getpid()}"
    tmp.write_text(json.dumps(_finite(summary), indent=2, sort_keys=False, default=_json_default, allow_nan=False))
    os.replace(tmp, out / "summary.json")


def _finite(o):
    """NaN / inf -> None everywhere (``summary.json`` is strict JSON)."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    return o


def _json_default(o):
    import numpy as np

    if isinstance(o, (np.floating,)):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, np.ndarray):
        return _finite(o.tolist())
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def render(out: Path, summary: dict) -> Path:
    from froc.report import render_report

    return render_report(json.loads(json.dumps(summary, default=_json_default)), out)


def rerender(out_dir: str | Path) -> Path:
    """``froc report DIR``: re-render the report from the stored summary and store (no recomputation)."""
    out = Path(out_dir)
    s = out / "summary.json"
    if not out.is_dir():
        raise ConfigError(f"{out} is not a folder; give the --out folder of a `froc run`")
    if not s.is_file():
        raise ConfigError(f"{out} has no summary.json (not a sweep output folder, or its run stopped before "
                          f"certification); run `froc run SWEEP.yaml --out {out}` to complete it")
    try:
        summary = json.loads(s.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ConfigError(f"{s}: not a valid summary ({e}); run `froc run` again to rewrite it") from None
    if not isinstance(summary, dict):
        raise ConfigError(f"{s}: not a valid summary (expected a JSON object)")
    return render(out, summary)
