"""Attack the certified configurations of a sweep and store post-attack per-sample scores.

Each certified configuration (best first, at most ``attack_top``) is rebuilt by re-running its
deterministic training, then every attack named in the sweep runs on it (attacks work on copies).
Post-attack forget risk is re-certified by ``froc.sweep.certify`` on the held-out test probes (the
attacked configurations were chosen with calibration results). The choice of targets is a pure
function of the stored scores (through the summary), so a resume attacks exactly the same ones;
completed (configuration, attack) pairs are skipped.
"""

from __future__ import annotations

import time

from rich.markup import escape

from froc.progress import console, progress_bar
from froc.records import ConfigRecord, SweepSummary
from froc.sweep.config import expand_grid
from froc.sweep.scores import torch_threads
from froc.sweep.training import load_unlearned, transient


def attack_targets(summary: SweepSummary, top: int) -> list[ConfigRecord]:
    """The configurations to attack: certified ones, the recommended first, then by calibration utility risk
    and id (a pure function of the summary, itself a pure function of the stored scores)."""
    cert = [c for c in summary.configs if c.certified]
    cert.sort(key=lambda c: (c.config_id != summary.recommended, c.risk_utility_cal or 0.0, c.config_id))
    return cert[:top]


def run_attack_stage(store, cfg, prep, summary: SweepSummary, *, progress: bool = True) -> None:
    from froc.attacks import run_attack
    from froc.models.loading import load_model

    groups: dict[str, list[dict]] = {}
    for c in expand_grid(cfg):
        groups.setdefault(c["train_key"], []).append(c)
    targets = attack_targets(summary, cfg.attack_top)
    if not targets:
        console.print("attacks: no certified configuration to attack")
        return
    done = store.done_attacks()
    todo = [(c, a) for c in targets for a in cfg.attacks if (c.config_id, a) not in done]
    if not todo:
        return
    # re-certification under attack uses the held-out test split only (see froc.sweep.certify)
    probes = [p for p in prep.probes if p.meta["side"] == "forget" and p.meta["split"] == "test"]
    original, _ = load_model(prep.model_path, device=cfg.device)
    with progress_bar("attacks", len(todo)) as advance:
        for c in targets:
            names = [a for a in cfg.attacks if (c.config_id, a) not in done]
            if not names:
                continue
            group = next(g for g in groups.values() if any(x["config_id"] == c.config_id for x in g))
            model, tok, _ = load_unlearned(group, c.steps, prep, cfg)
            for name in names:
                t = time.perf_counter()
                try:
                    with torch_threads(cfg.threads):
                        res = run_attack(name, model, tok, probes, original=original, forget=prep.forget,
                                         retain=prep.retain, refusals=prep.refusals, seed=cfg.seed,
                                         score_kwargs={"batch_size": cfg.score_batch_size,
                                                       "max_new_tokens": cfg.max_new_tokens, "fmt": prep.fmt},
                                         **cfg.attack_params.get(name, {}))
                    status, details, scores = "ok", res.details, res.scores
                except Exception as e:  # noqa: BLE001 - a failing attack is recorded, the sweep goes on
                    if transient(e):  # a failure of the machine, not of the attack: stop; a resume retries it
                        raise
                    status, details, scores = "failed", {"error": f"{type(e).__name__}: {e}"}, None
                    console.print(f"[yellow]attack {escape(name)} on {escape(c.config_id)} failed:[/] {escape(str(e))}")
                store.write_attack(config_id=c.config_id, attack=name, status=status,
                                   seconds=time.perf_counter() - t, details=details, scores=scores)
                advance(1, info=f"{name} on {c.config_id}")
