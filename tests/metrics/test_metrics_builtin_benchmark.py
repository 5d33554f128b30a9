"""Metric sanity on the built-in benchmark's trained target and retain oracle (slow: needs the trained,
cached models of ``froc.models.builtin.ensure_benchmark_models``; trains them if missing)."""

import random

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bench():
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
    return {"probes": probes, "target": (target, tok), "oracle": (oracle, otok),
            "oracle_scores": score_probes(oracle, otok, probes, model_name="oracle", **kw), "kw": kw}


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
    """Forget quality of the oracle vs its own scores is 1 and its PrivLeak is 0."""
    from froc.metrics.evaluate import evaluate

    model, tok = bench["oracle"]
    res = evaluate(model, tok, bench["probes"], oracle=bench["oracle_scores"], hidden_layers=None,
                   metrics=["tofu/forget_quality", "muse/privleak"], **bench["kw"])
    assert res.metrics["tofu/forget_quality"] == 1.0
    assert res.metrics["muse/privleak"] == pytest.approx(0.0, abs=1e-9)
