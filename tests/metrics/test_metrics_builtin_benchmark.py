"""Metric sanity on the built-in benchmark's trained target and retain oracle (slow: needs the trained,
cached models of ``froc.models.builtin.ensure_benchmark_models``; trains them if missing)."""

import random

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bench():
    """The built-in target and oracle, and the oracle's scores, computed with ONE torch thread: the thread
    count the tests themselves run with (tests/metrics/conftest.py's autouse ``_one_thread``, a function-scoped
    fixture, is set up after this module-scoped one). CPU matmul kernels split their reductions by thread
    count: the built-in oracle scored with 8 threads and with 1 differs by up to 3.2e-6 nats in mean gold
    log-prob (measured), and a KS test of two such samples can see it (forget quality 0.9999999999999992
    instead of 1 in issue 18). With one thread on both sides the tables are identical (max difference 0.0)."""
    import torch

    from froc.data.benchmark import split_views
    from froc.metrics.scoring import score_probes
    from froc.models.builtin import BuiltinConfig, ensure_benchmark_models

    cfg = BuiltinConfig()
    bm = ensure_benchmark_models(config=cfg)
    views = split_views(bm.bench_dir, cfg.forget_split)
    forget = [p for p in views.probes if p.meta["group"] == "forget"]
    others = [p for p in views.probes if p.meta["group"] != "forget"]
    probes = forget + random.Random(0).sample(others, min(300, len(others)))
    target, tok = bm.load_target(device="cpu")
    oracle, otok = bm.load_oracle(device="cpu")
    kw = dict(generate=False, batch_size=128, progress=False)
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the tests (trains with the default count above when the models are missing)
    try:
        oracle_scores = score_probes(oracle, otok, probes, model_name="oracle", **kw)
    finally:
        torch.set_num_threads(n)
    return {"probes": probes, "target": (target, tok), "oracle": (oracle, otok), "oracle_scores": oracle_scores,
            "kw": kw}


def test_target_is_far_from_the_oracle(bench):
    """The target was trained on the forget people: its forget truth ratios differ from the oracle's
    (KS p < 1e-3) and its forget items are recognisable (PrivLeak strongly positive in froc's orientation,
    negative in MUSE's)."""
    from froc.metrics.evaluate import evaluate

    model, tok = bench["target"]
    res = evaluate(model, tok, bench["probes"], oracle=bench["oracle_scores"], hidden_layers=None,
                   metrics=["tofu/forget_quality", "muse/privleak", "muse/privleak_froc", "mia/mink_auc"], **bench["kw"])
    assert res.metrics["tofu/forget_quality"] < 1e-3
    assert res.metrics["muse/privleak_froc"] > 20
    assert res.metrics["muse/privleak"] < 0
    assert res.metrics["mia/mink_auc"] > 0.6


def test_oracle_against_itself(bench):
    """Forget quality of the oracle vs its own scores is exactly 1 and its PrivLeak is 0.

    Both scorings use the same batch size (128) and the same thread count (1, see ``bench``), so they are
    bit-identical. This failed (0.9999999999999992) when the fixture scored with the machine's default thread
    count and the test with one: scores of float32 CPU kernels depend on the thread count (and on batch
    layout: batch 1 or 4 vs 128 differ by ~1e-8 on the mini model), which no tolerance should hide; like is
    compared with like instead."""
    from froc.metrics.evaluate import evaluate

    model, tok = bench["oracle"]
    res = evaluate(model, tok, bench["probes"], oracle=bench["oracle_scores"], hidden_layers=None,
                   metrics=["tofu/forget_quality", "muse/privleak"], **bench["kw"])
    assert res.metrics["tofu/forget_quality"] == 1.0
    assert res.metrics["muse/privleak"] == pytest.approx(0.0, abs=1e-9)
