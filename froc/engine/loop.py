"""The one unlearning loop behind ``froc.unlearn``, for every method.

Read top to bottom: resolve the configs, seed everything, prepare the model (device, dtype,
LoRA), encode the data, compute reference quantities once, let the method set itself up, then
train: each step draws ``grad_accum`` micro-batches (a forget batch and, when used, a retain
batch, each from its own seeded shuffle), accumulates gradients, checks for divergence, clips,
steps the optimizer and the schedule, and runs checkpoint callbacks.

Methods plug in through their ``MethodSpec`` (``froc.methods.registry``): ``loss`` (a micro-batch
loss), ``needs`` (what to prepare), ``trainable`` (which weights), ``setup`` (once before training;
the whole edit for training-free methods) and ``backward`` (a custom gradient computation, e.g.
SAM's perturb-compute-restore). Optimizers that need loss evaluations instead of gradients
(``zo_hybrid``) get a closure over the same micro-batches.
"""

from __future__ import annotations

import math
import random
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Callable

import torch

from froc.engine import distributed
from froc.engine.config import UnlearnConfig, check_lora, engine_config
from froc.engine.data import IndexStream, make_batch, prepare_data
from froc.engine.distributed import current as data_parallel
from froc.engine.distributed import shared_reference_logprobs
from froc.engine.optim import build_optimizer, is_zeroth_order_step, lr_factor, spsa_gradient_
from froc.engine.result import UnlearnResult
from froc.errors import ConfigError
from froc.methods.base import Batch, Context, Loss, Reference
from froc.methods.registry import MethodSpec, get_method, method_hparams
from froc.models.encoding import pad_token_id, resolve_format
from froc.models.loading import apply_lora, is_peft, resolve_device, resolve_dtype, save_model
from froc.progress import progress_bar

Callback = Callable[[int, Any], Any]


def unlearn(model, tokenizer, forget, retain=None, method: str = "npo", refusals: list[str] | None = None,
            config: UnlearnConfig | dict | None = None, *, on_checkpoint: Callback | None = None,
            snapshot_dir: str | Path | None = None, progress: bool = True, **hparams) -> UnlearnResult:
    """Unlearn ``forget`` from ``model`` with a registered method; the model is updated in place.

    Args:
        model: a Hugging Face causal LM (or a peft model); tokenizer: its tokenizer.
        forget, retain: sequences of QA items (``question``, ``answer``) or text items (``text``).
        method: a name in ``froc.methods.METHODS`` (``froc methods`` lists them).
        refusals: refusal strings (IdkPO).
        config: engine settings (``UnlearnConfig`` or a flat dict).
        on_checkpoint: ``on_checkpoint(step, model) -> Any``, called (model in eval mode, global RNG
            state preserved) after each step listed in ``config.checkpoints``; results are
            collected in ``result.checkpoint_results[step]``.
        snapshot_dir: if given, a safetensors snapshot is saved to ``snapshot_dir/step_<s>`` at
            each checkpoint (adapters only for LoRA runs).
        progress: show a progress bar.
        **hparams: the method's hyperparameters (for ``scope``/``sam`` also the base method's) and
            any ``UnlearnConfig`` field (``lr``, ``steps``, ...), which override ``config``.

    Returns:
        ``UnlearnResult``; a diverging run returns ``status="diverged"`` with ``diverged_at``.

    Data parallel: called on every rank of an initialised ``torch.distributed`` group of 2+ processes (torchrun),
    the run's global batch is ``batch_size * world * grad_accum``, split between the ranks, and every rank ends
    with the weights one process gets with ``grad_accum * world`` (froc.engine.distributed); only rank 0 writes
    snapshots and shows progress; ``on_checkpoint`` runs on every rank.

    Raises:
        ConfigError: unknown method or hyperparameter (listing the valid ones), bad values,
            missing inputs the method needs.
    """
    setup = engine_config({"method": method, "hparams": hparams}, base=config)  # every check before the model
    spec, cfg, mcfg = get_method(setup.method), setup.config, setup.method_config
    t0 = time.perf_counter()
    device = resolve_device(cfg.device)
    dp = data_parallel()
    progress = progress and (dp is None or dp.main)
    with _deterministic(cfg.seed):
        fsdp = cfg.fsdp and dp is not None
        if fsdp and (why := distributed.fsdp_refusal(spec, mcfg, cfg, spec.needs_for(mcfg))):
            raise ConfigError(f"fsdp: method '{spec.name}' cannot run sharded: {why}")
        # sharded: the weights stay where they were loaded (CPU) and FSDP moves each rank's shards to the device
        model = _prepare_model(model, cfg, spec, mcfg, None if fsdp else device)
        if fsdp:
            distributed.shard(model, device)
        elif dp is not None:
            dp.broadcast_weights(model)
        result = UnlearnResult(model=model, method=spec.name, config=cfg, method_hparams=method_hparams(mcfg))
        needs = spec.needs_for(mcfg)
        data = prepare_data(tokenizer, forget, retain, refusals, needs, cfg)
        pad_id = pad_token_id(tokenizer)
        ctx = Context(tokenizer, resolve_format(cfg.prompt_format, tokenizer), pad_id, device, torch.Generator().manual_seed(cfg.seed))

        # Reference quantities, once, before any weight changes.
        model.eval()
        if "ref_seq_logprobs" in needs:
            ctx.ref_forget = shared_reference_logprobs(dp, model, data.forget_enc, pad_id, device, cfg.batch_size)
            if data.refusal_enc is not None:
                ctx.ref_refusal = shared_reference_logprobs(dp, model, data.refusal_enc, pad_id, device, cfg.batch_size)
        if "ref_model" in needs:
            ctx.ref = Reference(model)
        if spec.setup is not None:
            result.info = spec.setup(model, data, ctx, mcfg) or {}

        if spec.trains(mcfg):
            _train(model, tokenizer, spec, mcfg, cfg, data, ctx, result, on_checkpoint, snapshot_dir, progress, dp)
        if dp is not None and distributed.is_sharded(model):  # rank 0 gets a plain copy to save (every rank gathers)
            plain = distributed.unsharded_copy(model, dp.main)
            result.model = plain if dp.main else model
    result.seconds = time.perf_counter() - t0
    return result


