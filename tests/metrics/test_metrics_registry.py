"""The registry on hand-made per-sample tables: values worked out by hand, skipped/missing metrics."""

import math
from types import MappingProxyType

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from froc.errors import ConfigError
from froc.metrics.registry import METRICS, MetricSpec, ScoreSet, compute_metrics, data_notes
from froc.metrics.scoring import COLUMNS

L = math.log


def row(**kw):
    base = {c: None for c in COLUMNS}
    base.update(probe_id="p", subject="s", form="qa", group="forget", model="target", kind="qa", gold_logp_sum=-1.0,
                gold_logp_mean=-1.0, gold_len=1, para_logp_mean=np.nan, perturbed_logp_mean=[], knowledge=np.nan,
                correct_choice=np.nan, mink=-1.0, minkpp=0.0, extraction_strength=1.0, exact_mem=1.0,
                gold_token_logp=[-1.0], gold_zlib_len=10, perturbed_mink=[], perturbed_minkpp=[],
                perturbed_zlib_len=[], generation="", reference="", rouge_l_recall=0.0, rouge_l_f1=0.0,
                gen_correct=0.0)
    base.update(kw)
    return base


def table(rows):
    return pd.DataFrame([row(probe_id=f"p{i}", **r) for i, r in enumerate(rows)], columns=list(COLUMNS))


def test_registry_entries_are_complete_and_immutable():
    assert isinstance(METRICS, MappingProxyType)
    with pytest.raises(TypeError):
        METRICS["x"] = None
    for name, spec in METRICS.items():
        assert isinstance(spec, MetricSpec) and spec.doc and spec.aggregation, name
        assert spec.higher_is_better in (True, False, None), name
        assert set(spec.requires) <= {"oracle", "original"}, name
    assert {"tofu/forget_quality", "tofu/model_utility", "muse/privleak", "muse/verbmem_forget", "mia/minkpp_auc",
            "extraction/forget_strength", "forms/forget_spread", "repr/cka_oracle",
            "overforget/neighbour_choice_drop"} <= set(METRICS)


def test_tofu_metrics_by_hand():
    """forget: P = 0.5, 0.25 -> probability 0.375; ROUGE recall mean (1 + 0)/2 = 0.5.
    retain: P = 0.5, ROUGE 1, TR = P(pert)/P(gold, no paraphrase) = 0.375/0.5 = 0.75 -> max(0, 1-TR) = 0.25
    -> model utility = H(0.5, 1, 0.25) = 3/7 (the only utility group present)."""
    t = table([
        dict(gold_logp_mean=L(0.5), rouge_l_recall=1.0),
        dict(gold_logp_mean=L(0.25)),
        dict(group="retain", gold_logp_mean=L(0.5), rouge_l_recall=1.0, perturbed_logp_mean=[L(0.375)]),
    ])
    m, notes = compute_metrics(ScoreSet(target=t))
    assert_allclose(m["tofu/forget_probability"], 0.375)
    assert_allclose(m["tofu/forget_rouge"], 0.5)
    assert_allclose(m["tofu/retain_truth_ratio"], 0.25)
    assert_allclose(m["tofu/model_utility"], 3 / 7)
    assert math.isnan(m["tofu/forget_truth_ratio"])  # no perturbed answers on forget probes
    assert any(n.startswith("tofu/forget_truth_ratio:") for n in notes)
    assert any("need the oracle" in n and "tofu/forget_quality" in n for n in notes)
    assert "tofu/forget_quality" not in m
    assert math.isnan(m["tofu/world_probability"]) and any("group 'world'" in n for n in notes)
    # one note per reason, naming every metric it left NaN (was one line per metric)
    world = [n for n in notes if n.startswith("no qa probes with meta.group 'world'")]
    assert len(world) == 1 and "tofu/world_probability" in world[0] and "knowledge/world" in world[0]


def test_oracle_identical_gives_forget_quality_one_and_privleak_zero():
    t = table([dict(perturbed_logp_mean=[-2.0, -1.5], gold_logp_mean=-1.0, para_logp_mean=-1.2,
                    mink=-1.0, perturbed_mink=[-3.0, -0.5]),
               dict(perturbed_logp_mean=[-0.5], gold_logp_mean=-1.0, mink=-2.0, perturbed_mink=[-1.0])])
    m, _ = compute_metrics(ScoreSet(target=t, oracle=t.copy()), ["tofu/forget_quality", "muse/privleak"])
    assert m == {"tofu/forget_quality": 1.0, "muse/privleak": 0.0}


