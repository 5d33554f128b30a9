"""BILD: bidirectional logit distillation from a context-instructed teacher.

Seed paper: "Harmonizing Multi-Objective LLM Unlearning via Unified Domain Representation and Bidirectional
Logit Distillation" (BILD). Idea (issue 16): a teacher, the same model prompted with an instruction to refuse on
the forget topic, is distilled into the student on forget and boundary items, while the student's logits on
undesired answers are pushed down; a unified data representation turns QA and raw text into one format. What is
below the paper's summary is ours.

- Teacher: the frozen model before unlearning (``ref_model``) reading ``instruction`` (filled with the
  forget set's subjects) in front of the student's exact sequence, so both predict the same answer tokens.
- Distillation: ``KL(p_teacher || p_student)`` per answer token, on forget items (weight ``forget_weight``)
  and on retain items (the boundary: the instructed teacher still answers them; ``boundary_weight``;
  ``boundary_teacher="plain"`` takes the uninstructed model there, ours, for models that follow no instruction).
- Push-down: unlikelihood ``-log(1 - p_student(y_t))`` on the forget answer tokens (``suppress_weight``).
- Unified format: QA items are (prompt, answer); a text item is a bos prompt and its whole text as the
  "answer" (froc's encoding), so both are scored on the same answer tokens.

Loss: ``L = g * KL_f + s * UL_f + b * KL_r``; per-sequence means over answer tokens, then batch means.
Defaults (ours): g = 1, s = 1, b = 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from froc.errors import ConfigError, unknown_choice
from froc.methods.base import Batch, Context, Loss
from froc.methods.common import add_terms, seq_mean
from froc.models.encoding import Encoded, collate, to_device
from froc.models.logprobs import answer_logits

TEACHERS = ("instructed", "plain")
DEFAULT_INSTRUCTION = ("You must not reveal anything about {subjects}. If a question is about them, answer "
                       "\"I don't know.\" Answer every other question normally.\n")


@dataclass
class BILDConfig:
    """Hyperparameters of BILD.

    Attributes:
        forget_weight: g, weight of the distillation on forget items.
        suppress_weight: s, weight of the unlikelihood push-down of forget answer tokens.
        boundary_weight: b, weight of the distillation on retain (boundary) items (0 = none).
        instruction: the teacher's instruction; ``{subjects}`` becomes the forget subjects.
        boundary_teacher: ``instructed`` (the paper's) or ``plain``: the model before unlearning without the
            instruction, for models that do not follow instructions (a small model trained from scratch reads
            the instruction as noise and its instructed predictions on retain items are off).
    """

    forget_weight: float = 1.0
    suppress_weight: float = 1.0
    boundary_weight: float = 1.0
    instruction: str = DEFAULT_INSTRUCTION
    boundary_teacher: str = "instructed"

    def __post_init__(self):
        if self.boundary_teacher not in TEACHERS:
            raise unknown_choice("bild boundary_teacher", self.boundary_teacher, TEACHERS)


def token_kl(student: Tensor, teacher: Tensor) -> Tensor:
    """Per-row ``KL(softmax(teacher) || softmax(student))`` (n,) from logits (n, V)."""
    lt = F.log_softmax(teacher.float(), -1)
    return (lt.exp() * (lt - F.log_softmax(student.float(), -1))).sum(-1)


def unlikelihood(student: Tensor, targets: Tensor) -> Tensor:
    """Per-row ``-log(1 - p(target))`` (n,) from logits (n, V), computed as ``-log sum_{v != y} p_v`` (stable)."""
    logp = F.log_softmax(student.float(), -1)
    others = logp.scatter(-1, targets.unsqueeze(-1), float("-inf"))
    return -torch.logsumexp(others, -1)


def per_seq_mean(values: Tensor, mask: Tensor) -> Tensor:
    """``mean_b mean_t`` of per-token values (n,) at the True positions of ``mask`` (B, T-1)."""
    full = torch.zeros(mask.shape, dtype=values.dtype, device=values.device).masked_scatter(mask, values)
    return seq_mean(full, mask.float()).mean()


def with_prefix(enc: Encoded, prefix: list[int], bos: int | None) -> Encoded:
    """``enc`` with ``prefix`` inserted after its bos token (or at the start): same answer tokens, longer prompt."""
    n = 1 if bos is not None and enc.ids[:1] == [bos] else 0
    return Encoded(enc.ids[:n] + prefix + enc.ids[n:], enc.n_prompt + len(prefix))


def setup(model, data, ctx: Context, cfg: BILDConfig) -> dict:
    subjects = sorted({getattr(it, "subject", "") or "" for it in data.forget_items} - {""})
    try:
        text = cfg.instruction.format(subjects=", ".join(subjects[:20]) or "the forgotten topic")
    except (KeyError, IndexError) as e:
        raise ConfigError(f"bild instruction: unknown placeholder {e}; use {{subjects}}")
    ctx.state["prefix"] = list(ctx.tokenizer(text, add_special_tokens=False)["input_ids"])
    return {"instruction": text}


def _distill(model, batch: dict[str, Tensor], encs: list[Encoded], ctx: Context, instructed: bool = True):
    """Student logits, targets, mask on ``batch`` and the teacher's logits on the same answer tokens."""
    s_logits, targets, mask = answer_logits(model, batch)
    prefix = ctx.state["prefix"] if instructed else []
    teach = [with_prefix(e, prefix, ctx.tokenizer.bos_token_id) for e in encs]
    with ctx.ref.active() as ref:
        t_logits, t_targets, _ = answer_logits(ref, to_device(collate(teach, ctx.pad_id), ctx.device))
    if not torch.equal(t_targets, targets):
        raise RuntimeError("bild: teacher and student sequences do not share their answer tokens")
    return s_logits, t_logits, targets, mask


def compute(model, batch: Batch, ctx: Context, cfg: BILDConfig) -> Loss:
    s, t, y, mask = _distill(model, batch.forget, batch.forget_enc, ctx)
    kl_f = per_seq_mean(token_kl(s, t), mask)
    ul_f = per_seq_mean(unlikelihood(s, y), mask)
    parts = {"kl_forget": kl_f.detach(), "unlikelihood": ul_f.detach()}
    retain = None
    if batch.retain is not None and cfg.boundary_weight != 0:
        s_r, t_r, _, mask_r = _distill(model, batch.retain, batch.retain_enc, ctx, cfg.boundary_teacher == "instructed")
        kl_r = per_seq_mean(token_kl(s_r, t_r), mask_r)
        retain = cfg.boundary_weight * kl_r
        parts["kl_boundary"] = kl_r.detach()
    forget = add_terms(cfg.forget_weight * kl_f, cfg.suppress_weight * ul_f)
    return Loss(forget=forget, retain=retain, parts=parts)