def _train(model, tokenizer, spec: MethodSpec, mcfg, cfg: UnlearnConfig, data, ctx: Context,
           result: UnlearnResult, on_checkpoint, snapshot_dir, progress: bool, dp=None) -> None:
    params, restore = _select_trainable(model, spec, mcfg)
    opt = build_optimizer(cfg, params)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(cfg))
    forget_order = IndexStream(len(data.forget_items), cfg.seed)
    retain_order = IndexStream(len(data.retain_items), cfg.seed + 1) if data.retain_items else None
    autocast = cfg.autocast and ctx.device.type == "cuda"
    sharded = dp is not None and distributed.is_sharded(model)  # FSDP reduce-scatters gradients itself
    finite = distributed.all_finite if sharded else _all_finite

    def compute(b: Batch) -> Loss:  # the method's loss on one micro-batch (forward passes under autocast)
        with torch.autocast("cuda", dtype=torch.bfloat16) if autocast else nullcontext():
            return spec.loss(model, b, ctx, mcfg)

    backward = spec.backward or _plain_backward
    undo_ckpt = _enable_checkpointing(model) if cfg.gradient_checkpointing else (lambda: None)
    bar = progress_bar(f"unlearn ({spec.name})", cfg.steps) if progress else nullcontext(lambda n=1, **kw: None)
    model.train()
    try:
        with bar as advance:
            for step in range(1, cfg.steps + 1):
                ctx.step = step
                # the step's micro-batches: grad_accum per rank, micro-batch k on rank k % world
                draws = [(forget_order.take(cfg.batch_size), retain_order.take(cfg.batch_size) if retain_order else None)
                         for _ in range(cfg.grad_accum * (dp.world if dp else 1))]
                micro = [make_batch(data, f, r, ctx.pad_id, ctx.device)
                         for k, (f, r) in enumerate(draws) if dp is None or dp.mine(k)]
                opt.zero_grad(set_to_none=True)
                if is_zeroth_order_step(cfg, step):
                    mean = dp.mean if dp else (lambda x: x)
                    loss = spsa_gradient_(params, lambda: mean(_mean_total(compute, micro)), mu=cfg.zo_mu,
                                          n_directions=cfg.zo_directions, dist=cfg.zo_dist,
                                          seed=cfg.seed * 100_003 + step)
                    parts = {}
                else:
                    outs = [backward(compute, b, params, 1.0 / len(micro), ctx, mcfg) for b in micro]
                    loss = sum(o.total.detach() for o in outs) / len(outs)
                    parts = {k: sum(float(o.parts[k]) for o in outs) / len(outs) for k in outs[0].parts}
                    if dp is not None:  # the mean over ranks: identical gradients, loss and parts everywhere
                        if not sharded:
                            dp.all_reduce_grads(params)
                        both = dp.mean(torch.tensor([float(loss), *parts.values()], dtype=torch.float64,
                                                     device=ctx.device))
                        loss, parts = both[0], dict(zip(parts, both[1:].tolist()))
                loss = float(loss)
                result.losses.append(loss)
                result.loss_parts.append(parts)

                # Divergence: a bad loss or gradient stops before the update; bad weights after it.
                if not math.isfinite(loss) or (cfg.divergence_bound is not None and abs(loss) > cfg.divergence_bound):
                    _diverged(result, step, f"loss {loss:.4g} at step {step} (bound {cfg.divergence_bound})")
                    break
                grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm or float("inf"))
                grad_norm = grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm
                if not torch.isfinite(grad_norm):
                    _diverged(result, step, f"non-finite gradient norm at step {step}")
                    break
                opt.step()
                sched.step()
                if not finite(params):
                    _diverged(result, step, f"non-finite weights after the update of step {step}")
                    break

                if step in cfg.checkpoints:
                    _checkpoint(step, model, tokenizer, ctx.device, on_checkpoint, snapshot_dir, result)
                advance(1, info=f"loss {loss:.4g}")
    finally:
        model.eval()
        undo_ckpt()
        restore()


