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

import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from rich.markup import escape

from froc.errors import ConfigError, unknown_choice
from froc.progress import console
from froc.records import SweepSummary, read_summary
from froc.sweep.attack_stage import run_attack_stage
from froc.sweep.certify import certify_sweep, oracle_check, preflight
from froc.sweep.config import SweepConfig, expand_grid, load_sweep, resolved_yaml
from froc.sweep.losses import REFERENCES
from froc.sweep.prepare import Prepared, prepare
from froc.sweep.scores import config_metrics, score_model
from froc.sweep.store import Store
from froc.sweep.training import run_local, run_ray

EXECUTORS = ("local", "ray")
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
        console.print(f"[yellow]{EVENTS_ENV}: cannot append to {escape(path)}: {escape(str(e))}[/]")


@dataclass
class SweepResult:
    out_dir: Path
    summary: SweepSummary
    report: Path | None
    timings: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- the sweep


def _check_fingerprint(store: Store, prep: Prepared, cfg: SweepConfig, out: Path) -> None:
    """Stored scores are reusable only with the same models, data, probes, split and scoring settings."""
    fp = {"v": 2, "probes": prep.fingerprint(), "max_new_tokens": cfg.max_new_tokens,
          "score_batch_size": cfg.score_batch_size}
    from froc.models.encoding import DEFAULT_FORMAT

    if prep.fmt is not None and prep.fmt != DEFAULT_FORMAT:  # kept out at the default: older stores stay valid
        fp["prompt_format"] = dataclasses.asdict(prep.fmt)
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


class _Run:
    """The state shared by the stages of one ``run_sweep`` call."""

    def __init__(self, cfg: SweepConfig, out: Path, store: Store, prep: Prepared, progress: bool, t0: float):
        self.cfg, self.out, self.store, self.prep, self.progress = cfg, out, store, prep, progress
        self.computed: list[str] = []
        self.refs: dict[str, pd.DataFrame] = {}
        self.t0 = t0  # when this call of run_sweep started (preparation and model training included)
        self.elapsed_before = float(store.get_meta("elapsed_seconds", "0") or 0.0)

    def elapsed(self) -> float:
        """Wall time of the whole run, across resumes (each call to run_sweep adds its own)."""
        return self.elapsed_before + time.perf_counter() - self.t0

    def commit(self, **row) -> None:
        self.store.write_config(**row)
        self.store.set_meta("elapsed_seconds", f"{self.elapsed():.3f}")
        self.computed.append(row["config_id"])
        _event(event="config", config_id=row["config_id"], status=row["status"])


def _score_references(run: _Run) -> None:
    """Score the original model and the retain oracle (once; stored as ``__original__`` / ``__oracle__``)."""
    from froc.models.loading import load_model

    done = run.store.done_configs()
    for name, path in (("original", run.prep.model_path), ("oracle", run.prep.oracle_path)):
        if path is None:
            continue
        cid = REFERENCES[name]
        if cid not in done:
            m, tok = load_model(path, device=run.cfg.device)
            if name == "original":  # before any training: a probe scored as NaN would count as "forgotten"
                from froc.data.check_tokens import check_scorable

                check_scorable(tok, run.prep.probes, file=(run.cfg.data.probes or run.cfg.data.path) if run.cfg.data
                               else "the built-in probes")
            ts = time.perf_counter()
            df = score_model(m, tok, run.prep.probes, run.cfg, progress=run.progress, fmt=run.prep.fmt)
            from froc.data.check_tokens import check_finite_scores

            check_finite_scores(df, f"the {name} model ({path})")  # a broken reference is an error, not a baseline
            run.commit(config_id=cid, train_key=cid, method="reference", hparams={"path": path}, steps=0, status="ok",
                       diverged_at=None, train_seconds=0.0, score_seconds=time.perf_counter() - ts, metrics={},
                       scores=df)
        run.refs[name] = run.store.table(cid)


def _train_grid(run: _Run, executor: str, address: str | None, num_cpus: int | None) -> int:
    """Train and score every pending configuration; returns the grid size."""
    grid = expand_grid(run.cfg)
    done = run.store.done_configs()
    groups: dict[str, list[dict]] = {}
    for c in grid:
        groups.setdefault(c["train_key"], []).append(c)
    todo = [(g, sorted(c["steps"] for c in g if c["config_id"] not in done)) for g in groups.values()]
    todo = [(g, p) for g, p in todo if p]
    n_done = len(grid) - sum(len(p) for _, p in todo)
    console.print(f"sweep: {len(grid)} configurations in {len(groups)} training runs; "
                  f"{n_done} already complete, {len(todo)} runs to do", markup=False)

    def write(rec: dict) -> None:
        scores = rec.get("scores")
        metrics = config_metrics(scores, run.refs) if scores is not None else {}
        if rec.get("error"):
            metrics["error"] = rec["error"]
        run.commit(config_id=rec["config_id"], train_key=rec["train_key"], method=rec["method"],
                   hparams=rec["hparams"], steps=rec["steps"], status=rec["status"],
                   diverged_at=rec.get("diverged_at"), train_seconds=float(rec.get("train_seconds", 0.0)),
                   score_seconds=float(rec.get("score_seconds", 0.0)), metrics=metrics, scores=scores)

    if todo:
        if executor == "ray":
            run_ray(todo, run.prep, run.cfg, write, run.progress, address, num_cpus)
        else:
            run_local(todo, run.prep, run.cfg, write, run.progress)
    return len(grid)


