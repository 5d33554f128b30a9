"""``froc export RUN_DIR [CONFIG_ID] --out DIR``: the certified model as a deliverable.

The sweep keeps scores, not weights. Training is deterministic on CPU with a fixed number of threads
(``SweepConfig.threads``), so the model of a configuration is rebuilt by re-running its training from
the stored resolved config, exactly as the sweep ran it (same engine settings through the same
builder). Before anything is written, the rebuilt model is re-scored on the sweep's probes and its
per-sample scores are compared with the stored ones: an export whose scores differ (another machine,
another torch) is refused, so the exported weights are the ones that were certified.

Written to ``--out``: the model and tokenizer (``save_pretrained``, safetensors), ``certificate.json``
(budget, CUR, bounds with what they cover, p-values, the sweep's id and data fingerprint, the scores'
digest) and ``prompt_format.json`` (how prompts were built when it was scored).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shlex
from pathlib import Path

import numpy as np
import pandas as pd

from froc.errors import ConfigError
from froc.records import COVERS, SweepSummary, read_summary
from froc.sweep.config import expand_grid, parse_sweep

SCORE_CHECK = ("knowledge", "gold_logp_mean", "correct_choice", "gen_correct", "generation")


def export_command(run_dir: str | Path, config_id: str | None = None, out: str | Path | None = None) -> str:
    """The exact shell command that exports ``config_id`` (default: the recommended one) of ``run_dir``."""
    parts = ["froc", "export", str(run_dir)] + ([config_id] if config_id else [])
    parts += ["--out", str(out or Path(str(run_dir)) / "model")]
    return " ".join(shlex.quote(p) for p in parts)


def _digest(df: pd.DataFrame) -> str:
    cols = [c for c in SCORE_CHECK if c in df]
    blob = df.sort_values("probe_id")[["probe_id", *cols]].to_json(orient="split", double_precision=15)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _same_scores(stored: pd.DataFrame, fresh: pd.DataFrame) -> list[str]:
    """Columns on which the rebuilt model's scores differ from the stored ones (empty: identical)."""
    a = stored.sort_values("probe_id").reset_index(drop=True)
    b = fresh.sort_values("probe_id").reset_index(drop=True)
    if a["probe_id"].tolist() != b["probe_id"].tolist():
        return ["probe_id"]
    bad = []
    for c in SCORE_CHECK:
        if c not in a or c not in b:
            continue
        x, y = a[c].to_numpy(), b[c].to_numpy()
        if x.dtype.kind in "fc" or y.dtype.kind in "fc":
            xf, yf = pd.to_numeric(a[c], errors="coerce").to_numpy(float), pd.to_numeric(b[c], errors="coerce").to_numpy(float)
            if not np.array_equal(xf, yf, equal_nan=True):
                bad.append(c)
        elif [None if pd.isna(v) else v for v in x] != [None if pd.isna(v) else v for v in y]:
            bad.append(c)
    return bad


def export_model(run_dir: str | Path, config_id: str | None = None, out: str | Path | None = None, *,
                 cache_dir: str | Path | None = None, progress: bool = True) -> Path:
    """Rebuild, verify and save the model of ``config_id`` (default: the recommended configuration).

    Raises:
        ConfigError: not a sweep folder, unknown configuration, nothing certified and no id given, an
            output folder that is not empty, or a rebuilt model whose scores differ from the stored ones.
    """
    import yaml

    from froc.progress import console
    from froc.sweep.prepare import prepare
    from froc.sweep.scores import score_model
    from froc.sweep.store import Store
    from froc.sweep.training import load_unlearned

    run = Path(run_dir)
    summary: SweepSummary = read_summary(run)
    resolved = run / "sweep.resolved.yaml"
    if not resolved.is_file():
        raise ConfigError(f"{run} has no sweep.resolved.yaml; give the --out folder of a `froc run`")
    cfg = parse_sweep(yaml.safe_load(resolved.read_text(encoding="utf-8")), source=str(resolved))
    cid = config_id or summary.recommended
    if cid is None:
        raise ConfigError(f"{run}: no configuration is certified, so there is no recommended one to export; name one "
                          f"explicitly (ids are in {run / 'summary.json'}), knowing it is not certified")
    rec = summary.by_id(cid)
    grid = {c["config_id"]: c for c in expand_grid(cfg)}
    if rec is None or cid not in grid:
        raise ConfigError(f"{run}: no configuration '{cid}' in this sweep; valid ids are listed in "
                          f"{run / 'summary.json'} (configs[].config_id)")
    if rec.status != "ok":
        raise ConfigError(f"{run}: configuration '{cid}' has status '{rec.status}'; only scored configurations export")
    dest = Path(out) if out is not None else run / "model"
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ConfigError(f"{dest} exists and is not an empty folder; choose a new --out folder")

    prep = prepare(cfg, cache_dir)
    with Store(run / "froc.duckdb", read_only=True) as st:
        stored = st.table(cid)
        fingerprint = json.loads(st.get_meta("fingerprint", "{}"))
    c = grid[cid]
    group = [g for g in grid.values() if g["train_key"] == c["train_key"]]
    console.print(f"export: re-training {c['method']} ({c['steps']} steps) deterministically", markup=False)
    model, tok, _ = load_unlearned(group, c["steps"], prep, cfg, progress=progress)
    fresh = score_model(model, tok, prep.probes, cfg, fmt=prep.fmt)  # thread count pinned like the sweep's scoring
    bad = _same_scores(stored, fresh)
    if bad:
        raise ConfigError(f"the rebuilt model of '{cid}' does not reproduce its stored scores (columns differ: "
                          f"{', '.join(bad)}); this machine or library version computes other weights than the sweep "
                          "did, so the export would not be the certified model. Re-run the sweep here.")
    from froc.models.encoding import DEFAULT_FORMAT, resolve_format, save_format

    dest.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(dest), safe_serialization=True)
    tok.save_pretrained(str(dest))
    cert = {
        "config_id": cid, "method": rec.method, "hparams": rec.hparams, "steps": rec.steps,
        "certified": rec.certified, "budget": dataclasses.asdict(summary.budget),
        "p_forget": rec.p_forget, "p_utility": rec.p_utility, "p_value": rec.p_value,
        "cur": rec.cur, "utility_ucb": rec.utility_ucb, "cur_simultaneous": rec.cur_simultaneous,
        "utility_ucb_simultaneous": rec.utility_ucb_simultaneous,
        "risk_forget_test": rec.risk_forget_test, "risk_utility_test": rec.risk_utility_test,
        "recommended": cid == summary.recommended,
        "after_selection": dataclasses.asdict(summary.recommendation) if cid == summary.recommended else None,
        "covers": {k: COVERS[k] for k in ("certified", "cur", "cur_simultaneous", "recommendation")},
        "sweep": {"name": cfg.name, "run_dir": str(run.resolve()), "data_fingerprint": fingerprint,
                  "created": summary.created, "froc_version": summary.froc_version},
        "scores_sha256": _digest(stored), "verified": "re-scored after re-training: identical to the stored scores",
    }
    (dest / "certificate.json").write_text(json.dumps(cert, indent=2, default=str), encoding="utf-8")
    # the format the sweep trained and scored with, with add_bos as the tokenizer decided it
    save_format(resolve_format(prep.fmt or DEFAULT_FORMAT, tok, warn=False), dest)
    return dest
