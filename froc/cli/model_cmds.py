"""`froc unlearn`, `froc methods`, `froc eval`, `froc attack`: one model at a time."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from froc.cli.app import (  # noqa: F401  (the shared app)
    ANSWER_EOS, ANSWER_PREFIX, CHAT, DEVICE, DTYPE, SYSTEM_PROMPT, TEMPLATE, _fail, app, data_app, model_app,
    prompt_overrides)


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
    device: str = DEVICE,
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
    from froc.cli.printing import method_detail, methods_list
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
    device: str = DEVICE,
    dtype: str = DTYPE,
    benchmark: Optional[str] = typer.Option(None, "--benchmark", help="tofu, muse or wmdp: --probes is its folder; its published metrics (--split: forget split / corpus / subset)."),
    template: Optional[str] = TEMPLATE,
    answer_prefix: Optional[str] = ANSWER_PREFIX,
    chat: Optional[bool] = CHAT,
    system_prompt: Optional[str] = SYSTEM_PROMPT,
    answer_eos: Optional[bool] = ANSWER_EOS,
    lm_eval: Optional[str] = typer.Option(None, "--lm-eval", help="Comma-separated lm-evaluation-harness tasks, data on local paths (extra 'lmeval')."),
    lm_eval_include: Optional[Path] = typer.Option(None, "--lm-eval-include", help="Folder of lm-eval task YAMLs whose data are local files."),
) -> None:
    """Score a model on probes (once per model, batched) and print TOFU/MUSE/membership/extraction metrics.

    The prompt format is the model folder's prompt_format.json (written by froc unlearn and froc export),
    else the default; --template, --answer-prefix, --chat, --system-prompt, --answer-eos override it.

    Examples:

      froc eval --model runs/npo --probes probes.jsonl --out eval/npo

      froc eval --model runs/npo --probes bench --split forget10 --oracle cache/oracle --original cache/target --out eval/npo

      froc eval --model runs/npo --benchmark tofu --probes data/TOFU --split forget10 --oracle tofu_retain90 --out eval/tofu

      froc eval --model runs/npo --probes probes.jsonl --lm-eval arc_easy --lm-eval-include tasks/ --out eval/npo
    """
    from froc.errors import FrocError
    from froc.cli.printing import print_metrics
    from froc.metrics.evaluate import evaluate

    prompt = prompt_overrides(template, answer_prefix, chat, system_prompt, answer_eos)
    if benchmark is not None or lm_eval is not None:
        from froc.metrics.extra_eval import run_eval_extras

        try:
            typer.echo(run_eval_extras(model, out, benchmark=benchmark, probes=probes, split=split, oracle=oracle,
                                       prompt=prompt, lm_eval=lm_eval, lm_eval_include=lm_eval_include,
                                       batch_size=batch_size, device=device, dtype=dtype))
        except (FrocError, OSError) as e:
            _fail(e)
        return

    layers = {"auto": "auto", "none": None}.get(hidden_layers)
    if hidden_layers not in ("auto", "none"):
        try:
            layers = [int(x) for x in hidden_layers.split(",") if x.strip()]
        except ValueError:
            _fail(ValueError(f"--hidden-layers must be auto, none or comma-separated integers, got {hidden_layers!r}"))
    try:
        res = evaluate(model, probes=probes, oracle=oracle, original=original, out=out, split=split, fmt=prompt,
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
    device: str = DEVICE,
    dtype: str = DTYPE,
    list_attacks: bool = typer.Option(False, "--list", help="List the attacks, their parameters and exit."),
    template: Optional[str] = TEMPLATE,
    answer_prefix: Optional[str] = ANSWER_PREFIX,
    chat: Optional[bool] = CHAT,
    system_prompt: Optional[str] = SYSTEM_PROMPT,
    answer_eos: Optional[bool] = ANSWER_EOS,
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
    from froc.cli.printing import attacks_list, print_attack
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
                                 generate=generate, device=device, dtype=dtype,
                                 prompt=prompt_overrides(template, answer_prefix, chat, system_prompt, answer_eos))
    except (FrocError, ValueError, OSError) as e:
        _fail(e)
    print_attack(run)
