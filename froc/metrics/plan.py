"""What scoring runs: every scored sequence and generation prompt of a list of probes, encoded once.

A QA probe gives its gold, paraphrased and perturbed answers as sequences (all sharing one prompt) and its
question as the generation prompt; a text item gives the whole text as one scored sequence and its first
``text_prompt_tokens`` tokens as the generation prompt (VerbMem), the reference being the next
``max_new_tokens`` tokens of the true text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from froc.errors import ConfigError
from froc.metrics.membership import zlib_length
from froc.models.encoding import (DEFAULT_FORMAT, Encoded, PromptFormat, encode_prompt, encode_qa, encode_text,
                                  prefix_ids, resolve_format)


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
        self._tok = self.wrapped_tokenizer = tokenizer
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


def _texts(tokenizer, probes: Sequence[Any], fmt: PromptFormat) -> list[str]:
    """Every text ``encode_qa``/``encode_text`` tokenize: prompts, prompt + each answer (one tokenization of
    the whole string), texts and their MUSE-style prompts."""
    out = []
    for item in probes:
        if _is_qa(item):
            prompt = fmt.render(tokenizer, item.question)
            out.append(prompt)
            answers = [item.answer, getattr(item, "paraphrased_answer", None), *(getattr(item, "perturbed_answers", None) or [])]
            out.extend(prompt + fmt.answer_prefix + a for a in answers if a)
        elif isinstance(getattr(item, "text", None), str):
            out.append(item.text)
            prompt = _text_prompt(item)
            if prompt:
                out.append(prompt)
    return out


def _text_prompt(item: Any) -> str | None:
    """A text item's own generation prompt (MUSE VerbMem's ``prompt``, kept in ``meta.prompt`` with
    ``meta.continuation``), else None (the first ``text_prompt_tokens`` tokens serve)."""
    meta = getattr(item, "meta", None) or {}
    p, c = meta.get("prompt"), meta.get("continuation")
    return p if isinstance(p, str) and p and isinstance(c, str) else None


def _is_qa(item: Any) -> bool:
    return hasattr(item, "question") and hasattr(item, "answer")


def plan_probes(tokenizer, probes: Sequence[Any], fmt: PromptFormat = DEFAULT_FORMAT, *, max_new_tokens: int = 16,
                text_prompt_tokens: int = 32, max_length: int | None = None) -> Plan:
    """Encode every probe once: scored sequences, generation prompts and references.

    ``fmt.add_bos`` None is resolved to the tokenizer's convention first. A text item with ``meta.prompt`` and
    ``meta.continuation`` (MUSE VerbMem) is prompted with ``meta.prompt`` and compared with the whole
    ``meta.continuation``, as MUSE does; other text items with their first ``text_prompt_tokens`` tokens and
    the next ``max_new_tokens`` tokens of the text.
    """
    fmt = resolve_format(fmt, tokenizer)
    tokenizer = _PretokenizedTokenizer(tokenizer, _texts(tokenizer, probes, fmt))
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
            bos = prefix_ids(tokenizer, fmt, item.text)
            own = _text_prompt(item)
            if own is not None:
                prompt = bos + list(tokenizer(own, add_special_tokens=False)["input_ids"])
                plan.references.append(item.meta["continuation"].strip())
            else:
                ids = list(tokenizer(item.text, add_special_tokens=False)["input_ids"]) if item.text else []
                n = min(text_prompt_tokens, max(len(ids) - 1, 0))
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
