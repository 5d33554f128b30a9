"""The per-probe score table (one row per probe, columns :data:`COLUMNS`) and :class:`ScoreResult`.

:func:`build_table` turns the raw per-sequence numbers of the forward passes and the greedy answers into
per-probe columns; metrics (``froc.metrics.*``) are pure functions over these columns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from froc.errors import ConfigError
from froc.metrics.extraction import exact_memorisation, extraction_strength
from froc.metrics.forward import SequenceScores
from froc.metrics.knowledge import correct_choice, knowledge_scores
from froc.metrics.membership import min_k_mean, zlib_length
from froc.metrics.plan import Plan
from froc.metrics.text import contains_answer, rouge_l

COLUMNS = (
    "probe_id", "subject", "form", "group", "fact_type", "template_split", "split", "model", "kind",
    "gold_logp_sum", "gold_logp_mean", "gold_len", "para_logp_mean", "perturbed_logp_mean", "knowledge",
    "correct_choice", "mink", "minkpp", "extraction_strength", "exact_mem", "gold_token_logp", "gold_zlib_len",
    "perturbed_mink", "perturbed_minkpp", "perturbed_zlib_len", "generation", "reference", "rouge_l_recall", "rouge_l_f1", "gen_correct",
)
LIST_COLUMNS = ("perturbed_logp_mean", "gold_token_logp", "perturbed_mink", "perturbed_minkpp", "perturbed_zlib_len")


def _meta(item, key):
    meta = getattr(item, "meta", None) or {}
    return meta.get(key) if isinstance(meta, dict) else None


def build_table(probes: Sequence[Any], plan: Plan, raw: SequenceScores, generations: list[str] | None, *,
                mink_k: float, model_name: str) -> pd.DataFrame:
    """Assemble the per-probe table from the raw numbers (shared by the batched and the naive scorer)."""
    N = len(probes)
    mean = np.divide(raw.logp_sum, raw.n_tokens, out=np.full(raw.logp_sum.shape, np.nan), where=raw.n_tokens > 0)
    gold_mean = mean[plan.gold]
    para_mean = np.array([mean[s] if s is not None else np.nan for s in plan.para])
    pert_mean = [[float(mean[s]) for s in ss] for ss in plan.pert]
    if generations is not None:
        rec, f1 = rouge_l(generations, plan.references)
        gen_ok = np.array([float(contains_answer(g, r)) for g, r in zip(generations, plan.references)])
    else:
        rec = f1 = gen_ok = np.full(N, np.nan)
    perts = [getattr(p, "perturbed_answers", None) or [] for p in probes]
    return pd.DataFrame({
        "probe_id": [str(getattr(p, "id", i)) for i, p in enumerate(probes)],
        "subject": [getattr(p, "subject", None) for p in probes],
        "form": [getattr(p, "form", None) or ("qa" if k == "qa" else "text") for p, k in zip(probes, plan.kinds)],
        "group": [_meta(p, "group") for p in probes],
        "fact_type": [_meta(p, "fact_type") for p in probes],
        "template_split": [_meta(p, "template_split") for p in probes],
        "split": [_meta(p, "split") for p in probes],
        "model": [model_name] * N,
        "kind": plan.kinds,
        "gold_logp_sum": raw.logp_sum[plan.gold],
        "gold_logp_mean": gold_mean,
        "gold_len": raw.n_tokens[plan.gold].astype(np.int64),
        "para_logp_mean": para_mean,
        "perturbed_logp_mean": pert_mean,
        "knowledge": knowledge_scores(gold_mean, pert_mean),
        "correct_choice": correct_choice(gold_mean, pert_mean),
        "mink": [min_k_mean(raw.token_logp[s], mink_k) for s in plan.gold],
        "minkpp": [min_k_mean(raw.token_z[s], mink_k) for s in plan.gold],
        "extraction_strength": [extraction_strength(raw.hits[s]) for s in plan.gold],
        "exact_mem": [exact_memorisation(raw.hits[s]) for s in plan.gold],
        "gold_token_logp": [raw.token_logp[s].tolist() for s in plan.gold],
        "gold_zlib_len": np.asarray(plan.zlib, dtype=np.int64),
        "perturbed_mink": [[min_k_mean(raw.token_logp[s], mink_k) for s in ss] for ss in plan.pert],
        "perturbed_minkpp": [[min_k_mean(raw.token_z[s], mink_k) for s in ss] for ss in plan.pert],
        "perturbed_zlib_len": [[zlib_length(a) for a in pa] for pa in perts],
        "generation": generations if generations is not None else [None] * N,
        "reference": plan.references,
        "rouge_l_recall": rec,
        "rouge_l_f1": f1,
        "gen_correct": gen_ok,
    }, columns=list(COLUMNS))


# ----------------------------------------------------------------------------- result


@dataclass
class ScoreResult:
    """Per-probe scores of one model.

    ``table``: one row per probe (columns :data:`COLUMNS`); ``hidden``: layer -> (N, H) mean-pooled
    hidden states aligned with the rows; ``summary``: settings, timing and provenance.
    """

    table: pd.DataFrame
    hidden: dict[int, np.ndarray] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    def save(self, out: str | Path) -> Path:
        """Write ``per_sample.parquet``, ``summary.json`` and (with hidden states) ``hidden.npz``."""
        from froc.safe_write import replace_link

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        for name in ("per_sample.parquet", "summary.json", "hidden.npz"):  # write files, never through symlinks
            replace_link(out / name)
        self.table.to_parquet(out / "per_sample.parquet", index=False)
        (out / "summary.json").write_text(json.dumps(self.summary, indent=2, default=str), encoding="utf-8")
        if self.hidden:
            np.savez(out / "hidden.npz", **{f"layer_{k}": v for k, v in self.hidden.items()})
        return out

    @classmethod
    def load(cls, path: str | Path) -> "ScoreResult":
        p = Path(path)
        if not (p / "per_sample.parquet").is_file():
            raise ConfigError(f"'{p}' holds no per_sample.parquet (expected a folder written by ScoreResult.save)")
        table = pd.read_parquet(p / "per_sample.parquet")
        for col in LIST_COLUMNS:
            if col in table:
                table[col] = [list(v) if v is not None else [] for v in table[col]]
        summary = json.loads((p / "summary.json").read_text(encoding="utf-8")) if (p / "summary.json").is_file() else {}
        hidden = {}
        if (p / "hidden.npz").is_file():
            with np.load(p / "hidden.npz") as z:
                hidden = {int(k.split("_", 1)[1]): z[k] for k in z.files}
        return cls(table, hidden, summary)
