"""Adversarial suffix attack: a universal suffix, found by greedy coordinate gradient (GCG) search,
that makes the forgotten answers likely again.

Papers: Zou et al. 2023, "Universal and Transferable Adversarial Attacks on Aligned Language
Models" (GCG, https://arxiv.org/abs/2307.15043), adapted as in the seed's Dynamic Unlearning
Attack (DUA; Yuan et al. 2024, "Towards Robust Knowledge Unlearning: An Adversarial Framework for
Assessing and Improving Unlearning Robustness in Large Language Models",
https://arxiv.org/abs/2408.10682): the target is the forgotten answer instead of an affirmative reply.

Search: ``n_tokens`` suffix tokens are appended to the question (token ids, inserted between the
question and the rest of the prompt template, e.g. before ``"\\nAnswer:"``). The objective is the
mean answer NLL over a seeded training subset of ``n_train`` forget items (the forget request when
given, else the probes). Each of ``steps`` steps takes the gradient of the objective w.r.t. the
one-hot suffix, keeps the ``topk`` most promising tokens per position, evaluates
``n_candidates`` single-token swaps (seeded draws of position and token) exactly, and moves to the
best one (GCG); the best suffix seen is kept. Deviations from GCG: a seeded random initial suffix
(GCG starts from "! ! ..."), and candidates restricted to printable non-special tokens.

Why not nanoGCG (``nanogcg`` 0.3.0, GraySwanAI's maintained GCG; checked with a tiny random Llama on CPU):
it does not fit this attack's shape, for four reasons. (1) Its objective is one prompt and one target string
per run (``nanogcg.run(model, tokenizer, messages, target)``); this attack optimises one universal suffix
for the mean answer NLL over ``n_train`` forget items and re-scores held-out facts with it (a per-probe
suffix optimised on the probe's own answer would score the answer it was trained to produce). (2) It
returns the suffix as text, re-tokenised when used; here the optimised token ids are scored exactly.
(3) It pins ``transformers<=4.47.1``: ``pip install nanogcg`` downgrades froc's transformers 5 (and
huggingface-hub), and with transformers 5 installed anyway its prefix cache fails
(``TypeError: 'DynamicCache' object is not subscriptable``, it indexes the legacy tuple cache).
(4) It changes global state: it sets a chat template on the caller's tokenizer when there is none, and
turns on ``torch.use_deterministic_algorithms`` without restoring it. The search below is GCG's loop
(gradient top-k per position, sampled single-token swaps, exact re-evaluation), about 100 lines.

Re-scoring: held-out probes only; probes of a fact used for the search (same ``meta.fact_id``,
else subject and answer) are left out of ``scores``. Prompts are built as token ids, so the
optimised suffix is scored exactly (no re-tokenisation).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from froc.attacks.base import (AttackInputs, fact_key, knowledge_summary, require_qa, score_with_prompts,
                               seeded_subset)
from froc.errors import ConfigError
from froc.models.encoding import PromptFormat, pad_token_id


@dataclass
class SuffixParams:
    """Parameters of the GCG suffix search.

    Attributes:
        n_tokens: suffix length in tokens.
        steps: GCG steps (the search budget).
        topk: candidate tokens per position from the gradient.
        n_candidates: single-token swaps evaluated per step.
        n_train: forget items the universal suffix is optimised on (seeded sample).
        batch_size: sequences per forward pass when evaluating candidates.
        ascii_only: only printable ASCII tokens may appear in the suffix.
    """

    n_tokens: int = 5
    steps: int = 20
    topk: int = 64
    n_candidates: int = 64
    n_train: int = 8
    batch_size: int = 128
    ascii_only: bool = True


def split_prompt(tokenizer, question: str, fmt: PromptFormat) -> tuple[list[int], list[int]]:
    """Token ids before and after the suffix slot: ``[bos] template-head + question`` and ``template-tail``."""
    head, sep, tail = fmt.template.partition("{question}")
    if not sep:
        raise ConfigError(f"suffix: the prompt template {fmt.template!r} has no {{question}} slot")
    ids = lambda s: list(tokenizer(s, add_special_tokens=False)["input_ids"]) if s else []  # noqa: E731
    bos = [tokenizer.bos_token_id] if fmt.add_bos and tokenizer.bos_token_id is not None else []
    return bos + ids(head + question), ids(tail)


def answer_ids(tokenizer, answer: str, fmt: PromptFormat) -> list[int]:
    a = list(tokenizer(fmt.answer_prefix + answer, add_special_tokens=False)["input_ids"])
    if fmt.add_eos and tokenizer.eos_token_id is not None:
        a.append(tokenizer.eos_token_id)
    return a


def allowed_tokens(tokenizer, vocab_rows: int, ascii_only: bool) -> torch.Tensor:
    """Bool mask (vocab_rows,) of tokens a suffix may use: no special tokens, decodable, (printable ASCII)."""
    ok = torch.zeros(vocab_rows, dtype=torch.bool)
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    for i in range(min(vocab_rows, len(tokenizer))):
        if i in special:
            continue
        s = tokenizer.decode([i])
        if not s.strip():
            continue
        if ascii_only and not (s.isascii() and s.isprintable()):
            continue
        ok[i] = True
    return ok


class _Objective:
    """Mean answer NLL of the training items with a given suffix (exact, batched) and its one-hot gradient."""

    def __init__(self, model, tokenizer, items, fmt: PromptFormat, batch_size: int):
        self.model, self.batch_size = model, batch_size
        self.pad = pad_token_id(tokenizer)
        self.parts = []
        for it in items:
            head, tail = split_prompt(tokenizer, it.question, fmt)
            self.parts.append((head, tail, answer_ids(tokenizer, it.answer, fmt)))
        self.device = next(model.parameters()).device

    def _batch(self, suffixes: list[list[int]]):
        """Every (suffix, item) sequence: input ids (S*I, T), attention, answer mask, suffix start."""
        seqs, starts, n_prompt = [], [], []
        for suf in suffixes:
            for head, tail, ans in self.parts:
                seqs.append(head + suf + tail + ans)
                starts.append(len(head))
                n_prompt.append(len(head) + len(suf) + len(tail))
        T = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), T), self.pad, dtype=torch.long)
        attn = torch.zeros_like(ids)
        ans = torch.zeros_like(ids, dtype=torch.bool)
        for r, (s, n) in enumerate(zip(seqs, n_prompt)):
            ids[r, : len(s)] = torch.tensor(s)
            attn[r, : len(s)] = 1
            ans[r, n : len(s)] = True
        return ids.to(self.device), attn.to(self.device), ans.to(self.device), starts

    @staticmethod
    def _mnll(logits: torch.Tensor, ids: torch.Tensor, ans: torch.Tensor) -> torch.Tensor:
        """Per-sequence mean answer NLL (R,) from logits (R, T, V)."""
        lp = torch.log_softmax(logits[:, :-1].float(), -1).gather(-1, ids[:, 1:, None])[..., 0]  # (R, T-1)
        m = ans[:, 1:].float()
        return -(lp * m).sum(-1) / m.sum(-1).clamp_min(1)

    @torch.no_grad()
    def losses(self, suffixes: list[list[int]]) -> torch.Tensor:
        """Objective (S,) of each suffix: mean over the training items."""
        n_items = len(self.parts)
        per_call = max(1, self.batch_size // n_items)
        out = []
        for s in range(0, len(suffixes), per_call):
            chunk = suffixes[s : s + per_call]
            ids, attn, ans, _ = self._batch(chunk)
            logits = self.model(input_ids=ids, attention_mask=attn, use_cache=False).logits
            out.append(self._mnll(logits, ids, ans).view(len(chunk), n_items).mean(-1))
        return torch.cat(out).cpu()

    def gradient(self, suffix: list[int]) -> tuple[float, torch.Tensor]:
        """(objective, d objective / d one-hot (n, V)) at ``suffix``."""
        emb = self.model.get_input_embeddings().weight  # (V, H)
        one_hot = torch.zeros(len(suffix), emb.shape[0], device=emb.device, dtype=emb.dtype)
        one_hot[torch.arange(len(suffix)), torch.tensor(suffix, device=emb.device)] = 1.0
        one_hot.requires_grad_(True)
        ids, attn, ans, starts = self._batch([suffix])
        with torch.enable_grad():
            suf_emb = one_hot @ emb  # (n, H)
            embeds = emb[ids].detach().clone()  # (I, T, H)
            for r, s in enumerate(starts):
                embeds[r, s : s + len(suffix)] = suf_emb
            logits = self.model(inputs_embeds=embeds, attention_mask=attn, use_cache=False).logits
            loss = self._mnll(logits, ids, ans).mean()
            (grad,) = torch.autograd.grad(loss, one_hot)
        return float(loss.detach()), grad.detach().float().cpu()


def gcg(model, tokenizer, items, fmt: PromptFormat, p: SuffixParams, seed: int) -> dict:
    """Run the GCG search; returns the best suffix (ids, text), its objective and the history."""
    vocab_rows = model.get_input_embeddings().weight.shape[0]
    allowed = allowed_tokens(tokenizer, vocab_rows, p.ascii_only)
    pool = allowed.nonzero()[:, 0].tolist()
    if not pool:
        raise ConfigError("suffix: no token of the vocabulary may appear in a suffix (all special / non-printable)")
    gen = torch.Generator().manual_seed(seed)
    suffix = [pool[i] for i in torch.randint(len(pool), (p.n_tokens,), generator=gen).tolist()]
    obj = _Objective(model, tokenizer, items, fmt, p.batch_size)
    start = float(obj.losses([suffix])[0])
    best, best_loss, history = list(suffix), start, [start]
    k = min(p.topk, len(pool))
    for _ in range(p.steps):
        _, grad = obj.gradient(suffix)  # (n, V)
        grad[:, ~allowed] = float("inf")
        top = (-grad).topk(k, dim=-1).indices  # (n, k)
        pos = torch.randint(p.n_tokens, (p.n_candidates,), generator=gen)
        tok = top[pos, torch.randint(k, (p.n_candidates,), generator=gen)]
        cands, seen = [], {tuple(suffix)}
        for i, t in zip(pos.tolist(), tok.tolist()):
            c = list(suffix)
            c[i] = t
            if tuple(c) not in seen:
                seen.add(tuple(c))
                cands.append(c)
        if not cands:
            history.append(history[-1])
            continue
        losses = obj.losses(cands)
        j = int(losses.argmin())
        suffix = cands[j]
        history.append(float(losses[j]))
        if history[-1] < best_loss:
            best, best_loss = list(suffix), history[-1]
    return {"suffix_ids": best, "suffix_text": tokenizer.decode(best), "train_loss_start": start,
            "train_loss_best": best_loss, "loss_history": history}


def check(p: SuffixParams) -> None:
    for name in ("n_tokens", "steps", "topk", "n_candidates", "n_train", "batch_size"):
        if getattr(p, name) < 1 and not (name == "steps" and p.steps == 0):
            raise ConfigError(f"suffix: {name} must be >= 1, got {getattr(p, name)}")


def attack(inputs: AttackInputs, p: SuffixParams):
    check(p)
    require_qa(inputs.probes, "suffix")
    fmt, tok, model = inputs.fmt, inputs.tokenizer, inputs.model
    source = "forget" if inputs.forget else "probes"
    pool = [it for it in (inputs.forget if inputs.forget else inputs.probes) if hasattr(it, "question")]
    train = [pool[i] for i in seeded_subset(pool, seed=inputs.seed, size=min(p.n_train, len(pool)))]
    facts = {fact_key(it) for it in train}
    kept = [pr for pr in inputs.probes if fact_key(pr) not in facts]
    was_training = model.training
    model.eval()
    try:
        found = gcg(model, tok, train, fmt, p, inputs.seed)
    finally:
        model.train(was_training)
    prompts = []
    for pr in kept:
        head, tail = split_prompt(tok, pr.question, fmt)
        prompts.append(head + found["suffix_ids"] + tail)
    table = score_with_prompts(model, tok, kept, prompts, inputs, model_name="suffix") if kept else None
    details = {**found, "source": source, "train_ids": [str(it.id) for it in train], "n_probes": len(inputs.probes),
               "n_excluded_probes": len(inputs.probes) - len(kept), "after": knowledge_summary(table)}
    return table, details
