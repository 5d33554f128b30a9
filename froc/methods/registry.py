"""The one explicit registry of unlearning methods: ``METHODS[name] -> MethodSpec``.

A method declares what the engine must prepare for it (``needs``):

- ``retain``: retain batches (dropped automatically when the method's retain weight is 0);
- ``refusals``: each forget question paired with a refusal answer (IdkPO);
- ``ref_seq_logprobs``: summed answer log-probs of forget (and refusal) sequences under the
  model before unlearning, computed once before training in one no-grad pass (no second model);
- ``ref_model``: a frozen copy of the model (full reference distributions or hidden states).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Callable

from froc.errors import unknown_choice
from froc.methods import (adv, altpo, attention_shift, au, bild, catnip, ceu, circuit, dpo, embed_ga, ga, ga_kl,
                          graddiff, icu, idkpo, mrp, npo, pdu, purge, r2mu, rmu, roka, rocr, rule, sam, satimp, scope,
                          simnpo, srmu, tru, undial, wga, wrapper)
from froc.methods.base import LossFn
from froc.settings import coerce_fields

NEEDS = ("retain", "refusals", "ref_seq_logprobs", "ref_model")


@dataclass(frozen=True)
class MethodSpec:
    """Everything the engine needs to know about a method.

    Attributes:
        name: registry key.
        paper: the paper (title, authors/year, link) it implements.
        config: dataclass of its hyperparameters (defaults = our defaults).
        loss: ``loss(model, batch, ctx, cfg) -> Loss`` for one micro-batch; None when training-free.
        needs: subset of ``NEEDS`` (see the module docstring), or a function of the config.
        summary: one line for ``froc methods``.
        trainable: ``trainable(model, cfg) -> [parameter names]`` when only some weights are
            trained (None = every weight, or the LoRA adapters).
        setup: ``setup(model, data, ctx, cfg) -> info`` run once before training (random vectors,
            hooks, or the whole edit for training-free methods).
        backward: custom gradient computation ``backward(compute, batch, params, scale, ctx, cfg) -> Loss``
            replacing ``(scale * loss).backward()`` (SAM); the loop stays the same.
        trains: ``trains(cfg) -> bool``, whether the training loop runs after ``setup``.
        wrapper: its config names a ``base`` method whose hyperparameters it also takes.
        lora: whether it can train LoRA adapters.
    """

    name: str
    paper: str
    config: type
    loss: LossFn | None
    needs: frozenset[str] | Callable[[Any], set[str]] = frozenset()
    summary: str = ""
    trainable: Callable[[Any, Any], list[str] | None] | None = None
    setup: Callable[..., Any] | None = None
    backward: Callable[..., Any] | None = None
    trains: Callable[[Any], bool] = lambda cfg: True
    wrapper: bool = False
    lora: bool = True

    def needs_for(self, cfg) -> set[str]:
        """What the engine prepares for this configuration: ``retain`` is dropped when its weight is 0."""
        got = set(self.needs(cfg)) if callable(self.needs) else set(self.needs)
        if getattr(cfg, "retain_weight", None) == 0:
            got.discard("retain")
        return got

    def hparams(self) -> dict[str, Any]:
        """User-settable hyperparameters and their defaults."""
        cfg = self.config()
        return {f.name: getattr(cfg, f.name) for f in fields(self.config) if not f.metadata.get("internal")}


def _retain_and_ref(weight_field: str, extra: set[str] = frozenset()) -> Callable[[Any], set[str]]:
    """Needs of a method whose retain term uses the reference model: both go when the weight is 0."""
    return lambda cfg: set(extra) | ({"retain", "ref_model"} if getattr(cfg, weight_field) != 0 else set())


METHODS: dict[str, MethodSpec] = {
    s.name: s
    for s in [
        MethodSpec("ga", "Jang et al. 2023, Knowledge Unlearning for Mitigating Privacy Risks in Language Models, "
                   "https://arxiv.org/abs/2210.01504", ga.GAConfig, ga.compute,
                   summary="gradient ascent on forget answers"),
        MethodSpec("graddiff", "Liu et al. 2022, Continual Learning and Private Unlearning, "
                   "https://arxiv.org/abs/2203.12817 (TOFU baseline)", graddiff.GradDiffConfig, graddiff.compute,
                   needs=frozenset({"retain"}), summary="ascent on forget + descent on retain"),
        MethodSpec("ga_kl", "Maini et al. 2024, TOFU: A Task of Fictitious Unlearning for LLMs, "
                   "https://arxiv.org/abs/2401.06121", ga_kl.GAKLConfig, ga_kl.compute,
                   needs=_retain_and_ref("kl_weight"), summary="ascent on forget + KL(ref||theta) on retain answers"),
        MethodSpec("npo", "Zhang et al. 2024, Negative Preference Optimization: From Catastrophic Collapse to "
                   "Effective Unlearning, https://arxiv.org/abs/2404.05868", npo.NPOConfig, npo.compute,
                   needs=frozenset({"ref_seq_logprobs", "retain"}), summary="NPO (retain_weight > 0: NPO+RT)"),
        MethodSpec("simnpo", "Fan et al. 2024, Simplicity Prevails: Rethinking Negative Preference Optimization "
                   "for LLM Unlearning, https://arxiv.org/abs/2410.07163", simnpo.SimNPOConfig, simnpo.compute,
                   needs=frozenset({"retain"}), summary="reference-free, length-normalised NPO"),
        MethodSpec("idkpo", "Rafailov et al. 2023, Direct Preference Optimization, https://arxiv.org/abs/2305.18290; "
                   "IdkDPO in TOFU, https://arxiv.org/abs/2401.06121", idkpo.IdkPOConfig, idkpo.compute,
                   needs=frozenset({"refusals", "ref_seq_logprobs", "retain"}),
                   summary="DPO preferring a refusal over the true answer + retain NLL"),
        MethodSpec("rmu", "Li et al. 2024, The WMDP Benchmark: Measuring and Reducing Malicious Use with "
                   "Unlearning, https://arxiv.org/abs/2403.03218", rmu.RMUConfig, rmu.compute,
                   needs=_retain_and_ref("alpha"), summary="steer layer-l states to c*u; trains a few down_projs",
                   trainable=rmu.trainable, setup=rmu.setup, lora=False),
        MethodSpec("undial", "Dong et al. 2024, UNDIAL: Self-Distillation with Adjusted Logits for Robust "
                   "Unlearning in Large Language Models, https://arxiv.org/abs/2402.10052",
                   undial.UndialConfig, undial.compute, needs=frozenset({"ref_model"}),
                   summary="distil to reference logits with the true token lowered"),
        MethodSpec("wga", "Wang et al. 2025, Rethinking LLM Unlearning Objectives: A Gradient Perspective and Go "
                   "Beyond, https://arxiv.org/abs/2502.19301", wga.WGAConfig, wga.compute,
                   needs=frozenset({"retain"}), summary="token-probability-weighted ascent + retain NLL"),
        MethodSpec("catnip", "CATNIP: LLM Unlearning via Calibrated and Tokenized Negative Preference Alignment "
                   "(seed paper)", catnip.CatnipConfig, catnip.compute,
                   summary="token-level NPO with reference 1-p_t; no retain data"),
        MethodSpec("scope", "Keeping an Eye on LLM Unlearning: The Hidden Risk and Remedy (seed paper; "
                   "scope-aware unlearning)", scope.ScopeConfig, scope.compute, needs=scope.needs,
                   summary="base loss + eta * mnll(y_r | x_f (+) x_r)", trainable=wrapper.trainable,
                   setup=wrapper.setup, wrapper=True),
        MethodSpec("sam", "Fan et al. 2025, Towards LLM Unlearning Resilient to Relearning Attacks: A "
                   "Sharpness-Aware Minimization Perspective and Beyond (seed paper), "
                   "https://github.com/OPTML-Group/Unlearn-Smooth", sam.SAMConfig, sam.compute, needs=wrapper.needs,
                   summary="forget gradient at theta + rho*g/||g|| (or under weight noise)",
                   trainable=wrapper.trainable, setup=wrapper.setup, backward=sam.backward, wrapper=True),
        MethodSpec("adv_ga", "Yuan et al. 2024, Towards Robust Knowledge Unlearning: An Adversarial Framework "
                   "for Assessing and Improving Unlearning Robustness in LLMs (LAU, seed paper)",
                   adv.AdvGAConfig, adv.compute_ga, needs=frozenset({"retain"}),
                   summary="GA under a PGD latent perturbation that restores the answers"),
        MethodSpec("adv_npo", "Yuan et al. 2024, Towards Robust Knowledge Unlearning: An Adversarial Framework "
                   "for Assessing and Improving Unlearning Robustness in LLMs (LAU, seed paper)",
                   adv.AdvNPOConfig, adv.compute_npo, needs=frozenset({"ref_seq_logprobs", "retain"}),
                   summary="NPO under a PGD latent perturbation that restores the answers"),
        MethodSpec("mrp", "Reliable Unlearning Harmful Information in LLMs with Metamorphosis Representation "
                   "Projection (seed paper), https://github.com/ChengcanWu/MRP", mrp.MRPConfig, mrp.compute,
                   needs=frozenset({"retain"}), summary="project a forget subspace out of hidden states (hook)",
                   setup=mrp.setup, trains=lambda cfg: cfg.finetune),
        MethodSpec("rocr", "LLM Unlearning Should Be Form-Independent (ROCR, seed paper); ROME closed form, "
                   "https://arxiv.org/abs/2202.05262", rocr.ROCRConfig, None, needs=frozenset({"retain"}),
                   summary="training-free rank-one edit redirecting the subject to a harmless one",
                   setup=rocr.setup, trains=lambda cfg: False, lora=False),
        MethodSpec("embed_ga", "A More Practical Approach to Machine Unlearning (seed paper; embedding-layer GA)",
                   embed_ga.EmbedGAConfig, embed_ga.compute, needs=frozenset({"retain"}),
                   summary="gradient ascent on the input embeddings only", trainable=embed_ga.trainable, lora=False),
        MethodSpec("ceu", "Yang et al. 2025, CE-U: Cross Entropy Unlearning, https://arxiv.org/abs/2503.01224 "
                   "(open-unlearning baseline)", ceu.CEUConfig, ceu.compute, needs=frozenset({"retain"}),
                   summary="cross-entropy to the own distribution without the true token"),
        MethodSpec("satimp", "Yang et al. 2025, Exploring Criteria of Loss Reweighting to Enhance LLM Unlearning, "
                   "https://arxiv.org/abs/2505.11953 (open-unlearning baseline)", satimp.SatImpConfig,
                   satimp.compute, needs=frozenset({"retain"}),
                   summary="ascent weighted by sg(p)^b1 (1-p)^b2 + retain NLL"),
        MethodSpec("pdu", "Entesari et al. 2025, Constrained Entropic Unlearning: A Primal-Dual Framework for LLMs, "
                   "https://arxiv.org/abs/2506.05314 (open-unlearning baseline)", pdu.PDUConfig, pdu.compute,
                   needs=frozenset({"retain"}), setup=pdu.setup,
                   summary="flatten forget logits s.t. retain NLL <= eps (dual ascent)"),
        MethodSpec("dpo", "Rafailov et al. 2023, Direct Preference Optimization, https://arxiv.org/abs/2305.18290 "
                   "(open-unlearning DPO baseline with alternate answers)", dpo.DPOConfig, dpo.compute,
                   needs=frozenset({"ref_seq_logprobs", "retain"}), setup=dpo.setup,
                   summary="DPO preferring user-given alternative answers + retain NLL"),
        MethodSpec("altpo", "Mekala et al. 2025, Alternate Preference Optimization for Unlearning Factual Knowledge "
                   "in LLMs, https://arxiv.org/abs/2409.13474", altpo.AltPOConfig, altpo.compute,
                   needs=frozenset({"ref_seq_logprobs", "retain"}), setup=altpo.setup,
                   summary="DPO towards the model's own sampled alternative answers"),
        MethodSpec("srmu", "Chen et al. 2025, Feature-Selective Representation Misdirection for Machine Unlearning "
                   "(SRMU), https://arxiv.org/abs/2512.16297", srmu.SRMUConfig, srmu.compute,
                   needs=frozenset({"retain", "ref_model"}),
                   summary="RMU target scaled by a forget/retain importance map",
                   trainable=srmu.trainable, setup=srmu.setup, lora=False),
        MethodSpec("r2mu", "Wang et al. 2025, Reasoning Model Unlearning: Forgetting Traces, Not Just Answers, While "
                   "Preserving Reasoning Skills (R2MU), https://arxiv.org/abs/2506.12963", r2mu.R2MUConfig,
                   r2mu.compute,
                   needs=lambda cfg: ({"retain"} if cfg.alpha or cfg.cot_weight else set())
                   | ({"ref_model"} if cfg.alpha else set()),
                   summary="RMU on answers and reasoning traces + CoT NLL on retain",
                   trainable=r2mu.trainable, setup=r2mu.setup, lora=False),
        MethodSpec("tru", "Explainable LLM Unlearning Through Reasoning (TRU, seed paper)", tru.TRUConfig, tru.compute,
                   needs=frozenset({"retain"}), setup=tru.setup,
                   summary="CE on a reasoning target (scope + refusal) + GA on the answer"),
        MethodSpec("icu", "Tang et al., Learn while Unlearn: An Iterative Unlearning Framework for Generative "
                   "Language Models (ICU, seed paper)", icu.ICUConfig, icu.compute,
                   needs=lambda cfg: {"retain"} | ({"ref_model"} if cfg.contrast_weight != 0 else set()),
                   setup=icu.setup, summary="GA on still-remembered items + InfoNCE keeping retain states"),
        MethodSpec("bild", "Harmonizing Multi-Objective LLM Unlearning via Unified Domain Representation and "
                   "Bidirectional Logit Distillation (BILD, seed paper)",
                   bild.BILDConfig, bild.compute,
                   needs=lambda cfg: {"ref_model"} | ({"retain"} if cfg.boundary_weight != 0 else set()),
                   setup=bild.setup, summary="distil an instructed-to-refuse teacher + push answers down"),
        MethodSpec("roka", "ROKA: Robust Knowledge Unlearning against Adversaries (seed paper; knowledge-preserving "
                   "neural healing)", roka.RoKAConfig,
                   roka.compute, needs=frozenset({"ref_seq_logprobs", "retain"}), setup=roka.setup,
                   summary="NPO on forget + healing NLL on conceptual neighbours"),
        MethodSpec("attention_shift", "Wisdom is Knowing What not to Say: Hallucination-Free LLMs Unlearning via "
                   "Attention Shifting (seed paper)",
                   attention_shift.AttentionShiftConfig, attention_shift.compute, needs=attention_shift.needs,
                   summary="cut attention to fact tokens, refuse; keep retain attention"),
        MethodSpec("circuit", "CURE: Circuit-Aware Unlearning for LLM-based Recommendation (seed paper): "
                   "attribution-split selective updates",
                   circuit.CircuitConfig, circuit.compute, needs=wrapper.needs,
                   summary="attribution-grouped selective updates",
                   trainable=wrapper.trainable, setup=circuit.setup, backward=circuit.backward, wrapper=True),
        MethodSpec("rule", "Zhang et al. 2025, RULE: Reinforcement UnLEarning Achieves Forget-Retain Pareto Optimality "
                   "(seed paper); GRPO: https://arxiv.org/abs/2402.03300", rule.RuleConfig, rule.compute,
                   needs=frozenset({"refusals", "retain", "ref_model"}), setup=rule.setup,
                   summary="GRPO: refuse forget queries, answer boundary ones"),
        MethodSpec("purge", "Reinforcement Unlearning via Group Relative Policy Optimization (PURGE, seed paper); "
                   "GRPO: https://arxiv.org/abs/2402.03300", purge.PurgeConfig, purge.compute,
                   needs=frozenset({"retain", "ref_model"}), setup=purge.setup,
                   summary="GRPO penalising forbidden-concept mentions + KL"),
        MethodSpec("au", "LLM Ghostbusters: Surgical Hallucination Suppression via Adaptive Unlearning (AU, "
                   "seed paper)",
                   au.AUConfig, au.compute, needs=frozenset({"retain"}), setup=au.setup,
                   summary="unlearn generated answers outside an allow-list"),
    ]
}


def get_method(name: str) -> MethodSpec:
    """The spec of a registered method; an unknown name raises ConfigError listing the valid ones."""
    if name not in METHODS:
        raise unknown_choice("method", name, METHODS)
    return METHODS[name]


def build_config(spec: MethodSpec, hparams: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Split ``hparams`` into the method's config (and its base method's, for wrappers) and the rest.

    Values are coerced to the config fields' types (``"0.1"`` -> 0.1, ``1`` -> 1.0 for a float; see
    :func:`froc.settings.coerce`), as attack parameters are. A wrapper's config gets its base method's
    spec (``base_spec``) and config (``base_config``).

    Returns ``(config, leftover)``: keys that are neither the method's nor its base's come back in
    ``leftover`` (uncoerced) for the caller to route (engine fields) or reject.

    Raises:
        ConfigError: a value of the wrong type, an unknown or unusable base method.
    """
    own = {f.name for f in fields(spec.config) if not f.metadata.get("internal")}
    what = f"method '{spec.name}' hyperparameter"
    cfg = spec.config(**coerce_fields(spec.config, {k: v for k, v in hparams.items() if k in own}, what=what))
    rest = {k: v for k, v in hparams.items() if k not in own}
    if spec.wrapper:
        base = get_method(cfg.base)
        if base.wrapper or base.loss is None or not base.trains(base.config()):
            valid = [n for n, s in METHODS.items() if not s.wrapper and s.loss is not None and s.trains(s.config())]
            raise unknown_choice(f"base method for {spec.name}", cfg.base, valid)
        base_own = {f.name for f in fields(base.config) if not f.metadata.get("internal")}
        given = {k: v for k, v in rest.items() if k in base_own}
        cfg.base_config = base.config(**coerce_fields(base.config, given, what=f"method '{base.name}' hyperparameter"))
        cfg.base_spec = base
        rest = {k: v for k, v in rest.items() if k not in base_own}
    return cfg, rest


def can_use_lora(spec: MethodSpec, cfg) -> bool:
    """Whether ``spec`` with config ``cfg`` can train LoRA adapters (a wrapper only if its base can)."""
    base = getattr(cfg, "base_spec", None)
    return spec.lora and (base is None or base.lora)


def method_hparams(cfg) -> dict[str, Any]:
    """Flat dict of a method config's user-settable fields (a wrapper's base config merged in)."""
    out = {f.name: getattr(cfg, f.name) for f in fields(cfg) if not f.metadata.get("internal")}
    base = getattr(cfg, "base_config", None)
    if base is not None:
        out.update(asdict(base))
    return out
