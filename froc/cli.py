"""The `froc` command line: a thin shell over the Python API (one call per command).

Each command imports its module lazily so `froc --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(
    name="froc",
    help="Risk-controlled machine unlearning for LLMs: unlearn, score, certify (Learn-then-Test), attack, report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
data_app = typer.Typer(help="Validate data files and generate the built-in benchmark.", no_args_is_help=True)
model_app = typer.Typer(help="Train the built-in benchmark's target and oracle models.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(model_app, name="model")


def _fail(err: Exception) -> None:
    """Print a user-facing error (no traceback) and exit 2."""
    from froc.progress import console

    console.print(f"[bold red]error:[/] {err}", markup=True, highlight=False)
    raise typer.Exit(code=2)


# ---- data commands (froc data ...) ----


def _print_check_report(report, console, shown: int = 5) -> None:
    """Rich rendering of a froc.data.check.CheckReport: one counts table per file, warnings, errors."""
    from rich.table import Table

    for s in report.files:
        table = Table(title=f"{s.path}  ({s.kind}, {s.n} items)", title_justify="left")
        table.add_column("count by")
        table.add_column("value")
        table.add_column("items", justify="right")
        table.add_row("kind", s.kind, str(s.n))
        for form, n in s.by_form.items():
            table.add_row("form", form, str(n))
        for key, counts in s.by_meta.items():
            for value, n in counts.items():
                table.add_row(f"meta.{key}", value, str(n))
        console.print(table)
        if s.warnings:
            console.print(f"[yellow]{len(s.warnings)} warning(s)[/] in {s.path}:", highlight=False)
            for w in s.warnings[:shown]:
                console.print(f"  {w}", markup=False, highlight=False)
            if len(s.warnings) > shown:
                console.print(f"  ... and {len(s.warnings) - shown} more", markup=False, highlight=False)
    for w in report.request_warnings:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
    for err in report.errors:
        console.print(f"[bold red]error:[/] {err.total} problem(s):", highlight=False)
        console.print(str(err), markup=False, highlight=False)


@data_app.command("check")
def data_check(
    paths: Optional[List[str]] = typer.Argument(None, help="Item files: .jsonl/.json/.csv/.parquet/.txt or a datasets folder (folder::split)."),
    kind: Optional[str] = typer.Option(None, "--kind", help="qa, text or refusal (default: inferred from the first record)."),
    forget: Optional[str] = typer.Option(None, "--forget", help="Forget request file; checked against --retain."),
    retain: Optional[str] = typer.Option(None, "--retain", help="Retain data file (with --forget)."),
    probes: Optional[str] = typer.Option(None, "--probes", help="Probe file (qa), checked with --forget/--retain."),
    max_answer_chars: Optional[int] = typer.Option(None, "--max-answer-chars", help="Warn about (and truncate) longer answers."),
) -> None:
    """Validate data files; print counts per kind, form, meta.group and meta.split.

    Exits 1 listing every offending line (file, line, field, expectation; first 50 per file).

    Examples:

      froc data check forget.jsonl retain.csv

      froc data check refusals.txt --kind refusal

      froc data check --forget forget.jsonl --retain retain.parquet --probes probes.jsonl
    """
    from rich.console import Console

    from froc.data.check import check
    from froc.data.schema import KINDS
    from froc.errors import DataError, unknown_choice

    if kind is not None and kind not in KINDS:
        _fail(unknown_choice("kind", kind, KINDS))
    if not paths and forget is None:
        _fail(ValueError("give at least one PATH, or --forget and --retain"))
    try:
        report = check(paths or [], kind, forget=forget, retain=retain, probes=probes, max_answer_chars=max_answer_chars)
    except DataError as e:
        _fail(e)
    _print_check_report(report, Console(soft_wrap=True))
    if not report.ok:
        raise typer.Exit(code=1)


@data_app.command("generate")
def data_generate(
    out: Path = typer.Option(..., "--out", help="Folder to write the benchmark into (new, empty, or an earlier benchmark)."),
    people: int = typer.Option(200, "--people", help="Number of fictitious people."),
    seed: int = typer.Option(0, "--seed", help="Seed; the same seed gives byte-identical files."),
) -> None:
    """Generate the built-in benchmark of fictitious people (TOFU-like), deterministic in the seed.

    Writes manifest.json, people.jsonl, train.jsonl, probes.jsonl, world.jsonl, refusals.txt and
    splits/forget{01,05,10}.json.

    Example:

      froc data generate --out bench --people 200 --seed 0
    """
    from rich.console import Console
    from rich.table import Table

    from froc.data.benchmark import generate
    from froc.errors import FrocError

    try:
        manifest = generate(out, n_people=people, seed=seed)
    except FrocError as e:
        _fail(e)
    console = Console(soft_wrap=True)
    table = Table(title=f"benchmark v{manifest.version} in {out} (seed {seed})", title_justify="left")
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

# ---- unlearning commands (froc unlearn, froc methods) ----

# ---- evaluation commands (froc eval) ----

# ---- attack commands (froc attack) ----

# ---- sweep / report / demo commands (froc run, froc report, froc demo) ----

# ---- benchmark commands (froc bench) ----


def main() -> None:
    app()


if __name__ == "__main__":
    main()
