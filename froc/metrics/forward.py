"""The forward passes of scoring: every sequence of a :class:`~froc.metrics.plan.Plan`, batched once.

A QA probe's 2-5 sequences share one prompt: each distinct prompt runs once with a KV cache and its answers
run on that cache (:func:`forward_scores`); other sequences, and models that cannot do that, run whole in
right-padded batches of similar length. Every answer token gets its log-prob, its Min-K%++ standardisation
(mean/std of log p under the model's own next-token distribution there, float64) and a teacher-forced argmax
hit; gold answers optionally get mean-pooled hidden states.

Shapes: B batch, T sequence length, V vocabulary, H hidden size, N probes, S sequences.
"""

from __future__ import annotations

import bisect
import heapq
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from froc.errors import ConfigError
from froc.metrics.plan import Plan
from froc.models.encoding import IGNORE, collate, to_device
from froc.models.kvcache import cache_arg, cache_kwargs, forward_params, output_cache


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


def layer_indices(model, hidden_layers: Sequence[int] | None) -> list[int]:
    """Sorted distinct hidden-state indices (0 = embeddings; negative counts from the end); ConfigError if out of range."""
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
