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
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file '{p}' does not exist")
    data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a flat mapping of settings, got {type(data).__name__}")
    return data


def run_unlearn_command(*, model, forget, retain, refusals, method, sets, config, steps, lr, optimizer, seed,
                        lora, merge_lora, device, checkpoints, out):
    """``froc unlearn``: load model and data, run ``froc.unlearn``, save, print a summary."""
    from rich.console import Console

    from froc.engine import save_unlearned, unlearn
    from froc.engine.config import engine_config
    from froc.models.loading import load_model
    from froc.progress import console

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
    if lora:
        settings.setdefault("lora", {})
    inputs = [k for k, v in (("retain", retain), ("refusals", refusals)) if v is not None]
    setup = engine_config({"method": method, "hparams": settings}, inputs=inputs)  # fail before loading
    cfg = setup.config

    m, tok = load_model(model, device=device)
    forget_items = load_data(forget)
    retain_items = load_data(retain) if retain is not None else []
    refusal_list = load_refusals(refusals) if refusals is not None else None
    console.print(f"unlearning {len(forget_items)} forget items ({len(retain_items)} retain) with "
                  f"[bold]{method}[/] for {cfg.steps} steps", highlight=False)
    out = Path(out)
    result = unlearn(m, tok, forget_items, retain_items, refusals=refusal_list,
                     snapshot_dir=out / "checkpoints" if cfg.checkpoints else None, **setup.unlearn_kwargs())
    save_unlearned(result, tok, out, merge_lora=merge_lora)
    last = f"{result.losses[-1]:.4g}" if result.losses else "-"
    status = "[green]completed[/]" if result.status == "completed" else f"[red]diverged at step {result.diverged_at}[/]"
    Console(soft_wrap=True).print(
        f"{method}: {status}; {result.steps_done} steps, final loss {last}, {result.seconds:.1f}s -> {out}",
        highlight=False)
    return result
