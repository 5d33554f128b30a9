"""Every loader format round-trips to the same items."""

from __future__ import annotations

import json

import pytest

from froc.data import QAItem, RefusalItem, TextItem, load_items, save_items
from froc.errors import DataError

QA = [
    QAItem(id="q1", subject="Talven Orsk", question='Where was Talven Orsk born, "really"?', answer="Velmora",
           paraphrased_answer="born in Velmora", perturbed_answers=["Castrel", "Dunhaven", "Port Aldane"],
           meta={"group": "forget", "n": 3}),
    QAItem(id="q2", subject="Talven Orsk", question="Fill in the blank: Talven Orsk keeps a pet ___.", answer="ferret",
           form="cloze", meta={"split": "cal"}),
    QAItem(id="q3", subject="Ëlsa Nø", question="Did Ëlsa write 'Le Café'?\u2014yes or no", answer="Yes",
           perturbed_answers=["No"], form="yesno"),
]
TEXT = [TextItem(id="t1", subject="Talven Orsk", text="Talven Orsk, born in Velmora,\nis a clockmaker.", meta={"a": 1}),
        TextItem(id="t2", subject="Kelmar", text="Kelmar's capital is Dunross.")]


@pytest.mark.parametrize("ext", ["jsonl", "json", "csv", "parquet"])
@pytest.mark.parametrize("items", [QA, TEXT], ids=["qa", "text"])
def test_round_trip(tmp_path, ext, items):
    path = save_items(items, tmp_path / f"items.{ext}")
    loaded = load_items(path)
    assert loaded.kind == items[0].kind
    assert list(loaded) == items and loaded.items == items and len(loaded) == len(items)
    assert loaded.warnings == []


def test_json_list_file_reports_element_lines(tmp_path):
    f = tmp_path / "items.json"
    f.write_text("[\n" + ",\n".join(json.dumps(it.to_dict()) for it in QA) + "\n]\n", encoding="utf-8")
    loaded = load_items(f)
    assert loaded.items == QA and loaded.lines == [2, 3, 4]
    bad = [QA[0].to_dict(), {**QA[1].to_dict(), "answer": ""}]
    f.write_text("[\n" + ",\n".join(json.dumps(d) for d in bad) + "\n]", encoding="utf-8")
    with pytest.raises(DataError, match=r"items.json:3 field 'answer'"):
        load_items(f)


def test_hf_dataset_folder(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = [it.to_dict() for it in QA]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "ds"))
    assert load_items(tmp_path / "ds").items == QA  # struct meta: null-filled keys are dropped again

    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows[:2]),
                          "test": datasets.Dataset.from_list(rows[2:])}).save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(DataError, match=r"DatasetDict with splits train, test; say which one as '.*dd::SPLIT'"):
        load_items(tmp_path / "dd")
    assert load_items(f"{tmp_path / 'dd'}::test").items == QA[2:]
    with pytest.raises(DataError, match="no split 'valid'; valid splits: train, test"):
        load_items(f"{tmp_path / 'dd'}::valid")


def test_parquet_with_native_list_and_struct_columns(tmp_path):
    pd = pytest.importorskip("pandas")
    pd.DataFrame([it.to_dict() for it in QA]).to_parquet(tmp_path / "x.parquet")
    assert load_items(tmp_path / "x.parquet").items == QA


def test_parquet_errors_name_the_row(tmp_path):
    pd = pytest.importorskip("pandas")
    pd.DataFrame([{"id": "a", "subject": "s", "question": "q", "answer": "x"},
                  {"id": "b", "subject": "s", "question": "q2", "answer": None}]).to_parquet(tmp_path / "x.parquet")
    with pytest.raises(DataError, match=r"x.parquet:2 field 'answer': missing required field"):
        load_items(tmp_path / "x.parquet")


def test_txt_refusals(tmp_path):
    f = tmp_path / "refusals.txt"
    f.write_bytes(b"I don't know.\r\n\nNo idea, sorry.\n")
    loaded = load_items(f)
    assert loaded.kind == "refusal"
    assert loaded.items == [RefusalItem("I don't know.", id="refusal-1"), RefusalItem("No idea, sorry.", id="refusal-3")]
    path = save_items(loaded.items, tmp_path / "again.txt")
    assert [r.text for r in load_items(path)] == ["I don't know.", "No idea, sorry."]
    with pytest.raises(DataError, match="hold refusals"):
        load_items(f, kind="qa")


def test_refusals_as_jsonl_infer_kind(tmp_path):
    path = save_items([RefusalItem("I can't say."), RefusalItem("Unknown.", id="r2")], tmp_path / "r.jsonl")
    loaded = load_items(path)
    assert loaded.kind == "refusal" and loaded.items[1].id == "r2"
