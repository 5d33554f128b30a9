"""Group-relative policy optimisation (GRPO) pieces shared by the RL unlearning methods (``purge``, ``rule``).

GRPO: Shao et al. 2024, "DeepSeekMath: Pushing the Limits of Mathematical Reasoning in Open Language Models",
https://arxiv.org/abs/2402.03300 (section 4.1). For each prompt, G completions are sampled from the current
policy; each gets a scalar reward; the advantage of completion i is its reward standardised within its
group, ``A_i = (r_i - mean_j r_j) / (std_j r_j + 1e-4)`` (std with Bessel's correction, as TRL's
GRPOTrainer). Loss, one policy update per sample (so pi_old = sg(pi_theta) and the ratio is 1 in value):

``L = mean_i (1/|o_i|) sum_t [ -exp(log pi(o_t) - sg(log pi(o_t))) * A_i + beta * KL_t ]``,
``KL_t = exp(r_t - l_t) - (r_t - l_t) - 1`` (the unbiased k3 estimator of KL(pi || pi_ref)), l = log pi(o_t),
r = log pi_ref(o_t) of the frozen model before unlearning. Only completion tokens count.

TRL's ``GRPOTrainer`` is a whole trainer (its own loop, generation backends, dataset format): it does not
fit froc's one unlearning loop, so the same math is written here as a loss over one micro-batch.
"""

from __future__ import annotations

import torch
from torch import Tensor

from froc.methods.base import Context
from froc.methods.common import seq_mean
from froc.models.encoding import Encoded, collate, collate_prompts, to_device
from froc.models.logprobs import token_logprobs


def group_advantages(rewards: Tensor) -> Tensor:
    """(B, G) rewards -> (B, G) advantages standardised within each row (unbiased std; all-equal rows give 0)."""
    mean = rewards.mean(-1, keepdim=True)
    std = rewards.std(-1, keepdim=True) if rewards.shape[-1] > 1 else torch.zeros_like(mean)
    return (rewards - mean) / (std + 1e-4)


def grpo_loss(logp: Tensor, ref_logp: Tensor, mask: Tensor, advantages: Tensor, *, beta: float) -> Tensor:
    """GRPO loss (see the module docstring); logp (with gradient), ref_logp, mask (N, T), advantages (N,)."""
    ratio = torch.exp(logp - logp.detach())  # 1 in value, d ratio = d logp
    d = ref_logp - logp
    kl = torch.exp(d) - d - 1.0
    per_tok = -ratio * advantages.unsqueeze(-1) + beta * kl
    return seq_mean(per_tok, mask).mean()


@torch.no_grad()
def sample_completions(model, prompts: list[list[int]], ctx: Context, *, keys: list[int], group_size: int,
                       temperature: float, max_new_tokens: int) -> list[list[int]]:
    """``group_size`` sampled completions per prompt (prompt-major order), token ids cut after the first eos (kept).

    Each prompt is sampled on its own under a seed made of the run's seed, the step and ``keys[i]`` (the item's
    index), inside ``fork_rng``: the samples do not depend on which other prompts share the micro-batch, and
    the global RNG is left as it was.
    """
    from transformers import GenerationConfig

    eos = ctx.tokenizer.eos_token_id
    cfg = GenerationConfig(do_sample=True, temperature=temperature, top_k=0, top_p=1.0, max_new_tokens=max_new_tokens,
                           num_return_sequences=group_size, eos_token_id=eos, pad_token_id=ctx.pad_id, use_cache=True)
    was_training = model.training
    model.eval()
    comps = []
    devices = [ctx.device] if ctx.device.type == "cuda" else []
    for p, key in zip(prompts, keys):
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed((ctx.generator.initial_seed() * 1_000_003 + ctx.step * 100_003 + key) % (2**63))
            batch = to_device(collate_prompts([p], ctx.pad_id), ctx.device)
            out = model.generate(**batch, generation_config=cfg)[:, batch["input_ids"].shape[1]:].tolist()
        for ids in out:
            if eos is not None and eos in ids:
                ids = ids[: ids.index(eos) + 1]
            comps.append(ids or ([eos] if eos is not None else [ctx.pad_id]))
    model.train(was_training)
    return comps


def decode(ctx: Context, ids: list[int]) -> str:
    return ctx.tokenizer.decode(ids, skip_special_tokens=True).strip()


def policy_terms(model, prompts: list[list[int]], comps: list[list[int]], ctx: Context):
    """Per-token log-probs of the completions under the policy (gradient) and the reference (none), and the mask."""
    group = len(comps) // len(prompts)
    encs = [Encoded(list(prompts[i // group]) + c, len(prompts[i // group])) for i, c in enumerate(comps)]
    batch = to_device(collate(encs, ctx.pad_id), ctx.device)
    logp, mask = token_logprobs(model, batch)
    with ctx.ref.active() as ref:
        ref_logp, _ = token_logprobs(ref, batch)
    return logp, ref_logp, mask
