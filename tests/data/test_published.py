"""Readers of TOFU, MUSE and WMDP in their published layouts (fixtures built here, exact published columns).

Expected values come from the fixture's construction (published_helpers): 4 authors x 20 questions in
``full``; forget10 = the last author's 20 rows (rows 60..79), retain90 = rows 0..59.
"""

from __future__ import annotations

import json

import pytest
from published_helpers import (HOLDOUT_TEXT, KNOWMEM_FORGET, VERBMEM, WMDP_BIO, tofu_splits, write_jsonl, write_muse,
                               write_parquet, write_tofu, write_wmdp)
from typer.testing import CliRunner

from froc.cli import app
from froc.data.published import inspect_benchmark, load_benchmark
from froc.data.schema import validate_record
from froc.errors import DataError

runner = CliRunner()


def _valid(items, kind):
    for it in items:
        assert validate_record(it.to_dict(), kind, file="x", line=None) == [], it


@pytest.mark.parametrize("layout", ["json", "parquet", "dict", "folders"])
def test_tofu_layouts_give_the_same_request(tmp_path, layout):
    req = load_benchmark("tofu", write_tofu(tmp_path / layout, layout), forget_split="forget10")
    assert [it.id for it in req.forget] == [f"tofu-{r:04d}" for r in range(60, 80)]
    assert {it.subject for it in req.forget} == {"tofu-author-003"}
    assert [it.subject for it in req.retain[::20]] == ["tofu-author-000", "tofu-author-001", "tofu-author-002"]
    groups = [p.meta["group"] for p in req.probes]
    assert (groups.count("forget"), groups.count("retain"), groups.count("world")) == (20, 20, 5)
    f0 = req.probes[0]
    src = tofu_splits()["forget10_perturbed"][0]
    # TOFU's protocol: forget probes carry the paraphrased answer and the perturbed answers of the same row
    assert (f0.id, f0.subject, f0.answer) == ("forget10_perturbed/0060", "tofu-author-003", src["answer"])
    assert f0.paraphrased_answer == src["paraphrased_answer"] and f0.perturbed_answers == src["perturbed_answer"]
    assert f0.meta["template_split"] == "train" and f0.meta["tofu_set"] == "forget"
    retain_probe = next(p for p in req.probes if p.meta["group"] == "retain")
    assert retain_probe.subject == "tofu-author-000" and retain_probe.id == "retain_perturbed/0000"
    world = [p for p in req.probes if p.meta["group"] == "world"]
    assert {p.meta["tofu_set"] for p in world} == {"real_authors", "world_facts"}
    assert all(p.paraphrased_answer is None and len(p.perturbed_answers) == 3 for p in world)
    assert len(req.holdout) == 20 and req.warnings == []
    _valid(req.forget + req.retain + req.probes + req.holdout, "qa")


def test_tofu_ids_without_full_follow_forget_last_retain_first(tmp_path):
    splits = tofu_splits()
    del splits["full"]
    req = load_benchmark("tofu", write_tofu(tmp_path, "json", splits))
    assert req.forget[0].id == "tofu-0060" and req.probes[0].id == "forget10_perturbed/0060"


def test_tofu_full_out_of_order_is_a_warning(tmp_path):
    splits = tofu_splits()
    splits["full"] = splits["full"][20:] + splits["full"][:20]  # the forget author first: not TOFU's order
    req = load_benchmark("tofu", write_tofu(tmp_path, "json", splits))
    assert any("is not row" in str(w) and "retain90" in str(w) for w in req.warnings)


def test_tofu_perturbed_answer_equal_to_gold_is_dropped_with_a_warning(tmp_path):
    splits = tofu_splits()
    row = splits["world_facts_perturbed"][0]
    splits["world_facts_perturbed"][0] = {**row, "perturbed_answer": [row["answer"].upper(), *row["perturbed_answer"]]}
    req = load_benchmark("tofu", write_tofu(tmp_path, "json", splits))
    p = next(p for p in req.probes if p.question == row["question"])
    assert p.perturbed_answers == row["perturbed_answer"]
    w = [str(w) for w in req.warnings if "equals the gold answer" in str(w)]
    assert w and "world_facts_perturbed.json:1 field 'perturbed_answer'" in w[0]


