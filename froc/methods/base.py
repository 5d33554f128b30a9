"""What every unlearning method sees and returns: the step batch, the run context, the loss.

A method is a loss, not a trainer (docs/DESIGN.md, /work/shared/CONVENTIONS.md): each file in
``froc/methods`` holds a config dataclass, a pure loss over tensors and a small ``compute``
function that runs the forward passes and calls that loss. The one training loop lives in
``froc.engine``. Shapes: B batch, T sequence length, V vocabulary, D hidden size.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch
from torch import Tensor

from froc.models.encoding import Encoded


@dataclass
class Loss:
    """A method's loss for one micro-batch, split into its forget and retain terms.

    ``forget`` is the term computed on forget data only; ``retain`` everything else (retain NLL,
    KL to the reference, scope term). Wrappers rely on the split: SAM perturbs the weights for
    the forget term only. ``parts`` holds named components for logging (tensors, detached later).
    """

    forget: Tensor
    retain: Tensor | None = None
    parts: dict[str, Tensor] = field(default_factory=dict)

    @property
    def total(self) -> Tensor:
        return self.forget if self.retain is None else self.forget + self.retain


@dataclass
class Batch:
    """One micro-batch: a forget batch and, when the method uses them, a retain and a refusal batch.

    Tensor dicts hold ``input_ids``, ``attention_mask`` and ``labels`` (B, T), labels -100 on prompt
    and padding. ``forget_idx`` (B,) indexes the forget set (reference cache, per-item state);
    ``refusal`` pairs each forget question with its refusal answer (same order as ``forget``).
    """

    forget: dict[str, Tensor]
    forget_idx: Tensor
    forget_items: list
    forget_enc: list[Encoded]
    retain: dict[str, Tensor] | None = None
    retain_items: list = field(default_factory=list)
    retain_enc: list[Encoded] = field(default_factory=list)
    refusal: dict[str, Tensor] | None = None

    def without_retain(self) -> "Batch":
        return Batch(self.forget, self.forget_idx, self.forget_items, self.forget_enc, refusal=self.refusal)


class Reference:
    """The frozen model before unlearning, for methods that need its full outputs (``ref_model``).

    A deep copy in eval mode with ``requires_grad=False``; for a peft model no copy is made: the
    reference is the same model with its adapters disabled (exactly the base weights).
    """

    def __init__(self, model):
        from froc.models.loading import is_peft

        self.peft = is_peft(model)
        if self.peft:
            self.model = model
        else:
            self.model = copy.deepcopy(model).eval()
            self.model.requires_grad_(False)

    @contextmanager
    def active(self) -> Iterator[Any]:
        with torch.no_grad():
            if self.peft:
                with self.model.disable_adapter():
                    yield self.model
            else:
                yield self.model

    def logits(self, batch: dict[str, Tensor]) -> Tensor:
        """(B, T, V) reference logits, no gradient."""
        with self.active() as m:
            return m(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits

    def layer_output(self, batch: dict[str, Tensor], layer: int) -> Tensor:
        """(B, T, D) reference output of decoder layer ``layer``, no gradient."""
        from froc.methods.common import capture_layer

        with self.active() as m, capture_layer(m, layer) as got:
            m(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        return got["h"]


@dataclass
class Context:
    """Run-wide things a method may read: tokenizer and prompt format, reference quantities, its own state.

    ``ref_forget`` / ``ref_refusal`` are (N_forget,) summed answer log-probs of each forget item (and
    of its refusal answer) under the model before unlearning, computed once before training.
    ``state`` holds what the method's ``setup`` prepared (RMU's random vectors, ...).
    ``generator`` is the run's seeded torch RNG for method noise (SAM smoothing).
    """

    tokenizer: Any
    fmt: Any
    pad_id: int
    device: torch.device
    generator: torch.Generator
    ref: Reference | None = None
    ref_forget: Tensor | None = None
    ref_refusal: Tensor | None = None
    state: dict[str, Any] = field(default_factory=dict)
    step: int = 0


LossFn = Callable[[Any, Batch, Context, Any], Loss]
