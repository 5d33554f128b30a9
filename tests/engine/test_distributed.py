"""One unlearning run on 2 processes (gloo, CPU) against the same run on 1 process (froc.engine.distributed).

Each rank is a real process (tests/engine/distributed_worker.py) joined through ``MASTER_ADDR``/``MASTER_PORT``
as torchrun would launch it. Two processes with ``batch_size`` b and ``grad_accum`` a form the global batch
``b * 2 * a``; the single-process run of the same global batch uses ``grad_accum`` 2a. The expected values come
from that single-process run, which runs the unchanged one-process loop.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = str(Path(__file__).with_name("distributed_worker.py"))
ROOT = Path(__file__).resolve().parents[2]

# (name, unlearn kwargs of one rank of 2); the single process gets grad_accum * 2
CASES = [
    ("npo", {"method": "npo", "checkpoints": [2]}),
    ("graddiff", {"method": "graddiff"}),
    ("graddiff_accum2", {"method": "graddiff", "batch_size": 1, "grad_accum": 2}),
    ("sam", {"method": "sam", "base": "npo", "rho": 0.01}),
    ("npo_zo_hybrid", {"method": "npo", "optimizer": "zo_hybrid"}),
    ("rmu", {"method": "rmu", "layer": 1, "steering_coeff": 2.0, "alpha": 10.0}),
    ("undial", {"method": "undial"}),
    # fully sharded (FSDP2): on one process fsdp is ignored, so the expected weights are the plain run's
    ("npo_fsdp", {"method": "npo", "fsdp": True}),
    ("graddiff_fsdp", {"method": "graddiff", "fsdp": True}),
    ("graddiff_accum2_fsdp", {"method": "graddiff", "batch_size": 1, "grad_accum": 2, "fsdp": True}),
]
COMMON = {"steps": 3, "lr": 1e-3, "batch_size": 2, "grad_accum": 1, "seed": 0}
NAMES = [name for name, _ in CASES]
SCORE_CHUNK = 7  # 30 probes: 5 chunks, 3 on rank 0 and 2 on rank 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(world: int, args: list[str], port: int | None = None) -> list[subprocess.Popen]:
    """Start ``world`` worker processes with the environment torchrun would give them (none for world 1)."""
    port = port or _free_port()
    procs = []
    for rank in range(world):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "FROC_NO_PROGRESS": "1",
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
            env.pop(k, None)
        if world > 1:
            env.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world),
                       MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        procs.append(subprocess.Popen([sys.executable, WORKER, *args], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    return procs


def wait(procs: list[subprocess.Popen], timeout: float = 600) -> list[tuple[int, str]]:
    out = []
    for p in procs:
        try:
            text, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        out.append((p.returncode, text))
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every case on 2 processes and on 1 process (launched together): {world: [rank results]}."""
    dirs = {w: tmp_path_factory.mktemp(f"world{w}") for w in (1, 2)}
    two = [{**COMMON, **kw} for _, kw in CASES]
    one = [{**c, "grad_accum": c["grad_accum"] * 2} for c in two]
    for w, cases in ((2, two), (1, one)):  # snapshots are recorded by the worker, not written
        cases[NAMES.index("npo")]["snapshot_dir"] = str(dirs[w] / "snap")
    for attempt in (1, 2):
        procs = {w: launch(w, ["api", str(dirs[w]), json.dumps(cases), str(SCORE_CHUNK)])
                 for w, cases in ((2, two), (1, one))}
        done = {world: wait(ps) for world, ps in procs.items()}
        # Once in a full-suite run (2026-11-30, not reproduced in 12 runs since) a gloo rank died by SIGABRT
        # ("terminate called without an active exception", no Python traceback): the C++ runtime, not froc. Such a
        # signal death is retried once; a Python error (exit 1, a traceback) or a second abort fails the test.
        aborted = any(rc < 0 and "Traceback" not in text for res in done.values() for rc, text in res)
        if not (aborted and attempt == 1):
            break
    for world, res in done.items():
        for rc, text in res:
            assert rc == 0, f"world {world}: worker failed:\n{text[-3000:]}"
    out = {w: [torch.load(dirs[w] / f"rank{r}.pt", weights_only=False) for r in range(w)] for w in (1, 2)}
    out["dirs"] = dirs
    return out


