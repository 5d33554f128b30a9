"""`froc data ...` and `froc model ...`: validate, generate and train the built-in benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from froc.cli.app import PEOPLE, _fail, app, data_app, model_app  # noqa: F401  (the shared app)


# ---- data commands (froc data ...) ----


def _print_check_report(report, console, shown: int = 5) -> None:
    """Rich rendering of a froc.data.check.CheckReport: one counts table per file, warnings, errors."""
    from rich.table import Table
    from rich.text import Text

    for s in report.files:
        table = Table(title=Text(f"{s.path}  ({s.kind}, {s.n} items)"), title_justify="left")  # user text: no markup
        table.add_column("count by")
        table.add_column("value")
        table.add_column("items", justify="right")
        table.add_row("kind", Text(s.kind), str(s.n))
        for form, n in s.by_form.items():
            table.add_row("form", Text(str(form)), str(n))
        for key, counts in s.by_meta.items():
            for value, n in counts.items():
                table.add_row(Text(f"meta.{key}"), Text(str(value)), str(n))
        console.print(table)
        if s.warnings:
            console.print(Text(f"{len(s.warnings)} warning(s)", style="yellow") + Text(f" in {s.path}:"), highlight=False)
            for w in s.warnings[:shown]:
                console.print(f"  {w}", markup=False, highlight=False)
            if len(s.warnings) > shown:
                console.print(f"  ... and {len(s.warnings) - shown} more", markup=False, highlight=False)
    _print_request_warnings(report.request_warnings, console, shown)
    for err in report.errors:
        console.print(f"[bold red]error:[/] {err.total} problem(s):", highlight=False)
        console.print(str(err), markup=False, highlight=False)


def _print_request_warnings(warnings, console, shown: int = 3) -> None:
    """Repeated warnings in one line per kind, with a count, a few examples and a file with all of them."""
    import re
    import tempfile

    from rich.text import Text

    if not warnings:
        return
    kinds: dict[str, list] = {}
    for w in warnings:
        kinds.setdefault(re.sub(r"'[^']*'", "'…'", str(getattr(w, "message", w))), []).append(w)
    details = None
    if any(len(v) > shown for v in kinds.values()):
        fd, details = tempfile.mkstemp(prefix="froc-data-check-", suffix=".txt")
        with open(fd, "w", encoding="utf-8") as f:
            f.write("".join(f"{w}\n" for w in warnings))
    for kind, ws in kinds.items():
        console.print(Text("warning: ", style="yellow") + Text(f"{len(ws)} x {kind}"), highlight=False)
        for w in ws[:shown]:
            console.print(Text(f"  {w}"), highlight=False)
        if len(ws) > shown:
            console.print(Text(f"  ... and {len(ws) - shown} more: all {len(warnings)} warnings in {details}"),
                          highlight=False)


def _check_benchmark(fmt: str, paths: list[str]) -> None:
    """``froc data check --format``: a table of the splits found in each benchmark folder (exit 1 on errors)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from froc.data.published import BENCHMARKS, inspect_benchmark
    from froc.errors import DataError, unknown_choice

    if fmt not in BENCHMARKS:
        _fail(unknown_choice("format", fmt, BENCHMARKS))
    if not paths:
        _fail(ValueError(f"give the {fmt.upper()} folder as PATH"))
    console, bad = Console(soft_wrap=False), False
    for path in paths:
        try:
            counts, errors = inspect_benchmark(fmt, path)
        except DataError as e:
            counts, errors = [], [e]
        table = Table(title=Text(f"{path}  ({fmt}, {len(counts)} splits)"), title_justify="left")
        table.add_column("split", overflow="fold")
        table.add_column("rows", justify="right")
        table.add_column("froc items", justify="right")
        table.add_column("role", overflow="fold")
        for c in counts:
            table.add_row(Text(c.split), str(c.n), "" if c.n_items is None else str(c.n_items), Text(c.role))
        console.print(table)
        if not counts and not errors:
            console.print(Text(f"no {fmt.upper()} split found in {path} (see docs/BENCHMARKS.md for the layouts)"))
            bad = True
        for err in errors:
            bad = True
            console.print(f"[bold red]error:[/] {err.total} problem(s):", highlight=False)
            console.print(str(err), markup=False, highlight=False, soft_wrap=True)
    if bad:
        raise typer.Exit(code=1)