def _interrupted(run: _Run, e: BaseException) -> None:
    """Say what is safe after Ctrl-C (or DuckDB's version of it) and re-raise as KeyboardInterrupt."""
    try:
        n = f"{len(run.store.done_configs() - set(REFERENCES.values()))} configuration(s) are"
    except Exception:  # noqa: BLE001 - only for the message
        n = "completed configurations are"
    console.print(f"[yellow]interrupted:[/] {n} safely stored in {escape(str(run.out / 'froc.duckdb'))}; "
                  "run the same command again to continue")
    if isinstance(e, KeyboardInterrupt):
        raise e
    raise KeyboardInterrupt from e


def run_sweep(config: SweepConfig | str | Path, out_dir: str | Path, *, executor: str = "local",
              address: str | None = None, cache_dir: str | Path | None = None, progress: bool = True,
              attacks: bool = True, report: bool = True, num_cpus: int | None = None) -> SweepResult:
    """Run (or resume) a sweep and write ``summary.json``, ``froc.duckdb`` and ``report.html`` to ``out_dir``.

    Stages: prepare (data, models) -> score the references -> train and score the grid -> certify
    (:func:`froc.sweep.certify.certify_sweep`) -> attack the certified configurations -> summary and report.
    ``executor="ray"`` runs the training runs as Ray tasks: on the cluster at ``address``, or on a
    local Ray instance with ``num_cpus`` CPUs (default all) started for this call and shut down after.
    Interrupting (Ctrl-C, kill -9) loses at most the configurations in progress; the same call again
    continues where it stopped. A failing store write (a full disk) stops the run; nothing stored is lost.
    """
    if executor not in EXECUTORS:
        raise unknown_choice("executor", executor, EXECUTORS)
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        raise ConfigError("froc run is one process that owns its store: launched with torchrun, every rank would run "
                          "the whole sweep against the same store. Run it without torchrun (spread configurations "
                          "with --executor ray); torchrun is for one `froc unlearn` run on several processes")
    t_start = time.perf_counter()
    cfg = config if isinstance(config, SweepConfig) else load_sweep(config, check_files=True)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "sweep.resolved.yaml", resolved_yaml(cfg))
    timings: dict[str, float] = {}
    t = time.perf_counter()
    prep = prepare(cfg, cache_dir)
    timings["prepare (benchmark + models)"] = time.perf_counter() - t
    plan = preflight(cfg, prep)
    if not plan["feasible"]:
        src = "sweep" if isinstance(config, SweepConfig) else str(config)
        raise ConfigError(f"{src}: {plan['message']}")

    with Store(out / "froc.duckdb") as store:
        _check_fingerprint(store, prep, cfg, out)
        store.set_meta("sweep", resolved_yaml(cfg))
        run = _Run(cfg, out, store, prep, progress, t_start)
        try:
            t = time.perf_counter()
            _score_references(run)
            timings["score references"] = time.perf_counter() - t
            said = oracle_check(store, cfg)
            if said:
                console.print(said, markup=False)
            t = time.perf_counter()
            n_grid = _train_grid(run, executor, address, num_cpus)
            timings["sweep (unlearning + scoring)"] = time.perf_counter() - t
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt) or _duckdb_interrupt(e):
                _interrupted(run, e)
            raise
        t = time.perf_counter()
        summary = certify_sweep(store, cfg, prep)
        timings["certify"] = time.perf_counter() - t
        if attacks and cfg.attacks:
            t = time.perf_counter()
            run_attack_stage(store, cfg, prep, summary, progress=progress)
            summary = certify_sweep(store, cfg, prep)
            timings["attacks"] = time.perf_counter() - t
        summary.timings = {k: round(v, 2) for k, v in timings.items()}  # stages of this call; seconds: whole run
        summary.seconds = round(run.elapsed(), 2)
        store.set_meta("elapsed_seconds", f"{run.elapsed():.3f}")
    write_summary(out, summary)
    report_path = None
    if report:
        t = time.perf_counter()
        report_path = render(out, summary)
        summary.timings["report"] = round(time.perf_counter() - t, 2)
        summary.seconds = round(run.elapsed(), 2)
        write_summary(out, summary)
    n_new = len([c for c in run.computed if c not in REFERENCES.values()])
    console.print(f"sweep: finished in {summary.seconds:.1f}s; {n_new} configuration(s) computed, "
                  f"{n_grid - n_new} reused from {out / 'froc.duckdb'}", markup=False)
    return SweepResult(out_dir=out, summary=summary, report=report_path, timings=summary.timings)


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, replacing a symlink itself rather than writing through it, and
    removing the temporary file if the write fails (a full disk leaves nothing behind)."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_summary(out: Path, summary: SweepSummary) -> None:
    """Write ``summary.json`` atomically (a crash never leaves a half-written file or a temporary one)."""
    write_text(out / "summary.json", json.dumps(summary.to_dict(), indent=2, allow_nan=False))


def render(out: Path, summary: SweepSummary) -> Path:
    from froc.report import render_report

    return render_report(summary.to_dict(), out)


def rerender(out_dir: str | Path) -> Path:
    """``froc report DIR``: re-render the report from the stored summary (no recomputation)."""
    return render(Path(out_dir), read_summary(out_dir))
