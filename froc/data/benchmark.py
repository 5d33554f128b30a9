"""The built-in benchmark: deterministic, seeded, TOFU-like fictitious people (see docs/DESIGN.md).

Each person has one fact of each of ten types (``templates.FACT_TYPES``) drawn from closed vocabularies,
so wrong answers of the same type always exist. Family names, birth cities and employers are each
shared by about three people, so every forgotten person has *neighbours*. Each fact is rendered in
every form (qa, cloze, mcq, yesno; reverse for the book title, the one value unique to a person) with training
templates (``train.jsonl``) and held-out ones (``probes.jsonl``; held-out qa = ``paraphrase``). ~100 world facts.

Two further files sit beside them, used by no default model or sweep:

- ``reasoning.jsonl``: a small multi-step ``reasoning`` form, two-hop questions over a person's fact and a
  fact of the entity it names ("In which country was X born?": X was born in city C, C lies in country K),
  each with a written ``reasoning`` trace (``templates.TWO_HOP``); training and held-out templates. R2MU's
  data; the built-in models learn it only with ``BuiltinConfig(reasoning=True)``.
- ``unknown.jsonl``: the hallucination toy (AU): fictitious people who are in no training file, with invented
  attributes (``meta.invented``) no model learns. Asked about them, a model trained on the others
  hallucinates a familiar value; the valid answer is a refusal (``answer``), the familiar wrong values are
  ``perturbed_answers``. Half the people are ``meta.toy_split = "discover"`` (what AU may see), half
  ``"heldout"`` (generalisation to unknown people AU never saw).

Template families (``meta.template_split``): ``request`` (the first ``templates.N_REQUEST`` training qa
templates: a forget request holds these), ``train`` (the other training templates of every form: the
target knows them, an unlearning method never sees them) and ``heldout`` (never trained: paraphrase
generalisation). Probes of forgotten people are ``train`` and ``heldout`` items, so forgetting is
measured on phrasings and forms the method never saw but the original model knows.

    generate(out_dir, n_people=200, seed=0) -> Manifest       # writes the DESIGN.md layout
    split_views(bench_dir, "forget10") -> BenchmarkSplit       # forget request, retain, probes by group
    ensure_benchmark(cache_dir, n_people, seed) -> Path        # generate once into a cache folder

Same seed -> byte-identical files (sorted keys, no floats, no timestamps).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from froc.data import vocab
from froc.data.loaders import load_items, write_jsonl
from froc.data.schema import QAItem
from froc.data.templates import (
    FACT_TYPES,
    MCQ,
    N_REQUEST,
    OPTION_SEPARATOR,
    REVERSE_PARAPHRASE,
    TWO_HOP,
    WORLD_TEMPLATES,
    a_value,
)
from froc.errors import ConfigError, DataError, Problem, unknown_choice

BENCHMARK_VERSION = "3"  # 3: reasoning.jsonl and unknown.jsonl added; every v2 file is byte-identical
_STREAM_VERSION = "2"  # seeds the random streams: kept at 2 so v3's people, items and splits are v2's
SPLITS = {"forget01": 0.01, "forget05": 0.05, "forget10": 0.10}
NEIGHBOUR_ATTRIBUTES = ("family_name", "birth_city", "employer")
GROUP_SIZE = 3  # about this many people share each family name, birth city and employer
N_WRONG = 3  # perturbed answers per item (yes/no: 1)
MIN_PEOPLE = 10
MAX_PEOPLE = len(vocab.TITLE_ADJECTIVES) * len(vocab.TITLE_NOUNS)  # one unique book title each
FILES = ("people.jsonl", "train.jsonl", "probes.jsonl", "world.jsonl", "refusals.txt",
         *(f"splits/{s}.json" for s in SPLITS), "reasoning.jsonl", "unknown.jsonl")


@dataclass(frozen=True)
class Manifest:
    """Contents of ``manifest.json``: how the benchmark was made and what it holds."""

    version: str
    seed: int
    n_people: int
    counts: dict[str, int]  # records per file (people for splits/*.json: forget people)
    sha256: dict[str, str]  # per file, relative path -> hex digest
    splits: dict[str, dict[str, int]]  # split -> {"forget": n, "neighbour": n, "retain": n}
    items_per_person: dict[str, int]  # {"train": n, "probes": n}
    fact_types: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def read(cls, bench_dir: str | Path) -> "Manifest":
        path = Path(bench_dir) / "manifest.json"
        if not path.is_file():
            raise DataError(Problem(str(path), None, None, "missing; not a benchmark folder "
                                                           "(make one with `froc data generate --out DIR`)"))
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            return cls(**{k: d[k] for k in cls.__dataclass_fields__})
        except (ValueError, KeyError, TypeError) as e:
            raise DataError(Problem(str(path), None, None, f"not a valid benchmark manifest ({e!r}); "
                                                           "regenerate with `froc data generate`")) from e


@dataclass
class Person:
    id: str
    name: str
    family_name: str
    attributes: dict[str, str]  # fact type -> value

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "family_name": self.family_name, "attributes": self.attributes}


def _rng(seed: int, purpose: str) -> random.Random:
    """An independent stream per purpose, so changing one part does not reshuffle the others."""
    return random.Random(f"froc-benchmark/{_STREAM_VERSION}/{seed}/{purpose}")


def _balanced(rng: random.Random, values: tuple[str, ...], n: int) -> list[str]:
    """n draws from ``values`` where each chosen value is used by about GROUP_SIZE people."""
    k = min(len(values), max(1, math.ceil(n / GROUP_SIZE)))
    chosen = rng.sample(values, k)
    out = [chosen[i % k] for i in range(n)]
    rng.shuffle(out)
    return out


def make_people(n_people: int, seed: int) -> list[Person]:
    """The knowledge base: ``n_people`` fictitious people with unique names and book titles."""
    if not MIN_PEOPLE <= n_people <= MAX_PEOPLE:
        raise ConfigError(f"n_people must be between {MIN_PEOPLE} and {MAX_PEOPLE}, got {n_people}")
    rng = _rng(seed, "people")
    families = _balanced(rng, vocab.FAMILY_NAMES, n_people)
    cities = _balanced(rng, vocab.CITIES, n_people)
    employers = _balanced(rng, vocab.EMPLOYERS, n_people)
    titles = rng.sample([f"The {a} {b}" for a in vocab.TITLE_ADJECTIVES for b in vocab.TITLE_NOUNS], n_people)
    width = max(3, len(str(n_people - 1)))
    used_first: dict[str, set[str]] = {}
    people = []
    for i in range(n_people):
        fam = families[i]
        free = [f for f in vocab.FIRST_NAMES if f not in used_first.setdefault(fam, set())]
        first = rng.choice(free)  # never empty: a family has ~GROUP_SIZE members, far fewer than first names
        used_first[fam].add(first)
        attrs = {
            "birth_year": rng.choice(vocab.BIRTH_YEARS),
            "birth_city": cities[i],
            "occupation": rng.choice(vocab.OCCUPATIONS),
            "father_occupation": rng.choice(vocab.OCCUPATIONS),
            "mother_occupation": rng.choice(vocab.OCCUPATIONS),
            "employer": employers[i],
            "award": rng.choice(vocab.AWARDS),
            "book": titles[i],
            "pet": rng.choice(vocab.PETS),
            "favourite_colour": rng.choice(vocab.COLOURS),
        }
        people.append(Person(id=f"p{i:0{width}d}", name=f"{first} {fam}", family_name=fam, attributes=attrs))
    return people


# ---------------------------------------------------------------- items


def _wrong(rng: random.Random, pool, truth: str, k: int = N_WRONG) -> list[str]:
    """k distinct wrong values of the same type (never equal to the truth)."""
    return rng.sample(sorted(set(pool) - {truth}), k)


def _familiar_wrong(rng: random.Random, used: list[str], vocabulary, truth: str, k: int = N_WRONG) -> list[str]:
    """k distinct wrong values, drawn from the values other people have (``used``) when there are enough.

    Wrong answers the model saw as answers during training are as familiar as the truth, so a model
    that does not know the fact (the retain oracle) cannot pick the truth out by familiarity alone.
    """
    pool = sorted(set(used) - {truth})
    if len(pool) >= k:
        return rng.sample(pool, k)
    return pool + _wrong(rng, sorted(set(vocabulary) - set(pool)), truth, k - len(pool))


def _qa(pid: str, subject: str, fact: str, form: str, split: str, k: int, question: str, answer: str,
        wrong: list[str], paraphrased: str | None, group: str, extra: dict | None = None) -> QAItem:
    template = f"{fact}/{form}/{split}{k}"
    family = ("heldout" if split != "train" else "request" if group == "person" and form == "qa" and k < N_REQUEST
              else "train")
    meta = {"person_id": pid if group == "person" else None, "fact_id": f"{pid}/{fact}", "fact_type": fact,
            "form": form, "template": template, "template_split": family, "group": group, **(extra or {})}
    return QAItem(id=f"{pid}/{template}", subject=subject, question=question, answer=answer,
                  paraphrased_answer=paraphrased, perturbed_answers=list(wrong), form=form, meta=meta)


def person_items(person: Person, people: list[Person], seed: int) -> tuple[list[QAItem], list[QAItem]]:
    """(training-template items, held-out-template items) for one person, every form."""
    rng = _rng(seed, f"items/{person.id}")
    name, pid = person.name, person.id
    out: dict[str, list[QAItem]] = {"train": [], "heldout": []}
    # yes/no truth: for each yes/no template, exactly half of a person's statements are true
    truth = {}
    for t_idx, split in enumerate(out):
        for k in range(len(FACT_TYPES[0].yesno[t_idx])):
            flags = [i % 2 == 0 for i in range(len(FACT_TYPES))]
            rng.shuffle(flags)
            truth[split, k] = flags
    for f_idx, ft in enumerate(FACT_TYPES):
        value = person.attributes[ft.name]
        used = [p.attributes[ft.name] for p in people if p.id != pid]
        wrong = _familiar_wrong(rng, used, ft.values if ft.values is not None else used, value)
        fill = {"name": name, "value": value, "a_value": a_value(value)}
        para = ft.paraphrase.format(**fill)
        for t_idx, split in enumerate(("train", "heldout")):  # index into each (train, heldout) template pair
            items = out[split]
            qa_form = "qa" if split == "train" else "paraphrase"
            for k, t in enumerate(ft.qa[t_idx]):
                items.append(_qa(pid, name, ft.name, qa_form, split, k, t.format(**fill), value, wrong, para, "person"))
            for k, t in enumerate(ft.cloze[t_idx]):
                items.append(_qa(pid, name, ft.name, "cloze", split, k, t.format(**fill), value, wrong, None, "person"))
            for k, t in enumerate(MCQ[t_idx]):
                options = [value, *wrong]
                rng.shuffle(options)
                q = t.format(desc=ft.desc.format(**fill), options=OPTION_SEPARATOR.join(options))
                items.append(_qa(pid, name, ft.name, "mcq", split, k, q, value,
                                 [o for o in options if o != value], None, "person"))
            for k, t in enumerate(ft.yesno[t_idx]):
                true = truth[split, k][f_idx]
                shown = value if true else rng.choice(wrong)
                q = t.format(name=name, value=shown, a_value=a_value(shown))
                items.append(_qa(pid, name, ft.name, "yesno", split, k, q, "Yes" if true else "No",
                                 ["No" if true else "Yes"], None, "person", {"statement_true": true}))
            if ft.reverse is not None:
                same_family = sorted(p.name for p in people if p.family_name == person.family_name and p.id != pid)
                others = sorted(p.name for p in people if p.family_name != person.family_name)
                names = rng.sample(same_family, min(N_WRONG, len(same_family)))
                names += rng.sample(others, N_WRONG - len(names))
                for k, t in enumerate(ft.reverse[t_idx]):
                    items.append(_qa(pid, name, ft.name, "reverse", split, k, t.format(**fill), name, names,
                                     REVERSE_PARAPHRASE.format(name=name), "person"))
    return out["train"], out["heldout"]


def world_items(seed: int) -> tuple[list[QAItem], list[QAItem]]:
    """(training, held-out) items of the world facts: invented countries, sums, general knowledge."""
    rng = _rng(seed, "world")
    # (fact_type, subject, training questions, held-out questions, answer, wrong answers)
    facts: list[tuple[str, str, list[str], list[str], str, list[str]]] = []
    for c_idx, (country, *values) in enumerate(vocab.COUNTRIES):
        for a_idx, attr in enumerate(vocab.COUNTRY_ATTRIBUTES):
            pool = [row[1 + a_idx] for row in vocab.COUNTRIES]
            q_train, q_held = ([t.format(subject=country) for t in ts] for ts in WORLD_TEMPLATES[attr])
            facts.append((attr, country, q_train, q_held, values[a_idx], _wrong(rng, pool, values[a_idx])))
    pairs = rng.sample([(a, b) for a in range(2, 31) for b in range(2, 31) if a < b], vocab.N_SUMS)
    for a, b in pairs:
        total = str(a + b)
        q_train, q_held = ([t.format(a=a, b=b) for t in ts] for ts in WORLD_TEMPLATES["sum"])
        pool = [str(a + b + d) for d in range(-9, 10)]
        facts.append(("sum", "arithmetic", q_train, q_held, total, _wrong(rng, pool, total)))
    for q_train, q_held, answer, wrong in vocab.COMMON_FACTS:
        facts.append(("common", "general knowledge", [q_train], [q_held], answer, list(wrong)))
    width = len(str(len(facts) - 1))
    train, heldout = [], []
    for i, (ftype, subject, q_train, q_held, answer, wrong) in enumerate(facts):
        wid = f"w{i:0{width}d}"
        for split, questions, out, form in (("train", q_train, train, "qa"), ("heldout", q_held, heldout, "paraphrase")):
            for k, q in enumerate(questions):
                out.append(_qa(wid, subject, ftype, form, split, k, q, answer, wrong, None, "world"))
    return train, heldout


def bridges(seed: int) -> dict[str, dict[str, str]]:
    """The second-hop world facts of the reasoning form: {two-hop name: {entity: answer}} (seeded).

    ``birth_country``: every city lies in one of the invented countries; ``employer_city``: every employer is
    based in one city.
    """
    rng = _rng(seed, "reasoning/bridges")
    countries = [row[0] for row in vocab.COUNTRIES]
    return {"birth_country": {c: rng.choice(countries) for c in vocab.CITIES},
            "employer_city": {e: rng.choice(vocab.CITIES) for e in vocab.EMPLOYERS}}


def reasoning_items(people: list[Person], seed: int) -> list[QAItem]:
    """The two-hop ``reasoning`` items of every person (training and held-out templates, each with its trace)."""
    maps = bridges(seed)
    answers = {name: sorted(set(m.values())) for name, m in maps.items()}  # each second hop's possible answers
    out = []
    for person in people:
        rng = _rng(seed, f"reasoning/{person.id}")
        for hop in TWO_HOP:
            entity = person.attributes[hop.bridge_fact]
            answer = maps[hop.name][entity]
            wrong = _wrong(rng, answers[hop.name], answer)
            trace = hop.trace.format(name=person.name, entity=entity, answer=answer)
            for t_idx, split in enumerate(("train", "heldout")):
                for k, t in enumerate(hop.qa[t_idx]):
                    it = _qa(person.id, person.name, hop.name, "reasoning", split, k, t.format(name=person.name), answer,
                             wrong, None, "person", {"bridge_fact": hop.bridge_fact, "bridge_entity": entity})
                    out.append(replace(it, reasoning=trace))
    return out


def unknown_people(people: list[Person], seed: int) -> list[Person]:
    """The hallucination toy's fictitious people: ``max(10, n_people // 5)`` new combinations of the known first and
    family names (never a known person's name), with invented attributes drawn like the known people's."""
    rng = _rng(seed, "unknown")
    known = {p.name for p in people}
    firsts = sorted({p.name.split(" ", 1)[0] for p in people})
    families = sorted({p.family_name for p in people})
    n = max(10, len(people) // 5)
    names: list[tuple[str, str]] = []
    while len(names) < n:
        first, fam = rng.choice(firsts), rng.choice(families)
        if f"{first} {fam}" not in known and (first, fam) not in names:
            names.append((first, fam))
    pool = {ft.name: sorted({p.attributes[ft.name] for p in people}) for ft in FACT_TYPES}
    return [Person(id=f"u{i:03d}", name=f"{first} {fam}", family_name=fam,
                   attributes={t: rng.choice(v) for t, v in pool.items()}) for i, (first, fam) in enumerate(names)]


def unknown_items(people: list[Person], seed: int) -> list[QAItem]:
    """The hallucination toy's items: per unknown person and fact type, the request qa templates (form ``qa``) and the
    held-out ones (``paraphrase``), answered by a refusal ("I don't know."); ``perturbed_answers`` are familiar wrong
    values (what a hallucination looks like), ``meta.invented`` the invented truth no model learned,
    ``meta.unknown_person`` the stranger's id and ``meta.toy_split`` "discover" or "heldout" (alternating people)."""
    strangers = unknown_people(people, seed)
    rng = _rng(seed, "unknown/items")
    refusal = vocab.REFUSALS[0]
    used = {ft.name: sorted({p.attributes[ft.name] for p in people}) for ft in FACT_TYPES}  # the known values
    out = []
    for i, person in enumerate(strangers):
        toy_split = "discover" if i % 2 == 0 else "heldout"
        for ft in FACT_TYPES:
            value = person.attributes[ft.name]
            wrong = rng.sample([v for v in used[ft.name] if v != value], N_WRONG)
            fill = {"name": person.name, "value": value, "a_value": a_value(value)}
            for split, templates in (("train", ft.qa[0][:N_REQUEST]), ("heldout", ft.qa[1])):
                for k, t in enumerate(templates):
                    out.append(_qa(person.id, person.name, ft.name, "qa" if split == "train" else "paraphrase", split,
                                   k, t.format(**fill), refusal, wrong, None, "unknown",
                                   {"invented": value, "toy_split": toy_split, "unknown_person": person.id}))
    return out


def forget_splits(people: list[Person], seed: int) -> dict[str, dict[str, Any]]:
    """Nested forget splits (1%, 5%, 10% of people, at least one) and their neighbours.

    A neighbour is a person not forgotten who shares a family name, birth city or employer with a
    forgotten one; ``neighbour_shared[pid][attribute]`` lists the forget people it shares it with.
    ``retain_people`` is everyone not forgotten (neighbours included).
    """
    order = [p.id for p in people]
    _rng(seed, "splits").shuffle(order)
    by_id = {p.id: p for p in people}

    def attr(p: Person, a: str) -> str:
        return p.family_name if a == "family_name" else p.attributes[a]

    out = {}
    for name, frac in SPLITS.items():
        forget = set(order[: max(1, math.floor(len(people) * frac + 0.5))])
        shared: dict[str, dict[str, list[str]]] = {}
        for p in people:
            if p.id in forget:
                continue
            for a in NEIGHBOUR_ATTRIBUTES:
                with_ = sorted(f for f in forget if attr(by_id[f], a) == attr(p, a))
                if with_:
                    shared.setdefault(p.id, {})[a] = with_
        out[name] = {
            "forget_people": sorted(forget),
            "neighbour_people": sorted(shared),
            "retain_people": sorted(p.id for p in people if p.id not in forget),
            "neighbour_shared": shared,
        }
    return out


# ---------------------------------------------------------------- files


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_json(obj: Any, path: Path) -> None:
    path.write_text(json.dumps(obj, sort_keys=True, ensure_ascii=False, indent=2) + "\n", encoding="utf-8", newline="\n")


def generate(out_dir: str | Path, n_people: int = 200, seed: int = 0) -> Manifest:
    """Write the benchmark (DESIGN.md layout) into ``out_dir`` and return its manifest.

    The folder must be empty, missing, or an earlier benchmark (whose files are overwritten).
    """
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not (out / "manifest.json").exists():
        raise ConfigError(f"{out} is not empty and holds no benchmark; choose an empty or new folder")
    people = make_people(n_people, seed)
    train, probes = [], []
    for p in people:
        tr, ho = person_items(p, people, seed)
        train += tr
        probes += ho
    per_person = {"train": len(train) // n_people, "probes": len(probes) // n_people}  # same for everyone
    w_train, w_probes = world_items(seed)
    splits = forget_splits(people, seed)
    reasoning = reasoning_items(people, seed)
    unknown = unknown_items(people, seed)

    (out / "splits").mkdir(parents=True, exist_ok=True)
    write_jsonl([p.to_dict() for p in people], out / "people.jsonl")
    write_jsonl([it.to_dict() for it in train + w_train], out / "train.jsonl")
    write_jsonl([it.to_dict() for it in probes + w_probes], out / "probes.jsonl")
    write_jsonl([it.to_dict() for it in w_train + w_probes], out / "world.jsonl")
    (out / "refusals.txt").write_text("".join(r + "\n" for r in vocab.REFUSALS), encoding="utf-8", newline="\n")
    write_jsonl([it.to_dict() for it in reasoning], out / "reasoning.jsonl")
    write_jsonl([it.to_dict() for it in unknown], out / "unknown.jsonl")
    for name, split in splits.items():
        _write_json(split, out / "splits" / f"{name}.json")
    counts = {"people.jsonl": len(people), "train.jsonl": len(train) + len(w_train),
              "probes.jsonl": len(probes) + len(w_probes), "world.jsonl": len(w_train) + len(w_probes),
              "refusals.txt": len(vocab.REFUSALS), "reasoning.jsonl": len(reasoning), "unknown.jsonl": len(unknown)}
    counts.update({f"splits/{n}.json": len(s["forget_people"]) for n, s in splits.items()})
    manifest = Manifest(
        version=BENCHMARK_VERSION,
        seed=seed,
        n_people=n_people,
        counts=counts,
        sha256={f: _sha256(out / f) for f in FILES},
        splits={n: {"forget": len(s["forget_people"]), "neighbour": len(s["neighbour_people"]),
                    "retain": len(s["retain_people"])} for n, s in splits.items()},
        items_per_person=per_person,
        fact_types=[ft.name for ft in FACT_TYPES],
    )
    _write_json(manifest.to_dict(), out / "manifest.json")
    return manifest


def ensure_benchmark(cache_dir: str | Path, n_people: int = 200, seed: int = 0) -> Path:
    """The benchmark folder for (version, n_people, seed) under ``cache_dir``, generated only if missing.

    Generation writes into a temporary folder that is renamed into place, so concurrent callers and
    interrupted runs never leave a half-written benchmark.
    """
    cache = Path(cache_dir)
    target = cache / f"benchmark-v{BENCHMARK_VERSION}-n{n_people}-s{seed}"
    if (target / "manifest.json").is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=cache))
    try:
        generate(tmp, n_people=n_people, seed=seed)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "manifest.json").is_file():  # not a concurrent winner: a real failure
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