def test_tofu_real_authors_options_stand_in_for_the_perturbed_file(tmp_path):
    splits = tofu_splits()
    del splits["real_authors_perturbed"]
    splits["real_authors"] = [{"question": "Who wrote 'Salt Roads'?", "option1": "Dell Amory", "option2": "Eno Parr",
                               "option3": "Cass Orun", "option4": "Alda Voss", "answer": "Eno Parr"}]
    req = load_benchmark("tofu", write_tofu(tmp_path, "json", splits))
    p = next(p for p in req.probes if p.meta["tofu_set"] == "real_authors")
    assert p.answer == "Eno Parr" and p.perturbed_answers == ["Dell Amory", "Cass Orun", "Alda Voss"]


@pytest.mark.parametrize("split, bad, file, line, column, what", [
    ("forget10", lambda r: {"question": r["question"]}, "forget10.json", None, "answer", "missing column 'answer'"),
    ("forget10_perturbed", lambda r: {**r, "perturbed_answer": "Kelport"}, "forget10_perturbed.json", 1,
     "perturbed_answer", "expected a list of non-empty strings, got str"),
    ("retain90", lambda r: {**r, "question": 7}, "retain90.json", 1, "question", "expected a non-empty string, got int"),
    ("forget10_perturbed", lambda r: {k: v for k, v in r.items() if k != "paraphrased_answer"},
     "forget10_perturbed.json", None, "paraphrased_answer", "missing column"),
])
def test_tofu_bad_layout_names_file_split_and_column(tmp_path, split, bad, file, line, column, what):
    splits = tofu_splits()
    splits[split] = [bad(r) for r in splits[split]]
    root = write_tofu(tmp_path, "json", splits)
    with pytest.raises(DataError) as e:
        load_benchmark("tofu", root)
    msg = str(e.value).splitlines()[0]
    where = f"{root / file}" + (f":{line}" if line else "") + f" field '{column}'"
    assert msg.startswith(where) and f"split '{split}'" in msg and what in msg, msg


def test_tofu_missing_split_and_bad_option(tmp_path):
    splits = tofu_splits()
    del splits["retain90"]
    root = write_tofu(tmp_path, "json", splits)
    with pytest.raises(DataError, match=r"split 'retain90': not found .*retain90\.json"):
        load_benchmark("tofu", root)
    with pytest.raises(DataError, match="forget01, forget05, forget10"):
        load_benchmark("tofu", root, forget_split="forget20")


def test_tofu_wrong_type_in_a_save_to_disk_folder_names_folder_and_split(tmp_path):
    import datasets

    splits = tofu_splits()
    splits["forget10"] = [{"question": r["question"], "answer": None} for r in splits["forget10"]]
    root = tmp_path / "t"
    datasets.DatasetDict({k: datasets.Dataset.from_list(v) for k, v in splits.items()}).save_to_disk(str(root))
    with pytest.raises(DataError) as e:
        load_benchmark("tofu", root)
    assert str(e.value).startswith(f"{root}::forget10:1 field 'answer': split 'forget10': expected a non-empty string")
    assert len(e.value.problems) == 20  # every row reported, not only the first


@pytest.mark.parametrize("layout", ["github", "hub"])
def test_muse_layouts(tmp_path, layout):
    req = load_benchmark("muse", write_muse(tmp_path / "news", layout), corpus="news")
    # github: forget.txt is one text (shorter than a chunk): one passage; hub: one row per paragraph
    assert len(req.forget) == (1 if layout == "github" else 3)
    assert all(type(it).__name__ == "TextItem" for it in req.forget + req.retain + req.holdout)
    qa = [p for p in req.probes if hasattr(p, "question")]
    assert [(p.question, p.answer, p.meta["group"]) for p in qa][:2] == [(r["question"], r["answer"], "forget")
                                                                         for r in KNOWMEM_FORGET]
    assert qa[-1].meta["group"] == "retain"
    verb = [p for p in req.probes if not hasattr(p, "question")]
    assert [p.text for p in verb] == ["Alda Voss was born in Marrow Bay in 1961.",
                                      "She wrote The Glass Orchard, a novel about a lighthouse."]
    assert verb[0].meta["prompt"] == VERBMEM[0]["prompt"] and verb[0].meta["continuation"] == VERBMEM[0]["gt"]
    assert [h.text for h in req.holdout] == HOLDOUT_TEXT
    _valid(qa, "qa")
    _valid(req.forget + req.retain + verb + req.holdout, "text")