def _norm(a: dict, b: dict) -> float:
    return float(torch.sqrt(sum(((a[n].double() - b[n].double()) ** 2).sum() for n in a)))


@pytest.mark.parametrize("case", NAMES)
def test_two_processes_end_with_the_weights_of_one(runs, case):
    """Final weights of 2 processes (batch b, accumulation a) vs 1 process (batch b, accumulation 2a), 3 steps.

    Tolerance: ``||W_2proc - W_1proc|| <= 1e-4 * ||W_1proc - W_0||``. The two runs compute the same micro-batch
    gradients; only their float32 sum differs in order ((g0 + g2)/2 and (g1 + g3)/2 per rank, then the mean of
    the ranks, vs g0/4 + g1/4 + g2/4 + g3/4), ~1e-7 relative per entry. AdamW's first steps divide by sqrt(v)
    and may amplify that where an entry is near zero; tests/hardening/test_batch_split measured <= 1.2e-5 of the
    update for such reorderings. An error in the split (a micro-batch counted twice or missing, a per-rank
    instead of a global mean, unsynchronised ranks) changes the update by orders of magnitude more.
    The two ranks must hold bit-identical weights (they apply one all-reduced gradient). With ``fsdp`` each rank
    holds half of each weight (FSDP reduce-scatters the gradients); rank 0's result is the gathered, unsharded model.
    """
    i = NAMES.index(case)
    one, (r0, r1) = runs[1][0][i], (runs[2][0][i], runs[2][1][i])
    assert one["status"] == r0["status"] == "completed"
    assert set(r0["w"]) == set(one["w"]) and all(type(t) is torch.Tensor for t in r0["w"].values())
    if not case.endswith("_fsdp"):
        assert all(torch.equal(r0["w"][n], r1["w"][n]) for n in r0["w"]), "the ranks' weights differ"
    else:  # rank 1 keeps its shards: each is a slice of rank 0's gathered weight
        assert all(type(t).__name__ == "DTensor" for t in r1["w"].values())
    update = _norm(one["w"], one["w0"])
    assert update > 0
    assert _norm(r0["w"], one["w"]) <= 1e-4 * update, f"{case}: {_norm(r0['w'], one['w']) / update:.2e} of the update"
    assert r0["losses"] == pytest.approx(one["losses"], rel=1e-5)
    assert r0["losses"] == r1["losses"]


@pytest.mark.parametrize("case", ["graddiff", "graddiff_accum2"])
def test_each_rank_sees_its_share_and_together_what_one_process_sees(runs, case):
    """Per step, the single process draws micro-batches m_0..m_{2a-1}; rank r must hold exactly m_k for k % 2 == r,
    so the ranks' forget and retain ids are disjoint and their union is the single process's global batch."""
    i = NAMES.index(case)
    a = dict(CASES[i][1]).get("grad_accum", 1)
    single = runs[1][0][i]["batches"]
    ranks = [runs[2][r][i]["batches"] for r in (0, 1)]
    assert len(single) == 3 * 2 * a and all(len(b) == 3 * a for b in ranks)
    for step in range(3):
        mine = [ranks[r][step * a:(step + 1) * a] for r in (0, 1)]
        expected = single[step * 2 * a:(step + 1) * 2 * a]
        assert mine[0] == expected[0::2] and mine[1] == expected[1::2]
        for side in (0, 1):  # forget ids, retain ids
            ids = [[x for mb in mine[r] for x in mb[side]] for r in (0, 1)]
            assert ids[0] and ids[1] and not set(ids[0]) & set(ids[1]), f"step {step}: a sample on both ranks"
            assert sorted(ids[0] + ids[1]) == sorted(x for mb in expected for x in mb[side])


def test_reference_logprobs_are_computed_once_and_shared(runs):
    """NPO's reference cache: 12 forget items in batches of 2 = 6 batches, dealt round-robin: each rank computes
    6 of the 12 sequences, and both hold all 12 values, equal bit for bit to the single process's."""
    i = NAMES.index("npo")
    one, r0, r1 = runs[1][0][i]["ref"], runs[2][0][i]["ref"], runs[2][1][i]["ref"]
    assert one["n_computed"] == 12
    assert r0["n_computed"] == 6 and r1["n_computed"] == 6
    assert torch.equal(r0["values"], one["values"]) and torch.equal(r1["values"], one["values"])


