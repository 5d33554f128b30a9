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


# Options several commands take: one definition each (typer reads them as parameter defaults).
DEVICE = typer.Option("auto", "--device", help="auto, cpu or cuda.")
DTYPE = typer.Option("auto", "--dtype", help="auto, float32, bfloat16, float16.")
PEOPLE = typer.Option(200, "--people", help="Number of fictitious people.")
CACHE = typer.Option(None, "--cache", help="Cache folder of the built-in benchmark and models.")
# the prompt format (froc.models.encoding.PromptFormat), over the model folder's prompt_format.json
TEMPLATE = typer.Option(None, "--template", help="Prompt template with {question} (default: the model folder's "
                        "prompt_format.json, else 'Question: {question}\\nAnswer:').")
ANSWER_PREFIX = typer.Option(None, "--answer-prefix", help="Text between prompt and answer (default ' ').")
CHAT = typer.Option(None, "--chat/--no-chat", help="Prompt with the tokenizer's chat template (the question as the "
                    "user message).")
SYSTEM_PROMPT = typer.Option(None, "--system-prompt", help="System message of the chat template (implies --chat).")
ANSWER_EOS = typer.Option(None, "--answer-eos/--no-answer-eos", help="Score an EOS after QA answers (default yes, as "
                          "TOFU).")


def prompt_overrides(template, answer_prefix, chat, system_prompt, answer_eos) -> dict:
    """The prompt options as PromptFormat fields (None = the model folder's value)."""
    return {"template": template, "answer_prefix": answer_prefix, "chat": chat, "system_prompt": system_prompt,
            "add_eos": answer_eos}


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

