"""Helpers of the sweep tests: a hand-made store whose right answer is known, and store readers."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from froc.sweep.config import expand_grid, parse_sweep
from froc.sweep.store import Store

# Two methods x one lr x steps [1, 2]: 4 configurations in 2 training runs.
TINY_SWEEP = textwrap.dedent("""\
    name: tiny
    model: builtin
    builtin: {people: 10, forget_split: 10, arch: tiny, epochs: 1}
    methods:
      graddiff: {lr: [1.0e-3]}
      npo: {lr: [1.0e-3], beta: [0.1]}
    steps: [1, 2]
    batch_size: 4
    probes_per_group: {forget: 24, neighbour: 6, retain: 6, world: 4}
    splits: {tune: 0.2, cal: 0.4, test: 0.4}
    budget: {alpha_forget: 0.5, alpha_utility: 0.5, delta: 0.2}
    max_new_tokens: 4
    score_batch_size: 32
    resplits: 5
    """)


def write_sweep(folder: Path, text: str = TINY_SWEEP, name: str = "sweep.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text(text)
    return p


# Probes per (side, split); forget probes come in two forms, utility probes in two groups.
SIZES = {("forget", "tune"): 30, ("forget", "cal"): 60, ("forget", "test"): 60,
         ("utility", "tune"): 30, ("utility", "cal"): 60, ("utility", "test"): 60}
ORIG_LOGP = -1.0  # mean answer log-prob of the original model on every probe


def probe_frame() -> pd.DataFrame:
    """The probe columns of a score table (same for every model): 300 probes, sides and splits set."""
    rows = []
    for (side, split), n in SIZES.items():
        for i in range(n):
            if side == "forget":
                form, grp = ("qa" if i % 2 == 0 else "cloze"), "forget"
            else:
                form, grp = "qa", ("retain" if i % 2 == 0 else "world")
            rows.append({"probe_id": f"{side}-{split}-{i:03d}", "subject": f"s{i % 7}", "form": form, "group": grp,
                         "fact_type": "job", "template_split": "heldout", "side": side, "split": split, "kind": "qa",
                         "n_perturbed": 3.0})
    return pd.DataFrame(rows)


def model_scores(*, forget_k, utility_known, utility_logp=ORIG_LOGP, forget_logp=-1.0) -> pd.DataFrame:
    """Scores of one model. ``forget_k``: knowledge score of forget probes (scalar or callable(frame)->array);
    ``utility_known``: whether the model still answers utility probes (bool or array)."""
    df = probe_frame()
    f = (df["side"] == "forget").to_numpy()
    k = np.asarray(forget_k(df[f]) if callable(forget_k) else np.full(f.sum(), forget_k), dtype=float)
    known = np.asarray(utility_known, dtype=bool) if np.ndim(utility_known) else np.full((~f).sum(), bool(utility_known))
    df["knowledge"] = 0.9
    df.loc[f, "knowledge"] = k
    df["correct_choice"] = True
    df.loc[f, "correct_choice"] = k > 0.5
    df.loc[~f, "correct_choice"] = known
    df["gen_correct"] = df["correct_choice"]
    lp = np.full(len(df), ORIG_LOGP)
    lp[f] = forget_logp
    lp[~f] = utility_logp
    df["gold_logp_mean"] = lp
    df["perturbed_logp_mean"] = [[-3.0, -3.0, -3.0]] * len(df)
    return df


SWEEP = {
    "name": "synthetic",
    "builtin": {"people": 20, "arch": "tiny"},
    "methods": {"graddiff": {"lr": [0.001, 0.01]}, "npo": {"lr": [0.001]}},
    "steps": [5, 10],
    "budget": {"alpha_forget": 0.2, "alpha_utility": 0.2, "delta": 0.1},
    "resplits": 30,
}

# What each configuration does (keys: (method, lr, steps)).
BEHAVIOUR = {
    ("graddiff", 0.001, 5): "good",      # forgets everything, keeps utility
    ("graddiff", 0.001, 10): "good",
    ("graddiff", 0.01, 5): "broken",     # forgets everything, destroys utility
    ("graddiff", 0.01, 10): "diverged",
    ("npo", 0.001, 5): "nothing",        # forgets nothing
    ("npo", 0.001, 10): "half",          # forgets half of the forget probes
}


def sweep_cfg(**overrides):
    raw = {**SWEEP, **overrides}
    return parse_sweep(raw)


def behaviour_scores(kind: str, *, forget_logp=-1.0):
    if kind == "good":
        return model_scores(forget_k=0.05, utility_known=True, utility_logp=-1.2, forget_logp=-6.0)
    if kind == "broken":
        return model_scores(forget_k=0.05, utility_known=False, utility_logp=-6.0, forget_logp=-6.0)
    if kind == "nothing":
        return model_scores(forget_k=0.9, utility_known=True, forget_logp=-0.5)
    if kind == "half":
        return model_scores(forget_k=lambda d: np.where(np.arange(len(d)) % 2 == 0, 0.9, 0.05), utility_known=True,
                            forget_logp=-3.0)
    raise ValueError(kind)


def oracle_scores():
    """The retain oracle: forget knowledge spread evenly over [0, 0.45] in random order, utility intact."""
    return model_scores(forget_k=lambda d: np.random.default_rng(0).permutation(np.linspace(0.0, 0.45, len(d))),
                        utility_known=True, forget_logp=-4.0)


def build_store(path: Path, cfg, *, oracle: bool = True, behaviour=BEHAVIOUR) -> dict:
    """Write references and every grid configuration of ``cfg`` into a new store; returns {config_id: kind}."""
    kinds = {}
    with Store(path) as st:
        st.write_config(config_id="__original__", train_key="__original__", method="reference", hparams={}, steps=0,
                        status="ok", diverged_at=None, train_seconds=0.0, score_seconds=0.0, metrics={},
                        scores=model_scores(forget_k=0.9, utility_known=True, forget_logp=-0.5))
        if oracle:
            st.write_config(config_id="__oracle__", train_key="__oracle__", method="reference", hparams={}, steps=0,
                            status="ok", diverged_at=None, train_seconds=0.0, score_seconds=0.0, metrics={},
                            scores=oracle_scores())
        for c in expand_grid(cfg):
            kind = behaviour[(c["method"], c["hparams"]["lr"], c["steps"])]
            kinds[c["config_id"]] = kind
            div = kind == "diverged"
            st.write_config(config_id=c["config_id"], train_key=c["train_key"], method=c["method"], hparams=c["hparams"],
                            steps=c["steps"], status="diverged" if div else "ok", diverged_at=3 if div else None,
                            train_seconds=1.0, score_seconds=1.0, metrics={},
                            scores=None if div else behaviour_scores(kind))
    return kinds


def read_store(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(configs, scores) of a store, opened read-only."""
    with Store(path, read_only=True) as st:
        return st.configs(), st.scores()