def _enable_checkpointing(model) -> Callable[[], None]:
    """Turn on activation checkpointing for the run; returns the undo (a no-op if it was already on)."""
    base = model.get_base_model() if is_peft(model) else model
    if not getattr(base, "supports_gradient_checkpointing", False):
        raise ConfigError(f"gradient_checkpointing: {type(base).__name__} does not support it")
    if hasattr(base, "activation_checkpointing_enable"):  # transformers >= 5.24 names it so
        on, enable, disable, kw = ("is_activation_checkpointing", base.activation_checkpointing_enable,
                                   base.activation_checkpointing_disable, "activation_checkpointing_kwargs")
    else:
        on, enable, disable, kw = ("is_gradient_checkpointing", base.gradient_checkpointing_enable,
                                   base.gradient_checkpointing_disable, "gradient_checkpointing_kwargs")
    if getattr(base, on, False):
        return lambda: None
    # non-reentrant: works with frozen inputs (LoRA) and with hooks that perturb hidden states
    enable(**{kw: {"use_reentrant": False}})
    return disable


def _plain_backward(compute, batch: Batch, params, scale: float, ctx: Context, cfg) -> Loss:
    """The default gradient computation: ``(scale * loss).backward()``."""
    out = compute(batch)
    (out.total * scale).backward()
    return out


@torch.no_grad()
def _mean_total(compute, micro: list[Batch]) -> torch.Tensor:
    """The step's loss (mean over micro-batches) without gradients, for zeroth-order estimates."""
    return sum(compute(b).total.float() for b in micro) / len(micro)


def _all_finite(params) -> bool:
    """Whether every weight is finite.

    Fast path: one float32 sum per tensor (a NaN or inf anywhere makes the total non-finite), ~10x
    cheaper on CPU than ``isfinite(p).all()`` per tensor, which allocates a bool copy of the model
    every step (benchmarks/unlearn_step). A non-finite total can also be a float32 overflow of finite
    weights, so that case is decided by the exact per-tensor check.
    """
    total = torch.stack([p.detach().sum(dtype=torch.float32) for p in params]).sum()
    if torch.isfinite(total):
        return True
    return bool(torch.stack([torch.isfinite(p).all() for p in params]).all())


def _diverged(result: UnlearnResult, step: int, reason: str) -> None:
    result.status, result.diverged_at, result.reason = "diverged", step, reason


def _checkpoint(step, model, tokenizer, device, on_checkpoint, snapshot_dir, result: UnlearnResult) -> None:
    model.eval()
    dp = data_parallel()
    if snapshot_dir is not None and (dp is None or dp.main):
        save_snapshot(model, tokenizer, Path(snapshot_dir) / f"step_{step}")
    if on_checkpoint is not None:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            result.checkpoint_results[step] = on_checkpoint(step, model)
    model.train()


def save_snapshot(model, tokenizer, out: Path) -> Path:
    """Weights (or the LoRA adapter) as safetensors, the tokenizer, and MRP projections if any."""
    from froc.methods.mrp import save_projections

    save_model(model, tokenizer, out)
    save_projections(model, out)
    return out


# ---------------------------------------------------------------- setup helpers


@contextmanager
def _deterministic(seed: int):
    """Seed python ``random`` and torch, and prefer deterministic kernels for the run's duration.

    On CUDA, bit-identical runs also need ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` in the environment;
    kernels without a deterministic version only warn.
    """
    prev = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev[0], warn_only=prev[1])


def _prepare_model(model, cfg: UnlearnConfig, spec: MethodSpec, mcfg, device: torch.device):
    if cfg.dtype != "auto":
        model.to(resolve_dtype(cfg.dtype, device))
    if device is not None:
        model.to(device)
    if cfg.lora is not None or is_peft(model):
        check_lora(spec, mcfg, True)
        if not is_peft(model):
            model = apply_lora(model, cfg.lora)
    return model


def _select_trainable(model, spec: MethodSpec, mcfg) -> tuple[list[torch.nn.Parameter], Callable[[], None]]:
    """The parameters to train (all weights, the method's choice, or the LoRA adapters) and an undo."""
    named = list(model.named_parameters())
    before = {n: p.requires_grad for n, p in named}
    if not is_peft(model):
        chosen = spec.trainable(model, mcfg) if spec.trainable else None
        chosen = set(chosen) if chosen is not None else None
        for n, p in named:
            p.requires_grad_(chosen is None or n in chosen)
    params = [p for _, p in named if p.requires_grad]
    if not params:
        raise ConfigError(f"method '{spec.name}' selected no trainable parameters")

    def restore():
        for n, p in named:
            p.requires_grad_(before[n])

    return params, restore
