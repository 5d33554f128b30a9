"""Unlearning-trace detection: can a classifier tell the unlearned model from the original one from
its outputs on prompts that have nothing to do with the forget set?

Seed paper: Chen et al. 2025, "Unlearning Isn't Invisible: Detecting Unlearning Traces in LLMs from
Model Outputs" (https://arxiv.org/abs/2506.14003): a simple supervised classifier on output logits
detects unlearning with high accuracy even on forget-irrelevant inputs.

Features per (prompt, model), from one teacher-forced pass over ``prompt + retain answer``: the
sorted top-``top_k`` next-token log-probs and the entropy at the answer position, the answer's
mean NLL and its first token's NLL, and the sorted top-``top_k`` log-probs and the entropy
averaged over the answer positions. Samples: every retain prompt under the original model (label
0) and under the unlearned model (label 1). Prompts (not samples) are split by a seeded draw, so a
prompt's two versions are both in training or both held out; a standardised logistic regression
(scikit-learn) is trained and its held-out accuracy and ROC AUC reported (chance 0.5). Not
per-sample: ``scores`` is None. Identical models give exactly chance (identical features).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch

from froc.attacks.base import AttackInputs
from froc.errors import ConfigError
from froc.models.encoding import collate, encode_qa, length_buckets, pad_token_id, to_device

FEATURES = ("top{k}_logp at the answer start (sorted)", "entropy at the answer start", "answer_mnll",
            "first_token_nll", "top{k}_logp averaged over answer positions (sorted)",
            "entropy averaged over answer positions")


@dataclass
class TraceParams:
    """Parameters of trace detection.

    Attributes:
        top_k: sorted top-k next-token log-probs used as features.
        test_fraction: share of prompts held out for the accuracy.
        max_prompts: at most this many retain prompts (seeded sample; None = all).
        C: inverse L2 regularisation of the logistic regression.
        batch_size: sequences per forward pass.
    """

    top_k: int = 10
    test_fraction: float = 0.3
    max_prompts: int | None = 1000
    C: float = 1.0
    batch_size: int = 64


@torch.inference_mode()
def output_features(model, tokenizer, items, fmt, *, top_k: int, batch_size: int) -> np.ndarray:
    """(N, 2 * top_k + 4) features of ``model`` on QA ``items`` (see the module docstring)."""
    device = next(model.parameters()).device
    pad = pad_token_id(tokenizer)
    enc = [encode_qa(tokenizer, it.question, it.answer, fmt) for it in items]
    out = np.zeros((len(enc), 2 * top_k + 4), dtype=np.float64)
    was_training = model.training
    model.eval()
    try:
        for idx in length_buckets([len(e.ids) for e in enc], batch_size):
            batch = to_device(collate([enc[i] for i in idx], pad), device)
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False).logits
            lsm = torch.log_softmax(logits[:, :-1].float(), -1)  # (B, T-1, V)
            labels = batch["labels"][:, 1:]
            mask = labels != -100
            tok_lp = lsm.gather(-1, labels.clamp_min(0)[..., None])[..., 0] * mask  # (B, T-1)
            first = torch.tensor([enc[i].n_prompt - 1 for i in idx], device=device)  # position predicting answer[0]
            rows = torch.arange(len(idx), device=device)
            at = lsm[rows, first]  # (B, V) next-token distribution at the answer position
            k = min(top_k, at.shape[-1])
            top = at.topk(k, -1).values  # (B, k), sorted descending
            ent = -(at.exp() * at).sum(-1)
            n_ans = mask.sum(-1).clamp_min(1)  # (B,)
            mnll = -tok_lp.sum(-1) / n_ans
            f_nll = -tok_lp[rows, first]
            w = mask.float()[..., None]  # (B, T-1, 1)
            top_avg = (lsm.topk(k, -1).values * w).sum(1) / n_ans[:, None]  # (B, k)
            ent_avg = (-(lsm.exp() * lsm).sum(-1) * mask).sum(-1) / n_ans  # (B,)
            feats = torch.cat([top, ent[:, None], mnll[:, None], f_nll[:, None], top_avg, ent_avg[:, None]],
                              -1).double().cpu().numpy()
            out[np.asarray(idx), : feats.shape[1]] = feats
    finally:
        model.train(was_training)
    return out


def attack(inputs: AttackInputs, p: TraceParams):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if not 0 < p.test_fraction < 1 or p.top_k < 1 or p.C <= 0:
        raise ConfigError(f"trace: need 0 < test_fraction < 1, top_k >= 1, C > 0; got {p}")
    items = [it for it in inputs.retain if hasattr(it, "question") and hasattr(it, "answer")]
    rng = random.Random(inputs.seed)
    if p.max_prompts is not None and len(items) > p.max_prompts:
        items = [items[i] for i in sorted(rng.sample(range(len(items)), p.max_prompts))]
    if len(items) < 4:
        raise ConfigError(f"trace: needs at least 4 retain QA prompts, got {len(items)}")
    n_test = min(len(items) - 2, max(2, int(round(p.test_fraction * len(items)))))
    order = list(range(len(items)))
    rng.shuffle(order)
    test_idx, train_idx = np.array(sorted(order[:n_test])), np.array(sorted(order[n_test:]))

    kw = {"top_k": p.top_k, "batch_size": p.batch_size}
    f_orig = output_features(inputs.original, inputs.tokenizer, items, inputs.fmt, **kw)
    f_unl = output_features(inputs.model, inputs.tokenizer, items, inputs.fmt, **kw)

    def xy(ix):
        return np.concatenate([f_orig[ix], f_unl[ix]]), np.r_[np.zeros(len(ix)), np.ones(len(ix))]

    x_tr, y_tr = xy(train_idx)
    x_te, y_te = xy(test_idx)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=p.C, max_iter=2000, random_state=inputs.seed))
    clf.fit(x_tr, y_tr)
    prob = clf.predict_proba(x_te)[:, 1]
    acc = float(((prob > 0.5) == (y_te == 1)).mean())
    auc = float(roc_auc_score(y_te, prob)) if np.ptp(prob) > 0 else 0.5
    details = {
        "accuracy": acc, "auc": auc, "chance": 0.5,
        "train_accuracy": float(clf.score(x_tr, y_tr)),
        "n_prompts": len(items), "n_train_prompts": len(train_idx), "n_test_prompts": len(test_idx),
        "n_test_samples": len(y_te), "features": [f.format(k=p.top_k) for f in FEATURES],
        "mean_feature_gap": {"entropy": float(f_unl[:, p.top_k].mean() - f_orig[:, p.top_k].mean()),
                             "answer_mnll": float(f_unl[:, p.top_k + 1].mean() - f_orig[:, p.top_k + 1].mean())},
    }
    return None, details
