"""Per-sample scoring of one model on a sweep's probes, and the metrics of a score table.

Shared by the training runs, the reference models, the certification (reference metrics) and the
attack stage; it imports nothing else of ``froc.sweep`` besides the config.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import pandas as pd

from froc.sweep.config import SweepConfig



@contextmanager
def torch_threads(n: int | None):
    """Run with ``n`` torch intra-op threads (CPU results depend on it; see ``SweepConfig.threads``)."""
    import torch

    if n is None:
        yield
        return
    prev = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(prev)


def score_model(model, tokenizer, probes: list, cfg: SweepConfig, *, progress: bool = False, fmt=None) -> pd.DataFrame:
    """Per-sample scores of one model on the sweep's probes, with ``side`` and ``split`` columns.

    Runs with the sweep's pinned thread count (``cfg.threads``): CPU forward passes, like training, give
    results that depend on it in the last bits, and a stored score must be reproducible (resume, export)."""
    from froc.metrics.scoring import score_probes

    from froc.models.encoding import resolve_format

    from froc.models.encoding import DEFAULT_FORMAT

    fmt = resolve_format(fmt if fmt is not None else DEFAULT_FORMAT, tokenizer, warn=False)
    with torch_threads(cfg.threads):
        res = score_probes(model, tokenizer, probes, fmt=fmt, batch_size=cfg.score_batch_size, generate=True,
                           max_new_tokens=cfg.max_new_tokens, progress=progress, seed=cfg.seed)
    df = res.table.reset_index(drop=True).copy()
    ids = [p.id for p in probes]
    if df["probe_id"].tolist() != ids:
        raise RuntimeError("score table rows are not aligned with the probes")
    df["n_perturbed"] = [len(getattr(p, "perturbed_answers", None) or []) for p in probes]  # text items: none
    df["side"] = [p.meta["side"] for p in probes]
    df["split"] = [p.meta["split"] for p in probes]
    return df


def config_metrics(scores: pd.DataFrame, refs: dict[str, pd.DataFrame]) -> dict:
    """All applicable registered metrics of one configuration (NaN -> None for JSON)."""
    from froc.metrics.registry import ScoreSet, compute_metrics

    vals, _ = compute_metrics(ScoreSet(target=scores, oracle=refs.get("oracle"), original=refs.get("original")))
    return {k: (None if v is None or (isinstance(v, float) and not math.isfinite(v)) else float(v)) for k, v in vals.items()}
