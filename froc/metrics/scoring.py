"""Per-sample scoring: every forward pass and generation that the metrics need, batched once.

``score_probes`` flattens every sequence of every probe (gold, paraphrased, each perturbed answer)
into one list and scores it in batches (``torch.inference_mode``). A QA probe's 2-5 sequences share
one prompt: each distinct prompt runs once with a KV cache and its answers run on that cache
(:func:`forward_scores`); other sequences, and models that cannot do that, run whole in right-padded
batches of similar length. Every answer token gets its log-prob, its Min-K%++ standardisation (mean/std
of log p under the model's own next-token distribution there, float64) and a teacher-forced argmax hit;
gold answers optionally get mean-pooled hidden states. Greedy answers are generated in left-padded,
length-bucketed batches with a KV cache. The result is one row per probe; metrics (``froc.metrics.*``)
are pure functions over its columns. :mod:`froc.metrics.naive` computes the same table one sequence
at a time (the reference of the tests and of ``benchmarks/scoring.py``).

Text items (``id``, ``subject``, ``text``) are scored on the whole text; their generation prompt is
the first ``text_prompt_tokens`` tokens (VerbMem) and the reference is the next ``max_new_tokens``
tokens of the true text.

Shapes: B batch, T sequence length, V vocabulary, H hidden size, N probes, S sequences.
"""

from __future__ import annotations

import bisect
import heapq
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
from froc.metrics.knowledge import correct_choice, knowledge_scores
from froc.models.encoding import (DEFAULT_FORMAT, IGNORE, Encoded, PromptFormat, collate, collate_prompts,
                                  encode_prompt, encode_qa, encode_text, length_buckets, pad_token_id, to_device)
from froc.models.kvcache import cache_arg, cache_kwargs, forward_params, output_cache

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
        # looked up for every encoded sequence; a Hugging Face tokenizer resolves them from the token each time
        self.bos_token_id, self.eos_token_id = tokenizer.bos_token_id, tokenizer.eos_token_id

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


