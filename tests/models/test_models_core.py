"""Prompt encoding, log-probs, loading/saving (safetensors, LoRA) and the SFT trainer on a tiny model."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from froc.errors import ConfigError
from froc.models.encoding import IGNORE, collate, collate_prompts, encode_prompt, encode_qa, length_buckets
from froc.models.loading import apply_lora, load_model, resolve_device, resolve_dtype, save_model
from froc.models.logprobs import logprobs_from_logits, sequence_logprobs
from froc.models.sft import SFTConfig, answer_exact_match, train_sft
from froc.models.tiny import tiny_model_and_tokenizer


@pytest.fixture(scope="module")
def tiny():
    return tiny_model_and_tokenizer(seed=0)


def qa(q, a):
    return SimpleNamespace(question=q, answer=a)


def test_encode_qa_masks_prompt_and_padding(tiny):
    _, tok = tiny
    e1 = encode_qa(tok, "Where was Alda Voss born?", "Marrow Bay")
    e2 = encode_qa(tok, "Who?", "cartographer")
    assert e1.ids[: e1.n_prompt] == encode_prompt(tok, "Where was Alda Voss born?")
    assert e1.ids[-1] == tok.eos_token_id and e1.ids[0] == tok.bos_token_id
    b = collate([e1, e2], tok.pad_token_id)
    T = max(len(e1.ids), len(e2.ids))
    assert b["input_ids"].shape == (2, T)
    # labels: -100 on the prompt and on padding, the token ids on the answer
    assert (b["labels"][0, : e1.n_prompt] == IGNORE).all()
    assert b["labels"][0, e1.n_prompt:].tolist() == e1.ids[e1.n_prompt:]
    assert (b["labels"][1, len(e2.ids):] == IGNORE).all() and (b["attention_mask"][1, len(e2.ids):] == 0).all()
    left = collate_prompts([[5, 6, 7], [8]], pad_id=0)
    assert left["input_ids"].tolist() == [[5, 6, 7], [0, 0, 8]] and left["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1]]


def test_length_buckets_sorted_and_deterministic():
    lengths = [5, 1, 9, 3, 7, 2]
    b = length_buckets(lengths, 2)
    assert b == [[1, 5], [3, 0], [4, 2]]
    assert length_buckets(lengths, 2, shuffle=True, seed=3) == length_buckets(lengths, 2, shuffle=True, seed=3)
    assert sorted(sum(length_buckets(lengths, 4, shuffle=True, seed=1), [])) == list(range(6))
    with pytest.raises(ValueError):
        length_buckets(lengths, 0)


def test_logprobs_from_logits_by_hand():
    """V=2, one sequence [a, b, c] with labels [-100, 1, 0]: logits at t=0 are (0, ln 3) so
    log p(1) = ln(3/4); at t=1 logits (0, 0) so log p(0) = ln(1/2); the last position is unused."""
    logits = torch.tensor([[[0.0, torch.log(torch.tensor(3.0))], [0.0, 0.0], [5.0, 1.0]]])
    labels = torch.tensor([[IGNORE, 1, 0]])
    logp, mask = logprobs_from_logits(logits, labels)
    torch.testing.assert_close(logp, torch.tensor([[torch.log(torch.tensor(0.75)), torch.log(torch.tensor(0.5))]]))
    assert mask.tolist() == [[1.0, 1.0]]


def test_sequence_logprobs_ignore_padding(tiny):
    """The summed answer log-prob of a sequence does not change when it is padded in a batch."""
    model, tok = tiny
    e1, e2 = encode_qa(tok, "Where was Alda Voss born?", "Marrow Bay"), encode_qa(tok, "Who?", "a")
    with torch.no_grad():
        alone, n_alone = sequence_logprobs(model, collate([e2], tok.pad_token_id))
        both, n_both = sequence_logprobs(model, collate([e1, e2], tok.pad_token_id))
    torch.testing.assert_close(both[1], alone[0], atol=1e-5, rtol=1e-5)
    assert n_both[1] == n_alone[0] == e2.n_answer


def test_save_load_roundtrip_identical_logits(tiny, tmp_path):
    model, tok = tiny
    save_model(model, tok, tmp_path / "m")
    assert (tmp_path / "m" / "model.safetensors").is_file()
    m2, t2 = load_model(tmp_path / "m", device="cpu")
    batch = collate([encode_qa(tok, "Who wrote the book?", "Alda Voss")], tok.pad_token_id)
    with torch.no_grad():
        a = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        b = m2(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert torch.equal(a, b)
    assert t2("Marrow Bay")["input_ids"] == tok("Marrow Bay")["input_ids"]


def test_load_model_errors_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_model(tmp_path / "nope")
    f = tmp_path / "file.bin"
    f.write_bytes(b"x")
    with pytest.raises(ConfigError, match="is a file"):
        load_model(f)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="config.json is missing"):
        load_model(tmp_path / "empty")
    d = tmp_path / "pickle"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (d / "pytorch_model.bin").write_bytes(b"\x80")
    with pytest.raises(ConfigError, match="pickle checkpoints are not loaded"):
        load_model(d)
    (d / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_model(d)


def test_device_and_dtype_resolution():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("bf16") == torch.bfloat16
    with pytest.raises(ConfigError, match="valid dtypes"):
        resolve_dtype("int3")
    with pytest.raises(ConfigError, match="valid devices"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda")


def test_lora_trains_only_adapters_and_merges(tmp_path):
    model, tok = tiny_model_and_tokenizer(seed=1)
    pm = apply_lora(model, {"r": 4, "alpha": 8})
    trainable = [n for n, p in pm.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    save_model(pm, tok, tmp_path / "merged", merge_lora=True)
    m2, _ = load_model(tmp_path / "merged", device="cpu")
    assert not any("lora" in n for n, _ in m2.named_parameters())


def test_sft_learns_and_exact_match(tiny):
    model, tok = tiny_model_and_tokenizer(seed=2)
    items = [qa("Where was Alda Voss born?", "Marrow Bay"), qa("What is the occupation of Brin Tallo?", "cartographer")]
    assert not answer_exact_match(model, tok, items).any()
    res = train_sft(model, tok, items, SFTConfig(epochs=60, lr=1e-2, batch_size=2, bf16=False, warmup_frac=0.0),
                    progress=False)
    assert res.losses[-1] < 0.1 * res.losses[0]
    assert answer_exact_match(model, tok, items).all()
    # exact match means greedy decoding reproduces the answer
    ids = torch.tensor([encode_prompt(tok, items[0].question)])
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=8, do_sample=False,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    assert tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip() == "Marrow Bay"


def test_sft_is_seeded():
    items = [qa("Where was Alda Voss born?", "Marrow Bay")]
    w = []
    for _ in range(2):
        model, tok = tiny_model_and_tokenizer(seed=3)
        train_sft(model, tok, items, SFTConfig(epochs=3, lr=1e-3, batch_size=1, bf16=False), progress=False)
        w.append(model.model.embed_tokens.weight.detach().clone())
    assert torch.equal(w[0], w[1])


def test_lora_on_conv1d_and_llama_models_raises_no_library_warnings():
    """Issue 17 §6: froc's own LoRA wrapping made peft warn (fan_in_fan_out on GPT-2's Conv1D layers) and
    trip transformers' deprecated is_gradient_checkpointing alias. Neither may reach the user."""
    import warnings

    from transformers import GPT2Config, GPT2LMHeadModel

    from froc.models.loading import apply_lora
    from froc.models.tiny import tiny_model_and_tokenizer

    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50, bos_token_id=0, eos_token_id=0))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        lora = apply_lora(gpt2, {"target_modules": ["c_attn"]})
        apply_lora(tiny_model_and_tokenizer()[0])
    assert [str(x.message) for x in w] == []
    assert lora.peft_config["default"].fan_in_fan_out is True
