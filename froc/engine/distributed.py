"""One unlearning run on several processes: data parallelism over ``torch.distributed`` (gloo on CPU, NCCL on GPUs).

Launch with torchrun, which starts the processes and sets ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``::

    torchrun --nproc_per_node 2 -m froc unlearn --model ./target --forget f.jsonl --retain r.jsonl --out ./npo

``froc unlearn`` joins the process group (:func:`init_from_env`); ``froc.unlearn`` itself works on any rank of an
already initialised group (:func:`current`). What each rank does, and why the result does not depend on the
number of processes:

- **Samples.** Every rank draws the same seeded forget/retain order, ``world * grad_accum`` micro-batches of
  ``batch_size`` per step: exactly the micro-batches one process draws with ``grad_accum * world``. Micro-batch
  ``k`` of a step belongs to rank ``k % world`` (a DistributedSampler-style split at the micro-batch level), so
  the ranks see disjoint samples and together the step's whole global batch ``batch_size * world * grad_accum``
  (the bug of giving every rank the same retain samples cannot occur: retain indices are split like forget ones).
- **Gradients.** Each rank accumulates ``1/grad_accum`` of each of its micro-batch gradients; one all-reduce per
  step (mean over ranks) then gives every rank the single process's ``1/(world*grad_accum)``-weighted sum,
  up to float summation order. The step's loss (and its logged parts) is averaged the same way, so divergence
  checks, clipping and the optimizer step see identical numbers on every rank and the weights stay identical.
  Methods with a custom backward (SAM) and zeroth-order steps (SPSA losses all-reduced) work unchanged.
- **Reference log-probs.** The per-item reference cache is computed once: the reference batches of one process
  are dealt round-robin to the ranks and the results summed into every rank (each value is computed by
  exactly one rank, in the same batch as in a single process, so it is bit-identical).
- **Writes.** Only rank 0 writes (snapshots, the saved model, a sweep's records), after a barrier that every
  rank reaches only when its own training finished: a crash of any rank fails the barrier (or an earlier
  all-reduce) on rank 0, which then writes nothing.

Why not ``DistributedDataParallel``'s wrapper: methods call the model directly, read its submodules and hook
its layers (RMU, MRP, adversarial methods), take several backward passes per micro-batch (SAM) or none (SPSA),
all of which the wrapper's forward-bound reducer does not support; one bucketed all-reduce per step is the
same communication DDP does without gradient accumulation, minus its overlap of communication with the backward.

Not draw-for-draw equal to one process: methods that draw noise per micro-batch from the run's generator
(SAM's ``smoothed`` variant, ROKA's picks) draw from each rank's own copy of the stream.

Fully sharded (``fsdp: true``, :func:`shard`): the same sample split, but FSDP2 holds 1/world of each weight,
gradient and AdamW moment per rank and reduce-scatters the gradients itself; rank 0 gathers a plain model at the
end (:func:`unsharded_copy`). :func:`fsdp_refusal` lists what it does not support yet.

Scoring: :func:`score_probes_parallel` deals chunks of probes to the ranks; per-probe scores do not depend on the
number of processes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import Tensor

BUCKET_BYTES = 64 * 2**20  # gradients are all-reduced in flat buffers of at most this size


@dataclass(frozen=True)
class DataParallel:
    """This process's place in a data-parallel run: ``rank`` in ``0..world-1``."""

    rank: int
    world: int

    @property
    def main(self) -> bool:
        """Whether this is rank 0, the only rank that writes outputs."""
        return self.rank == 0

    def mine(self, k: int) -> bool:
        """Whether micro-batch ``k`` (0-based, of the step's ``world * grad_accum``) is computed by this rank."""
        return k % self.world == self.rank

    def mean(self, x: Tensor) -> Tensor:
        """``x`` averaged over the ranks (float64 stays float64, anything else becomes float32; same value on every rank)."""
        import torch.distributed as dist

        y = x.detach().to(torch.float64 if x.dtype == torch.float64 else torch.float32, copy=True)
        dist.all_reduce(y)
        return y / self.world

    def all_reduce_grads(self, params: list[Tensor]) -> None:
        """Replace each ``p.grad`` by its mean over the ranks.

        A weight without a gradient on some ranks counts as zeros there; one without a gradient on every rank keeps
        ``grad = None`` (as on one process, the optimizer then skips it). Gradients are flattened into buckets of
        at most ``BUCKET_BYTES`` per dtype and device, one all-reduce each.
        """
        import torch.distributed as dist
        from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

        has = torch.tensor([p.grad is not None for p in params], dtype=torch.int32, device=params[0].device)
        dist.all_reduce(has)  # every rank must reduce the same tensors in the same order
        params = [p for p, n in zip(params, has.tolist()) if n > 0]
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        buckets: dict[tuple, list[list[Tensor]]] = {}
        size: dict[tuple, int] = {}
        for p in params:
            key, nbytes = (p.grad.dtype, p.grad.device), p.grad.numel() * p.grad.element_size()
            lst = buckets.setdefault(key, [[]])
            if lst[-1] and size[key] + nbytes > BUCKET_BYTES:
                lst.append([])
                size[key] = 0
            lst[-1].append(p.grad)
            size[key] = size.get(key, 0) + nbytes
        for lists in buckets.values():
            for grads in lists:
                flat = _flatten_dense_tensors(grads)
                dist.all_reduce(flat)
                flat /= self.world
                for g, r in zip(grads, _unflatten_dense_tensors(flat, grads)):
                    g.copy_(r)

    def broadcast_weights(self, model) -> None:
        """Give every rank rank 0's parameters and buffers (as DDP does when it wraps a model)."""
        import torch.distributed as dist

        with torch.no_grad():
            for t in list(model.parameters()) + list(model.buffers()):
                dist.broadcast(t.data, src=0)

    def barrier(self) -> None:
        """Wait for every rank; raises on rank 0 when another rank died (its connection closed)."""
        import torch.distributed as dist

        dist.barrier()