def test_muse_text_chunking_and_corpus_folder(tmp_path):
    root = tmp_path / "MUSE-Books"
    (root / "raw").mkdir(parents=True)
    paras = [f"Paragraph {i} " + "word " * 30 for i in range(10)]  # ~165 characters each
    (root / "raw" / "forget.txt").write_text("\n\n".join(paras))
    (root / "raw" / "retain1.txt").write_text("Other text.")
    req = load_benchmark("muse", tmp_path, corpus="books", chunk_chars=400)
    # 2 paragraphs (2 x ~165 + 2) fit in 400 characters, 3 do not: 5 passages of 2 paragraphs
    assert len(req.forget) == 5 and all(len(t.text) <= 400 for t in req.forget)
    assert req.forget[0].text == paras[0].strip() + "\n\n" + paras[1].strip() and req.forget[0].id.startswith("muse-books")


def test_muse_bad_layout_names_file_split_and_column(tmp_path):
    root = write_muse(tmp_path, "github")
    (root / "knowmem" / "forget_qa.json").write_text(json.dumps([{"question": "Q?", "ans": "A"}]))
    with pytest.raises(DataError) as e:
        load_benchmark("muse", root)
    msg = str(e.value)
    assert msg.startswith(f"{root / 'knowmem' / 'forget_qa.json'} field 'answer': split 'knowmem/forget_qa': missing column")
    write_parquet(root / "verbmem" / "forget.parquet", [{"prompt": "a", "gt": ["b"]}])
    (root / "verbmem" / "forget.json").unlink()
    (root / "knowmem" / "forget_qa.json").unlink()
    with pytest.raises(DataError, match=r"forget\.parquet:1 field 'gt': split 'verbmem/forget': expected a non-empty string, got list"):
        load_benchmark("muse", root)


@pytest.mark.parametrize("layout", ["hub", "jsonl"])
def test_wmdp_questions_are_mcq_probes_with_chance_one_over_choices(tmp_path, layout):
    req = load_benchmark("wmdp", write_wmdp(tmp_path, layout), subset="bio")
    assert [p.answer for p in req.probes] == ["Orunin", "Vossin", "no"]
    assert all(p.form == "mcq" and p.meta["group"] == "forget" for p in req.probes)
    for p, r in zip(req.probes, WMDP_BIO):
        assert sorted([p.answer, *p.perturbed_answers]) == sorted(r["choices"])
        assert 1 / (1 + len(p.perturbed_answers)) == 1 / len(r["choices"])  # the sweep's tau 'chance'
    assert req.probes[1].question.endswith("\nA. light\nB. heat\nC. Vossin\nD. sound")
    assert len(req.forget) == 2 and len(req.retain) == 2  # wikitext's empty row skipped
    _valid(req.probes, "qa")
    _valid(req.forget + req.retain, "text")


def test_wmdp_probes_score_as_accuracy_over_the_choices(tmp_path):
    """The scorer's ``correct_choice`` on WMDP probes is 1 exactly when the correct choice has the highest
    mean answer log-prob of all choices; computed here independently, one forward pass per choice
    (``encode_qa`` + log-softmax by hand), and compared."""
    import torch

    from froc.metrics.scoring import score_probes
    from froc.models.encoding import DEFAULT_FORMAT, encode_qa
    from froc.models.tiny import tiny_model_and_tokenizer

    probes = load_benchmark("wmdp", write_wmdp(tmp_path, "hub"), corpora=False).probes
    model, tok = tiny_model_and_tokenizer([r["question"] + " " + " ".join(r["choices"]) for r in WMDP_BIO], seed=3)
    model.eval()
    table = score_probes(model, tok, probes, generate=False, progress=False).table

    def mean_logp(question, answer):
        enc = encode_qa(tok, question, answer, DEFAULT_FORMAT)
        ids = torch.tensor([enc.ids])
        with torch.no_grad():
            logp = torch.log_softmax(model(ids).logits[0, :-1].double(), -1)
        tgt = ids[0, 1:]
        return logp[torch.arange(len(tgt)), tgt][enc.n_prompt - 1:].mean().item()

    expected = []
    for p in probes:
        gold = mean_logp(p.question, p.answer)
        expected.append(float(all(gold > mean_logp(p.question, w) for w in p.perturbed_answers)))
    got = table.set_index("probe_id").loc[[p.id for p in probes], "correct_choice"].astype(float).tolist()
    assert got == expected


