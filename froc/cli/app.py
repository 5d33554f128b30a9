"""The `froc` typer app, its sub-apps and the one error exit shared by every command."""

from __future__ import annotations


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
    from rich.text import Text

    from froc.errors import describe_os_error
    from froc.progress import console

    msg = describe_os_error(err) if isinstance(err, OSError) else str(err)
    console.print(Text("error: ", style="bold red") + Text(msg), highlight=False)  # user text is data, not markup
    raise typer.Exit(code=2)
