"""Prompt encoding shared by training, unlearning, scoring and attacks.

A question/answer item is the prompt ``fmt.render(tokenizer, q)`` (``template.format(question=q)``, or the
tokenizer's chat template when ``fmt.chat``) followed by ``fmt.answer_prefix + answer`` and, when
``fmt.add_eos``, the EOS token. A text item is its text, with no EOS (a passage is not the end of a document).

Exactness for real tokenizers:

- **one tokenization.** The prompt and the whole string (prompt + answer) are tokenized once each; the answer
  ids are what follows the prompt's ids in the whole string's ids, so ``ids == tokenizer(prompt + answer)``.
  Tokenizing the answer alone is wrong for SentencePiece tokenizers that prepend a word-boundary mark
  (Llama-2, Mistral-v0.1): ``" Kelport"`` alone gains a ``"▁"`` token the model never sees after a prompt.
  When the whole string's tokens are not the prompt's tokens followed by more (a token straddles the
  boundary), the cut is made at the first token that ends after the prompt (from the tokenizer's offsets):
  that token is scored as part of the answer.
- **special tokens.** ``add_bos=None`` (default) puts before every sequence exactly what the tokenizer itself
  adds with ``add_special_tokens=True`` (BOS for Llama/Mistral/Gemma/Phi-3, nothing for GPT-2/Pythia/Qwen2);
  ``True``/``False`` force it, with a warning when that disagrees with the tokenizer. A chat template that
  writes the BOS itself gets none added.
- **EOS.** QA answers end with EOS when ``add_eos`` (default True, TOFU's convention: its labels end with one
  EOS); text items never do.

Labels are ``-100`` on the prompt and on padding: losses and log-probs only ever count answer tokens.
"""

from __future__ import annotations

import dataclasses
import json
import random
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from froc.errors import ConfigError

IGNORE = -100
FORMAT_FILE = "prompt_format.json"


@dataclass(frozen=True)
class PromptFormat:
    """How a question becomes a prompt and an answer becomes a continuation.

    Attributes:
        template: plain prompt, ``{question}`` is replaced by the question (unused when ``chat``).
        answer_prefix: text between the prompt and the answer (" " after ``Answer:``).
        add_bos: None = the tokenizer's own convention (``add_special_tokens=True``); True/False force it.
        add_eos: end QA answers with the EOS token (scored and trained on). Text items never get one.
        chat: the prompt is the tokenizer's chat template applied to the question as the user's message
            (``add_generation_prompt=True``); the model's tokenizer must have a chat template.
        system_prompt: optional system message of the chat template.
    """

    template: str = "Question: {question}\nAnswer:"
    answer_prefix: str = " "
    add_bos: bool | None = None
    add_eos: bool = True
    chat: bool = False
    system_prompt: str | None = None

    def __post_init__(self):
        if not self.chat and "{question}" not in self.template:
            raise ConfigError(f"prompt template {self.template!r} has no '{{question}}' placeholder")
        if self.system_prompt is not None and not self.chat:
            raise ConfigError("system_prompt needs chat=True (it is a message of the tokenizer's chat template)")

    def prompt(self, question: str) -> str:
        """The plain prompt text (``template`` filled in); see :meth:`render` for chat formats."""
        return self.template.format(question=question)

    def render(self, tokenizer, question: str) -> str:
        """The prompt text of ``question``: the template, or the tokenizer's chat template when ``chat``.

        Raises:
            ConfigError: ``chat`` and the tokenizer has no chat template.
        """
        if not self.chat:
            return self.prompt(question)
        if not getattr(tokenizer, "chat_template", None):
            raise ConfigError("the prompt format asks for the chat template (chat=True) but this model's tokenizer "
                              "has none; use a plain template instead")
        messages = ([{"role": "system", "content": self.system_prompt}] if self.system_prompt else [])
        messages.append({"role": "user", "content": question})
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


