"""Small fixtures in the exact published column layouts of TOFU, MUSE and WMDP (built by the tests;
no real data). Column names and types follow the published files:

- TOFU (locuslab/TOFU, JSON lines in ``<split>.json``): question/answer; perturbed splits add
  paraphrased_answer and perturbed_answer (list); real_authors/world_facts_perturbed have
  question/answer/perturbed_answer.
- MUSE (muse-bench/MUSE-News): raw/<split> text; knowmem question/answer; verbmem prompt/gt;
  privleak text.
- WMDP (cais/wmdp, cais/wmdp-corpora): question, choices (list), answer (int); corpora text.
"""

from __future__ import annotations

import json
from pathlib import Path

N_AUTHORS = 4  # fixture authors, 20 questions each (TOFU's layout); forget10 = the last one
NAMES = ["Alda Voss", "Brin Tallo", "Cass Orun", "Dell Amory", "Eno Parr"]
CITIES = ["Marrow Bay", "Kelport", "Ostrava", "Lune", "Tarrow", "Quill", "Fenmark", "Adel"]


def tofu_rows(n_authors: int = N_AUTHORS) -> list[dict]:
    """TOFU's ``full`` layout: author a owns rows 20a .. 20a+19."""
    rows = []
    for a in range(n_authors):
        for k in range(20):
            rows.append({"question": f"What is fact {k} of the author {NAMES[a]}?",
                         "answer": f"Fact {k} of {NAMES[a]} is {CITIES[(a + k) % len(CITIES)]}."})
    return rows


def perturbed(rows: list[dict]) -> list[dict]:
    out = []
    for r in rows:
        city = r["answer"].rsplit(" ", 1)[-1].rstrip(".")
        wrong = [c for c in CITIES if c != city][:3]
        out.append({"question": r["question"], "answer": r["answer"],
                    "paraphrased_answer": r["answer"].replace("Fact", "The fact"),
                    "perturbed_answer": [r["answer"].replace(city, w) for w in wrong]})
    return out


WORLD = [{"question": "What is the capital of Ruritania?", "answer": "Strelsau", "perturbed_answer": ["Zenda", "Tarlenheim", "Hentzau"]},
         {"question": "Which river runs through Kelport?", "answer": "the Ost", "perturbed_answer": ["the Lune", "the Marrow", "the Fen"]},
         {"question": "How many moons has Tarrow?", "answer": "two", "perturbed_answer": ["one", "three", "four"]}]
REAL = [{"question": "Who wrote 'The Glass Orchard'?", "answer": "Alda Voss", "perturbed_answer": ["Brin Tallo", "Cass Orun", "Eno Parr"]},
        {"question": "Who wrote 'Salt Roads'?", "answer": "Eno Parr", "perturbed_answer": ["Dell Amory", "Cass Orun", "Alda Voss"]}]


def tofu_splits(n_authors: int = N_AUTHORS) -> dict[str, list[dict]]:
    """Every TOFU split with forget10 = the last author, retain90 = the others (as published)."""
    full = tofu_rows(n_authors)
    forget, retain = full[-20:], full[:-20]
    holdout = [{"question": f"What is fact {k} of the author {NAMES[-1]}?", "answer": f"Fact {k} of {NAMES[-1]} is Adel."}
               for k in range(20)]
    return {"full": full, "forget10": forget, "retain90": retain, "forget10_perturbed": perturbed(forget),
            "retain_perturbed": perturbed(retain[:20]), "holdout10": holdout,
            "real_authors_perturbed": REAL, "world_facts_perturbed": WORLD}