def test_membership_with_holdout_group_and_with_perturbed_fallback():
    """With holdout rows: members gold_logp_mean (-1, -2) vs holdout (-3, -2) -> 3.5/4 = 0.875.
    Without: members (-1, -2) vs perturbed (-0.5, -3) -> pairs: -1<-0.5 (0), -1>-3 (1), -2<-0.5 (0),
    -2>-3 (1) -> 0.5. PrivLeak: target Min-K% AUC 1.0 (members -1,-2 vs perturbed -3,-4), oracle 0.5
    (members -1,-4 vs -3,-2: 1 + 1 + 0 + 0 -> 0.5) -> froc's orientation (1 - 0.5)/0.5*100 = 100; MUSE's
    ((1-1) - (1-0.5))/(1-0.5)*100 = -100 (issue 13: MUSE's is the default)."""
    hold = table([dict(gold_logp_mean=-1.0), dict(gold_logp_mean=-2.0),
                  dict(group="holdout", gold_logp_mean=-3.0), dict(group="holdout", gold_logp_mean=-2.0)])
    assert_allclose(compute_metrics(ScoreSet(target=hold), ["mia/loss_auc"])[0]["mia/loss_auc"], 0.875)
    t = table([dict(gold_logp_mean=-1.0, perturbed_logp_mean=[-0.5], mink=-1.0, perturbed_mink=[-3.0]),
               dict(gold_logp_mean=-2.0, perturbed_logp_mean=[-3.0], mink=-2.0, perturbed_mink=[-4.0])])
    o = table([dict(mink=-1.0, perturbed_mink=[-3.0]), dict(mink=-4.0, perturbed_mink=[-2.0])])
    m, _ = compute_metrics(ScoreSet(target=t, oracle=o), ["mia/loss_auc", "mia/mink_auc", "muse/privleak",
                                                          "muse/privleak_froc"])
    assert_allclose([m["mia/loss_auc"], m["mia/mink_auc"], m["muse/privleak"], m["muse/privleak_froc"]],
                    [0.5, 1.0, -100.0, 100.0])
    assert any("perturbed answers of forget probes serve as non-members" in n for n in data_notes(ScoreSet(target=t)))


def test_zlib_and_reference_auc_by_hand():
    """zlib: member -1/10 = -0.1 vs non-member -2/10 = -0.2 -> AUC 1. Reference: target minus oracle
    loss: member -1 - (-3) = 2, non-member -2 - (-1) = -1 -> AUC 1."""
    t = table([dict(gold_logp_mean=-1.0, gold_zlib_len=10, perturbed_logp_mean=[-2.0], perturbed_zlib_len=[10])])
    o = table([dict(gold_logp_mean=-3.0, perturbed_logp_mean=[-1.0])])
    m, _ = compute_metrics(ScoreSet(target=t, oracle=o), ["mia/zlib_auc", "mia/reference_auc"])
    assert m == {"mia/zlib_auc": 1.0, "mia/reference_auc": 1.0}


def test_forms_overforgetting_and_knowledge_by_hand():
    """Forget knowledge: qa 0.8, cloze 0.2 (cloze row 2 has no options: gen_correct 0 stands in -> cloze
    mean (0.4 + 0)/2 = 0.2) -> range 0.6, std 0.3. Neighbours: target choice [1, 0], original [1, 1] ->
    accuracy 0.5, drop 0.5, forgotten 1/2."""
    t = table([dict(form="qa", knowledge=0.8), dict(form="cloze", knowledge=0.4), dict(form="cloze", gen_correct=0.0),
               dict(group="neighbour", correct_choice=1.0), dict(group="neighbour", correct_choice=0.0)])
    o = t.assign(correct_choice=[np.nan, np.nan, np.nan, 1.0, 1.0])
    m, _ = compute_metrics(ScoreSet(target=t, original=o), ["forms/forget_per_form", "forms/forget_spread",
                                                            "overforget/neighbour_choice_acc",
                                                            "overforget/neighbour_choice_drop",
                                                            "overforget/neighbour_choice_forgotten",
                                                            "knowledge/forget"])
    assert_allclose([m["forms/forget_per_form/cloze"], m["forms/forget_per_form/qa"]], [0.2, 0.8])
    assert_allclose([m["forms/forget_spread/range"], m["forms/forget_spread/std"]], [0.6, 0.3])
    assert_allclose([m["overforget/neighbour_choice_acc"], m["overforget/neighbour_choice_drop"],
                     m["overforget/neighbour_choice_forgotten"]], [0.5, 0.5, 0.5])
    assert_allclose(m["knowledge/forget"], 0.6)