DEFAULT_FORMAT = PromptFormat()


# ------------------------------------------------------------------------- the tokenizer's own convention

_PREFIX: "weakref.WeakKeyDictionary[Any, tuple[int, ...]]" = weakref.WeakKeyDictionary()


def _base(tokenizer):
    """The underlying tokenizer of a view (:class:`froc.metrics.plan` wraps one), else ``tokenizer``."""
    return getattr(tokenizer, "wrapped_tokenizer", tokenizer)


def special_prefix(tokenizer) -> list[int]:
    """Ids the tokenizer puts before any text with ``add_special_tokens=True`` (its own BOS convention).

    ``[bos]`` for Llama, Mistral, Gemma and Phi-3 tokenizers; ``[]`` for GPT-2, GPT-NeoX/Pythia and Qwen2.
    Found by tokenizing a short text with and without special tokens (cached per tokenizer). Special tokens
    the tokenizer appends (an EOS some tokenizers add) are not part of it: the QA EOS is ``add_eos``.
    """
    tok = _base(tokenizer)
    try:
        return list(_PREFIX[tok])
    except (KeyError, TypeError):
        pass
    plain = list(tok("a b", add_special_tokens=False)["input_ids"])
    full = list(tok("a b", add_special_tokens=True)["input_ids"])
    prefix: list[int] = []
    for i in range(len(full) - len(plain) + 1):
        if full[i : i + len(plain)] == plain:
            prefix = full[:i]
            break
    try:
        _PREFIX[tok] = tuple(prefix)
    except TypeError:  # not weak-referenceable: recomputed next time
        pass
    return prefix


def resolve_format(fmt: PromptFormat, tokenizer, *, warn: bool = True) -> PromptFormat:
    """``fmt`` with ``add_bos`` decided: the tokenizer's convention when None.

    With ``warn``, a format that forces ``add_bos`` against the tokenizer's convention gets a ``UserWarning``
    (a model never trained with the token it is now given scores worse only because of it).
    """
    convention = bool(special_prefix(tokenizer))
    if fmt.add_bos is None:
        return dataclasses.replace(fmt, add_bos=convention)
    if warn and fmt.add_bos != convention:
        what = "adds a BOS token" if fmt.add_bos else "adds no BOS token"
        own = "puts one before every text" if convention else "adds none (add_special_tokens=True gives no BOS)"
        warnings.warn(f"the prompt format {what} but the model's tokenizer {own}; set add_bos to null to follow the "
                      "tokenizer, unless the model was trained with this format", UserWarning, stacklevel=3)
    return fmt


