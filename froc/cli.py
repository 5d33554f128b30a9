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
