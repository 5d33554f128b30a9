"""Losses of the seed-paper methods added in issue 16 (srmu, ...), expected values derived by hand in each docstring."""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from froc.data.schema import QAItem
from froc.errors import ConfigError
from froc.methods.attention_shift import (
    fact_mask,
    query_and_key_masks,
    retention,
    row_mean,
    suppression,
)
from froc.methods.bild import token_kl, unlikelihood, with_prefix
from froc.methods.circuit import combine, split_modules
from froc.methods.icu import gated_ascent, info_nce, memorisation_accuracy, pooled
from froc.methods.roka import nearest_by_similarity, roka_loss
from froc.methods.srmu import (
    SRMUConfig,
    importance_map,
    misdirection_target,
    random_signs,
    srmu_loss,
)
from froc.methods.tru import reasoning_target, tru_loss
from froc.models.encoding import Encoded

T = torch.tensor


def test_srmu_importance_maps():
    """eps (1e-6) is negligible at these values.
    ratio: v_f = (1, 3, 0), v_r = (1, 1, 2): log(1 + (1, 3, 0)) = (log 2, log 4, 0) = log 2 (1, 2, 0) -> / max
    -> (.5, 1, 0).
    difference: v_f = (4, 1, 2, 1), v_r = (1, 1, 4, .5): lambda 1 -> relu(3, 0, -2, .5) / 3 = (1, 0, 0, 1/6);
    lambda .5 -> (3.5, .5, 0, .75) / 3.5 = (1, 1/7, 0, 3/14).
    product: v_f = (2, 0, 1, 1) (mean 1), v_r = (1, 3, 1, 3) (mean 2): (2, 0, 1, 3) / 2 = (1, 0, .5, 1.5)
    -> / 1.5 = (2/3, 0, 1/3, 1)."""
    assert_close(importance_map(T([1.0, 3.0, 0.0]), T([1.0, 1.0, 2.0]), "ratio"), T([0.5, 1.0, 0.0]),
                 rtol=1e-5, atol=1e-5)
    vf, vr = T([4.0, 1.0, 2.0, 1.0]), T([1.0, 1.0, 4.0, 0.5])
    assert_close(importance_map(vf, vr, "difference", 1.0), T([1.0, 0.0, 0.0, 1 / 6]), rtol=1e-5, atol=1e-6)
    assert_close(importance_map(vf, vr, "difference", 0.5), T([1.0, 1 / 7, 0.0, 3 / 14]), rtol=1e-5, atol=1e-6)
    assert_close(importance_map(T([2.0, 0.0, 1.0, 1.0]), T([1.0, 3.0, 1.0, 3.0]), "product"),
                 T([2 / 3, 0.0, 1 / 3, 1.0]), rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match="importance"):
        SRMUConfig(importance="fisher")


def test_srmu_misdirection_target():
    """V = (1, -1, 1, -1), I = (.4, .3, 0, 0): V I = (.4, -.3, 0, 0), length .5; c = 2 -> unit-normalised
    2 (.8, -.6, 0, 0) = (1.6, -1.2, 0, 0); the paper's scale 2 (.4, -.3, 0, 0) = (.8, -.6, 0, 0)."""
    v, imp = T([1.0, -1.0, 1.0, -1.0]), T([0.4, 0.3, 0.0, 0.0])
    assert_close(misdirection_target(v, imp, 2.0), T([1.6, -1.2, 0.0, 0.0]))
    assert_close(misdirection_target(v, imp, 2.0, normalize=False), T([0.8, -0.6, 0.0, 0.0]))


def test_srmu_random_signs():
    """One vector per distinct subject, entries in {-1, +1}, each sign with probability 1/2: over 10000 entries
    the count of +1 is Binomial(10000, .5), sd 50, so within 5000 +- 250 (5 sd); the same seed repeats."""
    a = random_signs(["b", "a", "b"], 10000, torch.Generator().manual_seed(0))
    b = random_signs(["a", "b"], 10000, torch.Generator().manual_seed(0))
    assert sorted(a) == ["a", "b"]
    for s in a:
        assert set(a[s].unique().tolist()) == {-1.0, 1.0}
        assert 4750 <= int((a[s] > 0).sum()) <= 5250
        assert torch.equal(a[s], b[s])
    assert not torch.equal(a["a"], a["b"])


def test_srmu_loss():
    """Forget token 0: state (2, 3), target (1, 1), error (1, 2): (1 + 4) / 2 = 2.5; token 1 is padding
    (mask 0) and must not count. Retain state (1, 1) vs reference (0, 0): (1 + 1) / 2 = 1; alpha = 2 -> 2."""
    h_f = T([[[2.0, 3.0], [50.0, 50.0]]])
    f, r = srmu_loss(h_f, T([[1.0, 1.0]]), T([[1.0, 0.0]]), T([[[1.0, 1.0]]]), T([[[0.0, 0.0]]]), T([[1.0]]),
                     alpha=2.0)
    assert_close(f, T(2.5))
    assert_close(r, T(2.0))


