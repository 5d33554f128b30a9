"""A deliberately simple one-sequence-at-a-time scorer: the independent reference the batched scorer
(:func:`froc.metrics.scoring.score_probes`) is tested and benchmarked against.

Independent means that a bug in the real scorer's planning, encoding, forward passes or table cannot
also be here: nothing of ``froc.metrics.plan``/``forward``/``table``/``generate``, ``froc.models.encoding``
or the metric functions is imported. Everything is recomputed from its definition:

- **encoding**: the tokenizer is called on the whole string ``prompt + answer_prefix + answer`` with the
  tokenizer's own special tokens (``add_special_tokens=True`` unless the format says otherwise); the answer
  starts at the first token that ends after the prompt (the tokenizer's character offsets). The QA EOS is
  appended when ``fmt.add_eos``. Text items are their text with the same special tokens, never an EOS.
- **forward**: each sequence runs alone (no padding, no KV cache); log-probs come from an explicit float64
  log-softmax; Min-K%++ z-scores from the mean and variance of log p under the softmax at each position
  (Zhang et al. 2024); hits from argmax.
- **generation**: a plain greedy loop, one prompt at a time, the whole sequence re-run for each new token.
- **table**: every column from its definition (knowledge score of the FROC paper, Min-K% of Shi et al. 2024
  with at least one token, extraction strength of Carlini et al. 2023, ROUGE-L of the ``rouge-score``
  package with the Porter stemmer as TOFU/MUSE, zlib length of Carlini et al. 2021).

Only the output contract is shared: :class:`froc.metrics.table.ScoreResult` and the column names
:data:`froc.metrics.table.COLUMNS` (a column the real table has and this one does not is a KeyError).

Limits (a test reference, not a user tool): the tokenizer must be a fast tokenizer (character offsets)
that appends no special token at the end of a text; no provenance or timing in the summary.
"""

from __future__ import annotations

import math
import re
import string
import zlib
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from froc.metrics.table import COLUMNS, ScoreResult

_PUNCT = re.compile(f"[{re.escape(string.punctuation)}]")


# ----------------------------------------------------------------------------- encoding, from the tokenizer


def _prompt_text(tokenizer, fmt, question: str) -> str:
    if not fmt.chat:
        return fmt.template.replace("{question}", question)
    messages = [{"role": "system", "content": fmt.system_prompt}] if fmt.system_prompt else []
    messages.append({"role": "user", "content": question})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _tokenize(tokenizer, fmt, text: str, *, written: str | None = None) -> tuple[list[int], list[tuple[int, int]], int]:
    """``(ids, offsets, n_special)`` of ``text`` with the format's special tokens in front.

    ``add_bos`` None: the tokenizer's own ``add_special_tokens=True``; False: none; True: the tokenizer's own
    when it adds some, else its BOS id. A chat prompt that already starts with the BOS text gets none.
    ``n_special`` counts the leading special tokens.
    """
    bos_text = getattr(tokenizer, "bos_token", None)
    own = fmt.add_bos is not False and not (fmt.chat and bos_text and (written or text).startswith(bos_text))
    enc = tokenizer(text, add_special_tokens=own, return_offsets_mapping=True)
    ids, offsets = list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]
    special = set(tokenizer.all_special_ids)
    n_special = 0
    while n_special < len(ids) and ids[n_special] in special and offsets[n_special] == (0, 0):
        n_special += 1
    if own and fmt.add_bos and n_special == 0 and tokenizer.bos_token_id is not None:
        ids, offsets, n_special = [tokenizer.bos_token_id] + ids, [(0, 0)] + offsets, 1
    return ids, offsets, n_special


def _qa_ids(tokenizer, fmt, question: str, answer: str, max_length: int | None) -> tuple[list[int], int]:
    prompt = _prompt_text(tokenizer, fmt, question)
    ids, offsets, n_special = _tokenize(tokenizer, fmt, prompt + fmt.answer_prefix + answer, written=prompt)
    n_prompt = n_special
    while n_prompt < len(ids) and offsets[n_prompt][1] <= len(prompt):  # the first token ending after the prompt
        n_prompt += 1
    p, a = ids[:n_prompt], ids[n_prompt:]
    if fmt.add_eos and tokenizer.eos_token_id is not None:
        a = a + [tokenizer.eos_token_id]
    if max_length is not None and len(p) + len(a) > max_length:  # the prompt gives way from the left
        p = p[-max(1, max_length - len(a)):]
        a = a[: max_length - len(p)]
    return p + a, len(p)


def _generation_prompt(tokenizer, fmt, item, kind: str, max_new_tokens: int, text_prompt_tokens: int):
    """``(prompt ids, reference text)`` of one probe."""
    if kind == "qa":
        prompt = _prompt_text(tokenizer, fmt, item.question)
        return _tokenize(tokenizer, fmt, prompt)[0], item.answer
    meta = getattr(item, "meta", None) or {}
    own, cont = meta.get("prompt"), meta.get("continuation")
    ids, _, n_special = _tokenize(tokenizer, fmt, item.text)
    if isinstance(own, str) and own and isinstance(cont, str):  # MUSE VerbMem: its own prompt and continuation
        return ids[:n_special] + list(tokenizer(own, add_special_tokens=False)["input_ids"]), cont.strip()
    body = ids[n_special:]
    n = min(text_prompt_tokens, max(len(body) - 1, 0))
    return ids[: n_special + n], tokenizer.decode(body[n : n + max_new_tokens], skip_special_tokens=True).strip()


