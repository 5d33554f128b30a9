"""Issue 13, section 5: the families users bring, at a tiny size with random init.

Llama, Mistral, Qwen2, Phi-3, Gemma, GPT-NeoX/Pythia and a GPT-2 with dropout in its config, built from their
transformers config classes with froc's tokenizer: scoring (prompt sharing on the KV cache gives the same
log-probs as whole sequences) and two NPO steps. The full `froc run` pipeline per family (2 methods, an
attack, certification, the report) is tests/sweep/test_architectures_pipeline.py.
"""

from __future__ import annotations

import pytest
import torch
from numpy.testing import assert_allclose

from froc.data.schema import QAItem

FAMILIES = ("llama", "mistral", "qwen2", "phi3", "gemma", "gpt_neox", "gpt2_dropout")


def build(name, tok):
    import transformers as T

    common = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                  max_position_embeddings=128, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                  pad_token_id=tok.pad_token_id)
    cfg = {"llama": lambda: T.LlamaConfig(num_key_value_heads=2, **common),
           "mistral": lambda: T.MistralConfig(num_key_value_heads=2, **common),
           "qwen2": lambda: T.Qwen2Config(num_key_value_heads=2, **common),
           "phi3": lambda: T.Phi3Config(num_key_value_heads=2, **common),
           "gemma": lambda: T.GemmaConfig(num_key_value_heads=2, head_dim=8, **common),
           "gpt_neox": lambda: T.GPTNeoXConfig(**common),
           "gpt2_dropout": lambda: T.GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=2, n_head=4, n_positions=128,
                                                resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1,
                                                bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)}[name]()
    torch.manual_seed(0)
    return T.AutoModelForCausalLM.from_config(cfg)


# ~50 s for all seven on a busy 2-core CPU: Llama and GPT-2 (dropout) run by default, the others are marked slow
@pytest.mark.parametrize("name", [n if n in ("llama", "gpt2_dropout") else pytest.param(n, marks=pytest.mark.slow)
                                  for n in FAMILIES])
def test_scoring_and_unlearning_on_each_family(name):
    from froc.engine import unlearn
    from froc.metrics.scoring import score_probes
    from froc.models.tiny import tiny_tokenizer

    tok = tiny_tokenizer()
    model = build(name, tok)
    items = [QAItem(id=f"q{i}", subject="s", question="Where was Alda Voss born?", answer=a,
                    perturbed_answers=["Kelport"], meta={"group": "forget"})
             for i, a in enumerate(["Marrow Bay", "the Silver Quill"])]
    shared = score_probes(model, tok, items, max_new_tokens=4, progress=False).table
    whole = score_probes(model, tok, items, max_new_tokens=4, progress=False, share_prompts=False).table
    assert_allclose(shared.gold_logp_sum, whole.gold_logp_sum, rtol=1e-4)
    before = {k: v.clone() for k, v in model.named_parameters()}
    res = unlearn(model, tok, items, items, method="npo", steps=2)
    assert res.status == "completed"
    assert any(not torch.equal(before[k], v) for k, v in res.model.named_parameters())
