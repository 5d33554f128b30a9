"""Terminal output of the CLI's model commands (``froc methods``, ``froc eval``, ``froc attack``).

Kept with the CLI, out of the Python API modules. Short forms fit an 80-column terminal; user strings (probe
groups, metric notes, attack details) are printed as data, never as rich markup.
"""

from __future__ import annotations

import math
import re
import shutil
import textwrap
from pathlib import Path
from typing import Any


def _width() -> int:
    return max(40, min(100, shutil.get_terminal_size((80, 24)).columns))


def _console():
    from rich.console import Console

    return Console(soft_wrap=True, highlight=False)


# ----------------------------------------------------------------------------- froc methods


def paper_label(paper: str) -> str:
    """A method's paper without its links: the authors, year and title part of ``MethodSpec.paper``."""
    return re.split(r"[,;]? *(?:code: )?https?://", paper)[0].strip(" ,;")


def methods_list(width: int | None = None) -> str:
    """Per registered method: its name and what it does, then its paper (authors, year, title; shortened with
    "..." to fit), both wrapped under the text, never past ``width``."""
    from froc.methods.registry import METHODS

    width = width or _width()
    pad = max(len(n) for n in METHODS) + 2
    lines = []
    for name, spec in METHODS.items():
        text = spec.summary + (" [wrapper: base=METHOD]" if spec.wrapper else "")
        wrapped = textwrap.wrap(text, width - pad) or [""]
        lines.append(name.ljust(pad) + wrapped[0])
        lines += [" " * pad + w for w in wrapped[1:]]
        lines.append(" " * pad + textwrap.shorten("paper: " + paper_label(spec.paper), width - pad, placeholder="..."))
    lines.append("")
    lines.append("Details (paper, hyperparameters with defaults, needs): froc methods NAME")
    return "\n".join(lines)


def _field_docs(cls: type) -> dict[str, str]:
    """``{field: description}`` from the ``Attributes:`` section of a config dataclass's docstring."""
    doc = cls.__doc__ or ""
    if "Attributes:" not in doc:
        return {}
    body = textwrap.dedent(doc.split("Attributes:", 1)[1].strip("\n"))
    out: dict[str, str] = {}
    key = None
    for line in body.splitlines():
        m = re.match(r"(\w+):\s*(.*)", line)
        if m:
            key, out[m.group(1)] = m.group(1), m.group(2)
        elif key and line.strip():
            out[key] += " " + line.strip()
    return out


def method_detail(name: str, width: int | None = None) -> str:
    """A method's summary, paper, hyperparameters with defaults (and their meaning), needs, LoRA use.

    Raises:
        ConfigError: unknown method (listing the valid ones).
    """
    from froc.methods.registry import build_config, get_method

    width = width or _width()
    spec = get_method(name)
    cfg, _ = build_config(spec, {})
    wrap = lambda s, ind="  ": textwrap.fill(s, width, initial_indent=ind, subsequent_indent=ind)  # noqa: E731
    lines = [f"{spec.name}: {spec.summary}", "", "paper:", wrap(spec.paper), "", "hyperparameters (default):"]
    # docstrings are reStructuredText: ``x`` reads as `x` in a terminal
    docs = {k: v.replace("``", "`") for c in reversed(spec.config.__mro__) for k, v in _field_docs(c).items()}
    hp = spec.hparams()
    pad = max((len(f"{k} = {v!r}") for k, v in hp.items()), default=0) + 2
    for k, v in hp.items():
        left = f"{k} = {v!r}"
        meaning = docs.get(k, "")
        if meaning and pad + 2 + len(meaning) <= width:
            lines.append("  " + left.ljust(pad) + meaning)
        else:
            lines.append("  " + left)
            if meaning:
                lines.append(wrap(meaning, "      "))
    if not hp:
        lines.append("  (none)")
    if spec.wrapper:
        lines.append(f"  + the base method's hyperparameters (froc methods {cfg.base})")
    needs = sorted(spec.needs_for(cfg))
    if "retain_weight" in hp and "retain" not in needs:
        needs.append("retain (if retain_weight > 0)")
    lines += ["", "needs: " + (", ".join(needs) or "forget data only"),
              "trains: " + ("yes" if spec.trains(cfg) else "no (training-free edit)"),
              "LoRA: " + ("yes" if spec.lora else "no (changes chosen weights directly)")]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- froc eval


