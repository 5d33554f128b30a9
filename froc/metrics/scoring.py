"""Per-sample scoring: every forward pass and generation that the metrics need, batched once.

``score_probes`` flattens every sequence of every probe (gold, paraphrased, each perturbed answer)
into one list, sorts it by length and runs it in padded batches (right padding, answer-only masks,
``torch.inference_mode``). From the same pass it takes, for the gold answer, per-token log-probs,
Min-K%++ standardisation (mean/std of log p under the model's own next-token distribution at each
position), teacher-forced argmax hits and optionally mean-pooled hidden states. Greedy answers are
generated in left-padded, length-bucketed batches with a KV cache. The result is one row per probe;
metrics (``froc.metrics.*``) are pure functions over its columns.

Text items (``id``, ``subject``, ``text``) are scored on the whole text; their generation prompt is
the first ``text_prompt_tokens`` tokens (VerbMem) and the reference is the next ``max_new_tokens``
tokens of the true text.

Shapes: B batch, T sequence length, V vocabulary, H hidden size, N probes, S sequences.
"""

from __future__ import annotations

import json
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch

from froc.errors import ConfigError
from froc.metrics.extraction import exact_memorisation, extraction_strength
from froc.metrics.membership import min_k_mean, n_lowest, zlib_length
from froc.metrics.provenance import provenance, utc_now
from froc.metrics.text import contains_answer, rouge_l
from froc.metrics.tofu import correct_choice, normalised_probability
from froc.models.encoding import (DEFAULT_FORMAT, IGNORE, Encoded, PromptFormat, collate, collate_prompts,
                                  encode_prompt, encode_qa, encode_text, length_buckets, to_device)
from froc.models.logprobs import logprobs_from_logits

COLUMNS = (
    "probe_id", "subject", "form", "group", "fact_type", "template_split", "split", "model", "kind",
    "gold_logp_sum", "gold_logp_mean", "gold_len", "para_logp_mean", "perturbed_logp_mean", "knowledge",
    "correct_choice", "mink", "minkpp", "extraction_strength", "exact_mem", "gold_token_logp", "gold_zlib_len",
    "perturbed_mink", "perturbed_minkpp", "perturbed_zlib_len", "generation", "reference", "rouge_l_recall", "rouge_l_f1", "gen_correct",
)
LIST_COLUMNS = ("perturbed_logp_mean", "gold_token_logp", "perturbed_mink", "perturbed_minkpp", "perturbed_zlib_len")
HIDDEN_POOLS = ("answer", "prompt")


# ----------------------------------------------------------------------------- plan: what to run


@dataclass
class Plan:
    """Every sequence to score and every prompt to generate from, for N probes."""

    seqs: list[Encoded]  # (S) all scored sequences
    gold: list[int]  # (N) index into seqs of each probe's gold sequence
    para: list[int | None]  # (N) index of the paraphrased-answer sequence, if any
    pert: list[list[int]]  # (N) indices of the perturbed-answer sequences
    prompts: list[list[int]]  # (N) generation prompt ids
    references: list[str]  # (N) what the generation is compared with
    zlib: list[int]  # (N) zlib length of the scored gold text
    kinds: list[str]  # (N) "qa" | "text"


class _PretokenizedTokenizer:
    """A tokenizer view whose ``tokenizer(text, add_special_tokens=False)`` answers from one batched call.

    ``encode_qa`` tokenizes the prompt once per answer (gold, paraphrase, each perturbed answer);
    tokenizing every distinct text once, in one batch, gives the same ids much faster.
    """

    def __init__(self, tokenizer, texts: Sequence[str]):
        self._tok = tokenizer
        uniq = list(dict.fromkeys(t for t in texts if t))
        ids = tokenizer(uniq, add_special_tokens=False)["input_ids"] if uniq else []
        self._ids = {t: list(i) for t, i in zip(uniq, ids)}

    def __call__(self, text, add_special_tokens: bool = True, **kw):
        if isinstance(text, str) and not add_special_tokens and not kw and text in self._ids:
            return {"input_ids": self._ids[text]}
        return self._tok(text, add_special_tokens=add_special_tokens, **kw)

    def __getattr__(self, name):
        return getattr(self._tok, name)


