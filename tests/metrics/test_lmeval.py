"""Issue 13, section 4: lm-evaluation-harness tasks through its Python API, data from local files only.

The task is a tiny multiple-choice YAML written by the test (``dataset_path: json`` on a local JSONL). The
expected log-likelihoods are computed here from one forward pass per choice: lm-eval's convention for causal
models is ``whole = tokenizer(context + " " + choice)``, ``context = tokenizer(context)`` (no BOS), the choice
tokens are what follows; accuracy = the gold choice has the highest summed log-likelihood (each choice's margin
here is far above the float32 difference between lm-eval's batched passes and this float64 sum).
"""

from __future__ import annotations

import json

import pytest
import torch
from numpy.testing import assert_allclose

pytest.importorskip("lm_eval")

ROWS = [{"question": "Where was Alda Voss born?", "choices": ["Marrow Bay", "Kelport"], "answer": 0},
        {"question": "What is Brin Tallo?", "choices": ["a cartographer", "a baker", "a poet"], "answer": 2},
        {"question": "Which award did Cass Orun win?", "choices": ["the Silver Quill", "none"], "answer": 0}]

TASK = """task: froc_tiny_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{answer}}}}"
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
"""


def test_lm_eval_task_from_local_files(tmp_path):
    from froc.metrics.lmeval import lm_eval_tasks, task_metrics
    from froc.models.tiny import tiny_model_and_tokenizer

    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in ROWS))
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "tiny.yaml").write_text(TASK.format(data=data))
    model, tok = tiny_model_and_tokenizer(seed=3)
    result = lm_eval_tasks(model, tok, ["froc_tiny_mc"], include_path=tmp_path / "tasks", batch_size=4)
    samples = sorted(result["samples"]["froc_tiny_mc"], key=lambda s: s["doc_id"])

    correct = []
    for row, sample in zip(ROWS, samples):
        context = f"Question: {row['question']}\nAnswer:"
        lls = []
        for choice in row["choices"]:
            ctx = tok(context, add_special_tokens=False)["input_ids"]
            whole = tok(context + " " + choice, add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                logp = torch.log_softmax(model(torch.tensor([whole])).logits[0].double(), -1)
            lls.append(sum(float(logp[i - 1, whole[i]]) for i in range(len(ctx), len(whole))))
        # lm-eval's batched float32 passes differ from this one-at-a-time float64 sum by up to ~0.01 nats here
        assert_allclose([r[0][0] for r in sample["resps"]], lls, atol=0.05)
        correct.append(float(max(range(len(lls)), key=lls.__getitem__) == row["answer"]))
    assert task_metrics(result)["lmeval/froc_tiny_mc/acc"] == pytest.approx(sum(correct) / len(correct))


@pytest.mark.slow  # importing lm-eval's task registry takes ~15 s
def test_unknown_task_is_refused(tmp_path):
    from froc.errors import ConfigError
    from froc.metrics.lmeval import lm_eval_tasks
    from froc.models.tiny import tiny_model_and_tokenizer

    model, tok = tiny_model_and_tokenizer()
    with pytest.raises(ConfigError, match="unknown lm-eval task"):
        lm_eval_tasks(model, tok, ["no_such_task_xyz"])