@data_app.command("check")
def data_check(
    paths: Optional[List[str]] = typer.Argument(None, help="Item files: .jsonl/.json/.csv/.parquet/.txt or a datasets folder (folder::split)."),
    kind: Optional[str] = typer.Option(None, "--kind", help="qa, text or refusal (default: inferred from the first record)."),
    forget: Optional[str] = typer.Option(None, "--forget", help="Forget request file; checked against --retain."),
    retain: Optional[str] = typer.Option(None, "--retain", help="Retain data file (with --forget)."),
    probes: Optional[str] = typer.Option(None, "--probes", help="Probe file (qa), checked with --forget/--retain."),
    max_answer_chars: Optional[int] = typer.Option(None, "--max-answer-chars", help="Warn about (and truncate) longer answers."),
    fmt: Optional[str] = typer.Option(None, "--format", help="A published benchmark folder: tofu, muse or wmdp (PATH is its folder)."),
) -> None:
    """Validate data files; print counts per kind, form, meta.group and meta.split.

    With --format tofu|muse|wmdp, PATH is a benchmark folder in its published layout: every split
    found is listed with its row count (see docs/BENCHMARKS.md).

    Exits 1 listing every offending line (file, line, field, expectation; first 50 per file).

    Examples:

      froc data check forget.jsonl retain.csv

      froc data check refusals.txt --kind refusal

      froc data check --forget forget.jsonl --retain retain.parquet --probes probes.jsonl

      froc data check --format tofu data/TOFU
    """
    from rich.console import Console

    from froc.data.check import check
    from froc.data.schema import KINDS
    from froc.errors import DataError, unknown_choice

    if fmt is not None:
        _check_benchmark(fmt, paths or [])
        return
    if kind is not None and kind not in KINDS:
        _fail(unknown_choice("kind", kind, KINDS))
    if not paths and forget is None:
        _fail(ValueError("give at least one PATH, or --forget and --retain"))
    try:
        report = check(paths or [], kind, forget=forget, retain=retain, probes=probes, max_answer_chars=max_answer_chars)
    except (DataError, OSError) as e:
        _fail(e)
    _print_check_report(report, Console(soft_wrap=True))
    if not report.ok:
        raise typer.Exit(code=1)