# ----------------------------------------------------------------------------- the model, one sequence at a time


def _score_sequence(model, ids: list[int], first: int, layers: Sequence[int], device):
    """Scores of tokens ``ids[first:]`` (each predicted from everything before it), run alone.

    Returns (log p, z, hits, {layer: (H,) mean hidden state over positions first..end}).
    """
    first = max(first, 1)  # the first token of a sequence is predicted by nothing
    x = torch.tensor([ids], device=device)
    out = model(input_ids=x, output_hidden_states=bool(layers), use_cache=False)
    logits = out.logits[0, first - 1 : len(ids) - 1].double()  # (n, V): the positions predicting ids[first:]
    target = x[0, first:]
    logp_all = torch.log_softmax(logits, -1)  # (n, V)
    logp = logp_all[torch.arange(len(target)), target]
    p = logp_all.exp()
    mu = (p * logp_all).sum(-1)  # E_p[log p]
    sd = (p * (logp_all - mu[:, None]) ** 2).sum(-1).clamp_min(1e-12).sqrt()
    hits = logits.argmax(-1) == target
    hidden = {layer: out.hidden_states[layer][0, first:].float().mean(0).cpu().numpy() for layer in layers}
    return logp.cpu().numpy(), ((logp - mu) / sd).cpu().numpy(), hits.cpu().numpy(), hidden


def _greedy(model, tokenizer, prompt: list[int], max_new_tokens: int, device) -> str:
    """Greedy continuation without a KV cache, cut at the first EOS, special tokens dropped, stripped."""
    ids, new = list(prompt), []
    eos = tokenizer.eos_token_id
    for _ in range(max_new_tokens):
        nxt = int(model(input_ids=torch.tensor([ids], device=device), use_cache=False).logits[0, -1].argmax())
        if nxt == eos:
            break
        ids.append(nxt)
        new.append(nxt)
    return tokenizer.decode(new, skip_special_tokens=True).strip()


# ----------------------------------------------------------------------------- the columns, from their definitions


def _mean(v: np.ndarray) -> float:
    return float(v.sum() / v.size) if v.size else float("nan")


def _min_k(v: np.ndarray, k: float) -> float:
    """Mean of the floor(k * n) lowest values, at least one (Shi et al. 2024; NaN when empty)."""
    if v.size == 0:
        return float("nan")
    n = max(1, math.floor(round(k * v.size, 6)))
    return float(np.mean(np.sort(v)[:n]))


def _knowledge(gold: float, perts: list[float]) -> float:
    """P(a) / (P(a) + sum_j P(a~_j)) with P = exp(mean token log-prob) (FROC's k_i); NaN without options."""
    if not perts or math.isnan(gold) or any(math.isnan(x) for x in perts):
        return float("nan")
    m = max(gold, *perts)
    return math.exp(gold - m) / (math.exp(gold - m) + sum(math.exp(x - m) for x in perts))


def _extraction_strength(hits: np.ndarray) -> float:
    """1 - k*/|y|, k* = the shortest prefix after which every teacher-forced argmax is right (Carlini et al. 2023)."""
    n = len(hits)
    if n == 0:
        return float("nan")
    k = n
    while k > 0 and hits[k - 1]:
        k -= 1
    return 1.0 - k / n


def _normalise(text: str) -> str:
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def _contains(generation: str, answer: str) -> bool:
    a = _normalise(answer)
    return bool(a) and f" {a} " in f" {_normalise(generation)} "


def _zlib(text: str) -> int:
    return len(zlib.compress(text.encode("utf-8")))


# ----------------------------------------------------------------------------- entry point


def score_probes_naive(model, tokenizer, probes: Sequence[Any], *, fmt=None, generate: bool = True,
                       max_new_tokens: int = 16, mink_k: float = 0.4, hidden_layers: Sequence[int] = (),
                       text_prompt_tokens: int = 32, max_length: int | None = None,
                       model_name: str = "model") -> ScoreResult:
    """:func:`froc.metrics.scoring.score_probes`'s table, recomputed one sequence at a time from definitions.

    Args: as :func:`~froc.metrics.scoring.score_probes` (``fmt`` None = the default
    :class:`~froc.models.encoding.PromptFormat`). Hidden states are answer-pooled; ``hidden_layers`` are
    hidden-state indices (0 = embeddings, negative from the end), returned under the given keys.

    Returns:
        :class:`ScoreResult` with the table (one row per probe, columns :data:`COLUMNS`), the pooled hidden
        states (layer -> (N, H)) and ``{"model_name": ...}`` as summary.
    """
    if fmt is None:
        from froc.models.encoding import PromptFormat  # the settings record only

        fmt = PromptFormat()
    device = next(model.parameters()).device
    if max_length is None:
        max_length = getattr(model.config, "max_position_embeddings", None)
    rows: dict[str, list] = {c: [] for c in COLUMNS}
    hidden: dict[int, list[np.ndarray]] = {layer: [] for layer in hidden_layers}
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for i, item in enumerate(probes):
                _score_one(model, tokenizer, item, i, fmt, rows, hidden, generate=generate, device=device,
                           max_new_tokens=max_new_tokens, mink_k=mink_k, text_prompt_tokens=text_prompt_tokens,
                           max_length=max_length, model_name=model_name)
    finally:
        model.train(was_training)
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    for c in ("gold_len", "gold_zlib_len"):
        table[c] = table[c].astype(np.int64)
    return ScoreResult(table, {layer: np.stack(v) for layer, v in hidden.items()}, {"model_name": model_name})


