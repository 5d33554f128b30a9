"""Issue 13, section 3: encoding exact for real tokenizers and prompts (each test names the fault it pins).

The tokenizers are built here with the ``tokenizers`` library (no downloads): a Llama-2 / Mistral-v0.1 style
SentencePiece tokenizer (the normaliser prepends the word-boundary mark "▁" and turns spaces into it; the
post-processor adds BOS) and a GPT-2 style byte-level BPE (no BOS added by the tokenizer).
"""

from __future__ import annotations

import warnings

import pytest
import torch
from numpy.testing import assert_allclose

from froc.data.schema import QAItem, TextItem
from froc.errors import ConfigError
from froc.models.encoding import (PromptFormat, encode_prompt, encode_qa, encode_text, load_format, model_format,
                                  resolve_format, save_format, special_prefix)

CORPUS = ["Question: Where was Alda Voss born?\nAnswer: Kelport", "Alda Voss was born in Kelport.",
          "Kelport is a city by the sea.", "Question: What does Brin Tallo do?\nAnswer: cartographer"] * 5
Q, A = "Where was Alda Voss born?", "Kelport"


def sentencepiece_tokenizer():
    """Llama-2 style: Prepend("▁") + Replace(" ", "▁") normaliser, split on "▁", BOS added by the tokenizer."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=150, special_tokens=["<unk>", "<s>", "</s>"],
                                                        min_frequency=1, show_progress=False))
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<unk>")


def gpt2_tokenizer():
    """GPT-2 style: byte-level BPE whose BOS = EOS = <|endoftext|>, and that adds no special token itself."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"], min_frequency=1,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                        show_progress=False))
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>")


@pytest.fixture(scope="module")
def sp():
    return sentencepiece_tokenizer()


@pytest.fixture(scope="module")
def gpt2():
    return gpt2_tokenizer()


# ------------------------------------------------------------------ answers tokenized apart from their prompt


def test_sentencepiece_answer_alone_gains_a_boundary_token(sp):
    """The fault's premise: " Kelport" alone starts with a lone "▁" that the whole string does not have."""
    alone = sp.convert_ids_to_tokens(sp(" " + A, add_special_tokens=False)["input_ids"])
    whole = sp.convert_ids_to_tokens(sp(f"Question: {Q}\nAnswer: {A}", add_special_tokens=False)["input_ids"])
    assert alone[0] == "▁" and "▁" not in whole


def test_qa_ids_are_the_whole_string_tokenized_once(sp):
    """ids = BOS + tokenizer(prompt + " " + answer) + EOS; before issue 13 the answer was tokenized alone
    (an extra "▁" token scored as part of the answer)."""
    e = encode_qa(sp, Q, A)
    whole = sp(f"Question: {Q}\nAnswer: {A}", add_special_tokens=False)["input_ids"]
    prompt = sp(f"Question: {Q}\nAnswer:", add_special_tokens=False)["input_ids"]
    assert e.ids == [sp.bos_token_id, *whole, sp.eos_token_id]
    assert e.n_prompt == 1 + len(prompt)
    assert sp.decode(e.ids[e.n_prompt:], skip_special_tokens=True) == A


def test_boundary_inside_a_token_cuts_at_the_first_token_past_the_prompt(sp):
    """Template ending in a space: the prompt alone ends with "▁", the whole string has "▁Kelport" there; the
    ids stay the whole string's and the answer starts at "▁Kelport" (the token that ends after the prompt)."""
    fmt = PromptFormat(template="Question: {question}\nAnswer: ", answer_prefix="")
    e = encode_qa(sp, Q, A, fmt)
    whole = sp(f"Question: {Q}\nAnswer: {A}", add_special_tokens=False)["input_ids"]
    assert e.ids == [sp.bos_token_id, *whole, sp.eos_token_id]
    assert sp.convert_ids_to_tokens(e.ids[e.n_prompt:-1]) == sp.convert_ids_to_tokens(
        sp(f"Question: {Q}\nAnswer: {A}", add_special_tokens=False)["input_ids"])[-len(e.ids[e.n_prompt:-1]):]
    assert sp.decode(e.ids[e.n_prompt:], skip_special_tokens=True).strip() == A