# ---------------------------------------------------------------- views for one forget split


@dataclass
class BenchmarkSplit:
    """The data views of one forget split. All item lists hold ``QAItem``s.

    - ``forget_request``: the forget people's items of the ``request`` template family (form ``qa``,
      the first ``templates.N_REQUEST`` training qa templates): what an unlearning method may see.
    - ``retain``: training items of everyone else (neighbours included, every family) + world facts.
    - ``train_all``: every training item (what the target model was trained on).
    - ``train_oracle``: ``train_all`` minus the forget people's items, i.e. exactly ``retain``.
    - ``probes``: every item, held-out and trained, with ``meta.group`` in forget/neighbour/retain/world
      (``meta.template_split`` tells the family: ``heldout`` never trained, ``train`` trained but never
      in a forget request, ``request`` the request's phrasings, which measure exact recall of them).
    - ``reasoning``: the two-hop ``reasoning`` items (each with its trace), ``meta.group`` as in ``probes``.
    - ``unknown``: the hallucination toy's items about people no model knows (see the module docstring).
    """

    name: str
    forget_request: list[QAItem]
    retain: list[QAItem]
    train_all: list[QAItem]
    probes: list[QAItem]
    refusals: list[str]
    manifest: Manifest
    forget_people: list[str]
    neighbour_people: list[str]
    retain_people: list[str]
    neighbour_shared: dict[str, dict[str, list[str]]]
    reasoning: list[QAItem] = field(default_factory=list)
    unknown: list[QAItem] = field(default_factory=list)

    @property
    def train_oracle(self) -> list[QAItem]:
        return self.retain