def _score_one(model, tokenizer, item, i: int, fmt, rows: dict[str, list], hidden: dict[int, list], *, generate: bool,
               device, max_new_tokens: int, mink_k: float, text_prompt_tokens: int, max_length: int | None,
               model_name: str) -> None:
    n_layers = int(getattr(model.config, "num_hidden_layers", 0)) + 1
    layers = [layer % n_layers for layer in hidden]
    if hasattr(item, "question") and hasattr(item, "answer"):
        kind = "qa"
        gold_ids, gold_first = _qa_ids(tokenizer, fmt, item.question, item.answer, max_length)
        para = getattr(item, "paraphrased_answer", None)
        perts = list(getattr(item, "perturbed_answers", None) or [])
        others = [_qa_ids(tokenizer, fmt, item.question, a, max_length) for a in ([para] if para else []) + perts]
        gold_text = item.answer
    elif hasattr(item, "text"):
        kind, para, perts, others, gold_text = "text", None, [], [], item.text
        ids, _, n_special = _tokenize(tokenizer, fmt, item.text)
        if max_length is not None:
            ids = ids[:max_length]
        gold_ids, gold_first = ids, n_special
    else:
        raise ValueError(f"probe {getattr(item, 'id', '?')!r} is neither a QA item nor a text item")
    lp, z, hits, hid = _score_sequence(model, gold_ids, gold_first, layers, device)
    for key, layer in zip(hidden, layers):
        hidden[key].append(hid[layer])
    other = [_score_sequence(model, ids, first, [], device)[:2] for ids, first in others]
    para_lp = _mean(other[0][0]) if para else float("nan")
    pert = other[1:] if para else other
    gold_mean, pert_means = _mean(lp), [_mean(x[0]) for x in pert]
    if generate:
        prompt, reference = _generation_prompt(tokenizer, fmt, item, kind, max_new_tokens, text_prompt_tokens)
        if max_length is not None:
            prompt = prompt[-max(1, max_length - max_new_tokens):]
        if not prompt:
            prompt = [tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id]
        gen = _greedy(model, tokenizer, prompt, max_new_tokens, device)
        from rouge_score import rouge_scorer

        s = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True).score(reference or "", gen or "")["rougeL"]
        rouge_rec, rouge_f1, gen_ok = s.recall, s.fmeasure, float(_contains(gen, reference))
    else:
        reference = _generation_prompt(tokenizer, fmt, item, kind, max_new_tokens, text_prompt_tokens)[1]
        gen, rouge_rec, rouge_f1, gen_ok = None, float("nan"), float("nan"), float("nan")
    meta = getattr(item, "meta", None) or {}
    values = {
        "probe_id": str(getattr(item, "id", i)), "subject": getattr(item, "subject", None),
        "form": getattr(item, "form", None) or kind, "group": meta.get("group"), "fact_type": meta.get("fact_type"),
        "template_split": meta.get("template_split"), "split": meta.get("split"), "model": model_name, "kind": kind,
        "gold_logp_sum": float(lp.sum()), "gold_logp_mean": gold_mean, "gold_len": len(lp),
        "para_logp_mean": para_lp, "perturbed_logp_mean": pert_means,
        "knowledge": _knowledge(gold_mean, pert_means),
        "correct_choice": float(gold_mean > max(pert_means)) if pert_means and not math.isnan(gold_mean) else float("nan"),
        "mink": _min_k(lp, mink_k), "minkpp": _min_k(z, mink_k),
        "extraction_strength": _extraction_strength(hits), "exact_mem": _mean(hits.astype(np.float64)),
        "gold_token_logp": lp.tolist(), "gold_zlib_len": _zlib(gold_text),
        "perturbed_mink": [_min_k(x[0], mink_k) for x in pert], "perturbed_minkpp": [_min_k(x[1], mink_k) for x in pert],
        "perturbed_zlib_len": [_zlib(a) for a in perts],
        "generation": gen, "reference": reference, "rouge_l_recall": rouge_rec, "rouge_l_f1": rouge_f1,
        "gen_correct": gen_ok,
    }
    for c in COLUMNS:
        rows[c].append(values[c])