@data_app.command("generate")
def data_generate(
    out: Path = typer.Option(..., "--out", help="Folder to write the benchmark into (new, empty, or an earlier benchmark)."),
    people: int = PEOPLE,
    seed: int = typer.Option(0, "--seed", help="Seed; the same seed gives byte-identical files."),
) -> None:
    """Generate the built-in benchmark of fictitious people (TOFU-like), deterministic in the seed.

    Writes manifest.json, people.jsonl, train.jsonl, probes.jsonl, world.jsonl, refusals.txt,
    splits/forget{01,05,10}.json, and two files no default model or sweep reads: reasoning.jsonl (two-hop
    questions with written reasoning traces, for r2mu) and unknown.jsonl (the hallucination toy: people no
    model is trained on, answered by a refusal, for au).

    Example:

      froc data generate --out bench --people 200 --seed 0
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from froc.data.benchmark import generate
    from froc.errors import FrocError

    try:
        manifest = generate(out, n_people=people, seed=seed)
    except (FrocError, OSError) as e:
        _fail(e)
    console = Console(soft_wrap=True)
    table = Table(title=Text(f"benchmark v{manifest.version} in {out} (seed {seed})"), title_justify="left")
    table.add_column("file")
    table.add_column("records", justify="right")
    for f, n in manifest.counts.items():
        table.add_row(f, str(n))
    console.print(table)
    per = manifest.items_per_person
    console.print(f"{manifest.n_people} people; per person {per['train']} training and {per['probes']} probe items",
                  highlight=False)
    for name, s in manifest.splits.items():
        console.print(f"{name}: {s['forget']} forget, {s['neighbour']} neighbour, {s['retain']} retain people",
                      highlight=False)


# ---- model commands (froc model ...) ----


@model_app.command("train-benchmark")
def model_train_benchmark(
    out: Path = typer.Option(None, "--out", help="Cache folder for data and models (default: $FROC_CACHE or ~/.cache/froc)."),
    forget_split: int = typer.Option(10, "--forget-split", help="Percent of people to forget: 1, 5 or 10."),
    people: int = PEOPLE,
    seed: int = typer.Option(0, "--seed", help="Data seed."),
    arch: str = typer.Option("mini", "--arch", help="Model size: tiny, mini, small, 1m, 5m, 20m, 100m."),
    epochs: int = typer.Option(None, "--epochs", help="Maximum training epochs (default from the built-in config)."),
    force: bool = typer.Option(False, "--force", help="Retrain even if cached models exist."),
    reasoning: bool = typer.Option(False, "--reasoning", help="Also train on the two-hop reasoning form "
                                   "(reasoning.jsonl: question -> written trace + answer), for r2mu; a separate "
                                   "pair of models."),
) -> None:
    """Generate the built-in benchmark and train its target and retain-oracle models (cached).

    Examples:
      froc model train-benchmark --out ./froc_out/cache
      froc model train-benchmark --forget-split 5 --people 100
      froc model train-benchmark --people 20 --reasoning
    """
    from froc.errors import FrocError

    try:
        bm = _train_benchmark(out, forget_split, people, seed, arch, epochs, force, reasoning)
    except (FrocError, OSError) as e:
        _fail(e)
    _print_training_report(bm)


def _train_benchmark(out, forget_split, people, seed, arch, epochs, force, reasoning=False):
    from froc.errors import ConfigError
    from froc.models.builtin import BuiltinConfig, ensure_benchmark_models

    if forget_split not in (1, 5, 10):
        raise ConfigError(f"--forget-split must be 1, 5 or 10, got {forget_split}")
    cfg = BuiltinConfig(n_people=people, data_seed=seed, forget_split=f"forget{forget_split:02d}", arch=arch,
                        reasoning=reasoning)
    if epochs is not None:
        cfg.sft.epochs = epochs
    return ensure_benchmark_models(out, cfg, force=force)


def _print_training_report(bm) -> None:
    """One row per measure (parameters, items, epochs, seconds, exact match per family), one column per model:
    readable at 80 columns however many exact-match measures the models have."""
    from rich.table import Table
    from rich.text import Text

    from froc.progress import console

    t = Table(title=Text(f"built-in benchmark models ({bm.root})"), title_justify="left")
    t.add_column("measure")
    for m in ("target", "oracle"):
        t.add_column(m, justify="right")
    keys = sorted({k for m in ("target", "oracle") for k in bm.report.get(m, {}) if k.startswith(("train_em", "heldout_em"))})
    labels = {"params": "parameters", "items": "training items", "epochs": "epochs", "seconds": "seconds"}
    for k in ["params", "items", "epochs", "seconds", *keys]:
        cells = []
        for m in ("target", "oracle"):
            v = bm.report.get(m, {}).get(k, "")
            cells.append(f"{v:.3f}" if isinstance(v, float) and k != "seconds" else f"{v:,}" if isinstance(v, int)
                         else str(v))
        label = labels.get(k) or k.replace("_em_", " exact match, ").replace("_", " ")
        t.add_row(label, *cells)
    console.print(t)
    console.print(f"data: {bm.bench_dir}\ntarget: {bm.target_dir}\noracle: {bm.oracle_dir}", markup=False,
                  highlight=False)