def verify(bench_dir: str | Path) -> Manifest:
    """The manifest, after checking every file against its recorded sha256."""
    bench = Path(bench_dir)
    manifest = Manifest.read(bench)
    bad = [Problem(str(bench / f), None, None, "missing, or changed since generation (sha256 differs from "
                                               "manifest.json); regenerate with `froc data generate`")
           for f, digest in sorted(manifest.sha256.items())
           if not (bench / f).is_file() or _sha256(bench / f) != digest]
    if bad:
        raise DataError(bad)
    return manifest


def split_views(bench_dir: str | Path, split: str = "forget10") -> BenchmarkSplit:
    """Load a generated benchmark and derive the views of one forget split (see :class:`BenchmarkSplit`)."""
    if split not in SPLITS:
        raise unknown_choice("split", split, SPLITS)
    bench = Path(bench_dir)
    manifest = verify(bench)
    s = json.loads((bench / "splits" / f"{split}.json").read_text(encoding="utf-8"))
    forget, neighbours = set(s["forget_people"]), set(s["neighbour_people"])
    train = list(load_items(bench / "train.jsonl", "qa"))
    probes = list(load_items(bench / "probes.jsonl", "qa"))
    refusals = [r.text for r in load_items(bench / "refusals.txt", "refusal")]

    def group(it: QAItem) -> str:
        pid = it.meta.get("person_id")
        if pid is None:
            return "world"
        return "forget" if pid in forget else "neighbour" if pid in neighbours else "retain"

    def with_group(it: QAItem) -> QAItem:
        return replace(it, meta={**it.meta, "group": group(it)})

    return BenchmarkSplit(
        name=split,
        forget_request=[it for it in train if it.meta.get("template_split") == "request"
                        and it.meta.get("person_id") in forget],
        retain=[it for it in train if it.meta.get("person_id") not in forget],
        train_all=train,
        probes=[with_group(it) for it in probes + train],
        refusals=refusals,
        manifest=manifest,
        forget_people=s["forget_people"],
        neighbour_people=s["neighbour_people"],
        retain_people=s["retain_people"],
        neighbour_shared=s["neighbour_shared"],
        reasoning=[with_group(it) for it in load_items(bench / "reasoning.jsonl", "qa")],
        unknown=list(load_items(bench / "unknown.jsonl", "qa")),
    )