def _texts(probes: Sequence[Any], fmt: PromptFormat) -> list[str]:
    out = []
    for item in probes:
        if _is_qa(item):
            out.append(fmt.prompt(item.question))
            answers = [item.answer, getattr(item, "paraphrased_answer", None), *(getattr(item, "perturbed_answers", None) or [])]
            out.extend(fmt.answer_prefix + a for a in answers if a)
        elif isinstance(getattr(item, "text", None), str):
            out.append(item.text)
    return out


def _is_qa(item: Any) -> bool:
    return hasattr(item, "question") and hasattr(item, "answer")


def plan_probes(tokenizer, probes: Sequence[Any], fmt: PromptFormat = DEFAULT_FORMAT, *, max_new_tokens: int = 16,
                text_prompt_tokens: int = 32, max_length: int | None = None) -> Plan:
    """Encode every probe once: scored sequences, generation prompts and references."""
    tokenizer = _PretokenizedTokenizer(tokenizer, _texts(probes, fmt))
    plan = Plan([], [], [], [], [], [], [], [])
    prompt_cap = None if max_length is None else max(1, max_length - max_new_tokens)

    def add(enc: Encoded) -> int:
        plan.seqs.append(enc)
        return len(plan.seqs) - 1

    for item in probes:
        if _is_qa(item):
            plan.kinds.append("qa")
            plan.gold.append(add(encode_qa(tokenizer, item.question, item.answer, fmt, max_length)))
            para = getattr(item, "paraphrased_answer", None)
            plan.para.append(add(encode_qa(tokenizer, item.question, para, fmt, max_length)) if para else None)
            perts = getattr(item, "perturbed_answers", None) or []
            plan.pert.append([add(encode_qa(tokenizer, item.question, a, fmt, max_length)) for a in perts])
            prompt = encode_prompt(tokenizer, item.question, fmt)
            plan.references.append(item.answer)
            plan.zlib.append(zlib_length(item.answer))
        elif hasattr(item, "text"):
            plan.kinds.append("text")
            plan.gold.append(add(encode_text(tokenizer, item.text, 0, fmt, max_length)))
            plan.para.append(None)
            plan.pert.append([])
            ids = list(tokenizer(item.text, add_special_tokens=False)["input_ids"]) if item.text else []
            n = min(text_prompt_tokens, max(len(ids) - 1, 0))
            bos = [tokenizer.bos_token_id] if fmt.add_bos and tokenizer.bos_token_id is not None else []
            prompt = bos + ids[:n]
            plan.references.append(tokenizer.decode(ids[n : n + max_new_tokens], skip_special_tokens=True).strip())
            plan.zlib.append(zlib_length(item.text))
        else:
            raise ConfigError(f"probe {getattr(item, 'id', '?')!r} is neither a QA item (question/answer) "
                              "nor a text item (text)")
        if not prompt:  # generation needs at least one token
            prompt = [tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id]
        plan.prompts.append(prompt[-prompt_cap:] if prompt_cap is not None else prompt)
    return plan


# ----------------------------------------------------------------------------- forward passes


@dataclass
class SequenceScores:
    """Raw numbers from the forward passes, per scored sequence (S = all answers of all probes)."""

    logp_sum: np.ndarray  # (S,) summed answer log-prob
    n_tokens: np.ndarray  # (S,) answer tokens
    token_logp: list[np.ndarray]  # (S) per-token answer log-probs
    token_z: list[np.ndarray]  # (S) per-token Min-K%++ z-scores
    hits: list[np.ndarray]  # (S) teacher-forced argmax == answer token
    hidden: dict[int, np.ndarray] = field(default_factory=dict)  # layer -> (N, H), gold sequences only


