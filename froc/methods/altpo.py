"""AltPO: alternate preference optimisation, DPO towards the model's own plausible alternative answers.

Paper: Mekala et al. 2025, "Alternate Preference Optimization for Unlearning Factual Knowledge in Large
Language Models" (COLING 2025), https://arxiv.org/abs/2409.13474, code
https://github.com/molereddy/Alternate-Preference-Optimization; in the reference toolkit
(locuslab/open-unlearning, ``community/methods/AltPO``) it is the ``DPO`` trainer on alternates generated
by the model before unlearning.

Loss: the DPO loss of ``froc.methods.dpo`` (alternative preferred over the true answer, 2/b scale,
summed answer log-probs) + ``w_r * mnll_r``. Negative feedback on the true answer, positive feedback on a
plausible false one, so the model keeps answering fluently instead of collapsing.

Alternatives: the authors prompt the model with the question, its answer and an instruction to write an
answer with other facts, and sample 5 (temperature 1). Ours: the model before unlearning samples
``n_alternatives`` completions of the forget question (temperature ``temperature``, top-k off) from
``prompt_template`` (``{question}``/``{answer}`` placeholders; None = the run's ordinary question prompt,
which needs no instruction-following model); completions that are empty, repeated, or equal to the true
answer (case and surrounding space ignored) are rejected and resampled, at most ``max_rounds`` rounds.
An item left without any alternative falls back to its ``perturbed_answers`` (else ConfigError).
Sampling uses torch's global RNG, seeded by the run. Pairing over steps as in ``dpo``.
Defaults b = 0.1, w_r = 1 (reference toolkit's DPO config; the authors search b in {0.05, 0.1, 0.5}).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from froc.errors import ConfigError
from froc.methods import dpo
from froc.methods.base import Context
from froc.methods.dpo import prepare_alternatives
from froc.models.encoding import collate_prompts, encode_prompt, to_device


@dataclass
class AltPOConfig:
    """Hyperparameters of AltPO.

    Attributes:
        beta: b, DPO inverse temperature.
        retain_weight: w_r, weight of the retain NLL.
        n_alternatives: alternatives sampled per forget item.
        temperature: sampling temperature.
        max_new_tokens: longest sampled alternative.
        max_rounds: sampling rounds to fill up rejected alternatives.
        prompt_template: generation prompt with ``{question}`` and ``{answer}`` (None = the question prompt).
    """

    beta: float = 0.1
    retain_weight: float = 1.0
    n_alternatives: int = 5
    temperature: float = 1.0
    max_new_tokens: int = 32
    max_rounds: int = 4
    prompt_template: str | None = None

    def __post_init__(self):
        if self.n_alternatives < 1 or self.max_rounds < 1 or self.max_new_tokens < 1:
            raise ConfigError("altpo: n_alternatives, max_rounds and max_new_tokens must be >= 1")
        if not self.temperature > 0:
            raise ConfigError(f"altpo: temperature must be > 0, got {self.temperature}")


def _norm(s: str) -> str:
    return " ".join(s.split()).casefold()


def accept(candidate: str, answer: str, kept: list[str]) -> bool:
    """Whether a sampled alternative is kept: non-empty, not the true answer, not already kept."""
    c = _norm(candidate)
    return bool(c) and c != _norm(answer) and c not in {_norm(k) for k in kept}


def _prompt_ids(tokenizer, item, ctx: Context, template: str | None) -> list[int]:
    if template is None:
        return encode_prompt(tokenizer, item.question, ctx.fmt)
    text = template.format(question=item.question, answer=item.answer)
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    bos = tokenizer.bos_token_id
    return ([bos] if ctx.fmt.add_bos and bos is not None else []) + ids


@torch.no_grad()
def sample_alternatives(model, items, ctx: Context, cfg: AltPOConfig, batch_size: int = 16) -> list[list[str]]:
    """Up to ``cfg.n_alternatives`` accepted samples per item from the model as it is now."""
    from transformers import GenerationConfig

    tok = ctx.tokenizer
    eos = tok.eos_token_id
    gen_cfg = GenerationConfig(do_sample=True, temperature=cfg.temperature, top_k=0, top_p=1.0,
                               max_new_tokens=cfg.max_new_tokens, num_return_sequences=cfg.n_alternatives,
                               eos_token_id=eos, pad_token_id=ctx.pad_id, use_cache=True)
    prompts = [_prompt_ids(tok, it, ctx, cfg.prompt_template) for it in items]
    kept: list[list[str]] = [[] for _ in items]
    was_training = model.training
    model.eval()
    for _ in range(cfg.max_rounds):
        todo = [i for i in range(len(items)) if len(kept[i]) < cfg.n_alternatives]
        for s in range(0, len(todo), batch_size):
            idx = todo[s : s + batch_size]
            batch = to_device(collate_prompts([prompts[i] for i in idx], ctx.pad_id), ctx.device)
            out = model.generate(**batch, generation_config=gen_cfg)[:, batch["input_ids"].shape[1]:]
            for r, ids in enumerate(out.tolist()):
                i = idx[r // cfg.n_alternatives]
                if eos is not None and eos in ids:
                    ids = ids[: ids.index(eos)]
                text = tok.decode(ids, skip_special_tokens=True).strip()
                if len(kept[i]) < cfg.n_alternatives and accept(text, items[i].answer, kept[i]):
                    kept[i].append(text)
    model.train(was_training)
    return kept


def setup(model, data, ctx: Context, cfg: AltPOConfig) -> dict:
    if any(not hasattr(it, "question") for it in data.forget_items):
        raise ConfigError("altpo needs QA forget items (question/answer), not text items")
    texts = sample_alternatives(model, data.forget_items, ctx, cfg)
    fallback = 0
    for i, it in enumerate(data.forget_items):
        if not texts[i]:
            texts[i] = [a for a in (getattr(it, "perturbed_answers", None) or []) if a.strip()][: cfg.n_alternatives]
            fallback += 1
    info = prepare_alternatives(model, data, ctx, texts)
    return {**info, "items_on_perturbed_fallback": fallback}


# the loss is DPO's (froc.methods.dpo) towards the sampled alternatives, plus the retain NLL: only setup differs
compute = dpo.compute