def test_scored_answer_probability_is_the_models_on_the_whole_string(sp):
    """P(answer) from score_probes equals the product of the model's next-token probabilities on the whole
    string's answer tokens (computed here directly from one forward pass)."""
    from froc.metrics.scoring import score_probes
    from froc.models.build import build_llama

    model = build_llama(sp, "tiny", seed=0).eval()
    item = QAItem(id="a", subject="s", question=Q, answer=A)
    t = score_probes(model, sp, [item], generate=False, progress=False).table
    whole = sp(f"Question: {Q}\nAnswer: {A}", add_special_tokens=False)["input_ids"]
    ids = [sp.bos_token_id, *whole, sp.eos_token_id]
    n_prompt = 1 + len(sp(f"Question: {Q}\nAnswer:", add_special_tokens=False)["input_ids"])
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].double(), -1)
    expected = sum(float(logp[i - 1, ids[i]]) for i in range(n_prompt, len(ids)))
    assert t.gold_len[0] == len(ids) - n_prompt
    assert_allclose(t.gold_logp_sum[0], expected, rtol=1e-5)


def test_training_and_attacks_encode_the_same_way(sp):
    """Training (engine data, SFT) and attacks go through encode_item / encode_qa: the same ids."""
    from froc.models.encoding import encode_item

    item = QAItem(id="a", subject="s", question=Q, answer=A)
    assert encode_item(sp, item).ids == encode_qa(sp, Q, A).ids


# ------------------------------------------------------------------ special tokens the model never saw


def test_bos_follows_the_tokenizers_own_convention(sp, gpt2):
    """GPT-2 style tokenizers add no BOS: neither does froc (it used to prepend one to every prompt)."""
    assert special_prefix(gpt2) == [] and special_prefix(sp) == [sp.bos_token_id]
    p = encode_prompt(gpt2, Q)
    assert p == gpt2(f"Question: {Q}\nAnswer:", add_special_tokens=False)["input_ids"]
    assert p[0] != gpt2.bos_token_id
    assert encode_text(gpt2, "Kelport is a city").ids == gpt2("Kelport is a city")["input_ids"]
    assert encode_prompt(sp, Q)[0] == sp.bos_token_id


def test_a_format_that_disagrees_with_the_tokenizer_warns(gpt2, sp):
    with pytest.warns(UserWarning, match="adds a BOS token but the model's tokenizer adds none"):
        resolve_format(PromptFormat(add_bos=True), gpt2)
    with pytest.warns(UserWarning, match="adds no BOS token"):
        resolve_format(PromptFormat(add_bos=False), sp)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_format(PromptFormat(), gpt2).add_bos is False
        assert resolve_format(PromptFormat(), sp).add_bos is True
    assert encode_prompt(gpt2, Q, PromptFormat(add_bos=True))[0] == gpt2.bos_token_id  # forced: as asked


# ------------------------------------------------------------------ chat templates

CHAT = ("{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")


def test_chat_template_with_optional_system_prompt(sp):
    tok = sentencepiece_tokenizer()
    tok.chat_template = CHAT
    fmt = PromptFormat(chat=True, system_prompt="Answer briefly.", answer_prefix="")
    text = "<s><|system|>\nAnswer briefly.\n<|user|>\n" + Q + "\n<|assistant|>\n"
    assert fmt.render(tok, Q) == text
    e = encode_qa(tok, Q, A, fmt)
    # the template writes the BOS itself: no second one is added
    assert e.ids == [*tok(text + A, add_special_tokens=False)["input_ids"], tok.eos_token_id]
    assert e.ids.count(tok.bos_token_id) == 1
    no_system = PromptFormat(chat=True).render(tok, Q)
    assert "<|system|>" not in no_system and no_system.endswith("<|assistant|>\n")
    with pytest.raises(ConfigError, match="has none"):
        PromptFormat(chat=True).render(sp, Q)
    with pytest.raises(ConfigError, match="needs chat=True"):
        PromptFormat(system_prompt="x")