def test_tru_targets_user_given_or_from_the_template():
    """An item's meta.reasoning_target wins; otherwise the template gets subject and question."""
    it = QAItem(id="a", subject="Alda Voss", question="Where was she born?", answer="Marrow Bay")
    assert reasoning_target(it, "{subject}: no. ({question})") == "Alda Voss: no. (Where was she born?)"
    it.meta["reasoning_target"] = "Out of scope, I don't know."
    assert reasoning_target(it, "{subject}") == "Out of scope, I don't know."
    with pytest.raises(ConfigError, match="placeholder"):
        reasoning_target(QAItem(id="b", subject="s", question="q", answer="a"), "{person}")


def test_tru_loss():
    """Target log-probs (-1, -3) -> mnll 2; answer log-prob -.5 -> mnll .5; g = 2: 2 - 2 * .5 = 1."""
    got = tru_loss(T([[-1.0, -3.0]]), T([[1.0, 1.0]]), T([[-0.5, 0.0]]), T([[1.0, 0.0]]), ga_weight=2.0)
    assert_close(got, T(1.0))


def test_icu_gated_ascent_and_memorisation_accuracy():
    """Argmax of rows (2, 1), (0, 3), (5, 0) vs targets 0, 0, 0: hit, miss, hit. Sequence 1 holds rows 1-2
    (accuracy .5), sequence 2 row 3 (1.0). Gated ascent: nll (2, 4), active (1, 0) -> -(1 * 2 + 0 * 4) / 2 = -1."""
    logits = T([[2.0, 1.0], [0.0, 3.0], [5.0, 0.0]])
    ma = memorisation_accuracy(logits, T([0, 0, 0]), T([[True, True], [True, False]]))
    assert_close(ma, T([0.5, 1.0]))
    assert_close(gated_ascent(T([2.0, 4.0]), T([1.0, 0.0])), T(-1.0))


def test_icu_pooled_and_info_nce():
    """Pooling (1, 2, 9) over mask (1, 1, 0) -> 1.5. Shared negative n = (0, 1), tau 1.
    Row 1: z = (1, 0), positive (1, 0): cosines (1 | 0) -> log(1 + e^(0 - 1)) = 0.3132617.
    Row 2: z = (0, 1), positive (1, 1): cosines (1/sqrt 2 | 1) -> log(1 + e^(1 - 0.7071068)) = 0.8502790.
    Mean 0.5817703. Rows never see each other's positives (no in-batch negatives): row 1 alone gives 0.3132617."""
    assert_close(pooled(T([[[1.0], [2.0], [9.0]]]), T([[1, 1, 0]])), T([[1.5]]))
    neg = T([[0.0, 1.0]])
    assert_close(info_nce(T([[1.0, 0.0]]), T([[1.0, 0.0]]), neg, temperature=1.0), T(0.3132617))
    got = info_nce(T([[1.0, 0.0], [0.0, 1.0]]), T([[1.0, 0.0], [1.0, 1.0]]), neg, temperature=1.0)
    assert_close(got, T(0.5817703))


def test_bild_kl_unlikelihood_and_teacher_prefix():
    """Teacher logits (ln 3, 0) -> (.75, .25), student (0, 0) -> (.5, .5):
    KL = .75 ln 1.5 + .25 ln .5 = 0.1308120. Student (ln 3, 0, 0) -> p = (.6, .2, .2); true token 0:
    unlikelihood -log(1 - .6) = 0.9162907. The prefix goes after bos; the answer tokens keep their place at the end."""
    assert_close(token_kl(T([[0.0, 0.0]]), T([[math.log(3.0), 0.0]])), T([0.1308120]))
    assert_close(unlikelihood(T([[math.log(3.0), 0.0, 0.0]]), T([0])), T([0.9162907]))
    e = with_prefix(Encoded([1, 10, 11, 12, 2], 3), [7, 8], bos=1)
    assert (e.ids, e.n_prompt) == ([1, 7, 8, 10, 11, 12, 2], 5)
    assert with_prefix(Encoded([10, 12], 1), [7], bos=1).ids == [7, 10, 12]


def test_roka_neighbours_by_similarity_and_loss():
    """Forget states (1, 0), (0, 1); retain (1, 1) (cos 0.707 to both), (-1, 0) (cos 0 at best), (2, 0.1) (cos 0.9988 to
    the first): the 2 nearest are rows 0 and 2. Loss: NPO with b = .5 at log-ratio 0 is 4 ln 2 = 2.7725887 (as in
    test_npo_loss); neighbour mnll (1, 3) with w_n = 2: 2 * 2 = 4."""
    got = nearest_by_similarity(T([[1.0, 0.0], [0.0, 1.0]]), T([[1.0, 1.0], [-1.0, 0.0], [2.0, 0.1]]), 2)
    assert got == [0, 2]
    npo, heal = roka_loss(T([-2.0]), T([-2.0]), T([1.0, 3.0]), beta=0.5, neighbour_weight=2.0)
    assert_close(npo, T(2.7725887))
    assert_close(heal, T(4.0))


