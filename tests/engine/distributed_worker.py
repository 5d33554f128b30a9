"""One rank of the data-parallel tests (tests/engine/test_distributed.py); not a test module itself.

Run as ``python distributed_worker.py MODE OUT [ARGS...]`` with the launcher's environment (``RANK``, ``WORLD_SIZE``,
``MASTER_ADDR``, ``MASTER_PORT``; none for a single process). Modes:

- ``api OUT CASES_JSON [CHUNK]``: join the group, run ``froc.unlearn`` once per case (a dict of keyword arguments), and
  save per case the final weights, the forget/retain ids each micro-batch of this rank held, the reference
  log-probs with the number of sequences this rank computed for them, and the snapshot folders this rank
  wrote (recorded, not written), to ``OUT/rank<r>.pt``; with CHUNK, then score 30 probes with
  ``froc.engine.distributed.score_probes_parallel`` (chunks of CHUNK) and save the table to ``OUT/scores<r>.pkl``.
- ``cli OUT CRASH ARGV...``: run the ``froc`` command line with ARGV; ranks other than 0 fail if they try to save
  a model. CRASH ``step:S``: rank 1 raises while drawing the batches of step S (a crash mid-training); ``end``:
  rank 1 raises after training, before the final barrier; ``none``: no crash.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("FROC_NO_PROGRESS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)


def items(prefix: str, n: int):
    """``n`` distinct fictitious QA items."""
    from froc.data.schema import QAItem

    return [QAItem(id=f"{prefix}{i}", subject=f"Person {prefix}{i}", question=f"Where was person {prefix}{i} born?",
                   answer=f"town {i * 7 % 13} of {prefix}") for i in range(n)]


def recording_batches(real, log: list):
    """A ``make_batch`` that appends each micro-batch's (forget ids, retain ids) to ``log``, in draw order."""

    def make_batch(data, f_idx, r_idx, pad_id, device):
        log.append(([data.forget_items[i].id for i in f_idx],
                    [data.retain_items[i].id for i in r_idx] if r_idx is not None else []))
        return real(data, f_idx, r_idx, pad_id, device)

    return make_batch


def run_api(out: str, cases: list[dict], score_chunk: int = 0) -> None:
    import torch.distributed as dist

    import froc.engine.data as data
    import froc.engine.loop as loop
    from froc.engine import unlearn
    from froc.engine.distributed import current, init_from_env
    from froc.models.tiny import tiny_model_and_tokenizer

    init_from_env("cpu")
    dp = current()
    rank = dp.rank if dp else 0
    forget, retain = items("f", 12), items("r", 12)
    results = []
    real_ref, real_shared, real_batch = data.reference_logprobs, loop.shared_reference_logprobs, loop.make_batch
    real_save = loop.save_model
    for case in cases:
        batches: list = []
        loop.make_batch = recording_batches(real_batch, batches)
        ref = {"n_computed": 0, "values": None}

        def counting_ref(model, encs, *a, **kw):
            ref["n_computed"] += len(encs)
            return real_ref(model, encs, *a, **kw)

        def capture_shared(*a, **kw):
            ref["values"] = real_shared(*a, **kw).clone()
            return ref["values"]

        data.reference_logprobs, loop.shared_reference_logprobs = counting_ref, capture_shared
        snapshots: list = []
        loop.save_model = lambda model, tok, path: snapshots.append(str(path))  # what save_snapshot would write
        model, tok = tiny_model_and_tokenizer()
        w0 = {n: p.detach().clone() for n, p in model.named_parameters()}
        res = unlearn(model, tok, forget, retain, progress=False, device="cpu", **case)
        data.reference_logprobs, loop.shared_reference_logprobs, loop.make_batch = real_ref, real_shared, real_batch
        loop.save_model = real_save
        results.append({"snapshots": snapshots, "w0": w0, "w": {n: p.detach().clone() for n, p in res.model.named_parameters()},
                        "batches": batches, "ref": ref, "losses": res.losses, "status": res.status})
    torch.save(results, os.path.join(out, f"rank{rank}.pt"))
    if score_chunk:
        run_score(out, score_chunk)
    if dp is not None:  # all_reduce_grads on hand-made gradients (tests/engine/test_distributed.py derives the means)
        ps = [torch.nn.Parameter(torch.zeros(2)) for _ in range(3)]
        ps[0].grad = torch.tensor([1.0, 2.0]) if rank == 0 else torch.tensor([3.0, 4.0])
        ps[1].grad = None if rank == 0 else torch.tensor([2.0, 2.0])
        dp.all_reduce_grads(ps)
        torch.save([p.grad for p in ps], os.path.join(out, f"grads{rank}.pt"))
    if dist.is_initialized():
        dist.destroy_process_group()


def run_score(out: str, chunk: int) -> None:
    """Score 30 probes (the forget and retain items) with ``score_probes_parallel``; save the table per rank."""
    from froc.engine.distributed import current, score_probes_parallel
    from froc.models.tiny import tiny_model_and_tokenizer

    dp = current()
    model, tok = tiny_model_and_tokenizer()
    probes = items("f", 15) + items("r", 15)
    table = score_probes_parallel(model, tok, probes, chunk=chunk, batch_size=4, max_new_tokens=3)
    table.to_pickle(os.path.join(out, f"scores{dp.rank if dp else 0}.pkl"))


def run_cli(out: str, crash: str, argv: list[str]) -> None:
    import froc.engine.distributed as distributed
    import froc.engine.loop as loop
    import froc.models.loading as loading

    if os.environ.get("RANK", "0") != "0":
        def no_write(*a, **kw):
            raise RuntimeError(f"rank {os.environ['RANK']} tried to write a model")

        loading.save_model = loop.save_model = no_write
    if crash.startswith("step:") and os.environ.get("RANK") == "1":
        real, calls, at = loop.make_batch, [0], int(crash[5:])

        def make_batch(*a, **kw):
            calls[0] += 1
            if calls[0] >= at:  # one micro-batch per step on this rank: the first draw of step `at`
                raise RuntimeError("injected crash of rank 1")
            return real(*a, **kw)

        loop.make_batch = make_batch
    elif crash == "end" and os.environ.get("RANK") == "1":  # training done, dies before the final barrier
        def die(self):
            raise RuntimeError("injected crash of rank 1 after training")

        distributed.DataParallel.barrier = die
    from froc.cli import main

    sys.argv = ["froc", *argv]
    main()


if __name__ == "__main__":
    mode, out = sys.argv[1], sys.argv[2]
    if mode == "api":
        run_api(out, json.loads(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 0)
    else:
        run_cli(out, sys.argv[3], sys.argv[4:])
