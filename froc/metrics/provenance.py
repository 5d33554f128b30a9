"""Provenance of a scoring run: versions, git commit, model identity, data identity, time."""

from __future__ import annotations

import functools
import hashlib
import json
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import torch


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def git_info(path: str | Path | None = None) -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` of the git checkout holding ``path`` (froc's own source by default).

    Read once per process and checkout (cached): a sweep asks for provenance many times, and each ``git
    status`` could refresh the index. Git runs with ``--no-optional-locks``, so it never takes
    ``.git/index.lock`` and cannot make the user's own git command in that checkout fail.
    None when not in a git checkout or git is unavailable.
    """
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    info = _git_info(str(where.resolve()))
    return dict(info) if info is not None else None


@functools.lru_cache(maxsize=16)
def _git_info(where: str) -> dict[str, Any] | None:
    git = ["git", "--no-optional-locks", "-C", where]
    try:
        commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5, check=True).stdout.strip()
        dirty = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip() != ""
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}


def weights_sha256(model) -> str:
    """SHA-256 over the model's parameters and buffers (names, dtypes, shapes and bytes), in name order."""
    h = hashlib.sha256()
    state = model.state_dict()
    for name in sorted(state):
        t = state[name].detach()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.cpu().contiguous().view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def model_identity(model, path: str | Path | None = None, *, hash_weights: bool | None = None) -> dict[str, Any]:
    """Identify a model: its folder when it was loaded from one, else a hash of its weights.

    ``hash_weights=None`` hashes only when no local folder is known.
    """
    info: dict[str, Any] = {"class": type(model).__name__}
    cfg_path = getattr(getattr(model, "config", None), "_name_or_path", "") or ""
    p = Path(path) if path is not None else (Path(cfg_path) if cfg_path else None)
    if p is not None and p.is_dir():
        info["path"] = str(p.resolve())
    else:
        p = None
    info["n_params"] = int(sum(x.numel() for x in model.parameters()))
    if hash_weights or (hash_weights is None and p is None):
        info["weights_sha256"] = weights_sha256(model)
    return info


def probes_sha256(probes: Sequence[Any]) -> str:
    """SHA-256 of the probes' content (every public attribute, JSON with sorted keys)."""
    h = hashlib.sha256()
    for p in probes:
        d = p if isinstance(p, dict) else {k: v for k, v in vars(p).items() if not k.startswith("_")}
        h.update(json.dumps(d, sort_keys=True, default=str).encode())
        h.update(b"\n")
    return h.hexdigest()


def environment() -> dict[str, Any]:
    import transformers

    import froc

    return {"froc": froc.__version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "python": platform.python_version(), "git": git_info()}


def provenance(*, model, model_path=None, probes=None, data_manifest=None, seed: int | None = None,
               started: str | None = None, seconds: float | None = None) -> dict[str, Any]:
    """Everything needed to tell where a result came from."""
    out = {"environment": environment(), "model": model_identity(model, model_path)}
    if probes is not None:
        out["probes"] = {"n": len(probes), "sha256": probes_sha256(probes)}
    out["data_manifest"] = data_manifest
    out["seed"] = seed
    out["started_utc"] = started or utc_now()
    out["seconds"] = seconds
    return out
