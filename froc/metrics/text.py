"""Text comparison of generations with references: ROUGE-L (rouge-score package) and answer containment.

ROUGE-L follows TOFU (recall) and MUSE (F1), both with the ``rouge-score`` package and its
Porter stemmer. Its tokenizer lower-cases and keeps only ``[a-z0-9]`` runs, so an answer made
only of other characters (e.g. non-Latin script) has no tokens and scores 0.
"""

from __future__ import annotations

import re
import string
from functools import lru_cache
from typing import Sequence

import numpy as np

_PUNCT = re.compile(f"[{re.escape(string.punctuation)}]")
_SPACE = re.compile(r"\s+")


@lru_cache(maxsize=1)
def _scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(predictions: Sequence[str], references: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample ROUGE-L ``(recall, f1)`` of each prediction against its reference.

    Recall = LCS / |reference tokens| (TOFU's "ROUGE"), F1 = harmonic mean of LCS precision and
    recall (MUSE). An empty prediction or reference scores 0.
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    scorer = _scorer()
    recall = np.zeros(len(predictions), dtype=np.float64)
    f1 = np.zeros(len(predictions), dtype=np.float64)
    for i, (p, r) in enumerate(zip(predictions, references)):
        s = scorer.score(r or "", p or "")["rougeL"]  # score(target, prediction)
        recall[i], f1[i] = s.recall, s.fmeasure
    return recall, f1


def normalize_answer(text: str) -> str:
    """Lower-case, replace punctuation by spaces and collapse whitespace (articles are kept)."""
    return _SPACE.sub(" ", _PUNCT.sub(" ", text.lower())).strip()


def contains_answer(generation: str, answer: str) -> bool:
    """True when the normalised ``answer`` occurs in the normalised ``generation`` on word boundaries.

    An answer that normalises to the empty string is never contained (it carries no content).
    """
    a = normalize_answer(answer)
    if not a:
        return False
    return f" {a} " in f" {normalize_answer(generation)} "