def token_stats(logits: torch.Tensor, labels: torch.Tensor, token_logp: torch.Tensor, chunk: int = 512):
    """Min-K%++ z-scores and argmax hits at scored positions (computed ``chunk`` positions at a time).

    Args:
        logits: (n, V) next-token logits at the n scored positions.
        labels: (n,) the answer tokens there.
        token_logp: (n,) log p(answer token).

    Returns:
        ``(z, hits)``, both (n,): ``z = (log p(x_t) - mu_t) / sigma_t`` with ``mu_t = E_{v~p_t} log p_t(v)``
        and ``sigma_t^2 = Var_{v~p_t} log p_t(v)`` (Min-K%++); hits = argmax == label.
    """
    zs, hs = [], []
    for s in range(0, logits.shape[0], chunk):
        lg = logits[s : s + chunk]  # (c, V)
        lsm = torch.log_softmax(lg.double(), dim=-1)  # float64: sigma can be small, z amplifies rounding
        p = lsm.exp()
        mu = (p * lsm).sum(-1)  # (c,)
        var = (p * (lsm - mu[:, None]) ** 2).sum(-1)
        zs.append((token_logp[s : s + chunk].double() - mu) / var.clamp_min(1e-12).sqrt())
        hs.append(lg.argmax(-1) == labels[s : s + chunk])
    if not zs:
        return token_logp.new_zeros(0, dtype=torch.float64), torch.zeros(0, dtype=torch.bool, device=labels.device)
    return torch.cat(zs), torch.cat(hs)


def _layers(model, hidden_layers: Sequence[int] | None) -> list[int]:
    if not hidden_layers:
        return []
    n = int(getattr(model.config, "num_hidden_layers")) + 1  # hidden_states[0] = embeddings
    out = []
    for layer in hidden_layers:
        if not -n <= int(layer) < n:
            raise ConfigError(f"hidden layer {layer} out of range; the model has hidden states 0..{n - 1} "
                              "(0 = embeddings; negative counts from the end)")
        out.append(int(layer) % n)
    return sorted(set(out))


