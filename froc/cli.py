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
    from rich.text import Text

    from froc.errors import describe_os_error
    from froc.progress import console

    msg = describe_os_error(err) if isinstance(err, OSError) else str(err)
    console.print(Text("error: ", style="bold red") + Text(msg), highlight=False)  # user text is data, not markup
    raise typer.Exit(code=2)


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
    for w in report.request_warnings:
        console.print(Text("warning: ", style="yellow") + Text(str(w)), highlight=False)
    for err in report.errors:
        console.print(f"[bold red]error:[/] {err.total} problem(s):", highlight=False)
        console.print(str(err), markup=False, highlight=False)


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
    people: int = typer.Option(200, "--people", help="Number of fictitious people."),
    seed: int = typer.Option(0, "--seed", help="Data seed."),
    arch: str = typer.Option("mini", "--arch", help="Model size: tiny, mini, small, 1m, 5m, 20m, 100m."),
    epochs: int = typer.Option(None, "--epochs", help="Maximum training epochs (default from the built-in config)."),
    force: bool = typer.Option(False, "--force", help="Retrain even if cached models exist."),
) -> None:
    """Generate the built-in benchmark and train its target and retain-oracle models (cached).

    Examples:
      froc model train-benchmark --out ./froc_out/cache
      froc model train-benchmark --forget-split 5 --people 100
    """
    from froc.errors import FrocError

    try:
        bm = _train_benchmark(out, forget_split, people, seed, arch, epochs, force)
    except (FrocError, OSError) as e:
        _fail(e)
    _print_training_report(bm)


def _train_benchmark(out, forget_split, people, seed, arch, epochs, force):
    from froc.errors import ConfigError
    from froc.models.builtin import BuiltinConfig, ensure_benchmark_models

    if forget_split not in (1, 5, 10):
        raise ConfigError(f"--forget-split must be 1, 5 or 10, got {forget_split}")
    cfg = BuiltinConfig(n_people=people, data_seed=seed, forget_split=f"forget{forget_split:02d}", arch=arch)
    if epochs is not None:
        cfg.sft.epochs = epochs
    return ensure_benchmark_models(out, cfg, force=force)


def _print_training_report(bm) -> None:
    from rich.table import Table
    from rich.text import Text

    from froc.progress import console

    t = Table(title=Text(f"built-in benchmark models ({bm.root})"))
    t.add_column("model")
    keys = sorted({k for m in ("target", "oracle") for k in bm.report.get(m, {}) if k.startswith(("train_em", "heldout_em"))})
    for k in ["params", "items", "epochs", "seconds", *keys]:
        t.add_column(k)
    for m in ("target", "oracle"):
        r = bm.report.get(m, {})
        t.add_row(m, *[f"{r[k]:.3f}" if isinstance(r.get(k), float) and k not in ("seconds",) else str(r.get(k, "")) for k in
                       ["params", "items", "epochs", "seconds", *keys]])
    console.print(t)
    console.print(f"data: {bm.bench_dir}\ntarget: {bm.target_dir}\noracle: {bm.oracle_dir}", markup=False,
                  highlight=False)

# ---- unlearning commands (froc unlearn, froc methods) ----