@pytest.mark.parametrize("case", ["graddiff_fsdp", "graddiff_accum2_fsdp"])
def test_fsdp_ranks_see_their_share(runs, case):
    """The same split of samples with sharded weights: rank r holds exactly the single process's micro-batches
    k with k % 2 == r."""
    i = NAMES.index(case)
    a = dict(CASES[i][1]).get("grad_accum", 1)
    single, ranks = runs[1][0][i]["batches"], [runs[2][r][i]["batches"] for r in (0, 1)]
    for step in range(3):
        expected = single[step * 2 * a:(step + 1) * 2 * a]
        assert [ranks[r][step * a:(step + 1) * a] for r in (0, 1)] == [expected[0::2], expected[1::2]]


def test_fsdp_reference_cache_is_computed_once(runs):
    i = NAMES.index("npo_fsdp")
    one, r0, r1 = runs[1][0][i]["ref"], runs[2][0][i]["ref"], runs[2][1][i]["ref"]
    assert (r0["n_computed"], r1["n_computed"]) == (6, 6)
    assert torch.equal(r0["values"], one["values"]) and torch.equal(r1["values"], one["values"])


@pytest.mark.parametrize("method,settings,why", [
    ("undial", {}, "frozen reference copy"),
    ("mrp", {}, "set-up"),
    ("sam", {"base": "npo"}, "custom backward"),
    ("npo", {"optimizer": "zo_hybrid"}, "zeroth-order"),
    ("npo", {"lora": True}, "LoRA"),
    ("npo", {"checkpoints": [1]}, "checkpoints"),
])
def test_fsdp_refuses_what_it_cannot_shard(method, settings, why):
    from froc.engine.config import engine_config
    from froc.engine.distributed import fsdp_refusal
    from froc.methods.registry import get_method

    setup = engine_config({"method": method, "hparams": settings}, steps=2, fsdp=True)
    assert why in fsdp_refusal(get_method(method), setup.method_config, setup.config, setup.needs)
    plain = engine_config("graddiff", steps=2, fsdp=True)
    assert fsdp_refusal(get_method("graddiff"), plain.method_config, plain.config, plain.needs) is None


def test_gradient_mean_over_ranks_by_hand(runs):
    """Rank 0 has gradients [1, 2], none, none; rank 1 [3, 4], [2, 2], none. Means: [2, 3]; [1, 1] (a missing
    gradient counts as zeros when another rank has one); None (no rank has one: the optimizer skips it, as on one
    process)."""
    for r in (0, 1):
        g = torch.load(runs["dirs"][2] / f"grads{r}.pt")
        assert torch.equal(g[0], torch.tensor([2.0, 3.0])) and torch.equal(g[1], torch.tensor([1.0, 1.0]))
        assert g[2] is None


def test_only_rank_zero_writes_snapshots(runs):
    """A run with ``checkpoints=[2]`` and a snapshot folder: rank 0 writes step_2 (as one process does), rank 1 nothing."""
    i = NAMES.index("npo")
    assert [Path(p).name for p in runs[1][0][i]["snapshots"]] == ["step_2"]
    assert [Path(p).name for p in runs[2][0][i]["snapshots"]] == ["step_2"]
    assert runs[2][1][i]["snapshots"] == []


@pytest.fixture(scope="module")
def cli_inputs(tmp_path_factory):
    """A saved tiny model and forget/retain files of 12 items each."""
    sys.path.insert(0, str(Path(WORKER).parent))
    from distributed_worker import items

    from froc.models.loading import save_model
    from froc.models.tiny import tiny_model_and_tokenizer

    d = tmp_path_factory.mktemp("cli_inputs")
    model, tok = tiny_model_and_tokenizer()
    save_model(model, tok, d / "model")
    for name, its in (("forget", items("f", 12)), ("retain", items("r", 12))):
        (d / f"{name}.jsonl").write_text("".join(json.dumps({"id": it.id, "subject": it.subject, "question": it.question,
                                                             "answer": it.answer}) + "\n" for it in its))
    return d