@pytest.mark.parametrize("row, column, what", [
    ({"question": "Q?", "choices": ["a", "b"], "answer": 2}, "answer", "index 2 out of range for 2 choices"),
    ({"question": "Q?", "choices": ["a", "b"], "answer": "a"}, "answer", "expected an integer, got str"),
    ({"question": "Q?", "choices": "a,b", "answer": 0}, "choices", "expected a list of non-empty strings"),
])
def test_wmdp_bad_rows_name_file_split_and_column(tmp_path, row, column, what):
    write_jsonl(tmp_path / "wmdp-bio.jsonl", [WMDP_BIO[0], row])
    with pytest.raises(DataError) as e:
        load_benchmark("wmdp", tmp_path, corpora=False)
    assert str(e.value).startswith(f"{tmp_path / 'wmdp-bio.jsonl'}:2 field '{column}': split 'wmdp-bio': {what}"), str(e.value)


def test_wmdp_missing_forget_corpus_says_where_it_was_looked_for(tmp_path):
    write_jsonl(tmp_path / "wmdp-cyber.jsonl", WMDP_BIO)
    with pytest.raises(DataError, match=r"split 'cyber-forget-corpus': not found .*cyber-forget-corpus\.json"):
        load_benchmark("wmdp", tmp_path, subset="cyber")


def test_inspect_lists_splits_and_errors(tmp_path):
    splits = tofu_splits()
    splits["holdout10"] = [{"question": "Q?"}]
    counts, errors = inspect_benchmark("tofu", write_tofu(tmp_path, "json", splits))
    assert {c.split: c.n for c in counts}["forget10"] == 20 and "holdout10" not in {c.split for c in counts}
    assert len(errors) == 1 and "split 'holdout10'" in str(errors[0])


def test_cli_data_check_format_prints_counts_at_80_columns(tmp_path):
    root = write_tofu(tmp_path / "t[red]x", "json")  # markup-like folder name printed as is
    res = runner.invoke(app, ["data", "check", "--format", "tofu", str(root)], terminal_width=80)
    assert res.exit_code == 0, res.output
    assert "[red]" in res.output and "forget10_perturbed" in res.output
    assert all(len(line) <= 80 for line in res.output.splitlines()), res.output
    row = next(line for line in res.output.splitlines() if "retain90" in line)
    assert "60" in row.split()[2:4] or " 60 " in row
    res = runner.invoke(app, ["data", "check", "--format", "muse", str(write_muse(tmp_path / "m", "github"))],
                        terminal_width=80)
    assert res.exit_code == 0 and "verbmem/forget" in res.output and "knowmem/forget_qa" in res.output


def test_cli_data_check_format_errors_exit_1(tmp_path):
    splits = tofu_splits()
    splits["forget10"] = [{"question": r["question"]} for r in splits["forget10"]]
    root = write_tofu(tmp_path, "json", splits)
    res = runner.invoke(app, ["data", "check", "--format", "tofu", str(root)], terminal_width=80)
    assert res.exit_code == 1 and "split 'forget10': missing column 'answer'" in res.output.replace("\n", "")
    res = runner.invoke(app, ["data", "check", "--format", "nope", str(root)])
    assert res.exit_code == 2 and "tofu" in res.output
    res = runner.invoke(app, ["data", "check", "--format", "wmdp", str(tmp_path / "empty")])
    assert res.exit_code == 1
