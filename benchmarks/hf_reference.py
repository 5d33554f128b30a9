"""The comparison point of ``unlearn_step``: the same losses written the way the field's common tools
write them (TOFU, open-unlearning): a ``transformers.Trainer`` subclass overriding ``compute_loss``,
batches of (forget, retain) pairs, and for NPO a second full copy of the model kept in memory and
run forward on every forget batch.

The losses are exactly froc's (``froc.methods.ga/npo/graddiff``): per-sequence mean NLL over answer
tokens, then the batch mean; NPO on summed answer log-probs. As in open-unlearning's
``compute_batch_nll``, the labels are passed to the model (so Hugging Face also computes its own
mean loss, unused) and the per-token NLL is taken from the returned logits. The optimizer is the
Trainer's default (``adamw_torch_fused`` in transformers 5) with froc's hyperparameters (lr, betas,
eps, weight decay 0.01, which the Trainer does not apply to norm weights and biases), the schedule
constant, clipping 1.0: with the same batch order (``forget_order``/``retain_order``) the loss
curve equals froc's up to float rounding (and the decay of the norm weights, ~1e-7 per step), which
``unlearn_step`` checks.
"""

from __future__ import annotations

import copy
import tempfile
from typing import Sequence

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, SequentialSampler
from transformers import PrinterCallback, ProgressCallback, Trainer, TrainerCallback, TrainingArguments

from froc.models.encoding import DEFAULT_FORMAT, collate, encode_item

METHODS = ("ga", "npo", "graddiff")


class ForgetRetainDataset(Dataset):
    """Item k is (forget item ``forget_order[k]``, retain item ``retain_order[k]``), tokenized on access."""

    def __init__(self, tokenizer, forget: Sequence, retain: Sequence | None, forget_order: Sequence[int],
                 retain_order: Sequence[int] | None, max_length: int = 512):
        self.tok, self.forget, self.retain = tokenizer, forget, retain
        self.f_order, self.r_order, self.max_length = list(forget_order), retain_order, max_length

    def __len__(self) -> int:
        return len(self.f_order)

    def __getitem__(self, k: int) -> dict:
        enc = lambda it: encode_item(self.tok, it, DEFAULT_FORMAT, max_length=self.max_length)  # noqa: E731
        out = {"forget": enc(self.forget[self.f_order[k]])}
        if self.retain is not None and self.r_order is not None:
            out["retain"] = enc(self.retain[self.r_order[k]])
        return out


class PairCollator:
    """Pads the forget and the retain halves of a batch separately (right padding, answer-only labels)."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, rows: list[dict]) -> dict:
        return {k: collate([r[k] for r in rows], self.pad_id) for k in rows[0]}


def compute_batch_nll(model, inputs: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed answer NLL (B,) and answer-token count (B,), open-unlearning style (labels passed to the model)."""
    outputs = model(**inputs)
    logits = outputs.logits[..., :-1, :].contiguous()  # (B, T-1, V)
    labels = inputs["labels"][..., 1:].contiguous()  # (B, T-1)
    nll = F.cross_entropy(logits.transpose(-1, -2).float(), labels, ignore_index=-100, reduction="none")  # (B, T-1)
    return nll.sum(-1), (labels != -100).sum(-1).clamp_min(1)


class UnlearnTrainer(Trainer):
    """GA / NPO / GradDiff as a ``Trainer`` subclass; NPO keeps a frozen deep copy of the model."""

    def __init__(self, *args, method: str, beta: float = 0.1, forget_weight: float = 1.0,
                 retain_weight: float = 1.0, order_sampler: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
        self.method, self.beta = method, beta
        self.forget_weight, self.retain_weight = forget_weight, retain_weight
        self.order_sampler = order_sampler
        self.ref_model = None
        if method == "npo":  # the field's way: a second full model in memory
            self.ref_model = copy.deepcopy(self.model).eval()
            self.ref_model.requires_grad_(False)
        self.step_losses: list[float] = []

    def _get_train_sampler(self, *args, **kwargs):
        return SequentialSampler(self.train_dataset) if self.order_sampler else super()._get_train_sampler(*args, **kwargs)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        forget = inputs["forget"]
        nll_f, n_f = compute_batch_nll(model, forget)
        if self.method == "ga":
            loss = -(nll_f / n_f).mean()
        elif self.method == "graddiff":
            nll_r, n_r = compute_batch_nll(model, inputs["retain"])
            loss = -self.forget_weight * (nll_f / n_f).mean() + self.retain_weight * (nll_r / n_r).mean()
        else:  # npo: log-ratio of summed answer log-probs against the reference model, every step
            with torch.no_grad():
                ref_nll, _ = compute_batch_nll(self.ref_model, forget)
            log_ratio = -nll_f + ref_nll  # log p_theta - log p_ref, (B,)
            loss = (-2.0 / self.beta * F.logsigmoid(-self.beta * log_ratio)).mean()
        self.step_losses.append(float(loss.detach()))
        return (loss, None) if return_outputs else loss


class OnStep(TrainerCallback):
    """Calls ``fn()`` at the end of every optimizer step."""

    def __init__(self, fn):
        self.fn = fn

    def on_step_end(self, args, state, control, **kwargs):
        self.fn()


def default_optimizer() -> str:
    """The optimizer the Trainer uses when none is given (``TrainingArguments.optim``)."""
    with tempfile.TemporaryDirectory() as out:
        optim = TrainingArguments(output_dir=out, report_to="none", use_cpu=not torch.cuda.is_available()).optim
    return getattr(optim, "value", str(optim))


def run_reference(model, tokenizer, forget, retain, method: str, *, steps: int, batch_size: int, lr: float,
                  forget_order: Sequence[int], retain_order: Sequence[int] | None, weight_decay: float = 0.01,
                  betas=(0.9, 0.999), max_grad_norm: float = 1.0, seed: int = 0, on_step=None) -> list[float]:
    """Train ``model`` in place for ``steps`` steps with the reference trainer; return the step losses.

    ``on_step()``, if given, runs at the end of every step (a ``TrainerCallback``)."""
    uses_retain = method == "graddiff"
    ds = ForgetRetainDataset(tokenizer, forget, retain if uses_retain else None, forget_order[: steps * batch_size],
                             retain_order[: steps * batch_size] if uses_retain and retain_order is not None else None)
    with tempfile.TemporaryDirectory(prefix="froc-hfref-") as out:
        args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=batch_size, max_steps=steps, learning_rate=lr,
            lr_scheduler_type="constant", warmup_steps=0, max_grad_norm=max_grad_norm, logging_strategy="no",
            save_strategy="no", report_to="none", use_cpu=not torch.cuda.is_available(), disable_tqdm=True,
            dataloader_num_workers=0, dataloader_pin_memory=False, remove_unused_columns=False, seed=seed,
            weight_decay=weight_decay, adam_beta1=betas[0], adam_beta2=betas[1], adam_epsilon=1e-8)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        trainer = UnlearnTrainer(model=model, args=args, train_dataset=ds, data_collator=PairCollator(pad),
                                 method=method)
        for cb in (PrinterCallback, ProgressCallback):  # no console output (froc runs with progress=False)
            trainer.remove_callback(cb)
        if on_step is not None:
            trainer.add_callback(OnStep(on_step))
        trainer.train()
        losses = trainer.step_losses
        del trainer
    model.eval()
    return losses
