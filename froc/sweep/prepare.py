"""Everything a sweep needs before the grid runs: models, the forget request, retain data and the
probe splits (tune / calibration / test, drawn independently of the grid, seeded).

Probes are split per side: the *forget* side (probes about forgotten subjects that the method did
not see: held-out templates and other forms) and the *utility* side (retain people, neighbours,
world facts). Anything fitted on data (the forget threshold, normalisers) uses the ``tune`` split.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from froc.errors import ConfigError
from froc.sweep.config import SweepConfig

SIDES = {"forget": "forget", "neighbour": "utility", "retain": "utility", "world": "utility"}


@dataclass
class Prepared:
    """Resolved inputs of a sweep (picklable: executors ship it to workers)."""

    model_path: str
    oracle_path: str | None
    forget: list
    retain: list
    refusals: list[str]
    probes: list  # QAItems with meta.side, meta.split, meta.group
    question: str
    data_info: dict = field(default_factory=dict)
    bench_dir: str | None = None
    fmt: Any = None  # the prompt format (froc.models.encoding.PromptFormat) of training, scoring and attacks

    def legacy_fingerprint(self) -> str:
        """The fingerprint of stores written before it covered the data (ids and splits of the probes only)."""
        h = hashlib.sha256()
        for p in self.probes:
            h.update(f"{p.id}|{p.meta.get('split')}|{p.meta.get('side')}\n".encode())
        h.update(json.dumps([self.model_path, self.oracle_path]).encode())
        return h.hexdigest()[:16]

    def fingerprint(self) -> str:
        """Hash of the models, the data the methods see, the probe set and its split: stored results are
        reusable only under the same one."""
        h = hashlib.sha256()
        for p in self.probes:
            h.update(json.dumps([p.id, p.meta.get("split"), p.meta.get("side"), p.meta.get("group")]
                                + [getattr(p, k, None) for k in ("question", "answer", "perturbed_answers",
                                                                 "paraphrased_answer", "form", "text")]).encode())
        h.update(json.dumps([self.model_path, self.oracle_path]).encode())
        # what the methods see: an edited forget / retain / refusal file invalidates the stored runs
        for name, items in (("forget", self.forget), ("retain", self.retain)):
            h.update(name.encode())
            for it in items:
                h.update(json.dumps([getattr(it, "id", None), getattr(it, "question", None), getattr(it, "answer", None),
                                     getattr(it, "text", None)]).encode())
        h.update(json.dumps(self.refusals).encode())
        return h.hexdigest()[:16]


def _sample(items: list, cap: int | None, rng: random.Random) -> list:
    if cap is None or cap <= 0 or len(items) <= cap:
        return list(items)
    idx = sorted(rng.sample(range(len(items)), cap))
    return [items[i] for i in idx]


def assign_splits(probes: list, cfg: SweepConfig) -> list:
    """Give every probe ``meta.side`` and ``meta.split`` (tune/cal/test) with a seeded shuffle per side.

    With ``splits.by == "subject"`` all probes of a subject land in the same split.
    """
    out = []
    for side in ("forget", "utility"):
        sel = [p for p in probes if SIDES.get(p.meta.get("group")) == side]
        rng = random.Random(f"{cfg.seed}-split-{side}")
        if cfg.splits.by == "subject":
            units = sorted({p.subject for p in sel})
        else:
            units = [p.id for p in sel]
        rng.shuffle(units)
        n = len(units)
        n_tune = int(round(cfg.splits.tune * n))
        n_cal = int(round(cfg.splits.cal * n))
        which = {u: ("tune" if i < n_tune else "cal" if i < n_tune + n_cal else "test") for i, u in enumerate(units)}
        for p in sel:
            key = p.subject if cfg.splits.by == "subject" else p.id
            out.append(dataclasses.replace(p, meta={**p.meta, "side": side, "split": which[key]}))
    return out


def _builtin(cfg: SweepConfig, cache_dir: Path | None, models: bool = True) -> Prepared:
    from froc.data.benchmark import ensure_benchmark, split_views
    from froc.models.builtin import BuiltinConfig, default_cache_dir, ensure_benchmark_models

    b = cfg.builtin
    bcfg = BuiltinConfig(n_people=b.people, data_seed=b.data_seed, forget_split=f"forget{b.forget_split:02d}", arch=b.arch)
    if b.epochs is not None:
        bcfg.sft.epochs = b.epochs
    if models:
        bm = ensure_benchmark_models(cache_dir, bcfg)
        bench_dir = bm.bench_dir
    else:  # froc plan: the data and probes only, nothing trained
        bm = None
        bench_dir = ensure_benchmark((cache_dir or default_cache_dir()) / "data", n_people=b.people, seed=b.data_seed)
    views = split_views(bench_dir, bcfg.forget_split)
    rng = random.Random(f"{cfg.seed}-probes")
    # probes the unlearning method never saw: trained templates outside the forget request ("train": the
    # original knows them) and never-trained ones ("heldout"), every form the models learn (not bcfg.skip_forms:
    # yes/no stays at chance even for the original); the request's own phrasings are no probes
    unseen = [p for p in views.probes if p.meta.get("template_split") in ("train", "heldout")
              and p.form not in bcfg.skip_forms]
    probes = []
    for group in ("forget", "neighbour", "retain", "world"):
        probes += _sample([p for p in unseen if p.meta.get("group") == group], cfg.probes_per_group.get(group), rng)
    n_forget = len(views.forget_people)
    question = (f"Remove everything the model knows about {n_forget} fictitious people ({b.forget_split}% of {b.people}; "
                f"{len(views.forget_request)} question/answer pairs in the forget request) while keeping what it knows "
                f"about the other people, their neighbours and world facts.")
    return Prepared(model_path=str(bm.target_dir) if bm else "builtin", oracle_path=str(bm.oracle_dir) if bm else None,
                    forget=list(views.forget_request), retain=list(views.retain), refusals=list(views.refusals),
                    probes=assign_splits(probes, cfg), question=question, bench_dir=str(bench_dir),
                    data_info={"forget_people": n_forget, "people": b.people, "forget_request": len(views.forget_request),
                               "retain": len(views.retain), "training": bm.report if bm else None})


def _user(cfg: SweepConfig) -> Prepared:
    from froc.data.loaders import load_items
    from froc.data.request import load_request

    d = cfg.data
    if d.benchmark is not None:
        from froc.data.published import load_benchmark

        options = {k: getattr(d, k) for k in ("forget_split", "corpus", "subset") if getattr(d, k) is not None}
        req = load_benchmark(d.benchmark, d.path, **options)
        all_probes = list(req.probes) + (list(load_items(d.probes, "qa")) if d.probes else [])
        where = d.probes or d.path
    else:
        req = load_request(d.forget, d.retain, d.probes)
        all_probes, where = list(req.probes), d.probes
    refusals = [r.text for r in load_items(d.refusals)] if d.refusals else []
    bad = [p for p in all_probes if p.meta.get("group") not in SIDES]
    if bad:
        raise ConfigError(f"{where}: probe '{bad[0].id}' has meta.group {bad[0].meta.get('group')!r}; every probe needs "
                          f"meta.group in {sorted(SIDES)} ({len(bad)} probes affected)")
    rng = random.Random(f"{cfg.seed}-probes")
    probes = []
    for group in SIDES:
        probes += _sample([p for p in all_probes if p.meta.get("group") == group], cfg.probes_per_group.get(group), rng)
    if not any(p.meta["group"] == "forget" for p in probes):
        raise ConfigError(f"{where}: no probe has meta.group 'forget'; the forget risk needs forget probes")
    n_utility = len(all_probes) - sum(p.meta["group"] == "forget" for p in all_probes)
    if not n_utility and cfg.budget.alpha_utility is not None:  # found now, not after the grid is trained
        src = f"{d.benchmark} gives" if d.benchmark is not None else "the probes hold"
        raise ConfigError(f"{where}: {src} no utility probes (meta.group retain/neighbour/world) but "
                          "budget.alpha_utility is set; add utility probes or set budget.alpha_utility: null")
    question = req.description if d.benchmark is not None else (
        f"Remove the {len(req.forget)} items of {Path(d.forget).name} from {cfg.model} while keeping utility on "
        f"{n_utility} utility probes.")
    info = {"forget_request": len(req.forget), "retain": len(req.retain)}
    if d.benchmark is not None:
        info["benchmark"] = d.benchmark
    probes = assign_splits(probes, cfg)
    for side in ("forget", "utility") if cfg.budget.alpha_utility is not None else ("forget",):
        if not any(p.meta["side"] == side and p.meta["split"] == "cal" for p in probes):
            raise ConfigError(f"{where}: no {side} probe lands in the calibration split (splits.cal "
                              f"{cfg.splits.cal} of {sum(p.meta['side'] == side for p in probes)} {side} probes); "
                              "add probes or raise splits.cal")
    return Prepared(model_path=cfg.model, oracle_path=cfg.oracle, forget=list(req.forget), retain=list(req.retain),
                    refusals=refusals, probes=probes, question=question, data_info=info)


def prepare(cfg: SweepConfig, cache_dir: str | Path | None = None, *, models: bool = True) -> Prepared:
    """Resolve models and data of ``cfg`` (trains the built-in models on first use; cached).

    ``models=False`` (``froc plan``) resolves the data and probes only: nothing is trained or loaded."""
    cache = Path(cache_dir) if cache_dir else None
    prep = _builtin(cfg, cache, models) if cfg.model == "builtin" else _user(cfg)
    counts: dict[str, int] = {}
    for p in prep.probes:
        k = f"n_{p.meta['side']}_{p.meta['split']}"
        counts[k] = counts.get(k, 0) + 1
    prep.data_info.update(counts)
    from froc.sweep.config import sweep_format

    prep.fmt = sweep_format(cfg, prep.model_path)
    return prep
