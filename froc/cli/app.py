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


def reflow_help(doc: str) -> str:
    """A command docstring as help text: the lines of each flush-left paragraph joined into one line (the terminal
    wraps it to its width), indented lines (examples) and blank lines kept as written."""
    import inspect
    import re

    out: list[str] = []
    for line in inspect.cleandoc(doc).splitlines():
        flush = bool(line.strip()) and not line.startswith(" ") and not re.match(r"([-*]|\d+[.)]) ", line)
        prev_flush = bool(out) and bool(out[-1].strip()) and not out[-1].startswith(" ") and not out[-1].endswith(":")
        if flush and prev_flush:
            out[-1] += " " + line.strip()
        else:
            out.append(line)
    return "\n".join(out)


def reflow_all_help(root: typer.Typer = app) -> None:
    """Give every registered command (sub-apps included) its reflowed docstring as help, so a paragraph written
    over several source lines is not printed with the source's line breaks at narrow terminals."""
    for cmd in root.registered_commands:
        doc = cmd.help or (cmd.callback.__doc__ if cmd.callback else None)
        if doc:
            cmd.help = reflow_help(doc)
    for group in root.registered_groups:
        if group.typer_instance is not None:
            reflow_all_help(group.typer_instance)

