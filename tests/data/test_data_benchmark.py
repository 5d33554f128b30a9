"""The built-in benchmark: determinism, layout, and the invariants the risk analysis relies on."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from froc.data import FORMS, load_items
from froc.data.benchmark import (
    FILES,
    NEIGHBOUR_ATTRIBUTES,
    SPLITS,
    Manifest,
    ensure_benchmark,
    generate,
    split_views,
)
from froc.data.schema import normalize_text
from froc.errors import ConfigError, DataError

N = 200


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bench") / "b"
    generate(out, n_people=N, seed=0)
    return out


@pytest.fixture(scope="module")
def people(bench):
    return [json.loads(line) for line in (bench / "people.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def train(bench):
    return load_items(bench / "train.jsonl", "qa").items


@pytest.fixture(scope="module")
def probes(bench):
    return load_items(bench / "probes.jsonl", "qa").items


def _digests(d: Path) -> dict[str, str]:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.rglob("*")) if p.is_file()}


def test_same_seed_byte_identical_other_seed_differs(tmp_path):
    generate(tmp_path / "a", n_people=30, seed=7)
    generate(tmp_path / "b", n_people=30, seed=7)
    generate(tmp_path / "c", n_people=30, seed=8)
    a, b, c = (_digests(tmp_path / x) for x in "abc")
    assert a == b
    assert sorted(a) == sorted(c) and all(a[f] != c[f] for f in ("people.jsonl", "train.jsonl", "probes.jsonl"))


# Items per person, from the template tables (froc/data/templates.py), per fact type (10 of them):
#   training: qa 6 + cloze 3 + mcq 2 + yes/no 2 = 13, plus 3 reverse (book) -> 133
#   held-out: paraphrase 5 + cloze 2 + mcq 2 + yes/no 1 = 10, plus 1 reverse -> 101
#   forget request: the first 3 qa templates of each fact type -> 30; "train" family: 133 - 30 = 103
# World facts: 18 countries x 4 attributes + 18 sums (3 training + 1 held-out template each) and 10 common
#   facts (1 + 1): 100 facts, 72*3 + 18*3 + 10 = 280 training and 100 held-out items.
# Reasoning form: 2 two-hop questions x (2 training + 1 held-out templates) = 6 per person. Hallucination toy:
#   max(10, N // 5) unknown people x 10 fact types x (3 request + 5 held-out qa templates) = 80 each.
TRAIN_PP, HELDOUT_PP, REQUEST_PP = 133, 101, 30
REASONING_PP, UNKNOWN_PP = 6, 80
WORLD_TRAIN, WORLD_HELDOUT = 280, 100


def test_layout_manifest_and_counts(bench, train, probes):
    assert sorted(_digests(bench)) == sorted([*FILES, "manifest.json"])
    m = Manifest.read(bench)
    assert (m.version, m.seed, m.n_people) == ("3", 0, N)
    assert m.sha256 == {f: d for f, d in _digests(bench).items() if f != "manifest.json"}
    assert m.items_per_person == {"train": TRAIN_PP, "probes": HELDOUT_PP}
    assert m.counts["world.jsonl"] == WORLD_TRAIN + WORLD_HELDOUT
    assert m.counts["train.jsonl"] == len(train) == N * TRAIN_PP + WORLD_TRAIN == 26_880
    assert m.counts["probes.jsonl"] == len(probes) == N * HELDOUT_PP + WORLD_HELDOUT == 20_300
    assert m.counts["refusals.txt"] == len(load_items(bench / "refusals.txt"))
    assert m.counts["reasoning.jsonl"] == N * REASONING_PP == 1200
    assert m.counts["unknown.jsonl"] == (N // 5) * UNKNOWN_PP == 3200
    assert (bench / "manifest.json").read_text().count("\n") > 10  # human-readable, sorted keys


def test_people_unique_names_and_books_shared_neighbour_attributes(people):
    assert len({p["name"] for p in people}) == N
    assert len({p["attributes"]["book"] for p in people}) == N
    assert all(p["name"].endswith(" " + p["family_name"]) for p in people)
    assert all(len(p["attributes"]) == 10 for p in people)
    for attr in NEIGHBOUR_ATTRIBUTES:
        sizes = Counter(p["family_name"] if attr == "family_name" else p["attributes"][attr] for p in people)
        assert min(sizes.values()) >= 2, attr  # every value shared: neighbours always exist


def test_items_well_formed(train, probes):
    for it in train + probes:
        m = it.meta
        assert {"person_id", "fact_type", "form", "template", "template_split", "group"} <= m.keys(), it.id
        assert m["form"] == it.form and it.form in FORMS
        assert m["group"] == ("world" if m["person_id"] is None else "person")
        assert 1 <= len(it.answer.split()) <= 6, it.answer
        assert len(it.perturbed_answers) == (1 if it.form == "yesno" else 3), it.id
        wrong = {normalize_text(a) for a in it.perturbed_answers}
        assert len(wrong) == len(it.perturbed_answers) and normalize_text(it.answer) not in wrong, it.id
    assert {it.meta["template_split"] for it in train} == {"request", "train"}
    assert {it.meta["template_split"] for it in probes} == {"heldout"}
    # the request family: the first three qa templates of each person fact, nothing else
    request = [it for it in train if it.meta["template_split"] == "request"]
    assert len(request) == N * REQUEST_PP
    assert all(it.form == "qa" and it.meta["group"] == "person" and it.meta["template"][-1] in "012" for it in request)
    assert all(it.meta["template"][-1] in "345" for it in train
               if it.form == "qa" and it.meta["group"] == "person" and it.meta["template_split"] == "train")
    assert {it.form for it in train} == {"qa", "cloze", "mcq", "yesno", "reverse"}
    assert {it.form for it in probes} == {"paraphrase", "cloze", "mcq", "yesno", "reverse"}


def test_train_and_probe_questions_never_overlap(train, probes):
    assert not {normalize_text(it.question) for it in train} & {normalize_text(it.question) for it in probes}
    assert not {it.meta["template"] for it in train} & {it.meta["template"] for it in probes}
    assert len({it.id for it in train + probes}) == len(train) + len(probes)


def test_each_question_has_one_answer(train, probes):
    answers = defaultdict(set)
    for it in train + probes:
        answers[normalize_text(it.question)].add(it.answer)
    assert all(len(a) == 1 for a in answers.values())


def test_reverse_questions_point_at_one_person(people, train, probes):
    author = {p["attributes"]["book"]: p["name"] for p in people}
    reverse = [it for it in train + probes if it.form == "reverse"]
    assert len(reverse) == 4 * N  # 3 training + 1 held-out template
    for it in reverse:
        (title,) = [t for t in author if f"'{t}'" in it.question]  # exactly one book title in the question
        assert it.answer == author[title] and set(it.perturbed_answers) <= set(author.values())


def test_mcq_lists_options_as_text_and_yesno_is_balanced(train, probes):
    for it in train + probes:
        if it.form == "mcq":
            options = re.search(r"(?:[Oo]ptions|list): (.*?)\.(?: |$)", it.question).group(1).split("; ")
            assert sorted(options) == sorted([it.answer, *it.perturbed_answers])
    for items, n_templates in ((train, 2), (probes, 1)):  # per template half of a person's 10 statements are true
        yn = Counter(it.answer for it in items if it.form == "yesno")
        assert yn["Yes"] == yn["No"] == N * 5 * n_templates
        assert all(it.meta["statement_true"] == (it.answer == "Yes") for it in items if it.form == "yesno")


def test_wrong_answers_are_other_peoples_values(people, train, probes):
    """Distractors are values the model saw as answers (other people's), so familiarity gives nothing away."""
    values: dict[str, set[str]] = defaultdict(set)
    for p in people:
        for fact, v in p["attributes"].items():
            values[fact].add(v)
    for it in train + probes:
        if it.meta["group"] == "person" and it.form not in ("yesno", "reverse"):
            assert set(it.perturbed_answers) <= values[it.meta["fact_type"]] - {it.answer}, it.id


def test_forget_splits_and_neighbours(bench, people):
    by_id = {p["id"]: p for p in people}

    def value(pid, attr):
        return by_id[pid]["family_name"] if attr == "family_name" else by_id[pid]["attributes"][attr]

    previous: set[str] = set()
    for name, frac in SPLITS.items():
        s = json.loads((bench / "splits" / f"{name}.json").read_text())
        forget, neighbours, retain = set(s["forget_people"]), set(s["neighbour_people"]), set(s["retain_people"])
        assert len(forget) == round(N * frac) and previous <= forget  # 2, 10, 20 and nested
        previous = forget
        assert retain == set(by_id) - forget and neighbours <= retain
        assert set(s["neighbour_shared"]) == neighbours
        for pid, shared in s["neighbour_shared"].items():
            for attr, with_ in shared.items():
                assert attr in NEIGHBOUR_ATTRIBUTES and with_ and set(with_) <= forget
                assert all(value(pid, attr) == value(f, attr) for f in with_)
        expected = {p for p in retain if any(value(p, a) == value(f, a) for f in forget for a in NEIGHBOUR_ATTRIBUTES)}
        assert neighbours == expected


def test_split_views(bench):
    v = split_views(bench, "forget05")
    forget = set(v.forget_people)
    assert len(forget) == 10
    assert len(v.forget_request) == 10 * REQUEST_PP
    assert all(it.form == "qa" and it.meta["person_id"] in forget and it.meta["template_split"] == "request"
               for it in v.forget_request)
    assert v.train_oracle == v.retain
    assert len(v.retain) + 10 * TRAIN_PP == len(v.train_all) == 26_880
    assert not any(it.meta["person_id"] in forget for it in v.retain)
    groups = Counter((it.meta["group"], it.meta["template_split"]) for it in v.probes)
    n_nb = len(v.neighbour_people)
    n_train = TRAIN_PP - REQUEST_PP
    expected = {("world", "heldout"): WORLD_HELDOUT, ("world", "train"): WORLD_TRAIN}
    for g, n in (("forget", 10), ("neighbour", n_nb), ("retain", N - 10 - n_nb)):
        expected.update({(g, "heldout"): n * HELDOUT_PP, (g, "train"): n * n_train, (g, "request"): n * REQUEST_PP})
    assert groups == expected
    # the forget people's request-family probes are exactly the forget request
    assert sorted(it.id for it in v.probes if it.meta["group"] == "forget" and it.meta["template_split"] == "request") \
        == sorted(it.id for it in v.forget_request)
    for it in v.probes:
        pid = it.meta["person_id"]
        assert it.meta["group"] == ("world" if pid is None else "forget" if pid in forget
                                    else "neighbour" if pid in v.neighbour_people else "retain")
    assert v.refusals and all(isinstance(r, str) for r in v.refusals)
    assert v.manifest.n_people == N
    with pytest.raises(ConfigError, match="valid splits: forget01, forget05, forget10"):
        split_views(bench, "forget50")


def test_split_views_refuses_modified_files(tmp_path):
    generate(tmp_path / "b", n_people=10, seed=0)
    with (tmp_path / "b" / "train.jsonl").open("a") as f:
        f.write("\n")
    with pytest.raises(DataError, match=r"train.jsonl: missing, or changed since generation"):
        split_views(tmp_path / "b")


def test_ensure_benchmark_generates_once(tmp_path):
    first = ensure_benchmark(tmp_path, n_people=12, seed=3)
    assert first.name == "benchmark-v3-n12-s3" and Manifest.read(first).n_people == 12
    mtime = (first / "manifest.json").stat().st_mtime_ns
    assert ensure_benchmark(tmp_path, n_people=12, seed=3) == first
    assert (first / "manifest.json").stat().st_mtime_ns == mtime
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temporary folders left


def test_bad_sizes_and_non_empty_folder(tmp_path):
    with pytest.raises(ConfigError, match="n_people must be between 10 and"):
        generate(tmp_path / "x", n_people=3)
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        generate(tmp_path / "y", n_people=10)


def test_v3_keeps_the_v2_files_byte_for_byte(tmp_path):
    """Version 3 only adds reasoning.jsonl and unknown.jsonl: the sha256 of v2's files (20 people, seed 0), read
    from a v2 manifest before the change, must not move (the demo's models and numbers were measured on them)."""
    m = generate(tmp_path / "b", n_people=20, seed=0)
    assert {f: m.sha256[f] for f in ("people.jsonl", "train.jsonl", "probes.jsonl")} == {
        "people.jsonl": "e8e13f54c4d4ad285be0b57b76bbef97542fdbd37dd50c1f73b68972503d840a",
        "train.jsonl": "c0064f58324f0a7327bb62727db527e11e67e5b87e274eb4e3ccbcb6cc083cf0",
        "probes.jsonl": "7141b5de6a4fc349eacb06f54d0f8dd5e1e684554147b2a4ef66de7a342e1208"}


def test_reasoning_items_state_the_persons_fact_then_a_consistent_second_hop(bench, people):
    """Every trace names the person and their real bridge fact (people.jsonl), then the answer; the second hop
    is a function (one answer per bridge entity across all people); training templates 0-1, held-out 0."""
    by_name = {p["name"]: p for p in people}
    items = load_items(bench / "reasoning.jsonl", "qa").items
    second_hop = defaultdict(set)
    for it in items:
        p = by_name[it.subject]
        entity = p["attributes"][it.meta["bridge_fact"]]
        assert it.form == "reasoning" and it.meta["bridge_entity"] == entity and it.meta["person_id"] == p["id"]
        assert it.reasoning.startswith(it.subject) and f" {entity}." in it.reasoning
        assert it.reasoning.endswith(f" {it.answer}.") and it.answer not in it.perturbed_answers
        second_hop[it.meta["fact_type"], entity].add(it.answer)
    assert all(len(a) == 1 for a in second_hop.values())
    assert Counter(it.meta["template"].split("/")[-1] for it in items) == {"train0": 2 * N, "train1": 2 * N,
                                                                           "heldout0": 2 * N}
    views = split_views(bench, "forget10")
    forget = set(views.forget_people)
    assert len(views.reasoning) == len(items)
    assert all((it.meta["group"] == "forget") == (it.meta["person_id"] in forget) for it in views.reasoning)


def test_hallucination_toy_people_are_strangers_answered_by_a_refusal(bench, people, train, probes):
    """Unknown people: names no known person has and no training or probe item mentions; every answer is a
    refusal of refusals.txt; the invented truth is no perturbed answer; discover and held-out people alternate."""
    items = load_items(bench / "unknown.jsonl", "qa").items
    known = {p["name"] for p in people}
    strangers = {it.subject for it in items}
    assert len(strangers) == N // 5 and not strangers & known
    assert not strangers & {it.subject for it in train + probes}
    refusals = {r.text for r in load_items(bench / "refusals.txt").items}
    assert all(it.answer in refusals and it.meta["group"] == "unknown" and it.meta["person_id"] is None
               for it in items)
    assert all(it.meta["invented"] not in it.perturbed_answers and len(it.perturbed_answers) == 3 for it in items)
    split_of = {it.meta["unknown_person"]: it.meta["toy_split"] for it in items}
    assert Counter(split_of.values()) == {"discover": N // 10, "heldout": N // 10}
    assert Counter(it.form for it in items) == {"qa": (N // 5) * 30, "paraphrase": (N // 5) * 50}
