"""`froc run`, `froc report`, `froc demo`, `froc plan`, `froc export`, `froc certify`: sweeps and certificates."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from froc.cli.app import CACHE, _fail, app, data_app, model_app  # noqa: F401  (the shared app)


# ---- sweep / report / demo commands (froc run, froc report, froc demo) ----


@app.command("run")
def run_cmd(
    sweep: Path = typer.Argument(..., help="Sweep YAML file."),
    out: Path = typer.Option(..., "--out", help="Output folder (store, summary.json, report.html)."),
    executor: str = typer.Option("local", "--executor", help="local (sequential) or ray."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: start a local instance)."),
    cache: Optional[Path] = CACHE,
    no_attacks: bool = typer.Option(False, "--no-attacks", help="Skip the attack stage."),
) -> None:
    """Run a sweep: unlearning grid -> per-sample scores -> Learn-then-Test certification -> attacks -> report.

    Resumable: after an interruption (Ctrl-C, kill -9) run the same command again; completed
    configurations are not recomputed.

    Examples:
      froc run sweep.yaml --out runs/my-request
      froc run sweep.yaml --out runs/my-request --executor ray --address auto
    """
    _run_and_print(sweep, out, executor=executor, address=address, cache=cache, attacks=not no_attacks)


def _run_and_print(sweep, out, **kw) -> None:
    from froc.errors import FrocError
    from froc.progress import console
    from froc.sweep.runner import run_sweep

    try:
        res = run_sweep(sweep, out, executor=kw["executor"], address=kw["address"], cache_dir=kw["cache"],
                        attacks=kw["attacks"])
    except (FrocError, OSError) as e:
        _fail(e)
    from rich.markup import escape

    from froc.cli.summary_table import print_summary

    print_summary(res.summary, console)
    if res.summary.recommended:
        from froc.sweep.export import export_command

        console.print(f"[bold]export the certified model:[/] {escape(export_command(res.out_dir))}")
    console.print(f"[bold green]report:[/] {escape(str(res.report))}\n[bold]summary:[/] "
                  f"{escape(str(res.out_dir / 'summary.json'))}\n[bold]store:[/] {escape(str(res.out_dir / 'froc.duckdb'))}")


@app.command("report")
def report_cmd(out: Path = typer.Argument(..., help="A sweep output folder.")) -> None:
    """Re-render report.html from the store without recomputing any score.

    Example:
      froc report runs/demo
    """
    from froc.errors import FrocError
    from froc.progress import console
    from froc.sweep.runner import rerender

    try:
        path = rerender(out)
    except (FrocError, OSError) as e:
        _fail(e)
    console.print(f"report: {path}", markup=False, highlight=False)


@app.command("demo")
def demo_cmd(
    out: Path = typer.Option(Path("froc_out/demo"), "--out", help="Output folder."),
    quick: bool = typer.Option(False, "--quick", help="A small version (fewer people, configurations and probes)."),
    executor: str = typer.Option("local", "--executor", help="local or ray."),
    cache: Optional[Path] = CACHE,
) -> None:
    """The main job: the bundled sweep on the built-in benchmark, end to end, with its report.

    Generates the benchmark (40 people, forget 10%), trains (or reuses) the target and retain-oracle models,
    runs 8 npo configurations (lr x retain_weight x steps; froc/sweep/demo.yaml), certifies them at
    alpha_forget = alpha_utility = delta = 0.1, attacks the recommended one and writes the report. --quick: 12
    configurations at a looser budget (0.2 / 0.2 / 0.1).

    Examples:
      froc demo
      froc demo --quick --out froc_out/demo-quick
    """
    from importlib.resources import files

    sweep = Path(str(files("froc.sweep") / ("demo_quick.yaml" if quick else "demo.yaml")))
    if quick and out == Path("froc_out/demo"):
        out = Path("froc_out/demo-quick")
    _run_and_print(sweep, out, executor=executor, address=None, cache=cache, attacks=True)


@app.command("plan")
def plan_cmd(
    sweep: Path = typer.Argument(..., help="Sweep YAML file."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Cache folder of the built-in benchmark."),
) -> None:
    """Check a sweep before spending compute: grid size, samples, and whether the budget can be certified.

    Exits 1 when no configuration could ever be certified with this many calibration samples. Trains and
    loads nothing.

    Example:
      froc plan sweep.yaml
    """
    from rich.console import Console
    from rich.text import Text

    from froc.errors import FrocError
    from froc.sweep.plan import plan_sweep

    console = Console(highlight=False)  # the plan is the command's result: stdout (errors and progress: stderr)

    try:
        p = plan_sweep(sweep, cache)
    except (FrocError, OSError) as e:
        _fail(e)
    console.print(Text(f"{p['configurations']} configurations in {p['training_runs']} training runs "
                       f"({', '.join(p['methods'])}); sampling unit: {p['unit']}"))
    for side, d in sorted(p["samples"].items()):
        console.print(Text(f"{side}: " + ", ".join(f"{s} {d.get(s, 0)}" for s in ("tune", "cal", "test"))))
    f = p["feasibility"]
    console.print(Text(("ok: " if f["feasible"] else "cannot certify: ") + f["message"]),
                  style="green" if f["feasible"] else "red")
    raise typer.Exit(code=0 if f["feasible"] else 1)


@app.command("export")
def export_cmd(
    run: Path = typer.Argument(..., help="A sweep output folder (the --out of `froc run` / `froc demo`)."),
    config_id: Optional[str] = typer.Argument(None, help="Configuration id (default: the recommended one)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for the model (default RUN/model); must be new or empty."),
    cache: Optional[Path] = CACHE,
) -> None:
    """Write the certified (recommended, or named) configuration's model, with its certificate.

    The model is re-trained deterministically from the stored config and re-scored: it is written only if
    its per-sample scores equal the stored ones (so it is the model that was certified).

    Examples:
      froc export froc_out/demo --out models/unlearned
      froc export runs/my-request npo-0123abcd4567-s25 --out models/npo
    """
    from rich.markup import escape

    from froc.errors import FrocError
    from froc.progress import console
    from froc.sweep.export import export_model

    try:
        dest = export_model(run, config_id, out, cache_dir=cache)
    except (FrocError, OSError) as e:
        _fail(e)
    console.print(f"[bold green]model:[/] {escape(str(dest))} (weights, tokenizer, certificate.json, prompt_format.json)")


# ---- certify any per-sample table (froc certify) ----


@app.command("certify")
def certify_cmd(
    scores: Path = typer.Argument(..., help="Parquet or CSV: one row per configuration x sample (config, sample, side, loss)."),
    alpha_forget: float = typer.Option(..., "--alpha-forget", help="Forget risk target in (0, 1)."),
    alpha_utility: Optional[float] = typer.Option(None, "--alpha-utility", help="Utility risk target (omit: forget only)."),
    delta: float = typer.Option(..., "--delta", help="Confidence: the guarantee holds with probability 1 - delta."),
    pvalue: str = typer.Option("hb", "--pvalue", help="hoeffding, bentkus, hb or wsr."),
    fwer: str = typer.Option("holm", "--fwer", help="bonferroni, holm, fixed_sequence, graph, pareto (ordered: tune rows)."),
    unit: str = typer.Option("probe", "--unit", help="probe, or the name of a cluster column (one loss per cluster)."),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="Use a knowledge column: loss = 1[knowledge > T]."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the certificate as JSON."),
) -> None:
    """Certify the configurations of any per-sample table (Learn-then-Test; froc.certify).

    Example:
      froc certify scores.csv --alpha-forget 0.1 --alpha-utility 0.1 --delta 0.1 --out cert.json
    """
    from froc.errors import FrocError
    from froc.progress import console
    from froc.risk.table import certify, print_certificate

    try:
        cert = certify(scores, alpha_forget=alpha_forget, alpha_utility=alpha_utility, delta=delta, pvalue=pvalue,
                       fwer=fwer, unit=unit, threshold=threshold)
    except (FrocError, OSError) as e:
        _fail(e)
    print_certificate(cert, console, out)