def _chunk_rows(vocab: int, chunk: int | None) -> int:
    """Rows per chunk of the float64 (rows, V) temporaries: ``chunk``, or ~2 MB worth (at least 8 rows)."""
    return max(1, chunk) if chunk is not None else max(8, (1 << 18) // max(vocab, 1))


def _answer_stats(logits: torch.Tensor, labels: torch.Tensor, chunk: int | None = None):
    """Log p(label), the Min-K%++ moments and argmax hits at n scored positions, in float64.

    With ``s = logits - max`` (float64) and ``Z = sum exp(s)``: ``log p = s - log Z``, so
    ``mu = E_p[log p] = E_p[s] - log Z`` and ``sigma^2 = Var_p[log p] = E_p[s^2] - E_p[s]^2``. Computed from
    ``exp(s)``, ``exp(s) * s`` and its dot product with ``s`` (no separate log-softmax, no centred copy);
    the moments are taken around the maximum logit, close to the mass, so their difference does not cancel.

    Args:
        logits: (n, V) next-token logits; labels: (n,) the tokens there.

    Returns:
        ``(logp, mu, var, hits)``, each (n,): float64 log p(label), E_p log p, Var_p log p; argmax == label.
    """
    out: list[list[torch.Tensor]] = [[], [], [], []]
    step = _chunk_rows(logits.shape[-1], chunk)
    for a in range(0, logits.shape[0], step):
        lg, lab = logits[a : a + step], labels[a : a + step]  # (c, V), (c,)
        top, arg = lg.max(-1)  # argmax = first maximum, as torch.argmax
        s = torch.sub(lg, top.double()[:, None])  # (c, V) float64 (promoted in the subtraction)
        e = s.exp()
        z = e.sum(-1)
        log_z = z.log()
        es = e.mul_(s)  # exp(s) * s (in place)
        m1 = es.sum(-1) / z  # E_p[s]
        m2 = torch.linalg.vecdot(es, s) / z  # E_p[s^2]
        for o, v in zip(out, (s.gather(-1, lab[:, None])[:, 0] - log_z, m1 - log_z, m2 - m1 * m1, arg == lab)):
            o.append(v)
    if not out[0]:
        empty = logits.new_zeros(0, dtype=torch.float64)
        return empty, empty, empty, torch.zeros(0, dtype=torch.bool, device=labels.device)
    return tuple(torch.cat(o) for o in out)


def token_stats(logits: torch.Tensor, labels: torch.Tensor, token_logp: torch.Tensor, chunk: int | None = None):
    """Min-K%++ z-scores and argmax hits at scored positions (float64; ``chunk`` positions at a time).

    Args:
        logits: (n, V) next-token logits (or log-probs) at the n scored positions.
        labels: (n,) the answer tokens there.
        token_logp: (n,) log p(answer token).

    Returns:
        ``(z, hits)``, both (n,): ``z = (log p(x_t) - mu_t) / sigma_t`` with ``mu_t = E_{v~p_t} log p_t(v)``
        and ``sigma_t^2 = Var_{v~p_t} log p_t(v)`` (Min-K%++); hits = argmax == label.
    """
    _, mu, var, hits = _answer_stats(logits, labels, chunk)
    return _z(token_logp.double(), mu, var), hits


def _z(logp: torch.Tensor, mu: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    # float64 throughout: sigma can be small and z amplifies rounding
    return (logp - mu) / var.clamp_min(1e-12).sqrt()


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
    return "logits_to_keep" in forward_params(model)


def can_share_prompts(model) -> bool:
    """Whether ``model`` can run a prompt once and continue it from its KV cache: a decoder-only model whose
    forward takes a KV cache (:func:`froc.models.kvcache.cache_arg`), ``position_ids`` and ``use_cache`` (Hugging Face causal LMs, with or
    without LoRA), and no peft prompt learning (prefix/prompt tuning bring their own cache and positions).
    Whether the cache it returns can be split by rows is checked on the first prompt batch."""
    if hasattr(model, "get_base_model") and getattr(getattr(model, "active_peft_config", None),
                                                    "is_prompt_learning", False):
        return False
    if getattr(getattr(model, "config", None), "is_encoder_decoder", False):
        return False
    return cache_arg(model) is not None and {"position_ids", "use_cache"} <= forward_params(model)


def _cache_rows(cache) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
    """Per-layer (keys, values), each (B, heads, T, head dim), of a plain ``DynamicCache`` of full-attention
    layers (transformers 5); None for any other cache (sliding windows, static, transformers 4.x)."""
    from transformers import DynamicCache

    layers = getattr(cache, "layers", None)
    if type(cache) is not DynamicCache or not layers:
        return None
    from transformers.cache_utils import DynamicLayer

    if not all(type(layer) is DynamicLayer and layer.is_initialized for layer in layers):
        return None
    return [(layer.keys, layer.values) for layer in layers]


def _cache_with(cache, kv: list[tuple[torch.Tensor, torch.Tensor]]):
    """A copy of ``cache`` (see :func:`_cache_rows`) that holds ``kv`` in place of its keys and values.

    ``copy.deepcopy`` (the documented way to reuse a prompt cache), told to substitute the tensors instead of
    copying them: no tensor is copied and ``cache`` is left as it is.
    """
    import copy

    memo = {}
    for (k_old, v_old), (k, v) in zip(_cache_rows(cache), kv):
        memo[id(k_old)], memo[id(v_old)] = k, v
    return copy.deepcopy(cache, memo)


class _Collector:
    """Per-sequence outputs of the forward passes, filled one batch at a time."""

    def __init__(self, plan: Plan, layers: Sequence[int]):
        S, self.N = len(plan.seqs), len(plan.gold)
        self.sums, self.ns = np.zeros(S), np.zeros(S)
        self.tok_lp: list[np.ndarray] = [np.empty(0)] * S
        self.tok_z: list[np.ndarray] = [np.empty(0)] * S
        self.hits: list[np.ndarray] = [np.empty(0, dtype=bool)] * S
        self.gold_row = {s: i for i, s in enumerate(plan.gold)}
        self.hidden: dict[int, np.ndarray] = {}
        self.layers = list(layers)

    def add(self, idx: Sequence[int], logits: torch.Tensor, targets: torch.Tensor, hidden_states=None,
            pool: torch.Tensor | None = None) -> None:
        """The scores of sequences ``idx`` (the rows of one batch).

        Args:
            logits: (B, T, V) next-token logits.
            targets: (B, T) the answer token each position predicts; -100 where nothing is scored.
            hidden_states: the model's hidden states, (B, T_h, H) per index (only when layers are pooled).
            pool: (B, T_h) the positions whose hidden states each row averages.
        """
        m = targets != IGNORE
        counts = m.sum(-1).cpu().numpy()
        lp, mu, var, hit = _answer_stats(logits[m], targets[m])  # (n,) each: every answer token, row-major
        z = _z(lp, mu, var)
        cuts = np.cumsum(counts)[:-1]  # one device->host copy per batch, split on the host
        for k, lp_r, z_r, h_r in zip(idx, np.split(lp.cpu().numpy(), cuts), np.split(z.cpu().numpy(), cuts),
                                     np.split(hit.cpu().numpy(), cuts)):
            self.tok_lp[k], self.tok_z[k], self.hits[k] = lp_r, z_r, h_r
            self.sums[k], self.ns[k] = lp_r.sum(), len(lp_r)
        g = [r for r, k in enumerate(idx) if k in self.gold_row]
        if not (self.layers and g):
            return
        gi = torch.tensor(g, device=targets.device)
        w = pool[gi].float()[..., None]  # (G, T_h, 1)
        for layer in self.layers:
            hs = hidden_states[layer][gi].float()  # (G, T_h, H)
            pooled = ((hs * w).sum(1) / w.sum(1).clamp_min(1.0)).cpu().numpy()  # (G, H)
            if layer not in self.hidden:
                self.hidden[layer] = np.zeros((self.N, pooled.shape[1]), dtype=np.float32)
            for j, r in enumerate(g):
                self.hidden[layer][self.gold_row[idx[r]]] = pooled[j]

    def result(self) -> SequenceScores:
        return SequenceScores(self.sums, self.ns, self.tok_lp, self.tok_z, self.hits, self.hidden)


# a forward call costs about as much as this many tokens of padding (~3 ms vs ~25 us a token: small model, CPU)
CALL_TOKENS = 128


def _buckets(lengths: Sequence[int], batch_size: int, call_tokens: int = CALL_TOKENS) -> list[list[int]]:
    """Indices in batches of at most ``batch_size``, in order of length, cut where padding costs more than a call.

    Of the ways to cut the sorted order into consecutive batches, one with the least
    ``sum(rows x longest + call_tokens)``. Some such way has every batch full or ending where a run of equal
    lengths ends (else moving the next item into it costs nothing), so the search (shortest path over cut
    positions) only tries those ends.
    """
    n = len(lengths)
    order = sorted(range(n), key=lambda i: (lengths[i], i))
    L = [lengths[i] for i in order]
    ends = [j for j in range(1, n + 1) if j == n or L[j] != L[j - 1]]  # where runs of equal length end
    best: dict[int, tuple[float, int]] = {0: (0.0, -1)}  # cut position -> (least cost up to it, previous cut)
    todo = [0]
    while todo:
        i = heapq.heappop(todo)  # every cut before i is done: best[i] is final
        if i == n:
            break
        top = min(i + batch_size, n)
        cands = ends[bisect.bisect_right(ends, i) : bisect.bisect_right(ends, top)]
        for j in cands if cands and cands[-1] == top else [*cands, top]:
            cost = best[i][0] + (j - i) * L[j - 1] + call_tokens
            if j not in best:
                heapq.heappush(todo, j)
            if j not in best or cost < best[j][0]:
                best[j] = (cost, i)
    out, j = [], n
    while j > 0:
        i = best[j][1]
        out.append(order[i:j])
        j = i
    return out[::-1]


def _shared_prompts(plan: Plan, exclude: set[int], batch_size: int) -> list[list[list[int]]]:
    """Sequences that share their prompt: batches of at most ``batch_size`` groups, in order of prompt length.

    A group is two or more sequences (not in ``exclude``) with an answer and identical, non-empty prompt ids.
    """
    by_prompt: dict[tuple[int, ...], list[int]] = {}
    for k, e in enumerate(plan.seqs):
        if k not in exclude and e.n_prompt >= 1 and e.n_answer >= 1:
            by_prompt.setdefault(tuple(e.ids[: e.n_prompt]), []).append(k)
    groups = sorted((g for g in by_prompt.values() if len(g) >= 2), key=lambda g: (plan.seqs[g[0]].n_prompt, g[0]))
    return [groups[i : i + batch_size] for i in range(0, len(groups), batch_size)]


def _pad_right(rows: Sequence[Sequence[int]], value: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """``rows`` right-padded with ``value`` to the longest: (B, T) ids and (B, T) 0/1 attention mask."""
    lens = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    ids = np.full((len(rows), int(lens.max(initial=0))), value, dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
    mask = (np.arange(ids.shape[1]) < lens[:, None]).astype(np.int64)
    return torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device)


def _run_prompts(model, prompts: list[list[int]], *, pad_id: int, batch_size: int, device, keep: bool):
    """Run ``prompts`` (right-padded batches cut by :func:`_buckets`) and keep what their continuations need.

    Returns ``(cache, mask, last, row)``: one ``DynamicCache`` of every prompt (batches zero-padded to the
    longest), its (n, P) attention mask, ``last`` (n, V) the logits at each prompt's last token, and
    ``row[i]`` the row of prompt i. None if the model's cache is not a plain full-attention ``DynamicCache``.
    """
    parts, order = [], []
    for b in _buckets([len(p) for p in prompts], batch_size):
        ids, mask = _pad_right([prompts[i] for i in b], pad_id, device)
        T, k0 = ids.shape[1], min(len(prompts[i]) for i in b) - 1  # logits from position k0 on
        out = model(input_ids=ids, attention_mask=mask, use_cache=True,
                    **({"logits_to_keep": T - k0} if keep and k0 > 0 else {}))
        cache = output_cache(out)
        if _cache_rows(cache) is None:
            return None
        at = mask.sum(-1) - 1 - (T - out.logits.shape[1])  # each prompt's last token, in out.logits
        parts.append((cache, mask, out.logits[torch.arange(len(b), device=at.device), at]))
        order.extend(b)
    row = [0] * len(order)
    for r, i in enumerate(order):
        row[i] = r
    if len(parts) == 1:
        return (*parts[0], row)
    P = max(m.shape[1] for _, m, _ in parts)
    kvs = [_cache_rows(c) for c, _, _ in parts]  # per batch, per layer (keys, values)
    kv = [tuple(torch.cat([_pad_to(part[layer][j], P, 2) for part in kvs]) for j in (0, 1))
          for layer in range(len(kvs[0]))]
    return (_cache_with(parts[0][0], kv), torch.cat([_pad_to(m, P, 1) for _, m, _ in parts]),
            torch.cat([x for _, _, x in parts]), row)


def _pad_to(x: torch.Tensor, n: int, dim: int) -> torch.Tensor:
    """``x`` zero-padded at the end of dimension ``dim`` to length ``n`` (``x`` itself if it has that length)."""
    if x.shape[dim] == n:
        return x
    return torch.nn.functional.pad(x, (0, 0) * (x.ndim - 1 - dim) + (0, n - x.shape[dim]))


def _forward_shared(model, plan: Plan, groups: list[list[int]], col: _Collector, *, pad_id: int, batch_size: int,
                    device, keep: bool, layers: Sequence[int], advance: Callable[[int], None]) -> bool:
    """Score ``groups`` (sequences sharing a prompt) with each prompt run once.

    Each prompt runs once, keeping its KV cache and its last token's logits, which predict the first answer
    token (:func:`_run_prompts`). Then, in batches of at most ``batch_size`` (:func:`_buckets`), each answer
    runs on a cache of its prompt's rows (right-padded, positions continuing the prompt's, prompt padding
    masked out): its logits predict the rest of the answer. An answer's last token predicts nothing and is
    left out, except for gold answers whose hidden states are pooled. Returns False (nothing scored) if the
    model's cache is not one whose rows can be picked.
    """
    prompts = _run_prompts(model, [plan.seqs[g[0]].ids[: plan.seqs[g[0]].n_prompt] for g in groups], pad_id=pad_id,
                           batch_size=batch_size, device=device, keep=keep)
    if prompts is None:
        return False
    prompt_cache, mask, last, row = prompts
    seqs = [(k, row[i]) for i, g in enumerate(groups) for k in g]
    answers = [plan.seqs[k].ids[plan.seqs[k].n_prompt:] for k, _ in seqs]
    inputs = [a if layers and k in col.gold_row else a[:-1] for (k, _), a in zip(seqs, answers)]
    for b in _buckets([len(x) for x in inputs], batch_size):
        idx = [seqs[i][0] for i in b]
        rows = torch.tensor([seqs[i][1] for i in b], device=mask.device)
        targets = _pad_right([answers[i] for i in b], IGNORE, device)[0]  # (B, M)
        logits = last.index_select(0, rows)[:, None]  # (B, 1, V): predicts each answer's first token
        hidden = pool = None
        if max(len(inputs[i]) for i in b) > 0:
            ids, cont_mask = _pad_right([inputs[i] for i in b], pad_id, device)
            P = max(plan.seqs[k].n_prompt for k in idx)  # the cache up to these prompts' longest (right padding)
            cache = _cache_with(prompt_cache, [(k[:, :, :P], v[:, :, :P]) for k, v in _cache_rows(prompt_cache)])
            cache.batch_select_indices(rows)  # (B, ...): each answer's prompt row, a copy (the prompts' stay)
            prompt_mask = mask[:, :P].index_select(0, rows)  # (B, P)
            positions = prompt_mask.sum(-1, keepdim=True) + torch.arange(ids.shape[1], device=rows.device)
            out = model(input_ids=ids, attention_mask=torch.cat([prompt_mask, cont_mask], 1), position_ids=positions,
                        use_cache=True, output_hidden_states=bool(layers), **cache_kwargs(model, cache))
            logits = torch.cat([logits, out.logits[:, : targets.shape[1] - 1]], 1)  # (B, M, V)
            hidden, pool = out.hidden_states, cont_mask.bool()  # every input token is an answer token
        col.add(idx, logits, targets, hidden, pool)
        advance(len(idx))
    return True


def _forward_full(model, plan: Plan, idx: list[int], col: _Collector, *, pad_id: int, device, keep: bool,
                  layers: Sequence[int], hidden_pool: str) -> None:
    """Score whole sequences ``idx`` in one right-padded batch."""
    seqs = [plan.seqs[k] for k in idx]
    batch = to_device(collate(seqs, pad_id, padding_side="right"), device)
    ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    T = labels.shape[1]
    # logits only from the last prompt token on: positions before k0 predict prompt tokens (never scored)
    k0 = max(0, min(e.n_prompt for e in seqs) - 1) if keep else 0
    out = model(input_ids=ids, attention_mask=mask, output_hidden_states=bool(layers), use_cache=False,
                **({"logits_to_keep": T - k0} if k0 > 0 else {}))
    pool = None
    if layers:
        pool = labels != IGNORE if hidden_pool == "answer" else (mask == 1) & (labels == IGNORE)
    col.add(idx, out.logits[:, :-1], labels[:, T - out.logits.shape[1] + 1:], out.hidden_states, pool)


def forward_scores(model, plan: Plan, *, pad_id: int, batch_size: int, device, layers: Sequence[int] = (),
                   hidden_pool: str = "answer", advance: Callable[[int], None] = lambda n=1: None,
                   share_prompts: bool = True) -> SequenceScores:
    """Every sequence of ``plan``, at most ``batch_size`` rows per forward pass.

    Sequences that share a prompt (a QA probe's gold, paraphrased and perturbed answers) run the prompt once
    and their answers on its KV cache (:func:`_forward_shared`), when ``share_prompts`` and the model can
    (:func:`can_share_prompts`). The rest (text items, prompts of one sequence; gold sequences when prompt
    tokens are pooled; everything for other models) run whole, in right-padded batches of similar length.
    Both give the numbers of one sequence at a time, up to float rounding.
    ``advance(n)`` is called with the number of sequences scored.
    """
    col = _Collector(plan, layers)
    keep = _accepts_logits_to_keep(model)
    rest = set(range(len(plan.seqs)))
    if share_prompts and can_share_prompts(model):
        exclude = set(plan.gold) if layers and hidden_pool != "answer" else set()
        for groups in _shared_prompts(plan, exclude, batch_size):
            if not _forward_shared(model, plan, groups, col, pad_id=pad_id, batch_size=batch_size, device=device,
                                   keep=keep, layers=layers, advance=advance):
                break  # the model's cache cannot be split by rows: score these whole
            rest.difference_update(k for g in groups for k in g)
    left = sorted(rest)
    for b in _buckets([len(plan.seqs[k].ids) for k in left], batch_size):
        idx = [left[i] for i in b]
        _forward_full(model, plan, idx, col, pad_id=pad_id, device=device, keep=keep, layers=layers,
                      hidden_pool=hidden_pool)
        advance(len(idx))
    return col.result()


# ----------------------------------------------------------------------------- generation


def _decode(tokenizer, ids: list[int], eos_id: int | None) -> str:
    if eos_id is not None and eos_id in ids:
        ids = ids[: ids.index(eos_id)]
    return tokenizer.decode(ids, skip_special_tokens=True).strip()


def greedy_generate(model, tokenizer, prompts: Sequence[Sequence[int]], *, max_new_tokens: int = 16,
                    batch_size: int = 64, device=None,
                    advance: Callable[[int], None] = lambda n=1: None) -> list[str]:
    """Greedy continuations of token-id prompts: length-bucketed, left-padded batches, KV cache, stop at eos.

    Returns the decoded continuations (special tokens dropped, stripped), in the order of ``prompts``;
    ``advance(n)`` is called with the number of prompts done.
    """
    from transformers import GenerationConfig

    out: list[str] = [""] * len(prompts)
    if max_new_tokens <= 0:
        return out
    device = device if device is not None else next(model.parameters()).device
    eos = tokenizer.eos_token_id
    pad = pad_token_id(tokenizer)
    cfg = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, use_cache=True,
                           eos_token_id=eos, pad_token_id=pad)
    for idx in length_buckets([len(p) for p in prompts], batch_size):
        batch = to_device(collate_prompts([prompts[i] for i in idx], pad), device)
        gen = model.generate(**batch, generation_config=cfg)  # (B, T + new)
        new = gen[:, batch["input_ids"].shape[1]:].tolist()
        for i, ids in zip(idx, new):
            out[i] = _decode(tokenizer, ids, eos)
        advance(len(idx))
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
                 device=None, progress: bool = True, share_prompts: bool = True) -> ScoreResult:
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
        share_prompts: run each distinct prompt once and its answers on its KV cache, when the model can
            (see :func:`forward_scores`); False scores every sequence whole. Same numbers either way; sharing
            holds one batch's prompt cache plus one answer batch's copy of it in memory.

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
    pad_id = pad_token_id(tokenizer)
    layers = _layers(model, hidden_layers)
    plan = plan_probes(tokenizer, probes, fmt, max_new_tokens=max_new_tokens, text_prompt_tokens=text_prompt_tokens,
                       max_length=max_length)
    n_gen = len(plan.prompts) if generate and max_new_tokens > 0 else 0  # the bar counts sequences + prompts
    was_training = model.training
    model.eval()
    timing = {}
    try:
        bar = (progress_bar(f"scoring {model_name}", len(plan.seqs) + n_gen) if progress
               else nullcontext(lambda n=1, **kw: None))
        with torch.inference_mode(), bar as advance:
            t = time.perf_counter()
            raw = forward_scores(model, plan, pad_id=pad_id, batch_size=batch_size, device=device, layers=layers,
                                 hidden_pool=hidden_pool, advance=advance, share_prompts=share_prompts)
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
                     "share_prompts": share_prompts,
                     "max_length": max_length, "device": str(device),
                     "dtype": str(next(model.parameters()).dtype)},
        "timing": {**timing, "total_s": seconds},
        "provenance": provenance(model=model, model_path=model_path, probes=probes, data_manifest=data_manifest,
                                 seed=seed, started=started, seconds=seconds),
    }
    return ScoreResult(table, raw.hidden, summary)
