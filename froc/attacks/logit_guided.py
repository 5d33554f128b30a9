"""Pre/post logit-guided extraction: decode the unlearned model guided by the model before unlearning.

Seed paper: Wu et al. 2025, "Unlearned but Not Forgotten: Data Extraction after Exact Unlearning in
LLM" (code: github.com/Nicholas0228/unlearned_data_extraction_llm). With both models' next-token
log-probs available, tokens are scored

    s(v) = (1 - w) * log p_post(v) + w * log p_pre(v)        (spec section C; w = 2, tau = 5)

i.e. ``log p_post + w (log p_pre - log p_post)``: with w > 1 the step from the unlearned model
towards the pre-unlearning model is extrapolated, amplifying exactly what unlearning removed.
This is the sign convention implemented (w = 0 is plain decoding of the unlearned model, w = 1
decoding of the pre-unlearning model). Candidates are restricted to tokens the pre-unlearning model
finds plausible, ``log p_pre(v) >= max_u log p_pre(u) - tau`` (the token filter; without it the
``-log p_post`` part would favour any token the unlearned model merely rules out).

Outputs:
- guided greedy continuations (argmax of s over the candidates) and their ROUGE-L recall against
  the forgotten answers, next to plain greedy decoding of the unlearned model (and, for reference,
  of the pre-unlearning model);
- per-sample scores under the guided distribution ``q_C(v) = softmax(s)`` renormalised over the
  candidates, so a post-attack risk exists: every answer token's log-prob (gold, perturbed) comes
  from q, and ``knowledge``/``correct_choice`` mean what they mean in ``score_probes``. A token
  outside the candidate set has q_C = 0; to keep the scores finite q is mixed with the unlearned
  model, ``q = (1 - eps) q_C + eps p_post`` (eps = ``smoothing``, 1e-4; ours).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from froc.attacks.base import DEFAULT_SCORE_KWARGS, AttackInputs, knowledge_summary
from froc.errors import ConfigError
from froc.metrics.membership import MINK_K
from froc.models.encoding import collate, collate_prompts, length_buckets, pad_token_id, to_device
from froc.models.kvcache import cache_kwargs, output_cache


@dataclass
class LogitGuidedParams:
    """Parameters of logit-guided extraction.

    Attributes:
        w: guidance weight (spec and authors: 2).
        tau: token filter width in nats below the pre-unlearning model's top token (5; inf = off).
        smoothing: eps of the mixture with the unlearned model used for scoring (0 = pure q_C).
        max_new_tokens: length of the guided and greedy continuations.
        batch_size: sequences per forward pass / prompts per decoding batch.
    """

    w: float = 2.0
    tau: float = 5.0
    smoothing: float = 1e-4
    max_new_tokens: int = 16
    batch_size: int = 32


def guided_logprobs(lp_post: torch.Tensor, lp_pre: torch.Tensor, *, w: float, tau: float,
                    smoothing: float = 0.0) -> torch.Tensor:
    """log q over the vocabulary (..., V) from both models' log-probs (..., V).

    ``log q_C = s - logsumexp_C(s)`` on the candidates ``C = {v: lp_pre(v) >= max lp_pre - tau}``,
    ``-inf`` elsewhere; with ``smoothing`` eps > 0, ``log((1 - eps) q_C + eps p_post)``.
    """
    s = (1.0 - w) * lp_post + w * lp_pre
    keep = lp_pre >= lp_pre.amax(-1, keepdim=True) - tau
    s = s.masked_fill(~keep, float("-inf"))
    log_qc = s - torch.logsumexp(s, -1, keepdim=True)
    if smoothing <= 0:
        return log_qc
    return torch.logaddexp(log_qc + math.log1p(-smoothing), lp_post + math.log(smoothing))


def _log_softmax(logits: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(logits.float(), dim=-1)


@torch.inference_mode()
def guided_generate(post, pre, tokenizer, prompts, p: LogitGuidedParams) -> list[str]:
    """Guided greedy continuations (argmax of s over the candidates): left-padded batches, KV caches."""
    eos = tokenizer.eos_token_id
    pad = pad_token_id(tokenizer)
    out = [""] * len(prompts)
    if p.max_new_tokens <= 0:
        return out
    dev_post, dev_pre = next(post.parameters()).device, next(pre.parameters()).device
    for idx in length_buckets([len(x) for x in prompts], p.batch_size):
        batch = collate_prompts([prompts[i] for i in idx], pad)
        attn = batch["attention_mask"]
        pos = (attn.cumsum(-1) - 1).clamp_min(0)
        ids = batch["input_ids"]
        caches = [None, None]
        new = []
        done = torch.zeros(len(idx), dtype=torch.bool)
        for _ in range(p.max_new_tokens):
            lps = []
            for k, (m, dev) in enumerate(((post, dev_post), (pre, dev_pre))):
                o = m(input_ids=ids.to(dev), attention_mask=attn.to(dev), position_ids=pos.to(dev),
                      use_cache=True, **cache_kwargs(m, caches[k]))
                caches[k] = output_cache(o)
                lps.append(_log_softmax(o.logits[:, -1]).to(dev_post))
            nxt = guided_logprobs(lps[0], lps[1], w=p.w, tau=p.tau).argmax(-1).cpu()  # (B,)
            nxt = torch.where(done, torch.full_like(nxt, pad), nxt)
            new.append(nxt)
            done |= nxt == eos
            if bool(done.all()):
                break
            ids = nxt[:, None]
            attn = torch.cat([attn, torch.ones(len(idx), 1, dtype=attn.dtype)], -1)
            pos = pos[:, -1:] + 1
        gen = torch.stack(new, -1).tolist()  # (B, new)
        for i, g in zip(idx, gen):
            g = g[: g.index(eos)] if eos is not None and eos in g else g
            out[i] = tokenizer.decode(g, skip_special_tokens=True).strip()
    return out


@torch.inference_mode()
def guided_forward_scores(post, pre, plan, *, pad_id: int, p: LogitGuidedParams):
    """``froc.metrics.scoring.forward_scores`` with token log-probs from the guided distribution q."""
    from froc.metrics.scoring import SequenceScores, token_stats

    S = len(plan.seqs)
    sums, ns = np.zeros(S), np.zeros(S)
    tok_lp = [np.empty(0)] * S
    tok_z = [np.empty(0)] * S
    hits = [np.empty(0, dtype=bool)] * S
    dev_post, dev_pre = next(post.parameters()).device, next(pre.parameters()).device
    for idx in length_buckets([len(e.ids) for e in plan.seqs], p.batch_size):
        batch = collate([plan.seqs[k] for k in idx], pad_id, padding_side="right")
        labels = batch["labels"][:, 1:]  # (B, T-1)
        m = labels != -100
        b_post = to_device(batch, dev_post)
        b_pre = to_device(batch, dev_pre)
        lg_post = post(input_ids=b_post["input_ids"], attention_mask=b_post["attention_mask"], use_cache=False).logits
        lg_pre = pre(input_ids=b_pre["input_ids"], attention_mask=b_pre["attention_mask"], use_cache=False).logits
        m_post = m.to(dev_post)
        lp_post = _log_softmax(lg_post[:, :-1][m_post])  # (n, V) at answer positions only
        lp_pre = _log_softmax(lg_pre[:, :-1][m.to(dev_pre)]).to(dev_post)
        log_q = guided_logprobs(lp_post, lp_pre, w=p.w, tau=p.tau, smoothing=p.smoothing)  # (n, V)
        lab = labels.to(dev_post)[m_post]  # (n,)
        lp = log_q.gather(-1, lab[:, None])[:, 0]  # (n,)
        z, hit = token_stats(log_q, lab, lp)
        counts = m.sum(-1).tolist()
        for k, lp_r, z_r, h_r in zip(idx, lp.split(counts), z.split(counts), hit.split(counts)):
            tok_lp[k] = lp_r.double().cpu().numpy()
            tok_z[k] = z_r.double().cpu().numpy()
            hits[k] = h_r.cpu().numpy()
            sums[k], ns[k] = float(tok_lp[k].sum()), len(tok_lp[k])
    return SequenceScores(sums, ns, tok_lp, tok_z, hits)


def check(inputs: AttackInputs, p: LogitGuidedParams) -> None:
    if p.w < 0 or not p.tau >= 0 or not 0 <= p.smoothing < 1 or p.batch_size < 1 or p.max_new_tokens < 0:
        raise ConfigError(f"logit_guided: need w >= 0, tau >= 0, 0 <= smoothing < 1, batch_size >= 1, "
                          f"max_new_tokens >= 0; got {p}")
    v_post = inputs.model.get_output_embeddings().weight.shape[0]
    v_pre = inputs.original.get_output_embeddings().weight.shape[0]
    if v_post != v_pre:
        raise ConfigError(f"logit_guided: the unlearned and original models must share a vocabulary "
                          f"({v_post} vs {v_pre} output rows)")


def attack(inputs: AttackInputs, p: LogitGuidedParams):
    from froc.metrics.scoring import build_table, greedy_generate, plan_probes
    from froc.metrics.text import rouge_l

    check(inputs, p)
    post, pre, tok = inputs.model, inputs.original, inputs.tokenizer
    kw = {**DEFAULT_SCORE_KWARGS, **inputs.score_kwargs}
    plan = plan_probes(tok, inputs.probes, inputs.fmt, max_new_tokens=p.max_new_tokens)
    pad_id = pad_token_id(tok)
    modes = (post.training, pre.training)
    post.eval(), pre.eval()
    try:
        raw = guided_forward_scores(post, pre, plan, pad_id=pad_id, p=p)
        guided = guided_generate(post, pre, tok, plan.prompts, p)
        with torch.inference_mode():
            greedy = greedy_generate(post, tok, plan.prompts, max_new_tokens=p.max_new_tokens, batch_size=p.batch_size)
            greedy_pre = greedy_generate(pre, tok, plan.prompts, max_new_tokens=p.max_new_tokens,
                                         batch_size=p.batch_size)
    finally:
        post.train(modes[0]), pre.train(modes[1])
    table = build_table(inputs.probes, plan, raw, guided, mink_k=float(kw.get("mink_k", MINK_K)),
                        model_name="logit_guided")
    rec_greedy, _ = rouge_l(greedy, plan.references)
    rec_pre, _ = rouge_l(greedy_pre, plan.references)
    table["greedy_generation"] = greedy
    table["rouge_l_recall_greedy"] = np.asarray(rec_greedy, dtype=float)
    guided_mean = float(np.nanmean(table["rouge_l_recall"])) if len(table) else float("nan")
    greedy_mean = float(np.nanmean(rec_greedy)) if len(table) else float("nan")
    details = {
        "w": p.w, "tau": p.tau, "smoothing": p.smoothing, "sign_convention": "s = (1-w) log p_post + w log p_pre",
        "rouge_l_recall_guided": guided_mean,
        "rouge_l_recall_greedy": greedy_mean,
        "rouge_l_recall_pre_greedy": float(np.nanmean(rec_pre)) if len(table) else float("nan"),
        "rouge_gain": guided_mean - greedy_mean,
        "n_guided_better": int((table["rouge_l_recall"].to_numpy(float) > np.asarray(rec_greedy, float)).sum()),
        "n_guided_worse": int((table["rouge_l_recall"].to_numpy(float) < np.asarray(rec_greedy, float)).sum()),
        "after": knowledge_summary(table),
    }
    return table, details
