"""The answer-only LM-head fast path gives the same log-probs and gradients as full logits."""

from __future__ import annotations

import pytest
import torch

from froc.models import logprobs as lp_mod
from froc.models.encoding import collate, encode_qa
from froc.models.logprobs import answer_logits, logprobs_from_logits, takes_logits_mask, token_logprobs
from froc.models.loading import apply_lora
from froc.models.sft import answer_exact_match
from froc.models.tiny import tiny_model_and_tokenizer

QA = [("Where was Alda Voss born?", "Marrow Bay"), ("What is the occupation of Brin Tallo?", "cartographer"),
      ("Which award did Cass Orun win?", "the Silver Quill"), ("Who?", "Alda Voss of Marrow Bay, cartographer")]


def _batch(tok):
    return collate([encode_qa(tok, q, a) for q, a in QA], tok.pad_token_id)  # mixed lengths: right padding


def _full(model, batch):
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return logprobs_from_logits(logits, batch["labels"])


def _check_same(model, batch):
    assert takes_logits_mask(model)
    logp, mask = token_logprobs(model, batch)
    ref, ref_mask = _full(model, batch)
    assert torch.equal(mask, ref_mask)
    torch.testing.assert_close(logp, ref, atol=1e-5, rtol=1e-5)
    params = [p for p in model.parameters() if p.requires_grad]
    g_fast = torch.autograd.grad(logp.sum(), params)
    g_ref = torch.autograd.grad(ref.sum(), params)
    for a, b in zip(g_fast, g_ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_fast_path_equals_full_logits_llama():
    model, tok = tiny_model_and_tokenizer(seed=1)
    batch = _batch(tok)
    logits, targets, mask = answer_logits(model, batch)
    assert logits.shape == (int(mask.sum()), model.config.vocab_size)  # only answer positions reach the head
    assert torch.equal(targets, batch["labels"][:, 1:][mask])
    _check_same(model, batch)


def test_fast_path_equals_full_logits_lora():
    model, tok = tiny_model_and_tokenizer(seed=2)
    model = apply_lora(model, {"r": 4})
    with torch.no_grad():  # non-zero adapters, so the LoRA path matters
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.1)
    _check_same(model, _batch(tok))


def test_fallback_without_logits_to_keep_gives_same_values():
    model, tok = tiny_model_and_tokenizer(seed=3)

    class NoKeep(torch.nn.Module):  # a causal LM whose forward has no logits_to_keep
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask=None):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask)

    wrapped = NoKeep(model)
    assert not takes_logits_mask(wrapped)
    batch = _batch(tok)
    a, ma = token_logprobs(wrapped, batch)
    b, mb = _full(model, batch)
    torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
    assert torch.equal(ma, mb)


def _greedy_reproduces(model, tok, question: str, answer: str) -> bool:
    """Reference by definition: greedy decoding from the prompt alone, one token at a time with no cache and no
    padding, emits exactly the answer's tokens and then eos."""
    enc = encode_qa(tok, question, answer)
    ids = enc.ids[: enc.n_prompt]
    for want in enc.ids[enc.n_prompt:]:
        got = int(model(input_ids=torch.tensor([ids])).logits[0, -1].argmax())
        if got != want:
            return False
        ids.append(got)
    return True


def test_exact_match_fast_path_agrees_with_greedy_decoding():
    """Inputs whose answer is known to be both right and wrong: a tiny model trained a few steps on items 0 and 2
    (memorised: greedy decoding reproduces them) and not on 1 and 3. ``answer_exact_match`` (answer-only LM
    head, length buckets of 2, right padding) must give True exactly for the memorised ones, as greedy decoding
    does; a fast path that always answered False (or True), or put results in the wrong rows, fails."""
    from froc.data.schema import QAItem
    from froc.models.logprobs import sequence_logprobs

    model, tok = tiny_model_and_tokenizer(seed=4)
    memorise = [QA[0], QA[2]]
    batch = collate([encode_qa(tok, q, a) for q, a in memorise], tok.pad_token_id)
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    model.train()
    for _ in range(60):
        s, k = sequence_logprobs(model, batch)
        loss = -(s / k).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    items = [QAItem(id=f"q{i}", subject="s", question=q, answer=a) for i, (q, a) in enumerate(QA)]
    with torch.no_grad():
        em = answer_exact_match(model, tok, items, batch_size=2)
        ref = [_greedy_reproduces(model, tok, q, a) for q, a in QA]
    assert ref == [True, False, True, False]  # both branches are exercised
    assert em.tolist() == ref


@pytest.mark.parametrize("arch", ["gpt2"])
def test_fast_path_other_architecture(arch, tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    _, tok = tiny_model_and_tokenizer()
    cfg = GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=2, n_head=2, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(cfg)
    _check_same(model, _batch(tok))
    assert lp_mod._KEEP_SUPPORT[GPT2LMHeadModel] is True