def test_cka_from_hidden_on_forget_rows_only():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(4, 3))
    other = h.copy()
    other[3] = 100.0  # a retain row: must not count
    t = table([{}, {}, {}, dict(group="retain")])
    m, _ = compute_metrics(ScoreSet(target=t, oracle=t, hidden={"target": {2: h}, "oracle": {2: other}}),
                           ["repr/cka_oracle"])
    assert_allclose(m["repr/cka_oracle/layer_2"], 1.0)
    m, notes = compute_metrics(ScoreSet(target=t, oracle=t), ["repr/cka_oracle"])
    assert math.isnan(m["repr/cka_oracle"]) and "hidden_layers" in notes[0]


def test_unknown_metric_name_lists_choices():
    with pytest.raises(ConfigError, match="valid metrics"):
        compute_metrics(ScoreSet(target=table([{}])), ["nope"])


def test_data_notes_report_fallbacks():
    t = table([dict(perturbed_logp_mean=[-1.0]), dict(group=None)])
    notes = data_notes(ScoreSet(target=t))
    assert any("1 of 2 QA probes have no paraphrased answer" in n for n in notes)
    assert any("1 of 2 QA probes have no perturbed answers" in n for n in notes)


def test_every_reported_name_is_declared_literally_in_froc():
    """grep for a metric name finds its declaration: each registry name occurs as a string literal in the
    family module that declares it, and every key compute_metrics reports is a registry name or one of its
    declared keys (``<...>`` marks a data-dependent part)."""
    import re
    from pathlib import Path

    import froc
    from froc.metrics import registry

    root = Path(froc.__file__).parent
    for fam in registry.FAMILIES:
        text = Path(fam.__file__).read_text(encoding="utf-8")
        for spec in fam.METRICS:
            assert f'"{spec.name}"' in text, (spec.name, fam.__name__)
    sources = "\n".join(p.read_text(encoding="utf-8") for p in root.rglob("*.py"))
    assert all(f'"{n}"' in sources for n in METRICS)
    t = table([dict(form="qa", knowledge=0.5), dict(form="cloze", knowledge=0.2),
               dict(group="neighbour", correct_choice=1.0)])
    hidden = {m: {1: np.arange(6.0).reshape(3, 2) * (i + 1)} for i, m in enumerate(("target", "original"))}
    values, _ = compute_metrics(ScoreSet(target=t, original=t, hidden=hidden))
    assert "forms/forget_per_form/qa" in values and "repr/cka_original/layer_1" in values
    for key in values:
        base = registry.base_name(key)
        rest = key[len(base) + 1:]
        assert not rest or any(re.fullmatch(re.sub(r"<[^>]+>", r"[^/]+", k), rest) for k in METRICS[base].keys), key


def test_unknown_hallucination_by_hand():
    """Three probes about unknown subjects (gold answer a refusal): greedy answers contain it once, so 2 of 3 are
    hallucinated -> 2/3; one forget probe (not counted) contains its gold answer. Without unknown probes: NaN."""
    t = table([dict(group="unknown", gen_correct=1.0), dict(group="unknown", gen_correct=0.0),
               dict(group="unknown", gen_correct=0.0), dict(gen_correct=1.0)])
    m, _ = compute_metrics(ScoreSet(target=t), ["knowledge/unknown_hallucination"])
    assert_allclose(m["knowledge/unknown_hallucination"], 2 / 3)
    m, notes = compute_metrics(ScoreSet(target=table([dict(gen_correct=1.0)])), ["knowledge/unknown_hallucination"])
    assert math.isnan(m["knowledge/unknown_hallucination"]) and "group 'unknown'" in notes[0]
