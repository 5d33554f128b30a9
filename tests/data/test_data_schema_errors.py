"""Every kind of bad input is reported with its file, line and field -- never silently dropped."""

from __future__ import annotations

import json

import pytest

from froc.data import QAItem, load_items, load_request, save_items, validate_records
from froc.errors import DataError

GOOD = {"id": "a1", "subject": "Talven Orsk", "question": "Where was Talven Orsk born?", "answer": "Velmora",
        "perturbed_answers": ["Castrel", "Dunhaven"]}


def rec(**kw):
    d = dict(GOOD)
    d.update(kw)
    return {k: v for k, v in d.items() if v is not ...}


def write_jsonl(path, records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    return path


def error_of(path, **kw) -> DataError:
    with pytest.raises(DataError) as exc:
        load_items(path, **kw)
    return exc.value


def assert_names(err: DataError, file, line, field=None, *words):
    """The message names the file and line (and field), and the offending Problem carries them."""
    msg = str(err)
    assert f"{file}:{line}" in msg
    hits = [p for p in err.problems if p.line == line and (field is None or p.field == field)]
    assert hits, msg
    if field is not None:
        assert f"field '{field}'" in msg
    for w in words:
        assert w in msg, (w, msg)


def test_malformed_json_names_line_and_column(tmp_path):
    bad = '{"id": "a2", "subject": oops}'
    f = write_jsonl(tmp_path / "a.jsonl", [rec(), bad])
    err = error_of(f)
    assert_names(err, f, 2, None, "malformed JSON", f"column {bad.index('oops') + 1}")


def test_missing_and_empty_fields(tmp_path):
    f = write_jsonl(tmp_path / "a.jsonl", [rec(), rec(id="a2", answer=...), rec(id="a3", subject="  ")])
    err = error_of(f)
    assert_names(err, f, 2, "answer", "missing required field")
    assert_names(err, f, 3, "subject", "is empty")


def test_wrong_types(tmp_path):
    f = write_jsonl(tmp_path / "a.jsonl", [rec(), rec(id="a2", answer=1961), rec(id="a3", perturbed_answers="x"),
                                           rec(id="a4", meta=["x"]), rec(id="a5", perturbed_answers=["ok", 3])])
    err = error_of(f)
    assert_names(err, f, 2, "answer", "expected a non-empty string, got number 1961")
    assert_names(err, f, 3, "perturbed_answers", "expected a list")
    assert_names(err, f, 4, "meta", "expected an object")
    assert_names(err, f, 5, "perturbed_answers", "element 1 is number")


def test_non_utf8_bytes_name_line_and_byte_offset(tmp_path):
    f = tmp_path / "a.jsonl"
    first = json.dumps(rec()).encode() + b"\n"
    f.write_bytes(first + b'{"id": "a2", "subject": "caf\xe9"}\n')
    err = error_of(f)
    col = len(b'{"id": "a2", "subject": "caf')
    assert_names(err, f, 2, None, "not valid UTF-8", "0xe9", f"byte {col} of the line",
                 f"byte offset {len(first) + col} in the file")


@pytest.mark.parametrize("name, content, line", [
    ("a.json", b'[\n {"text": "ok"},\n {"text": "caf\xe9"},\n {"text": "fine"}\n]\n', 3),
    ("a.csv", b'text\nok\ncaf\xe9\nfine\n', 3),
    ("a.txt", b'ok\ncaf\xe9\nfine\n', 2),
])
def test_non_utf8_in_every_text_format_is_the_only_problem(tmp_path, name, content, line):
    f = tmp_path / name
    f.write_bytes(content)
    err = error_of(f, kind="refusal")
    assert len(err.problems) == 1  # the rest of the file still parses: no knock-on errors
    assert_names(err, f, line, None, "not valid UTF-8", "0xe9")


def test_utf8_bom_is_accepted(tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_bytes(b"\xef\xbb\xbf" + json.dumps(rec()).encode() + b"\n")
    assert load_items(f)[0].id == "a1"


def test_duplicate_ids(tmp_path):
    f = write_jsonl(tmp_path / "a.jsonl", [rec(), rec(question="Another question?")])
    assert_names(error_of(f), f, 2, "id", "duplicate id 'a1'", "line/row 1")


def test_unknown_field_lists_valid_fields(tmp_path):
    f = write_jsonl(tmp_path / "a.jsonl", [rec(), rec(id="a2", answr="x")])
    assert_names(error_of(f), f, 2, "answr", "unknown field", "valid fields: answer, form, id, meta, "
                 "paraphrased_answer, perturbed_answers, question, reasoning, subject")


def test_unknown_form_lists_valid_forms(tmp_path):
    f = write_jsonl(tmp_path / "a.jsonl", [rec(form="essay")])
    assert_names(error_of(f), f, 1, "form", "unknown form 'essay'", "qa, paraphrase, cloze, mcq, yesno, reverse, reasoning")


def test_perturbed_answer_equal_to_gold(tmp_path):
    f = write_jsonl(tmp_path / "a.jsonl", [rec(perturbed_answers=["Castrel", " velmora "])])
    assert_names(error_of(f), f, 1, "perturbed_answers", "element 1", "equals the gold answer")


def test_mixed_kinds(tmp_path):
    f = write_jsonl(tmp_path / "a.jsonl", [rec(), {"id": "t1", "subject": "x", "text": "a passage"}])
    assert_names(error_of(f), f, 2, None, "'text' record", "holds 'qa' records", "line/row 1")
    g = write_jsonl(tmp_path / "b.jsonl", [{"text": "I don't know."}, {"id": "t1", "subject": "x", "text": "hi"}])
    assert_names(error_of(g), g, 2, None, "'text' record", "holds 'refusal' records")


def test_text_record_missing_subject_is_a_missing_field_not_mixed_kinds(tmp_path):
    f = write_jsonl(tmp_path / "a.jsonl", [{"id": "t1", "subject": "x", "text": "a"}, {"id": "t2", "text": "b"}])
    assert_names(error_of(f), f, 2, "subject", "missing required field")


def test_explicit_kind_mismatch(tmp_path):
    f = write_jsonl(tmp_path / "a.jsonl", [rec()])
    assert_names(error_of(f, kind="text"), f, 1, None, "'qa' record", "holds 'text' records", "given as kind")


def test_empty_file_and_blank_lines(tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_text("\n  \n", encoding="utf-8")
    assert "no records" in str(error_of(f))
    g = write_jsonl(tmp_path / "b.jsonl", [rec(), "", rec(id="a2", question="Q2?")])
    assert [it.id for it in load_items(g)] == ["a1", "a2"]


def test_every_offending_line_is_listed_up_to_the_limit(tmp_path):
    f = write_jsonl(tmp_path / "a.jsonl", [rec()] + [rec(id=f"b{i}", answer="") for i in range(120)])
    err = error_of(f)
    assert err.total == 120 and len(err.problems) == 120
    msg = str(err)
    assert msg.count("field 'answer'") == 50 and "... and 70 more problem(s)" in msg


def test_csv_row_errors_name_line_and_field(tmp_path):
    f = tmp_path / "a.csv"
    f.write_text('id,subject,question,answer,perturbed_answers\n'
                 'a1,S,Q1?,A,"[""B""]"\n'
                 'a2,S,"a question\nover two lines?",A,"[""B"",]"\n'
                 'a3,S,Q3?,,\n', encoding="utf-8")
    err = error_of(f)
    assert_names(err, f, 3, "perturbed_answers", "expected a JSON list of strings")
    assert_names(err, f, 5, "answer", "missing required field")


def test_unsupported_extension_and_missing_file(tmp_path):
    f = tmp_path / "a.xml"
    f.write_text("<a/>")
    assert "unsupported format '.xml'" in str(error_of(f))
    assert "no such file" in str(error_of(tmp_path / "nope.jsonl"))


def test_max_answer_chars_truncates_with_warnings(tmp_path):
    f = write_jsonl(tmp_path / "a.jsonl", [rec(answer="x" * 30), rec(id="a2", question="Q2?")])
    loaded = load_items(f, max_answer_chars=10)
    assert loaded[0].answer == "x" * 10 and loaded[1].answer == "Velmora"
    (w,) = loaded.warnings
    assert (w.line, w.field) == (1, "answer") and "30 characters" in w.message and "truncated" in w.message


def test_validate_records_is_pure():
    problems = validate_records([GOOD, {**GOOD, "answer": 3}], None, "mem")
    assert [(p.line, p.field) for p in problems] == [(2, "answer"), (2, "id")]


# ---------------------------------------------------------------- cross-file rules


def test_forget_item_in_retain_names_both_files_and_lines(tmp_path):
    forget = write_jsonl(tmp_path / "forget.jsonl", [rec(), rec(id="f2", question="Who is Talven Orsk?", answer="a poet")])
    retain = write_jsonl(tmp_path / "retain.jsonl", [rec(id="r1", question="Q?", answer="B"), rec(),
                                                     rec(id="r3", question="who is  TALVEN Orsk?", answer="A poet")])
    with pytest.raises(DataError) as exc:
        load_request(forget, retain)
    msg = str(exc.value)
    assert f"{forget}:1 field 'id'" in msg and f"{retain}:2, same id" in msg
    assert f"{forget}:2 field 'question'" in msg and f"{retain}:3, same normalised question and answer" in msg


def test_empty_forget_request(tmp_path):
    forget = tmp_path / "forget.jsonl"
    forget.write_text("")
    retain = write_jsonl(tmp_path / "retain.jsonl", [rec()])
    with pytest.raises(DataError, match="forget request is empty"):
        load_request(forget, retain)


def test_request_ok_and_probe_warning(tmp_path):
    forget = save_items([QAItem(**GOOD)], tmp_path / "forget.jsonl")
    retain = save_items([QAItem(**{**GOOD, "id": "r1", "question": "Q?"})], tmp_path / "retain.csv")
    probes = save_items([QAItem(**{**GOOD, "id": "p1", "meta": {"group": "forget"}}),
                         QAItem(**{**GOOD, "id": "p2", "meta": {"template_split": "train", "group": "forget"}})],
                        tmp_path / "probes.parquet")
    req = load_request(forget, retain, probes)
    assert len(req.forget) == len(req.retain) == 1 and len(req.probes) == 2
    (w,) = req.warnings
    assert w.line == 1 and "forget request" in w.message