def _argv(d: Path, out: Path, *extra: str) -> list[str]:
    return ["unlearn", "--model", str(d / "model"), "--forget", str(d / "forget.jsonl"), "--retain",
            str(d / "retain.jsonl"), "--method", "graddiff", "--steps", "3", "--lr", "1e-3", "--set", "batch_size=2",
            "--device", "cpu", "--out", str(out), *extra]


@pytest.mark.parametrize("crash", ["step:2", "end"])
def test_a_crashed_rank_leaves_the_output_as_it_was(cli_inputs, tmp_path, crash):
    """``froc unlearn`` on 2 processes whose rank 1 dies mid-training (step 2) or after training (before the final
    barrier): rank 0 fails too (gloo reports the closed connection) and the --out folder keeps its old content."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.safetensors").write_text("old weights")
    results = wait(launch(2, ["cli", str(out), crash, *_argv(cli_inputs, out, "--checkpoints", "1")]), timeout=300)
    assert results[1][0] != 0 and "injected crash of rank 1" in results[1][1]
    assert results[0][0] != 0, f"rank 0 ended normally after rank 1 died:\n{results[0][1][-2000:]}"
    # the snapshot of step 1 was written by rank 0 during training, as on one process (rank 1 would have failed
    # with "tried to write" instead of the injected crash); nothing else changed
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step_1"]
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints", "model.safetensors"]
    assert (out / "model.safetensors").read_text() == "old weights"


@pytest.mark.slow
@pytest.mark.parametrize("fsdp", [False, True])
def test_torchrun_cli_saves_what_one_process_saves(cli_inputs, tmp_path, fsdp):
    """The documented command, ``torchrun --nproc_per_node 2 -m froc unlearn`` (with ``--set fsdp=true``: sharded),
    against ``froc unlearn`` with ``grad_accum=2`` on one process: same files, weights within the tolerance of the
    API test above."""
    from safetensors.torch import load_file

    env = {**os.environ, "OMP_NUM_THREADS": "1", "FROC_NO_PROGRESS": "1"}
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                          "--master_port", str(_free_port()), "-m", "froc", *_argv(cli_inputs, tmp_path / "two"),
                          *(["--set", "fsdp=true"] if fsdp else [])],
                         env=env, capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stdout[-2000:] + two.stderr[-3000:]
    one = subprocess.run([sys.executable, "-m", "froc", *_argv(cli_inputs, tmp_path / "one", "--set", "grad_accum=2")],
                         env=env, capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
    w0, w1, w2 = (load_file(str(d / "model.safetensors")) for d in (cli_inputs / "model", tmp_path / "one", tmp_path / "two"))
    assert _norm(w2, w1) <= 1e-4 * _norm(w1, w0)


def test_scores_are_identical_on_one_and_two_processes(runs):
    """30 probes in chunks of 7 (5 chunks: ranks get 3 and 2) on 2 processes and on 1: every rank holds the whole
    table, in probe order, equal bit for bit to the single process's; the single process's table equals one
    ``score_probes`` call per chunk made here (an independent derivation of the expected rows)."""
    import pandas as pd

    sys.path.insert(0, str(Path(WORKER).parent))
    from distributed_worker import items

    from froc.metrics.scoring import score_probes
    from froc.models.tiny import tiny_model_and_tokenizer

    one = pd.read_pickle(runs["dirs"][1] / "scores0.pkl")
    probes = items("f", 15) + items("r", 15)
    assert one["probe_id"].tolist() == [p.id for p in probes]
    for r in (0, 1):
        pd.testing.assert_frame_equal(pd.read_pickle(runs["dirs"][2] / f"scores{r}.pkl"), one, check_exact=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the workers
    try:
        model, tok = tiny_model_and_tokenizer()
        here = pd.concat([score_probes(model, tok, probes[s:s + SCORE_CHUNK], batch_size=4, max_new_tokens=3,
                                       progress=False).table for s in range(0, 30, SCORE_CHUNK)], ignore_index=True)
    finally:
        torch.set_num_threads(threads)
    pd.testing.assert_frame_equal(here, one, check_exact=True)
