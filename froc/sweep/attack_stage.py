"""Attack the certified configurations of a sweep and store post-attack per-sample scores.

Each certified configuration (best first, at most ``attack_top``) is rebuilt by re-running its
deterministic training, then every attack named in the sweep runs on it (attacks work on copies).
Post-attack forget risk is computed by ``froc.sweep.certify`` on the same calibration and test
probes; completed (configuration, attack) pairs are skipped on resume.
"""

from __future__ import annotations

import time

from froc.progress import console, progress_bar


def run_attack_stage(store, cfg, prep, groups: dict, summary: dict, *, progress: bool = True) -> None:
    from froc.attacks import run_attack
    from froc.models.loading import load_model
    from froc.sweep.runner import load_unlearned, torch_threads

    cert = [c for c in summary["configs"] if c["certified"]]
    cert.sort(key=lambda c: (c["config_id"] != summary.get("recommended"), c.get("risk_utility_cal") or 0.0))
    targets = cert[: cfg.attack_top]
    if not targets:
        console.print("attacks: no certified configuration to attack")
        return
    done = store.done_attacks()
    todo = [(c, a) for c in targets for a in cfg.attacks if (c["config_id"], a) not in done]
    if not todo:
        return
    probes = [p for p in prep.probes if p.meta["side"] == "forget" and p.meta["split"] in ("cal", "test")]
    original, _ = load_model(prep.model_path, device=cfg.device)
    with progress_bar("attacks", len(todo)) as advance:
        for c in targets:
            names = [a for a in cfg.attacks if (c["config_id"], a) not in done]
            if not names:
                continue
            group = next(g for g in groups.values() if any(x["config_id"] == c["config_id"] for x in g))
            model, tok, _ = load_unlearned(group, c["steps"], prep, cfg)
            for name in names:
                t = time.perf_counter()
                try:
                    with torch_threads(cfg.threads):
                        res = run_attack(name, model, tok, probes, original=original, forget=prep.forget,
                                         retain=prep.retain, refusals=prep.refusals, seed=cfg.seed,
                                         score_kwargs={"batch_size": cfg.score_batch_size,
                                                       "max_new_tokens": cfg.max_new_tokens},
                                         **cfg.attack_params.get(name, {}))
                    status, details, scores = "ok", res.details, res.scores
                except Exception as e:  # noqa: BLE001 - a failing attack is recorded, the sweep goes on
                    status, details, scores = "failed", {"error": f"{type(e).__name__}: {e}"}, None
                    console.print(f"[yellow]attack {name} on {c['config_id']} failed: {e}[/]")
                store.write_attack(config_id=c["config_id"], attack=name, status=status,
                                   seconds=time.perf_counter() - t, details=details, scores=scores)
                advance(1, info=f"{name} on {c['config_id']}")