@app.command("unlearn")
def unlearn_cmd(
    model: Path = typer.Option(..., "--model", help="Local Hugging Face model folder (safetensors)."),
    forget: Path = typer.Option(..., "--forget", help="Items to forget (.jsonl/.json/.csv/.parquet)."),
    out: Path = typer.Option(..., "--out", help="Folder for the unlearned model and unlearn_config.json."),
    retain: Optional[Path] = typer.Option(None, "--retain", help="Items to keep (most methods need them)."),
    refusals: Optional[Path] = typer.Option(None, "--refusals", help="Refusal strings, .txt one per line (idkpo)."),
    method: str = typer.Option("npo", "--method", help="Unlearning method; see `froc methods`."),
    sets: List[str] = typer.Option([], "--set", help="KEY=VALUE: a method hyperparameter or engine setting (repeatable)."),
    config: Optional[Path] = typer.Option(None, "--config", help="Flat YAML of settings (overridden by options and --set)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Optimizer steps."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Learning rate."),
    optimizer: Optional[str] = typer.Option(None, "--optimizer", help="adamw, sgd, signsgd, sign_adam or zo_hybrid."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of the run."),
    lora: bool = typer.Option(False, "--lora/--no-lora", help="Train a LoRA adapter instead of the full weights."),
    merge_lora: bool = typer.Option(False, "--merge-lora", help="Merge the LoRA adapter into the saved weights."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    checkpoints: Optional[str] = typer.Option(None, "--checkpoints", help="Comma-separated steps to snapshot into OUT/checkpoints/step_N."),
) -> None:
    """Unlearn the --forget items from a model and save it (safetensors) with its resolved config.

    Examples:

      froc unlearn --model ./target --forget forget.jsonl --retain retain.jsonl --method npo --steps 50 --out ./npo

      froc unlearn --model ./target --forget f.jsonl --retain r.jsonl --method graddiff --set lr=1e-4 --set retain_weight=2 --out ./gd

      froc unlearn --model ./target --forget f.jsonl --retain r.jsonl --refusals refusals.txt --method idkpo --lora --merge-lora --out ./idk

      froc unlearn --model ./target --forget f.jsonl --retain r.jsonl --method sam --set base=npo --set rho=0.01 --optimizer signsgd --out ./sam
    """
    from froc.engine.commands import run_unlearn_command
    from froc.errors import FrocError

    try:
        run_unlearn_command(model=model, forget=forget, retain=retain, refusals=refusals, method=method, sets=sets,
                            config=config, steps=steps, lr=lr, optimizer=optimizer, seed=seed, lora=lora,
                            merge_lora=merge_lora, device=device, checkpoints=checkpoints, out=out)
    except (FrocError, ValueError, OSError) as e:
        _fail(e)


@app.command("methods")
def methods_cmd(
    name: Optional[str] = typer.Argument(None, help="A method: its paper, hyperparameters (defaults), needs."),
) -> None:
    """List the unlearning methods, one line each; with NAME, that method's details.

    Examples:

      froc methods

      froc methods npo
    """
    from froc.cli_print import method_detail, methods_list
    from froc.errors import FrocError

    try:
        typer.echo(method_detail(name) if name else methods_list())
    except (FrocError, OSError) as e:
        _fail(e)

# ---- evaluation commands (froc eval) ----


@app.command("eval")
def eval_cmd(
    model: str = typer.Option(..., "--model", help="Model folder (save_pretrained: config.json, *.safetensors, tokenizer)."),
    probes: str = typer.Option(..., "--probes", help="Probe file (.jsonl/.json/.csv/.parquet) or a built-in benchmark folder."),
    out: Path = typer.Option(..., "--out", help="Output folder: per_sample.parquet + summary.json."),
    oracle: Optional[str] = typer.Option(None, "--oracle", help="Retain-oracle model folder (forget quality, PrivLeak, CKA)."),
    original: Optional[str] = typer.Option(None, "--original", help="Original (pre-unlearning) model folder (over-forgetting, CKA)."),
    split: Optional[str] = typer.Option(None, "--split", help="Forget split of a benchmark folder: forget01, forget05, forget10."),
    metrics: Optional[str] = typer.Option(None, "--metrics", help="Comma-separated metric names (default: all applicable)."),
    batch_size: int = typer.Option(64, "--batch-size", help="Sequences per forward pass / prompts per generation batch."),
    max_new_tokens: int = typer.Option(16, "--max-new-tokens", help="Greedy generation budget."),
    no_generate: bool = typer.Option(False, "--no-generate", help="Skip greedy generation (no ROUGE / gen accuracy)."),
    hidden_layers: str = typer.Option("auto", "--hidden-layers", help="Layers for CKA: auto, none, or e.g. 2,4."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    dtype: str = typer.Option("auto", "--dtype", help="auto, float32, bfloat16, float16."),
) -> None:
    """Score a model on probes (once per model, batched) and print TOFU/MUSE/membership/extraction metrics.

    Examples:

      froc eval --model runs/npo --probes probes.jsonl --out eval/npo

      froc eval --model runs/npo --probes bench --split forget10 --oracle cache/oracle --original cache/target --out eval/npo
    """
    from froc.errors import FrocError
    from froc.cli_print import print_metrics
    from froc.metrics.evaluate import evaluate

    layers = {"auto": "auto", "none": None}.get(hidden_layers)
    if hidden_layers not in ("auto", "none"):
        try:
            layers = [int(x) for x in hidden_layers.split(",") if x.strip()]
        except ValueError:
            _fail(ValueError(f"--hidden-layers must be auto, none or comma-separated integers, got {hidden_layers!r}"))
    try:
        res = evaluate(model, probes=probes, oracle=oracle, original=original, out=out, split=split,
                       metrics=[m.strip() for m in metrics.split(",")] if metrics else None, batch_size=batch_size,
                       generate=not no_generate, max_new_tokens=max_new_tokens, hidden_layers=layers, device=device,
                       dtype=dtype)
    except (FrocError, OSError) as e:
        _fail(e)
    print_metrics(res, out)

# ---- attack commands (froc attack) ----


@app.command("attack")
def attack_cmd(
    model: Optional[Path] = typer.Option(None, "--model", help="The unlearned model's folder (save_pretrained)."),
    probes: Optional[Path] = typer.Option(None, "--probes", help="Forget probes (.jsonl/.json/.csv/.parquet) or a built-in benchmark folder."),
    attack: Optional[str] = typer.Option(None, "--attack", help="Attack name; see `froc attack --list`."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder: attack_scores.parquet + attack.json."),
    original: Optional[Path] = typer.Option(None, "--original", help="The model before unlearning (logit_guided, trace, stealthy_request)."),
    split: Optional[str] = typer.Option(None, "--split", help="Forget split of a benchmark folder (default forget10)."),
    forget: Optional[Path] = typer.Option(None, "--forget", help="The forget request (relearn, stealthy_request; a benchmark gives it)."),
    retain: Optional[Path] = typer.Option(None, "--retain", help="Retain items (trace, stealthy_request; a benchmark gives them)."),
    sets: List[str] = typer.Option([], "--set", help="KEY=VALUE: an attack parameter (repeatable)."),
    seed: int = typer.Option(0, "--seed", help="Seed of every draw and training run of the attack."),
    batch_size: int = typer.Option(64, "--batch-size", help="Sequences per forward pass when scoring."),
    generate: bool = typer.Option(False, "--generate/--no-generate", help="Also generate greedy answers when scoring (ROUGE)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    dtype: str = typer.Option("auto", "--dtype", help="auto, float32, bfloat16, float16."),
    list_attacks: bool = typer.Option(False, "--list", help="List the attacks, their parameters and exit."),
) -> None:
    """Attack an unlearned model and re-score the forget probes (knowledge before vs after).

    Examples:

      froc attack --list

      froc attack --model runs/npo --probes bench --split forget10 --attack relearn --set steps=20 --out att/relearn

      froc attack --model runs/npo --original cache/target --probes bench --attack logit_guided --set w=2 --set tau=5 --out att/lg

      froc attack --model runs/npo --probes probes.jsonl --forget forget.jsonl --attack quantize_4bit --out att/q4

      froc attack --model runs/npo --original cache/target --probes bench --attack trace --out att/trace
    """
    from froc.attacks.commands import run_attack_command
    from froc.cli_print import attacks_list, print_attack
    from froc.errors import FrocError

    if list_attacks:
        typer.echo(attacks_list())
        return
    missing = [f"--{n}" for n, v in (("model", model), ("probes", probes), ("attack", attack), ("out", out)) if v is None]
    if missing:
        _fail(ValueError(f"missing option(s) {', '.join(missing)} (or use --list)"))
    try:
        run = run_attack_command(model=model, probes=probes, attack=attack, out=out, original=original, split=split,
                                 forget=forget, retain=retain, sets=sets, seed=seed, batch_size=batch_size,
                                 generate=generate, device=device, dtype=dtype)
    except (FrocError, ValueError, OSError) as e:
        _fail(e)
    print_attack(run)


# ---- sweep / report / demo commands (froc run, froc report, froc demo) ----


@app.command("run")
def run_cmd(
    sweep: Path = typer.Argument(..., help="Sweep YAML file."),
    out: Path = typer.Option(..., "--out", help="Output folder (store, summary.json, report.html)."),
    executor: str = typer.Option("local", "--executor", help="local (sequential) or ray."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: start a local instance)."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Cache folder of the built-in benchmark and models."),
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

    from froc.cli_tables import print_summary

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
    cache: Optional[Path] = typer.Option(None, "--cache", help="Cache folder of the built-in benchmark and models."),
) -> None:
    """The main job: the bundled sweep on the built-in benchmark, end to end, with its report.

    Generates the benchmark, trains (or reuses) the target and retain-oracle models, runs >= 24
    configurations (npo, graddiff, simnpo, catnip x lr x steps), certifies, attacks the certified
    ones and writes the report.

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
    """Check a sweep before spending compute: grid size, calibration samples, and whether the budget can be
    certified at all (exit code 1 if it cannot). Trains and loads nothing.

    Example:
      froc plan sweep.yaml
    """
    from rich.text import Text

    from froc.errors import FrocError
    from froc.progress import console
    from froc.sweep.plan import plan_sweep

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
    cache: Optional[Path] = typer.Option(None, "--cache", help="Cache folder of the built-in benchmark and models."),
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


# ---- benchmark commands (froc bench) ----


@app.command("bench")
def bench_cmd(
    names: Optional[List[str]] = typer.Argument(None, help="Benchmarks to run (default all): unlearn_step, "
                                                           "utilisation, scoring, sweep, scaling, gpu."),
    tiny: bool = typer.Option(False, "--tiny", help="Seconds-long runs on the tiniest models (smoke test)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for NAME.json (default benchmarks/results)."),
) -> None:
    """Run the performance benchmark suite (side-by-side ratios; needs a source checkout with benchmarks/).

    Examples:
      froc bench
      froc bench unlearn_step scoring --tiny --out /tmp/bench
    """
    import sys

    from froc.errors import ConfigError, FrocError

    root = Path(__file__).resolve().parents[1]
    if (root / "benchmarks" / "suite.py").is_file() and str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        from benchmarks.suite import run

        code = run(names, tiny=tiny, out=out)
    except ImportError as e:
        _fail(ConfigError(f"froc bench needs a source checkout with the benchmarks/ folder next to froc/ ({e})"))
    except (FrocError, OSError) as e:
        _fail(e)
    raise typer.Exit(code=code)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