# ----------------------------------------------------------------------------- fully sharded (FSDP2)


def fsdp_refusal(spec, mcfg, cfg, needs) -> str | None:
    """Why ``fsdp`` cannot run this configuration (None: it can). Checked before anything is sharded.

    Supported: methods that are a loss over forward passes of the trained model (ga, graddiff, npo, simnpo, idkpo,
    wga, ...), full weights, first-order optimizers. Not yet: a frozen reference copy (``ref_model``), a method
    set-up (hooks, projections, chosen trainable weights), a custom backward (SAM), zeroth-order steps (random
    directions added to sharded weights), LoRA, checkpoints (each would need a gathered copy of the model).
    """
    if "ref_model" in needs:
        return "its frozen reference copy of the model is not sharded"
    if spec.backward is not None:
        return "its custom backward (weight perturbations) is not supported on sharded weights"
    if spec.setup is not None or spec.trainable is not None:
        return "its set-up (layer hooks, projections or chosen weights) is not supported on sharded weights"
    if cfg.optimizer == "zo_hybrid":
        return "zeroth-order steps add random directions to whole weights"
    if cfg.lora is not None:
        return "LoRA adapters are not supported with fsdp"
    if cfg.checkpoints:
        return "checkpoints would gather the whole model at each one"
    return None


def shard(model, device: torch.device) -> None:
    """Shard ``model`` over the ranks with FSDP2 (``torch.distributed.fsdp.fully_shard``): each decoder layer, then
    the rest. Weights become DTensors on ``device``, each rank holding 1/world of each (a model loaded on the CPU
    moves to the device one layer at a time); forward and backward all-gather a layer at a time, and the backward
    reduce-scatters (averages) its gradients. Every rank must load the same weights (the same folder)."""
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    from froc.methods.common import decoder_layers

    mesh = init_device_mesh(device.type, (dist.get_world_size(),))
    for layer in decoder_layers(model):
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)


def is_sharded(model) -> bool:
    from torch.distributed.tensor import DTensor

    return any(isinstance(p, DTensor) for p in model.parameters())


def local(t: Tensor) -> Tensor:
    """This rank's shard of a DTensor (a plain tensor is returned as is)."""
    return t.to_local() if hasattr(t, "to_local") else t


def all_finite(params: list[Tensor]) -> bool:
    """Whether every (sharded) weight is finite on every rank: local shards checked, then a MIN over ranks."""
    import torch.distributed as dist

    ok = torch.tensor([float(all(bool(torch.isfinite(local(p)).all()) for p in params))],
                      device=local(params[0]).device)
    dist.all_reduce(ok, op=dist.ReduceOp.MIN)
    return bool(ok.item() == 1.0)


def unsharded_copy(model, main: bool):
    """A plain (unsharded) CPU copy of a sharded model on rank 0, None on the others; every rank must call it.

    The full state dict is gathered to rank 0's CPU (``get_model_state_dict``, full and CPU-offloaded), loaded into
    a fresh model of the same class and config, with tied weights re-tied and the (unsharded) buffers copied.
    """
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if not main:
        return None
    cls = next(c for c in type(model).__mro__ if not c.__name__.startswith("FSDP"))
    with torch.device("meta"):
        plain = cls(model.config)
    plain.to_empty(device="cpu")
    missing, unexpected = plain.load_state_dict(full, strict=False)
    buffers = dict(model.named_buffers())
    for name, buf in plain.named_buffers():
        buf.copy_(buffers[name].detach().to("cpu"))
    if hasattr(plain, "tie_weights"):
        plain.tie_weights()
    missing = [k for k in missing if k not in buffers and not _tied(plain, k)]
    if missing or unexpected:
        raise RuntimeError(f"gathering the sharded model: missing {missing}, unexpected {unexpected}")
    return plain.to(next(iter(full.values())).dtype).eval()


