"""What ``froc attack`` does (the CLI is a thin shell over this): load, attack, write, print."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from froc.attacks.base import AttackResult, knowledge_summary
from froc.errors import ConfigError
from froc.settings import parse_sets
from froc.utils import json_safe


@dataclass
class AttackRun:
    result: AttackResult
    before: dict[str, Any] | None
    out: Path
    original: dict[str, Any] | None = None  # the original (pre-unlearning) model on the same probes
    used: str | None = None  # which probes were attacked, in words


def load_inputs(probes: str | Path, split: str | None, forget: str | Path | None, retain: str | Path | None):
    """(probes, forget, retain, refusals, source): a probe file, or a benchmark folder's forget split
    (the forget group's held-out probes; its forget request and retain items unless given)."""
    from froc.data.loaders import load_items

    p = Path(probes)
    load = lambda f: list(load_items(f)) if f is not None else None  # noqa: E731
    if p.is_dir() and (p / "manifest.json").is_file():
        from froc.data.benchmark import split_views

        views = split_views(p, split or "forget10")
        items = [it for it in views.probes if it.meta.get("group") == "forget"
                 and it.meta.get("template_split") == "heldout"]
        return (items, load(forget) or list(views.forget_request), load(retain) or list(views.retain),
                list(views.refusals), {"benchmark": str(p), "split": views.name,
                                       "used": f"the {len(items)} held-out forget probes of {views.name}"})
    if split is not None:
        raise ConfigError(f"--split applies to a benchmark folder (with manifest.json); '{p}' is not one")
    items = list(load_items(p))
    grouped = [it for it in items if it.meta.get("group") == "forget"]
    if grouped:  # an attack asks whether forgotten knowledge comes back: the forget group only
        used = f"the {len(grouped)} probes with meta.group 'forget' (of {len(items)})"
        items = grouped
    else:
        used = f"all {len(items)} probes (none has meta.group 'forget')"
    return items, load(forget), load(retain), None, {"probes": str(p), "used": used}


def run_attack_command(*, model: str | Path, probes: str | Path, attack: str, out: str | Path,
                       original: str | Path | None = None, split: str | None = None, forget=None, retain=None,
                       sets: list[str] | None = None, seed: int = 0, batch_size: int = 64, generate: bool = False,
                       device: str = "auto", dtype: str = "auto", prompt: dict | None = None) -> AttackRun:
    """Load models and data, score the unattacked model, run the attack, write
    ``OUT/attack_scores.parquet`` (per-sample attacks) and ``OUT/attack.json``.

    ``prompt``: prompt format fields over the model folder's ``prompt_format.json`` (None values keep it).
    """
    from froc.attacks.registry import build_params, get_attack, run_attack
    from froc.metrics.scoring import score_probes
    from froc.models.loading import load_model

    spec = get_attack(attack)
    params = parse_sets(sets or [])
    build_params(spec, params)  # fail on a bad --set before loading anything
    items, forget_items, retain_items, refusals, source = load_inputs(probes, split, forget, retain)
    m, tok = load_model(model, dtype=dtype, device=device)
    orig = load_model(original, dtype=dtype, device=device)[0] if original is not None else None
    from froc.models.encoding import model_format

    fmt = model_format(model, **(prompt or {}))
    score_kwargs = {"batch_size": batch_size, "generate": generate, "progress": False, "fmt": fmt}
    res = run_attack(attack, m, tok, items, original=orig, forget=forget_items, retain=retain_items,
                     refusals=refusals, seed=seed, score_kwargs=score_kwargs, **params)
    before = reference = None
    if res.scores is not None:
        ids = set(res.scores["probe_id"])
        scored = [it for it in items if str(it.id) in ids]
        before = knowledge_summary(score_probes(m, tok, scored, model_name="before", **score_kwargs).table)
        if orig is not None:  # the original model's value on the same probes, beside it
            reference = knowledge_summary(score_probes(orig, tok, scored, model_name="original", **score_kwargs).table)
    from froc.safe_write import replace_link

    outp = Path(out)
    outp.mkdir(parents=True, exist_ok=True)
    for name in ("attack_scores.parquet", "attack.json"):  # write files, never through symlinks
        replace_link(outp / name)
    if res.scores is not None:
        res.scores.to_parquet(outp / "attack_scores.parquet", index=False)
    record = {"attack": res.name, "seconds": res.seconds, "model": str(model),
              "original": str(original) if original is not None else None, "source": source, "seed": seed,
              "n_probes": len(items), "original_model": reference, "before": before,
              "after": knowledge_summary(res.scores) if before else None,
              "details": res.details}
    (outp / "attack.json").write_text(json.dumps(json_safe(record), indent=2, allow_nan=False), encoding="utf-8")
    return AttackRun(res, before, outp, reference, source.get("used"))
