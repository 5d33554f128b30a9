"""What ``froc unlearn`` does, kept out of ``froc/cli.py`` so the CLI stays thin."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from froc.errors import ConfigError
from froc.settings import parse_sets


def load_data(path: str | Path, kind: str | None = None) -> list:
    """Items of a data file: ``froc.data.loaders.load_items`` (validated), else a minimal JSONL reader."""
    try:
        from froc.data.loaders import load_items
    except ImportError:  # pragma: no cover - the data package is always there in a full install
        return _read_jsonl(path)
    return list(load_items(path, kind))


def _read_jsonl(path: str | Path) -> list:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"data file '{p}' does not exist")
    if p.suffix == ".txt":
        return [line.strip() for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    items = []
    for ln, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                items.append(SimpleNamespace(**json.loads(line)))
            except (json.JSONDecodeError, TypeError) as e:
                raise ConfigError(f"{p}:{ln}: not a JSON object ({e})") from None
    return items


def load_refusals(path: str | Path) -> list[str]:
    """Refusal strings from a ``.txt`` (one per line) or a file of ``{"text": ...}`` records."""
    return [getattr(r, "text", r) for r in load_data(path, "refusal")]


def load_config_file(path: str | Path | None) -> dict[str, Any]:
    """A flat YAML/JSON file of settings (engine fields and method hyperparameters alike)."""
    if path is None:
        return {}
    from froc.yaml_io import load_yaml_file

    p = Path(path)
    data = load_yaml_file(p, "config file")[0] or {}  # errors give file:line; alias expansion bounded
    if not isinstance(data, dict):
        raise ConfigError(f"{p}:1: expected a flat mapping of settings, got {type(data).__name__}")
    return data


def run_unlearn_command(*, model, forget, retain, refusals, method, sets, config, steps, lr, optimizer, seed,
                        lora, merge_lora, device, checkpoints, out):
    """``froc unlearn``: load model and data, run ``froc.unlearn``, save, print a summary.

    Under torchrun (``WORLD_SIZE`` > 1) every rank joins the process group and trains its share of each step
    (froc.engine.distributed); only rank 0 saves, after every rank finished training.
    """
    from froc.engine.config import engine_config

    settings = load_config_file(config)
    options = {"steps": steps, "lr": lr, "optimizer": optimizer, "seed": seed}
    settings.update({k: v for k, v in options.items() if v is not None})
    if checkpoints:
        try:
            settings["checkpoints"] = [int(s) for s in checkpoints.split(",") if s.strip()]
        except ValueError:
            raise ConfigError(f"--checkpoints expects comma-separated step numbers, got {checkpoints!r}") from None
    settings.update(parse_sets(sets))
    settings["device"] = device
    if "prompt_format" not in settings:  # the format the model was trained/unlearned with travels with it
        from froc.models.encoding import load_format

        saved = load_format(model) if Path(model).is_dir() else None
        if saved is not None:
            import dataclasses

            settings["prompt_format"] = dataclasses.asdict(saved)
    if lora:
        settings.setdefault("lora", {})
    inputs = [k for k, v in (("retain", retain), ("refusals", refusals)) if v is not None]
    setup = engine_config({"method": method, "hparams": settings}, inputs=inputs)  # fail before loading
    from froc.engine import distributed

    created = distributed.init_from_env(device)
    try:
        return _run(setup, model, forget, retain, refusals, method, merge_lora, device, out, distributed.current())
    finally:
        distributed.close(created)


def _run(setup, model, forget, retain, refusals, method, merge_lora, device, out, dp):
    from rich.console import Console
    from rich.markup import escape

    from froc.engine import save_unlearned, unlearn
    from froc.models.loading import load_model
    from froc.progress import console

    cfg, main = setup.config, dp is None or dp.main
    if main:
        Path(out).mkdir(parents=True, exist_ok=True)  # a read-only or impossible --out fails now, not after training
    m, tok = load_model(model, device="cpu" if cfg.fsdp and dp else device)  # sharded: FSDP moves the shards
    if retain is not None:  # the same rules as `froc run` / `froc data check`: no forget item in the retain data
        from froc.data.request import load_request

        req = load_request(forget, retain)
        forget_items, retain_items = list(req.forget), list(req.retain)
    else:
        forget_items, retain_items = load_data(forget), []
    refusal_list = load_refusals(refusals) if refusals is not None else None
    if main:
        console.print(f"unlearning {len(forget_items)} forget items ({len(retain_items)} retain) with "
                      f"[bold]{method}[/] for {cfg.steps} steps"
                      f"{f' on {dp.world} processes' if dp else ''}", highlight=False)
    out = Path(out)
    result = unlearn(m, tok, forget_items, retain_items, refusals=refusal_list,
                     snapshot_dir=out / "checkpoints" if cfg.checkpoints else None, **setup.unlearn_kwargs())
    if dp is not None:
        dp.barrier()  # every rank finished training; a rank that died makes this raise, and nothing is written
    if not main:
        return result
    save_unlearned(result, tok, out, merge_lora=merge_lora)
    last = f"{result.losses[-1]:.4g}" if result.losses else "-"
    status = "[green]completed[/]" if result.status == "completed" else f"[red]diverged at step {result.diverged_at}[/]"
    Console(soft_wrap=True).print(
        f"{method}: {status}; {result.steps_done} steps, final loss {last}, {result.seconds:.1f}s -> {escape(str(out))}",
        highlight=False)  # the path is user text: escaped, never markup
    return result