def prefix_ids(tokenizer, fmt: PromptFormat, text: str = "") -> list[int]:
    """The special ids before a sequence whose text is ``text``: none when ``add_bos`` is False or a chat
    template already wrote the BOS into ``text``; else the tokenizer's own prefix, or ``[bos]`` when forced."""
    add = fmt.add_bos
    if add is False:
        return []
    bos_text = getattr(tokenizer, "bos_token", None)
    if fmt.chat and bos_text and text.startswith(bos_text):
        return []
    own = special_prefix(tokenizer)
    if add is None or own:
        return own
    return [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []


# ------------------------------------------------------------------------- encoding


@dataclass
class Encoded:
    """Token ids of one sequence; the first ``n_prompt`` tokens are prompt (never scored)."""

    ids: list[int]
    n_prompt: int

    @property
    def n_answer(self) -> int:
        return len(self.ids) - self.n_prompt


def _ids(tokenizer, text: str) -> list[int]:
    if not text:
        return []
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def split_answer_ids(tokenizer, prompt: str, continuation: str) -> tuple[list[int], list[int]]:
    """``(prompt ids, continuation ids)`` whose concatenation is ``prompt + continuation`` tokenized once.

    The cut is after the prompt's own ids when the whole string's ids start with them (the usual case);
    otherwise before the first token that ends after the prompt (offsets of a fast tokenizer). A tokenizer
    without offsets falls back to tokenizing the two parts apart, with a warning.
    """
    p = _ids(tokenizer, prompt)
    if not continuation:
        return p, []
    whole = _ids(tokenizer, prompt + continuation)
    if whole[: len(p)] == p:
        return p, whole[len(p):]
    try:
        enc = _base(tokenizer)(prompt + continuation, add_special_tokens=False, return_offsets_mapping=True)
        offsets = enc["offset_mapping"]
    except (NotImplementedError, TypeError, ValueError, KeyError):
        warnings.warn("the tokenizer merges prompt and answer characters into one token and gives no offsets; "
                      "prompt and answer are tokenized apart", UserWarning, stacklevel=3)
        return p, _ids(tokenizer, continuation)
    n = 0
    while n < len(whole) and offsets[n][1] <= len(prompt):
        n += 1
    return whole[:n], whole[n:]


def encode_prompt(tokenizer, question: str, fmt: PromptFormat = DEFAULT_FORMAT) -> list[int]:
    """Token ids of the prompt alone (what generation starts from), special prefix included."""
    text = fmt.render(tokenizer, question)
    return prefix_ids(tokenizer, fmt, text) + _ids(tokenizer, text)


def encode_qa(
    tokenizer, question: str, answer: str, fmt: PromptFormat = DEFAULT_FORMAT, max_length: int | None = None
) -> Encoded:
    """Encode one question/answer pair with an answer-only mask boundary.

    ``ids = prefix + tokenizer(prompt + answer_prefix + answer) [+ eos]`` (one tokenization, see
    :func:`split_answer_ids`); ``n_prompt`` counts the prefix and the prompt's tokens. If ``max_length`` is
    given and the sequence is longer, the prompt is truncated from the left (the answer is kept whole when
    possible).
    """
    text = fmt.render(tokenizer, question)
    p, a = split_answer_ids(tokenizer, text, fmt.answer_prefix + answer)
    p = prefix_ids(tokenizer, fmt, text) + p
    if fmt.add_eos and tokenizer.eos_token_id is not None:
        a = a + [tokenizer.eos_token_id]
    if max_length is not None and len(p) + len(a) > max_length:
        keep_p = max(1, max_length - len(a))
        p = p[-keep_p:]
        a = a[: max_length - len(p)]
    return Encoded(ids=p + a, n_prompt=len(p))


def encode_text(tokenizer, text: str, n_prompt_tokens: int = 0, fmt: PromptFormat = DEFAULT_FORMAT,
                max_length: int | None = None) -> Encoded:
    """Encode a raw text item, without EOS; the first ``n_prompt_tokens`` text tokens act as prompt (VerbMem).

    ``ids = prefix + tokenizer(text)``: a passage (MUSE, WMDP corpora) is part of a document, whose end a
    base model does not predict there, so no EOS is appended or scored.
    """
    ids = _ids(tokenizer, text)
    bos = prefix_ids(tokenizer, fmt, text)
    if max_length is not None:
        ids = ids[: max_length - len(bos)]
    return Encoded(ids=bos + ids, n_prompt=len(bos) + min(n_prompt_tokens, max(len(ids) - 1, 0)))


def encode_item(tokenizer, item: Any, fmt: PromptFormat = DEFAULT_FORMAT, *, answer: str | None = None,
                max_length: int | None = None) -> Encoded:
    """Encode a QA item (``question``/``answer``, optionally another ``answer``) or a text item (``text``)."""
    if hasattr(item, "question"):
        return encode_qa(tokenizer, item.question, item.answer if answer is None else answer, fmt, max_length)
    return encode_text(tokenizer, item.text, 0, fmt, max_length)


# ------------------------------------------------------------------------- the format travels with the model


def save_format(fmt: PromptFormat, folder: str | Path) -> Path:
    """Write ``fmt`` as ``folder/prompt_format.json`` (next to a model's weights); returns the path."""
    path = Path(folder) / FORMAT_FILE
    path.write_text(json.dumps(dataclasses.asdict(fmt), indent=2), encoding="utf-8")
    return path


def load_format(folder: str | Path) -> PromptFormat | None:
    """The format saved in a model folder (``prompt_format.json``), or None when there is none.

    Raises:
        ConfigError: the file is not a JSON object of PromptFormat fields (names the file and the field).
    """
    path = Path(folder) / FORMAT_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from None
    fields = {f.name for f in dataclasses.fields(PromptFormat)}
    if not isinstance(data, dict) or set(data) - fields:
        bad = sorted(set(data) - fields) if isinstance(data, dict) else type(data).__name__
        raise ConfigError(f"{path}: unknown prompt format field(s) {bad}; valid: {', '.join(sorted(fields))}")
    return PromptFormat(**data)


def model_format(model_dir: str | Path | None = None, **overrides) -> PromptFormat:
    """The prompt format of a model: the one saved in its folder (else the default), with ``overrides``
    (``template``, ``answer_prefix``, ``add_bos``, ``add_eos``, ``chat``, ``system_prompt``; None = keep)."""
    base = (load_format(model_dir) if model_dir is not None and Path(model_dir).is_dir() else None) or DEFAULT_FORMAT
    given = {k: v for k, v in overrides.items() if v is not None}
    fields = {f.name for f in dataclasses.fields(PromptFormat)}
    unknown = sorted(set(given) - fields)
    if unknown:
        raise ConfigError(f"unknown prompt format option(s) {unknown}; valid: {', '.join(sorted(fields))}")
    if given.get("system_prompt") is not None and "chat" not in given:
        given["chat"] = True
    return dataclasses.replace(base, **given)


def pad_token_id(tokenizer) -> int | None:
    """The id to pad with: the tokenizer's pad token, else its eos token (None if it has neither)."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def collate(encoded: Sequence[Encoded], pad_id: int, padding_side: str = "right") -> dict[str, torch.Tensor]:
    """Pad a list of encoded sequences to the batch's own maximum length.

    Returns ``input_ids`` (B, T), ``attention_mask`` (B, T) and ``labels`` (B, T) with -100 on
    prompt and padding.
    """
    if padding_side not in ("right", "left"):
        raise ValueError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
    T = max(len(e.ids) for e in encoded)
    B = len(encoded)
    # filled in numpy (a row from a list is ~10x cheaper than a torch.tensor per row), handed over without a copy
    input_ids = np.full((B, T), pad_id, dtype=np.int64)
    attn = np.zeros((B, T), dtype=np.int64)
    labels = np.full((B, T), IGNORE, dtype=np.int64)
    for i, e in enumerate(encoded):
        n = len(e.ids)
        s = 0 if padding_side == "right" else T - n
        input_ids[i, s : s + n] = e.ids
        attn[i, s : s + n] = 1
        labels[i, s + e.n_prompt : s + n] = e.ids[e.n_prompt :]
    return {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(attn),
            "labels": torch.from_numpy(labels)}


def collate_prompts(prompts: Sequence[Sequence[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Left-pad prompt ids for batched generation."""
    return {
        k: v
        for k, v in collate([Encoded(list(p), len(p)) for p in prompts], pad_id, padding_side="left").items()
        if k != "labels"
    }


def length_buckets(lengths: Sequence[int], batch_size: int, *, shuffle: bool = False, seed: int = 0) -> list[list[int]]:
    """Group indices into batches of similar length (sorted, then chunked).

    Padding is only to each batch's own maximum. With ``shuffle`` the order of the batches
    (not their content) is shuffled with a seeded RNG, so training stays deterministic.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if shuffle:
        random.Random(seed).shuffle(batches)
    return batches


def to_device(batch: dict[str, torch.Tensor], device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items()}