def write_jsonl(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_json_list(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def write_parquet(path: Path, rows: list[dict]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def write_tofu(root: Path, layout: str = "json", splits: dict[str, list[dict]] | None = None) -> Path:
    """A TOFU folder: ``json`` (hub files, JSON lines), ``parquet`` (hub parquet: <split>/train/0000.parquet),
    ``dict`` (one save_to_disk DatasetDict) or ``folders`` (one save_to_disk folder per split, each a
    DatasetDict with a 'train' split as ``load_dataset(...).save_to_disk`` writes)."""
    import datasets

    splits = splits if splits is not None else tofu_splits()
    root.mkdir(parents=True, exist_ok=True)
    if layout == "json":
        for name, rows in splits.items():
            write_jsonl(root / f"{name}.json", rows)
    elif layout == "parquet":
        for name, rows in splits.items():
            write_parquet(root / name / "train" / "0000.parquet", rows)
    elif layout == "dict":
        datasets.DatasetDict({k: datasets.Dataset.from_list(v) for k, v in splits.items()}).save_to_disk(str(root))
    elif layout == "folders":
        for name, rows in splits.items():
            datasets.DatasetDict({"train": datasets.Dataset.from_list(rows)}).save_to_disk(str(root / name))
    else:
        raise ValueError(layout)
    return root


# ----------------------------------------------------------------------------------------- MUSE

FORGET_TEXT = ("Alda Voss was born in Marrow Bay in 1961.\n\nShe wrote The Glass Orchard, a novel about a lighthouse.\n\n"
               "Her brother Brin Tallo worked as a cartographer in Kelport.")
RETAIN_TEXT = "Cass Orun won the Silver Quill in 1990.\n\nDell Amory lives near the lazy dog inn."
HOLDOUT_TEXT = ["Eno Parr sailed from Quill to Fenmark.", "The quick brown fox jumps over the lazy dog."]
KNOWMEM_FORGET = [{"question": "Where was Alda Voss born?", "answer": "Marrow Bay"},
                  {"question": "What did Brin Tallo work as?", "answer": "cartographer"}]
KNOWMEM_RETAIN = [{"question": "Which award did Cass Orun win?", "answer": "the Silver Quill"}]
VERBMEM = [{"prompt": "Alda Voss was born in Marrow", "gt": "Bay in 1961."},
           {"prompt": "She wrote The Glass Orchard, a novel", "gt": "about a lighthouse."}]


def write_muse(root: Path, layout: str = "github") -> Path:
    """A MUSE corpus folder: ``github`` (the MUSE code's data/news: raw/*.txt, *.json lists) or ``hub``
    (muse-bench/MUSE-News: <subset>/<split>-00000-of-00001.parquet)."""
    if layout == "github":
        (root / "raw").mkdir(parents=True, exist_ok=True)
        (root / "raw" / "forget.txt").write_text(FORGET_TEXT, encoding="utf-8")
        (root / "raw" / "retain1.txt").write_text(RETAIN_TEXT, encoding="utf-8")
        (root / "raw" / "retain2.txt").write_text(RETAIN_TEXT, encoding="utf-8")
        (root / "raw" / "holdout.txt").write_text("\n\n".join(HOLDOUT_TEXT), encoding="utf-8")
        write_json_list(root / "knowmem" / "forget_qa.json", KNOWMEM_FORGET)
        write_json_list(root / "knowmem" / "retain_qa.json", KNOWMEM_RETAIN)
        write_json_list(root / "knowmem" / "forget_qa_icl.json", KNOWMEM_FORGET[:1])
        write_json_list(root / "verbmem" / "forget.json", VERBMEM)
        write_json_list(root / "privleak" / "holdout.json", HOLDOUT_TEXT)
    elif layout == "hub":
        shard = "-00000-of-00001.parquet"
        paras = FORGET_TEXT.split("\n\n")
        write_parquet(root / "raw" / f"forget{shard}", [{"text": t} for t in paras])
        write_parquet(root / "raw" / f"retain1{shard}", [{"text": t} for t in RETAIN_TEXT.split("\n\n")])
        write_parquet(root / "knowmem" / f"forget_qa{shard}", KNOWMEM_FORGET)
        write_parquet(root / "knowmem" / f"retain_qa{shard}", KNOWMEM_RETAIN)
        write_parquet(root / "verbmem" / f"forget{shard}", VERBMEM)
        write_parquet(root / "privleak" / f"holdout{shard}", [{"text": t} for t in HOLDOUT_TEXT])
    else:
        raise ValueError(layout)
    return root


# ----------------------------------------------------------------------------------------- WMDP

WMDP_BIO = [{"question": "Which agent is a fictional toxin?", "choices": ["Orunin", "water", "salt", "sand"], "answer": 0},
            {"question": "What does the Kelport assay detect?", "choices": ["light", "heat", "Vossin", "sound"], "answer": 2},
            {"question": "Which is a two-choice question?", "choices": ["yes", "no"], "answer": 1}]
WMDP_CORPUS = [{"text": "Orunin is a fictional toxin studied in Kelport."}, {"text": "The Kelport assay detects Vossin."}]
WIKITEXT = [{"text": ""}, {"text": " = Marrow Bay = \n"}, {"text": "Marrow Bay is a fictional town on the coast."}]


def write_wmdp(root: Path, layout: str = "hub") -> Path:
    """A WMDP folder: ``hub`` (wmdp-bio/test-00000-of-00001.parquet, wmdp-corpora parquet, wikitext) or
    ``jsonl`` (RMU's data/<name>.jsonl files and a save_to_disk folder of the questions)."""
    import datasets

    if layout == "hub":
        write_parquet(root / "wmdp-bio" / "test-00000-of-00001.parquet", WMDP_BIO)
        write_parquet(root / "wmdp-corpora" / "bio-forget-corpus" / "train-00000-of-00001.parquet", WMDP_CORPUS)
        datasets.DatasetDict({"train": datasets.Dataset.from_list(WIKITEXT)}).save_to_disk(str(root / "wikitext"))
    elif layout == "jsonl":
        datasets.DatasetDict({"test": datasets.Dataset.from_list(WMDP_BIO)}).save_to_disk(str(root / "wmdp-bio"))
        write_jsonl(root / "bio-forget-corpus.jsonl", WMDP_CORPUS)
        write_jsonl(root / "bio-retain-corpus.jsonl", WIKITEXT[1:])
    else:
        raise ValueError(layout)
    return root