def print_metrics(result, out: str | Path | None = None) -> None:
    """The metrics of a :class:`froc.metrics.evaluate.EvalResult` as a table (value, direction), then the notes."""
    from rich.table import Table

    from froc.metrics.registry import METRICS, base_name

    arrow = {True: "higher", False: "lower", None: "-"}
    t = Table(title="froc eval", title_justify="left")
    t.add_column("metric")
    t.add_column("value", justify="right")
    t.add_column("better", justify="center")
    for k, v in result.metrics.items():
        t.add_row(k, "nan" if math.isnan(v) else f"{v:.4f}", arrow[METRICS[base_name(k)].higher_is_better])
    console = _console()
    console.print(t)
    for n in result.notes:
        console.print("note: " + n, markup=False, style="yellow")
    if out is not None:
        console.print(f"wrote {Path(out) / 'per_sample.parquet'} and {Path(out) / 'summary.json'}", markup=False)


# ----------------------------------------------------------------------------- froc attack


def print_attack(run) -> None:
    """A small table of an :class:`froc.attacks.commands.AttackRun`: knowledge before vs after (per-sample
    attacks) or the attack's headline numbers."""
    from rich.table import Table

    from froc.attacks.base import knowledge_summary

    res, con = run.result, _console()
    t = Table(title=f"attack {res.name} ({res.seconds:.1f}s)")
    if res.scores is not None and run.before is not None:
        after = knowledge_summary(res.scores)
        ref = getattr(run, "original", None)
        f = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
        t.add_column("", no_wrap=True)
        if ref is not None:
            t.add_column("original", justify="right", no_wrap=True)
        t.add_column("before", justify="right", no_wrap=True)
        t.add_column("after", justify="right", no_wrap=True)
        for label, key in (("knowledge", "knowledge_mean"), ("correct choice", "correct_choice_rate"), ("probes", "n")):
            cells = [str(x[key]) if key == "n" else f(x[key]) for x in ([ref] if ref is not None else []) + [run.before, after]]
            t.add_row(label, *cells)
    else:
        t.add_column("", no_wrap=True)
        t.add_column("value", justify="right", no_wrap=True)
        flat: dict[str, Any] = res.details.get("summary", {}) if res.name == "stealthy_request" else {
            k: res.details.get(k) for k in ("accuracy", "auc", "chance", "n_test_prompts")}
        for k, v in flat.items():
            t.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
    con.print(t)
    if getattr(run, "used", None):
        con.print(f"attacked: {run.used}", markup=False)
    for key in ("backend", "note"):
        if key in res.details:
            con.print(f"{key}: {res.details[key]}", markup=False)
    written = [run.out / "attack.json"] + ([run.out / "attack_scores.parquet"] if res.scores is not None else [])
    con.print("written: " + ", ".join(str(w) for w in written), markup=False)


def attacks_list(width: int | None = None) -> str:
    """One line per registered attack (name, what it does), then each one's parameters with defaults."""
    from froc.attacks.registry import ATTACKS

    width = width or _width()
    pad = max(len(n) for n in ATTACKS) + 2
    lines = []
    for name, s in ATTACKS.items():
        wrapped = textwrap.wrap(s.summary, width - pad) or [""]
        lines.append(name.ljust(pad) + wrapped[0])
        lines += [" " * pad + w for w in wrapped[1:]]
        params = ", ".join(f"{k}={v}" for k, v in s.defaults().items())
        needs = ", ".join(sorted(s.needs))
        extra = (f"needs {needs}; " if needs else "") + ("" if s.per_sample else "not per-sample; ")
        lines += textwrap.wrap(extra + params, width, initial_indent=" " * pad, subsequent_indent=" " * pad)
    lines += ["", "froc attack --attack NAME --set KEY=VALUE ..."]
    return "\n".join(lines)