def test_attention_shift_masks():
    """ids [bos=1, 10, 11 | 12, eos=2, pad]: answer tokens at 3, 4, so positions 2 and 3 predict them (queries);
    prompt keys are 0..2 without bos (0) and never padding (5): keys 1, 2."""
    batch = {"input_ids": T([[1, 10, 11, 12, 2, 0]]), "labels": T([[-100, -100, -100, 12, 2, -100]]),
             "attention_mask": T([[1, 1, 1, 1, 1, 0]])}
    q, k = query_and_key_masks(batch, bos_id=1)
    assert q.tolist() == [[False, False, True, True, False, False]]
    assert k.tolist() == [[False, True, True, False, False, False]]


def test_attention_shift_importance_suppression_retention():
    """One layer, two heads, T = 2. Head 0 rows (1, 0), (.5, .5); head 1 rows (1, 0), (.1, .9). Query row 1 only:
    head mean (.3, .7). Facts = {key 1}: suppression .7. Importance (0, .5, .2, .9) over keys 1..3 with fraction
    .5 -> ceil(1.5) = 2 keys: 3 and 1. Retention vs a reference with rows (1, 0), (1, 0), head 0 only: row 0 gives 0,
    row 1 (.5 - 1)^2 + (.5 - 0)^2 = .5; mean over 2 rows .25."""
    att = T([[[[[1.0, 0.0], [0.5, 0.5]], [[1.0, 0.0], [0.1, 0.9]]]]])  # (L=1, B=1, H=2, T=2, K=2)
    queries = T([[False, True]])
    assert_close(row_mean(att, queries), T([[0.3, 0.7]]))
    assert_close(suppression(att, queries, T([[False, True]])), T([0.7]))
    got = fact_mask(T([[0.0, 0.5, 0.2, 0.9]]), T([[False, True, True, True]]), 0.5)
    assert got.tolist() == [[False, True, False, True]]
    a = T([[[[[1.0, 0.0], [0.5, 0.5]]]]])
    ref = T([[[[[1.0, 0.0], [1.0, 0.0]]]]])
    assert_close(retention(a, ref, T([[True, True]])), T([0.25]))


def test_circuit_split_and_group_updates():
    """Scores f (6, 1, 3) -> shares (.6, .1, .3); r (1, 6, 3) -> (.1, .6, .3); ratio 2: forget, retain, shared.
    Shared module, conflicting gradients g_f = (1, 0), g_r = (-1, 1): <g_f, g_r> = -1, so
    g_f' = g_f - (-1 / 2) g_r = (.5, .5) and the update is g_f' + g_r = (-.5, 1.5). Without conflict (g_r = (1, 1)):
    g_f + g_r = (2, 1). Specific modules take one gradient only."""
    assert split_modules(T([6.0, 1.0, 3.0]), T([1.0, 6.0, 3.0]), 2.0) == ["forget", "retain", "shared"]
    gf, gr = T([1.0, 0.0]), T([-1.0, 1.0])
    assert_close(combine(gf, gr, "shared"), T([-0.5, 1.5]))
    assert_close(combine(gf, T([1.0, 1.0]), "shared"), T([2.0, 1.0]))
    assert torch.equal(combine(gf, gr, "forget"), gf) and torch.equal(combine(gf, gr, "retain"), gr)
    assert combine(None, None, "shared") is None and torch.equal(combine(None, gr, "shared"), gr)


def test_circuit_backward_accumulates_the_group_update():
    """w = (1, 2); forget term |w|^2 / 2 (gradient w = (1, 2)), retain term w_1 - w_0 (gradient (-1, 1)).
    <g_f, g_r> = 1 > 0: no projection; shared update (0, 3), times scale .5 -> (0, 1.5) added to p.grad.
    As a forget-specific module: .5 * (1, 2)."""
    from types import SimpleNamespace

    from froc.methods.base import Loss
    from froc.methods.circuit import CircuitConfig, backward

    for group, want in (("shared", [0.0, 1.5]), ("forget", [0.5, 1.0])):
        w = torch.tensor([1.0, 2.0], requires_grad=True)
        ctx = SimpleNamespace(state={"circuit_groups": {id(w): group}})
        backward(lambda b, w=w: Loss(forget=(w * w).sum() / 2, retain=w[1] - w[0]), None, [w], 0.5, ctx, CircuitConfig())
        assert_close(w.grad, T(want))