def _tied(model, name: str) -> bool:
    return name == "lm_head.weight" and getattr(model.config, "tie_word_embeddings", False)


# ----------------------------------------------------------------------------- data-parallel scoring

SCORE_CHUNK = 256  # probes per score_probes call of score_probes_parallel


def score_probes_parallel(model, tokenizer, probes: list, *, chunk: int = SCORE_CHUNK, **kw):
    """Per-probe scores (``froc.metrics.scoring.score_probes``'s table) computed data-parallel over the ranks.

    The probes are cut into chunks of ``chunk`` in their order; chunk ``c`` is scored by rank ``c % world`` with one
    ``score_probes(model, tokenizer, chunk, **kw)`` call, and the tables are gathered to every rank in probe order.
    Whatever the number of processes (one included: every chunk in turn), each chunk is scored by the same call on
    the same inputs, so every per-probe score is identical bit for bit (a table of one whole-set ``score_probes``
    call may differ in the last bits: its batches are cut differently). Hidden states and the summary are not
    gathered. Every rank must call it (a collective when 2+ processes are running).

    Returns:
        a ``pandas.DataFrame``, one row per probe, in probe order.
    """
    import pandas as pd

    from froc.metrics.scoring import score_probes

    if chunk < 1:
        from froc.errors import ConfigError

        raise ConfigError(f"chunk must be >= 1, got {chunk}")
    dp = current()
    rank, world = (dp.rank, dp.world) if dp else (0, 1)
    starts = list(range(0, len(probes), chunk))
    mine = {c: score_probes(model, tokenizer, probes[s : s + chunk], **{"progress": False, **kw}).table
            for c, s in enumerate(starts) if c % world == rank}
    if dp is not None:
        import torch.distributed as dist

        gathered: list = [None] * world
        dist.all_gather_object(gathered, mine)
        mine = {c: t for part in gathered for c, t in part.items()}
    return pd.concat([mine[c] for c in range(len(starts))], ignore_index=True)


def current() -> DataParallel | None:
    """The data-parallel layout of an initialised ``torch.distributed`` group of 2+ processes, else None."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return DataParallel(dist.get_rank(), dist.get_world_size())
    return None


def launched() -> bool:
    """Whether this process was started by torchrun (or another launcher) as one of 2+ ranks."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(device: str = "auto") -> bool:
    """Join the process group the launcher described in the environment, if any; True when this call created it.

    Backend: NCCL when the run uses CUDA (each rank on GPU ``LOCAL_RANK``), gloo otherwise. Nothing happens
    in a single process or when a group already exists.
    """
    import torch.distributed as dist

    if not launched() or dist.is_initialized():
        return False
    from froc.models.loading import resolve_device

    cuda = resolve_device(device).type == "cuda"
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if cuda else "gloo")
    return True


def close(created: bool) -> None:
    """Leave the process group if :func:`init_from_env` created it."""
    import torch.distributed as dist

    if created and dist.is_initialized():
        dist.destroy_process_group()


def shared_reference_logprobs(dp: DataParallel | None, model, encs: list, pad_id: int, device, batch_size: int) -> Tensor:
    """:func:`froc.engine.data.reference_logprobs` computed once across the ranks: (N,) float32 on every rank.

    The single-process batches (``batch_size`` consecutive sequences) are dealt round-robin: batch ``i`` is
    computed by rank ``i % world`` and the (N,) results are summed over the ranks, where every other rank
    contributes exact zeros, so each value is bit-identical to the single-process one.
    """
    from froc.engine.data import reference_logprobs

    if dp is None:
        return reference_logprobs(model, encs, pad_id, device, batch_size)
    import torch.distributed as dist

    out = torch.zeros(len(encs), dtype=torch.float32, device=device)
    starts, sharded = list(range(0, len(encs), batch_size)), is_sharded(model)
    for b, start in enumerate(starts):
        if b % dp.world == dp.rank:
            out[start : start + batch_size] = reference_logprobs(model, encs[start : start + batch_size], pad_id,
                                                                 device, batch_size, inference=not sharded)
    if sharded and len(starts) % dp.world and dp.rank >= len(starts) % dp.world:  # FSDP: as many forwards per rank
        reference_logprobs(model, encs[:batch_size], pad_id, device, batch_size, inference=False)
    if sharded:  # the root stays unsharded after a forward without backward: register the sharded weights again
        model.reshard()
    dist.all_reduce(out)
    return out