def _accepts_logits_to_keep(model) -> bool:
    """Whether the (base) model's forward takes ``logits_to_keep`` (transformers causal LMs do)."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        return "logits_to_keep" in inspect.signature(base.forward).parameters
    except (TypeError, ValueError):
        return False


def forward_scores(model, plan: Plan, *, pad_id: int, batch_size: int, device, layers: Sequence[int] = (),
                   hidden_pool: str = "answer", advance: Callable[[int], None] = lambda n=1: None) -> SequenceScores:
    """All sequences of ``plan`` in length-bucketed, right-padded batches (one forward pass each)."""
    S, N = len(plan.seqs), len(plan.gold)
    sums, ns = np.zeros(S), np.zeros(S)
    tok_lp: list[np.ndarray] = [np.empty(0)] * S
    tok_z: list[np.ndarray] = [np.empty(0)] * S
    hits: list[np.ndarray] = [np.empty(0, dtype=bool)] * S
    row_of_gold = {s: i for i, s in enumerate(plan.gold)}
    hidden: dict[int, np.ndarray] = {}
    keep = _accepts_logits_to_keep(model)
    for idx in length_buckets([len(e.ids) for e in plan.seqs], batch_size):
        batch = to_device(collate([plan.seqs[k] for k in idx], pad_id, padding_side="right"), device)
        T = batch["input_ids"].shape[1]
        # logits only from the last prompt token on: positions before k0 predict prompt tokens (never scored)
        k0 = max(0, min(plan.seqs[k].n_prompt for k in idx) - 1) if keep else 0
        extra = {"logits_to_keep": T - k0} if k0 > 0 else {}
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                    output_hidden_states=bool(layers), use_cache=False, **extra)
        logits = out.logits  # (B, T-k0, V): logits[:, j] is position k0 + j
        labels = batch["labels"][:, T - logits.shape[1]:]  # aligned with logits (labels before k0 are all -100)
        logp, mask = logprobs_from_logits(logits, labels)  # (B, T-k0-1) each
        sums[idx] = logp.double().sum(-1).cpu().numpy()  # float64 sum: no float32 accumulation error
        ns[idx] = mask.sum(-1).cpu().numpy()
        m = mask.bool()
        lp = logp[m]  # (n,) every answer token of the batch, row-major
        z, hit = token_stats(logits[:, :-1][m], labels[:, 1:][m], lp)  # (n,) each
        cuts = np.cumsum(m.sum(-1).cpu().numpy())[:-1]  # one device->host copy per batch, split on the host
        for k, lp_r, z_r, h_r in zip(idx, np.split(lp.double().cpu().numpy(), cuts),
                                     np.split(z.cpu().numpy(), cuts), np.split(hit.cpu().numpy(), cuts)):
            tok_lp[k], tok_z[k], hits[k] = lp_r, z_r, h_r
        g = [r for r, k in enumerate(idx) if k in row_of_gold]
        if layers and g:
            gi = torch.tensor(g, device=logp.device)
            glabels = batch["labels"][gi]  # (G, T)
            if hidden_pool == "answer":
                pool = glabels != IGNORE
            else:
                pool = (batch["attention_mask"][gi] == 1) & (glabels == IGNORE)
            w = pool.float()[..., None]  # (G, T, 1)
            for layer in layers:
                hs = out.hidden_states[layer][gi].float()  # (G, T, H)
                pooled = ((hs * w).sum(1) / w.sum(1).clamp_min(1.0)).cpu().numpy()  # (G, H)
                if layer not in hidden:
                    hidden[layer] = np.zeros((N, pooled.shape[1]), dtype=np.float32)
                for j, r in enumerate(g):
                    hidden[layer][row_of_gold[idx[r]]] = pooled[j]
        advance(1)
    return SequenceScores(sums, ns, tok_lp, tok_z, hits, hidden)


# ----------------------------------------------------------------------------- generation


def _decode(tokenizer, ids: list[int], eos_id: int | None) -> str:
    if eos_id is not None and eos_id in ids:
        ids = ids[: ids.index(eos_id)]
    return tokenizer.decode(ids, skip_special_tokens=True).strip()


def greedy_generate(model, tokenizer, prompts: Sequence[Sequence[int]], *, max_new_tokens: int = 16,
                    batch_size: int = 64, device=None,
                    advance: Callable[[int], None] = lambda n=1: None) -> list[str]:
    """Greedy continuations of token-id prompts: length-bucketed, left-padded batches, KV cache, stop at eos.

    Returns the decoded continuations (special tokens dropped, stripped), in the order of ``prompts``.
    """
    from transformers import GenerationConfig

    out: list[str] = [""] * len(prompts)
    if max_new_tokens <= 0:
        return out
    device = device if device is not None else next(model.parameters()).device
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    cfg = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, use_cache=True,
                           eos_token_id=eos, pad_token_id=pad)
    for idx in length_buckets([len(p) for p in prompts], batch_size):
        batch = to_device(collate_prompts([prompts[i] for i in idx], pad), device)
        gen = model.generate(**batch, generation_config=cfg)  # (B, T + new)
        new = gen[:, batch["input_ids"].shape[1]:].tolist()
        for i, ids in zip(idx, new):
            out[i] = _decode(tokenizer, ids, eos)
        advance(1)
    return out


# ----------------------------------------------------------------------------- the table


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
        "knowledge": normalised_probability(gold_mean, pert_mean),
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
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
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


# ----------------------------------------------------------------------------- entry point


def _check(batch_size: int, max_new_tokens: int, mink_k: float, hidden_pool: str) -> None:
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    if max_new_tokens < 0:
        raise ConfigError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    try:
        n_lowest(1, mink_k)
    except ValueError as e:
        raise ConfigError(f"mink_k: {e}") from None
    if hidden_pool not in HIDDEN_POOLS:
        from froc.errors import unknown_choice

        raise unknown_choice("hidden_pool", hidden_pool, HIDDEN_POOLS)


def score_probes(model, tokenizer, probes: Sequence[Any], *, fmt: PromptFormat = DEFAULT_FORMAT, batch_size: int = 64,
                 generate: bool = True, max_new_tokens: int = 16, mink_k: float = 0.2,
                 hidden_layers: Sequence[int] | None = None, hidden_pool: str = "answer",
                 text_prompt_tokens: int = 32, max_length: int | None = None, model_name: str = "model",
                 model_path: str | Path | None = None, data_manifest: dict | None = None, seed: int | None = None,
                 device=None, progress: bool = True) -> ScoreResult:
    """Score every probe with one model: log-probs, membership scores, extraction, greedy answers.

    Args:
        model, tokenizer: a causal LM and its tokenizer (``pad_token_id`` falls back to eos).
        probes: QA items (``question``, ``answer``, optional ``paraphrased_answer``, ``perturbed_answers``,
            ``form``, ``meta``) and/or text items (``text``); any objects with those attributes.
        fmt: prompt format (the one the model was trained with).
        batch_size: sequences per forward pass and prompts per generation batch.
        generate: also produce greedy answers (ROUGE, gen_correct); off -> those columns are NaN/None.
        max_new_tokens: generation budget (also the length of a text item's reference continuation).
        mink_k: K of Min-K% and Min-K%++ (share of lowest tokens, at least one token).
        hidden_layers: hidden-state indices (0 = embeddings, -1 = last) to mean-pool; None = none.
        hidden_pool: pool over ``answer`` tokens or ``prompt`` tokens of the gold sequence.
        text_prompt_tokens: prompt length of text items' continuation (VerbMem).
        max_length: truncate sequences to this many tokens (default: the model's max positions).
        model_name: the ``model`` column (e.g. target / oracle / original).
        model_path, data_manifest, seed: recorded in the provenance.
        device: where to run; default the model's device (given -> the model is moved there).
        progress: show a progress bar.

    Returns:
        :class:`ScoreResult` with one row per probe, in probe order.
    """
    from froc.progress import progress_bar

    _check(batch_size, max_new_tokens, mink_k, hidden_pool)
    started, t0 = utc_now(), time.perf_counter()
    if device is not None:
        from froc.models.loading import resolve_device

        device = resolve_device(device)
        model.to(device)
    else:
        device = next(model.parameters()).device
    if max_length is None:
        max_length = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    layers = _layers(model, hidden_layers)
    plan = plan_probes(tokenizer, probes, fmt, max_new_tokens=max_new_tokens, text_prompt_tokens=text_prompt_tokens,
                       max_length=max_length)
    n_fwd = -(-len(plan.seqs) // batch_size)
    n_gen = -(-len(plan.prompts) // batch_size) if generate and max_new_tokens > 0 else 0
    was_training = model.training
    model.eval()
    timing = {}
    try:
        bar = progress_bar(f"scoring {model_name}", n_fwd + n_gen) if progress else nullcontext(lambda n=1, **kw: None)
        with torch.inference_mode(), bar as advance:
            t = time.perf_counter()
            raw = forward_scores(model, plan, pad_id=pad_id, batch_size=batch_size, device=device, layers=layers,
                                 hidden_pool=hidden_pool, advance=advance)
            timing["forward_s"] = time.perf_counter() - t
            generations = None
            if generate:
                t = time.perf_counter()
                generations = greedy_generate(model, tokenizer, plan.prompts, max_new_tokens=max_new_tokens,
                                              batch_size=batch_size, device=device, advance=advance)
                timing["generate_s"] = time.perf_counter() - t
    finally:
        model.train(was_training)
    table = build_table(probes, plan, raw, generations, mink_k=mink_k, model_name=model_name)
    seconds = time.perf_counter() - t0
    summary = {
        "model_name": model_name,
        "n_probes": len(probes),
        "n_sequences": len(plan.seqs),
        "settings": {"fmt": asdict(fmt), "batch_size": batch_size,
                     "generate": generate, "max_new_tokens": max_new_tokens, "mink_k": mink_k,
                     "hidden_layers": layers, "hidden_pool": hidden_pool, "text_prompt_tokens": text_prompt_tokens,
                     "max_length": max_length, "device": str(device),
                     "dtype": str(next(model.parameters()).dtype)},
        "timing": {**timing, "total_s": seconds},
        "provenance": provenance(model=model, model_path=model_path, probes=probes, data_manifest=data_manifest,
                                 seed=seed, started=started, seconds=seconds),
    }
    return ScoreResult(table, raw.hidden, summary)