# ------------------------------------------------------------------ EOS


def test_text_items_score_no_eos_and_qa_eos_is_an_option(sp):
    """A passage is not the end of its document: no EOS (it used to get one). QA: add_eos (default True, TOFU)."""
    text = "Alda Voss was born in Kelport."
    e = encode_text(sp, text)
    assert e.ids == sp(text)["input_ids"] and sp.eos_token_id not in e.ids
    assert encode_qa(sp, Q, A).ids[-1] == sp.eos_token_id
    assert encode_qa(sp, Q, A, PromptFormat(add_eos=False)).ids[-1] != sp.eos_token_id


def test_text_extraction_reference_is_not_cut_by_eos(sp):
    """MUSE VerbMem items (meta.prompt / meta.continuation): prompted with MUSE's prompt, compared with the
    whole continuation."""
    from froc.metrics.plan import plan_probes

    item = TextItem(id="v", subject="v", text="Alda Voss was born in Kelport.",
                    meta={"prompt": "Alda Voss was", "continuation": "born in Kelport."})
    plan = plan_probes(sp, [item])
    assert plan.prompts[0] == sp("Alda Voss was")["input_ids"]
    assert plan.references[0] == "born in Kelport."
    assert plan.seqs[0].ids == sp(item.text)["input_ids"]


# ------------------------------------------------------------------ the format travels with the model


def test_format_saved_next_to_the_model_and_read_back(tmp_path):
    fmt = PromptFormat(template="Q: {question}\nA:", add_eos=False)
    save_format(fmt, tmp_path)
    assert load_format(tmp_path) == fmt
    assert model_format(tmp_path) == fmt
    assert model_format(tmp_path, template="{question} ->").template == "{question} ->"
    assert model_format(tmp_path, system_prompt="s").chat is True
    assert model_format(tmp_path / "none") == PromptFormat()
    (tmp_path / "prompt_format.json").write_text('{"templat": "x"}')
    with pytest.raises(ConfigError, match="templat"):
        load_format(tmp_path)
    with pytest.raises(ConfigError, match="placeholder"):
        PromptFormat(template="no question here")


def test_eval_scores_with_the_model_folders_format(tmp_path):
    """evaluate(model_dir) reads prompt_format.json: a model unlearned under 'Q: ... A:' is scored under it."""
    from froc.metrics.evaluate import resolve_eval_format

    save_format(PromptFormat(template="Q: {question}\nA:"), tmp_path)
    assert resolve_eval_format(None, tmp_path).template == "Q: {question}\nA:"
    assert resolve_eval_format({"add_eos": False}, tmp_path) == PromptFormat(template="Q: {question}\nA:", add_eos=False)


def test_unlearned_model_carries_its_format(tmp_path):
    """froc unlearn with template 'Q: {question}\\nA:' saves it next to the weights (prompt_format.json), and a
    later `froc eval` of that folder scores under it (it used to score under 'Question: ...\\nAnswer:')."""
    from froc.engine import save_unlearned, unlearn
    from froc.metrics.evaluate import resolve_eval_format
    from froc.models.tiny import tiny_model_and_tokenizer

    model, tok = tiny_model_and_tokenizer()
    forget = [QAItem(id="f", subject="s", question=Q, answer=A)]
    res = unlearn(model, tok, forget, [], method="ga", steps=1, prompt_format={"template": "Q: {question}\nA:"})
    save_unlearned(res, tok, tmp_path)
    saved = load_format(tmp_path)
    assert saved == PromptFormat(template="Q: {question}\nA:", add_bos=True)  # add_bos as the tokenizer decided
    assert resolve_eval_format(None, tmp_path) == saved
