"""Paraphrase and other-form probing: ask the forgotten facts in ways the unlearning never saw.

Seed "LLM Unlearning Should Be Form-Independent" (ORT): a fact unlearned in one form (question
answering with the training templates) is often still known in other forms (cloze, multiple
choice, yes/no, reverse) or under paraphrased (held-out) templates. The model is not changed:
the probes are restricted to the chosen forms and scored as they are; ``details`` gives the
knowledge per form.

- ``paraphrase``: held-out templates of the question form (``form == "paraphrase"``, or
  ``form == "qa"`` with ``meta.template_split == "heldout"``).
- ``forms``: every other form (default cloze, mcq, yesno, reverse).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from froc.attacks.base import AttackInputs, knowledge_summary, per_form_knowledge, score
from froc.data.schema import FORMS
from froc.errors import ConfigError


@dataclass
class ParaphraseParams:
    """Parameters of the paraphrase attack.

    Attributes:
        include_heldout_qa: also keep ``qa`` probes marked ``meta.template_split == "heldout"``.
    """

    include_heldout_qa: bool = True


@dataclass
class FormsParams:
    """Parameters of the other-forms attack.

    Attributes:
        forms: the probe forms to keep (any of qa, paraphrase, cloze, mcq, yesno, reverse).
    """

    forms: list[str] = field(default_factory=lambda: ["cloze", "mcq", "yesno", "reverse"])


def _template_split(item) -> str | None:
    meta = getattr(item, "meta", None) or {}
    return meta.get("template_split") if isinstance(meta, dict) else None


def _run(inputs: AttackInputs, kept: list, name: str, selected: list[str]):
    table = score(inputs.model, inputs.tokenizer, kept, inputs, model_name=name) if kept else None
    details = {"selected_forms": selected, "n_probes": len(inputs.probes), "n_scored": len(kept),
               "after": knowledge_summary(table), "per_form": per_form_knowledge(table) if table is not None else {}}
    if not kept:
        details["note"] = f"no probe of the forms {selected}; nothing scored"
    return table, details


def paraphrase(inputs: AttackInputs, p: ParaphraseParams):
    kept = [pr for pr in inputs.probes if getattr(pr, "form", None) == "paraphrase"
            or (p.include_heldout_qa and getattr(pr, "form", None) == "qa" and _template_split(pr) == "heldout")]
    return _run(inputs, kept, "paraphrase", ["paraphrase"] + (["qa (heldout)"] if p.include_heldout_qa else []))


def forms(inputs: AttackInputs, p: FormsParams):
    chosen = [p.forms] if isinstance(p.forms, str) else list(p.forms)
    bad = sorted(set(chosen) - set(FORMS))
    if bad or not chosen:
        raise ConfigError(f"forms: unknown form(s) {', '.join(bad) or '(none given)'}; valid forms: {', '.join(FORMS)}")
    kept = [pr for pr in inputs.probes if getattr(pr, "form", None) in chosen]
    return _run(inputs, kept, "forms", chosen)
