"""What an unlearning run returns, and how it is saved (safetensors HF folder + ``unlearn_config.json``)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from froc.engine.config import UnlearnConfig
from froc.methods.registry import method_hparams  # noqa: F401 (its old home)


@dataclass
class UnlearnResult:
    """The outcome of ``froc.unlearn``.

    Attributes:
        model: the unlearned model (the same object that was passed in, or its peft wrapper).
        losses: total loss of each step taken (the diverging step's value included).
        loss_parts: per step, the method's named loss components (empty on zeroth-order steps).
        status: ``completed`` or ``diverged`` (never an exception).
        diverged_at: the step at which the run stopped, when diverged; the weights are those
            before that step's update if the loss or gradient was bad, after it if the update
            itself produced non-finite weights (see ``reason``).
        reason: why the run diverged.
        checkpoint_results: ``{step: on_checkpoint(step, model)}`` for each checkpoint reached.
        config: the resolved engine config.
        method: the method's name; method_hparams: its resolved hyperparameters (flat, a wrapper's
            base hyperparameters included).
        info: what the method's setup reported (RMU layer, ROCR targets, MRP ranks, ...).
        seconds: wall-clock time of the run.
    """

    model: Any
    method: str
    config: UnlearnConfig
    method_hparams: dict[str, Any]
    losses: list[float] = field(default_factory=list)
    loss_parts: list[dict[str, float]] = field(default_factory=list)
    status: str = "completed"
    diverged_at: int | None = None
    reason: str | None = None
    checkpoint_results: dict[int, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def steps_done(self) -> int:
        return len(self.losses)

    def summary(self) -> dict[str, Any]:
        """JSON-able description of the run (everything except the model and checkpoint results)."""
        return {
            "method": self.method,
            "method_hparams": self.method_hparams,
            "config": self.config.to_dict(),
            "status": self.status,
            "diverged_at": self.diverged_at,
            "reason": self.reason,
            "steps_done": self.steps_done,
            "losses": self.losses,
            "loss_parts": self.loss_parts,
            "info": self.info,
            "seconds": self.seconds,
            "checkpoints_reached": sorted(self.checkpoint_results),
        }


def save_unlearned(result: UnlearnResult, tokenizer, out: str | Path, *, merge_lora: bool = False) -> Path:
    """Save the unlearned model as a safetensors Hugging Face folder plus ``unlearn_config.json``.

    With a LoRA model, ``merge_lora=True`` merges the adapter into the base weights and saves a
    plain model (``result.model`` becomes the merged model); otherwise the adapter is saved.
    MRP projections, if any, are written to ``projections.safetensors`` (reload them with
    ``froc.methods.mrp.load_projection_hooks``).
    """
    from froc.methods.mrp import projections, save_projections, set_projection_hooks
    from froc.models.loading import is_peft, save_model

    out = Path(out)
    model = result.model
    proj = projections(model)
    if merge_lora and is_peft(model):
        for handle in getattr(model, "_froc_projection_handles", []):
            handle.remove()
        model = model.merge_and_unload()
        if proj:
            set_projection_hooks(model, proj)
        result.model = model
    save_model(model, tokenizer, out)
    save_projections(model, out)
    from froc.safe_write import write_text

    write_text(out / "unlearn_config.json", json.dumps(result.summary(), indent=2, default=str))  # never via a symlink
    from froc.models.encoding import FORMAT_FILE, resolve_format

    # the prompt format travels with the weights: froc eval / froc attack read it from the folder
    fmt = resolve_format(result.config.prompt_format, tokenizer, warn=False)
    write_text(out / FORMAT_FILE, json.dumps(dataclasses.asdict(fmt), indent=2))
    return out
