"""The bad-input corpus of issue 18: files, YAML, model folders and environments a careless user, a broken
machine or a hostile input would give froc. Every case runs the real CLI and must end in a non-zero exit,
a message naming the file (with its line or field where there is one) and no traceback.

Each case builds its input in a temporary folder from the valid tiny request and model of conftest.py
(seconds per case). The named inputs of the issue come first in each group, then our own.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from hardening_helpers import assert_clean_failure, has_line, run_cli

from conftest import _qa, user_sweep

DEEP = 5000  # levels of nesting of the inputs (json's recursion limit is ~1000)


def _deep_obj(n: int = DEEP) -> str:
    return '{"a": ' * n + "1" + "}" * n


def _deep_list(n: int = DEEP) -> str:
    return "[" * n + "]" * n


@dataclass
class Ctx:
    tmp: Path
    model: Path
    req: Path

    def file(self, name: str, text: str | bytes) -> Path:
        p = self.tmp / name
        p.parent.mkdir(parents=True, exist_ok=True)
        (p.write_bytes if isinstance(text, bytes) else p.write_text)(text)
        return p

    def jsonl(self, name: str, records: list, raw_lines: list[str] = ()) -> Path:
        return self.file(name, "".join(json.dumps(r) + "\n" for r in records) + "".join(x + "\n" for x in raw_lines))

    def csv(self, name: str, rows: list[dict]) -> Path:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
        return self.file(name, buf.getvalue())

    def parquet(self, name: str, cols: dict) -> Path:
        import pyarrow as pa
        import pyarrow.parquet as pq

        p = self.tmp / name
        pq.write_table(pa.table(cols), p)
        return p

    def bad_model(self, name: str, mutate) -> Path:
        d = self.tmp / name
        shutil.copytree(self.model, d)
        mutate(d)
        return d

    def eval_args(self, model=None, probes=None, out=None) -> list:
        return ["eval", "--model", model or self.model, "--probes", probes or self.req / "probes.jsonl",
                "--out", out or self.tmp / "eval_out", "--no-generate", "--hidden-layers", "none", "--device", "cpu"]

    def unlearn_args(self, *extra, model=None, forget=None, retain=None, out=None) -> list:
        return ["unlearn", "--model", model or self.model, "--forget", forget or self.req / "forget.jsonl",
                "--retain", retain or self.req / "retain.jsonl", "--out", out or self.tmp / "unlearn_out",
                "--steps", "1", "--device", "cpu", *extra]

    def sweep(self, text: str | None = None, extra: str = "", probes=None, name="sweep.yaml") -> Path:
        text = text if text is not None else user_sweep(self.model, self.req / "forget.jsonl",
                                                         self.req / "retain.jsonl", probes or self.req / "probes.jsonl")
        return self.file(name, text + extra)


REC = _qa(7, "Cass")
CASES: dict[str, object] = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


# ------------------------------------------------------------------ 1. deep nesting (issue §1), every command


@case
def deep_jsonl_check(c):
    p = c.jsonl("deep.jsonl", [REC], ['{"id": "x", "meta": ' + _deep_list() + "}"])
    return ["data", "check", p], [f"{p}:2"]


@case
def deep_json_array_check(c):
    p = c.file("deep.json", "[" + json.dumps(REC) + ',\n{"id": "x", "meta": ' + _deep_obj() + "}]")
    return ["data", "check", p], [f"{p}:2"]


@case
def deep_json_object_check(c):
    p = c.file("deep1.json", '{"id": "x", "meta": ' + _deep_list() + "}")
    return ["data", "check", p], [f"{p}:1"]


@case
def deep_csv_meta_cell_check(c):
    p = c.csv("deep.csv", [dict(id="x", subject="s", question="q", answer="a", meta=_deep_obj())])
    return ["data", "check", p], [f"{p}:2", "'meta'"]


@case
def deep_csv_perturbed_cell_check(c):
    p = c.csv("deep_pert.csv", [dict(id="x", subject="s", question="q", answer="a", perturbed_answers=_deep_list())])
    return ["data", "check", p], [f"{p}:2", "'perturbed_answers'"]


@case
def deep_parquet_string_column_check(c):
    p = c.parquet("deep.parquet", {"id": ["x", "y"], "subject": ["s", "s"], "question": ["q", "q2"],
                                   "answer": ["a", "b"], "meta": ["{}", _deep_obj()]})
    return ["data", "check", p], [f"{p}:2", "'meta'"]


@case
def moderately_deep_meta_check(c):  # 40 levels: json parses it, froc still refuses it (bounded depth)
    p = c.jsonl("deep40.jsonl", [dict(REC, meta={"a": json.loads(_deep_obj(40))})])
    return ["data", "check", p], [f"{p}:1", "'meta'"]


@case
def deep_probes_eval(c):
    p = c.jsonl("deep_probes.jsonl", [dict(REC, meta={"group": "forget"})], ['{"id": "x", "meta": ' + _deep_list() + "}"])
    return c.eval_args(probes=p), [f"{p}:2"]


@case
def deep_forget_unlearn(c):
    p = c.jsonl("deep_forget.jsonl", [REC], ['{"id": "x", "meta": ' + _deep_list() + "}"])
    return c.unlearn_args(forget=p), [f"{p}:2"]


@case
def deep_retain_unlearn(c):
    p = c.file("deep_retain.json", "[" + json.dumps(REC) + ',\n{"id": "x", "meta": ' + _deep_obj() + "}]")
    return c.unlearn_args(retain=p), [f"{p}:2"]


@case
def deep_probes_run(c):
    p = c.jsonl("deep_run_probes.jsonl", [dict(REC, meta={"group": "forget"})],
                ['{"id": "x", "meta": ' + _deep_list() + "}"])
    return ["run", c.sweep(probes=p), "--out", c.tmp / "run_out"], [f"{p}:2"]


@case
def deep_nested_sweep_yaml(c):
    p = c.sweep("name: x\nmethods: " + _deep_list() + "\n")
    return ["run", p, "--out", c.tmp / "run_out"], [str(p)]


# ------------------------------------------------------------------ other bad data files


@case
def malformed_json_line(c):
    p = c.jsonl("bad.jsonl", [REC], ['{"id": "x", "subject": '])
    return ["data", "check", p], [f"{p}:2"]


@case
def unknown_field(c):
    p = c.jsonl("unknown.jsonl", [REC, dict(REC, id="y", colour="red")])
    return ["data", "check", p], [f"{p}:2", "colour"]


@case
def missing_answer(c):
    r = dict(REC, id="y")
    del r["answer"]
    p = c.jsonl("missing.jsonl", [REC, r])
    return ["data", "check", p], [f"{p}:2", "answer"]


@case
def answer_not_a_string(c):
    p = c.jsonl("type.jsonl", [dict(REC, answer=42)])
    return ["data", "check", p], [f"{p}:1", "answer"]


@case
def empty_file(c):
    p = c.file("empty.jsonl", "")
    return ["data", "check", p], [str(p)]


@case
def not_utf8(c):
    p = c.file("latin1.jsonl", json.dumps(REC).encode() + b"\n" + '{"id": "é"}'.encode("latin-1") + b"\n")
    return ["data", "check", p], [f"{p}:2"]


@case
def unsupported_extension(c):
    p = c.file("items.xml", "<items/>")
    return ["data", "check", p], [str(p), ".xml"]


@case
def unterminated_json_array(c):
    p = c.file("open.json", "[" + json.dumps(REC) + ",\n" + json.dumps(dict(REC, id="b")))
    return ["data", "check", p], [str(p)]


@case
def csv_wrong_cell_count(c):
    p = c.file("cells.csv", "id,subject,question,answer\nx,s,q,a\ny,s,q\n")
    return ["data", "check", p], [f"{p}:3"]


@case
def parquet_garbage(c):
    p = c.file("garbage.parquet", b"PAR1 this is not parquet")
    return ["data", "check", p], [str(p)]


@case
def folder_not_a_dataset(c):
    p = c.tmp / "not_a_dataset"
    p.mkdir()
    return ["data", "check", p], [str(p)]


@case
def refusals_as_qa(c):
    p = c.file("refusals.txt", "I don't know.\n")
    return ["data", "check", p, "--kind", "qa"], [str(p)]


@case
def perturbed_equals_answer(c):
    p = c.jsonl("pert.jsonl", [dict(REC, perturbed_answers=[REC["answer"]])])
    return ["data", "check", p], [f"{p}:1", "perturbed_answers"]


@case
def overlap_same_id_check(c):
    f = c.jsonl("f.jsonl", [REC])
    r = c.jsonl("r.jsonl", [_qa(1, "Brin"), dict(_qa(2, "Brin"), id=REC["id"])])
    return ["data", "check", "--forget", f, "--retain", r], [f"{f}:1", f"{r}:2"]


@case
def overlap_same_id_unlearn(c):  # issue §4: unlearn must refuse what run and data check refuse
    r = c.jsonl("r_id.jsonl", [_qa(1, "Brin"), dict(_qa(2, "Brin"), id="alda-0")])
    return c.unlearn_args(retain=r), [f"{c.req / 'forget.jsonl'}:1", f"{r}:2", "'id'"]


@case
def overlap_same_content_unlearn(c):
    f = c.req / "forget.jsonl"
    first = json.loads(f.read_text().splitlines()[0])
    r = c.jsonl("r_qa.jsonl", [_qa(1, "Brin"), dict(first, id="other-id")])
    return c.unlearn_args(retain=r), [f"{f}:1", f"{r}:2", "question"]


@case
def probes_without_group_run(c):
    p = c.jsonl("nogroup.jsonl", [REC])
    return ["run", c.sweep(probes=p), "--out", c.tmp / "run_out"], [str(p), "meta.group"]


@case
def probes_only_forget_group_run(c):  # issue §2: refused before training, not in certification
    lines = (c.req / "probes.jsonl").read_text().splitlines()
    p = c.file("only_forget.jsonl", "\n".join(x for x in lines if '"forget"' in x) + "\n")
    return ["run", c.sweep(probes=p), "--out", c.tmp / "run_out"], [str(p), "utility"]


# ------------------------------------------------------------------ YAML: sweep file and unlearn --config


BOMB = "".join(f"{a}: &{a} [{', '.join(['*' + p] * 9) if p else ', '.join(['x'] * 9)}]\n"
               for p, a in zip([None, "a", "b", "c", "d", "e", "f", "g"], "abcdefgh"))


@case
def alias_bomb_sweep(c):  # issue §7: refused before anything expands it
    p = c.sweep(BOMB)
    return ["run", p, "--out", c.tmp / "run_out"], [str(p), "expands"]


@case
def alias_bomb_inside_valid_sweep(c):
    p = c.sweep(extra="attack_params: {}\nname_bomb:\n" + "".join("  " + x + "\n" for x in BOMB.splitlines()))
    return ["run", p, "--out", c.tmp / "run_out"], [str(p), "expands"]


@case
def alias_bomb_unlearn_config(c):
    p = c.file("bomb.yaml", BOMB)
    return c.unlearn_args("--config", p), [str(p), "expands"]


@case
def alias_bomb_unlearn_set(c):
    bomb = "[" + ", ".join(["x"] * 50) + "]"
    flow = "{" + f"a: &a {bomb}, " + ", ".join(f"{k}: &{k} [{', '.join(['*' + p] * 50)}]" for p, k in
                                                  zip("abcd", "bcde")) + "}"
    return c.unlearn_args("--set", f"beta={flow}"), ["--set beta", "expands"]


@case
def recursive_alias_sweep(c):
    p = c.sweep("name: x\nmethods: &m {graddiff: {lr: *m}}\n")
    return ["run", p, "--out", c.tmp / "run_out"], [str(p)]


@case
def malformed_yaml_unlearn_config(c):  # issue §1: file:line, not a parser traceback
    p = c.file("bad.yaml", "lr: 1.0e-3\nbeta: [1\nsteps: 2\n")
    return c.unlearn_args("--config", p), [f"{p}:3"]


@case
def duplicate_key_unlearn_config(c):
    p = c.file("dup.yaml", "lr: 1.0e-3\nlr: 2.0e-3\n")
    return c.unlearn_args("--config", p), [f"{p}:2", "duplicate"]


@case
def list_unlearn_config(c):
    p = c.file("list.yaml", "- lr\n- beta\n")
    return c.unlearn_args("--config", p), [f"{p}:1"]


@case
def python_tag_unlearn_config(c):
    p = c.file("tag.yaml", "lr: !!python/object/apply:os.system ['true']\n")
    return c.unlearn_args("--config", p), [f"{p}:1"]


@case
def malformed_yaml_sweep(c):
    p = c.sweep("name: x\nmethods:\n  graddiff: {lr: [1\n")
    return ["run", p, "--out", c.tmp / "run_out"], [str(p)]


def _sweep_line_case(extra: str, key: str, *, drop: str | None = None):
    def build(c):
        text = user_sweep(c.model, c.req / "forget.jsonl", c.req / "retain.jsonl", c.req / "probes.jsonl")
        if drop:
            text = "\n".join(x for x in text.splitlines() if not x.startswith(drop)) + "\n"
        p = c.sweep(text + extra)
        n = len((text + extra).splitlines())
        line = next(i for i, x in enumerate((text + extra).splitlines(), 1) if x.startswith(key))
        assert line <= n
        return ["run", p, "--out", c.tmp / "run_out"], [f"{p}:{line}", key]
    return build


CASES["resplits_negative"] = _sweep_line_case("resplits: -5\n", "resplits", drop="resplits")
CASES["attack_top_negative"] = _sweep_line_case("attack_top: -1\n", "attack_top")
CASES["score_batch_size_zero"] = _sweep_line_case("score_batch_size: 0\n", "score_batch_size", drop="score_batch_size")
CASES["max_new_tokens_negative"] = _sweep_line_case("max_new_tokens: -1\n", "max_new_tokens", drop="max_new_tokens")
CASES["device_tpu"] = _sweep_line_case("device: tpu\n", "device")
CASES["budget_alpha_above_one"] = _sweep_line_case("budget: {alpha_forget: 1.5}\n", "budget", drop="budget")
CASES["unknown_top_key"] = _sweep_line_case("learning_rate: 0.1\n", "learning_rate")


@case
def lora_with_rmu(c):  # issue §2: the YAML key 'lora' and its line
    text = user_sweep(c.model, c.req / "forget.jsonl", c.req / "retain.jsonl", c.req / "probes.jsonl")
    text = text.replace("graddiff: {lr: [1.0e-3]}", "rmu: {lr: [1.0e-3]}") + "lora: true\n"
    p = c.sweep(text)
    return ["run", p, "--out", c.tmp / "run_out"], [f"{p}:{len(text.splitlines())}", "lora"]


@case
def lora_with_rocr(c):
    text = user_sweep(c.model, c.req / "forget.jsonl", c.req / "retain.jsonl", c.req / "probes.jsonl")
    text = text.replace("graddiff: {lr: [1.0e-3]}", "rocr: {lr: [1.0e-3]}") + "lora: true\n"
    p = c.sweep(text)
    return ["run", p, "--out", c.tmp / "run_out"], [f"{p}:{len(text.splitlines())}", "lora"]


@case
def missing_model_path(c):
    text = user_sweep(c.tmp / "no_such_model", c.req / "forget.jsonl", c.req / "retain.jsonl", c.req / "probes.jsonl")
    p = c.sweep(text)
    return ["run", p, "--out", c.tmp / "run_out"], [f"{p}:2", "model"]


@case
def absurd_grid(c):  # issue §2: a million configurations refused with the count
    text = user_sweep(c.model, c.req / "forget.jsonl", c.req / "retain.jsonl", c.req / "probes.jsonl")
    vals = lambda n: "[" + ", ".join(str(i + 1) for i in range(n)) + "]"  # noqa: E731
    text = text.replace("graddiff: {lr: [1.0e-3]}", f"graddiff: {{lr: {vals(100)}, retain_weight: {vals(100)}}}")
    text = text.replace("steps: [1]", f"steps: {vals(100)}")
    p = c.sweep(text)
    return ["run", p, "--out", c.tmp / "run_out"], [f"{p}:4", "1,000,000 configurations"]


# ------------------------------------------------------------------ damaged model folders (issue §1)


def _truncate(d):
    w = d / "model.safetensors"
    w.write_bytes(w.read_bytes()[:1000])


def _garbage(d):
    (d / "model.safetensors").write_bytes(b"\x00garbage" * 64)


def _empty_weights(d):
    (d / "model.safetensors").write_bytes(b"")


def _shapes(d):
    cfg = json.loads((d / "config.json").read_text())
    cfg["hidden_size"] *= 2
    (d / "config.json").write_text(json.dumps(cfg))


def _layers(d):
    cfg = json.loads((d / "config.json").read_text())
    cfg["num_hidden_layers"] += 2  # weights missing for the extra layers are initialised at random by transformers
    cfg["vocab_size"] += 7  # ... but a vocabulary size that does not match the embedding is a shape mismatch
    (d / "config.json").write_text(json.dumps(cfg))


def _big_tokenizer(d):
    from froc.models.tiny import tiny_tokenizer

    tiny_tokenizer([" ".join(f"w{i}x{i}" for i in range(600))], vocab_size=900).save_pretrained(str(d))


def _bad_config_json(d):
    (d / "config.json").write_text("{not json")


def _pickle_only(d):
    (d / "model.safetensors").rename(d / "pytorch_model.bin")


def _no_tokenizer(d):
    for f in d.iterdir():
        if f.name.startswith(("tokenizer", "special_tokens")):
            f.unlink()


def _nan_weights(d):
    import torch

    from froc.models.loading import load_model, save_model

    m, tok = load_model(d, device="cpu")
    with torch.no_grad():
        for p in m.parameters():
            p.fill_(float("nan"))
    save_model(m, tok, d)


MODEL_DAMAGE = {"truncated_safetensors": (_truncate, "safetensors"), "garbage_safetensors": (_garbage, "safetensors"),
                "empty_safetensors": (_empty_weights, "safetensors"), "config_shapes": (_shapes, "config.json"),
                "config_vocab_size": (_layers, "config.json"), "tokenizer_larger_than_embeddings": (_big_tokenizer, "tokenizer"),
                "config_not_json": (_bad_config_json, "config.json"), "pickle_weights_only": (_pickle_only, "safetensors"),
                "no_tokenizer_files": (_no_tokenizer, "tokenizer"), "nan_weights_eval": (_nan_weights, "non-finite")}


def _model_case(name, mutate, word, command):
    def build(c):
        d = c.bad_model(name, mutate)
        args = c.eval_args(model=d) if command == "eval" else c.unlearn_args(model=d)
        return args, [str(d), word]
    return build


for _name, (_fn, _word) in MODEL_DAMAGE.items():
    CASES[f"model_{_name}_eval"] = _model_case(_name, _fn, _word, "eval")
for _name in ("truncated_safetensors", "config_shapes", "tokenizer_larger_than_embeddings"):
    CASES[f"model_{_name}_unlearn"] = _model_case(_name, MODEL_DAMAGE[_name][0], MODEL_DAMAGE[_name][1], "unlearn")


@case
def model_tokenizer_larger_run(c):
    d = c.bad_model("bigtok_run", _big_tokenizer)
    text = user_sweep(d, c.req / "forget.jsonl", c.req / "retain.jsonl", c.req / "probes.jsonl")
    return ["run", c.sweep(text), "--out", c.tmp / "run_out"], [str(d), "tokenizer"]


@case
def model_path_is_a_file(c):
    p = c.file("model.safetensors", b"x")
    return c.eval_args(model=p), [str(p)]


@case
def zero_token_answers_eval(c):  # issue §4: refused, never a NaN score read as "forgotten"
    def strip_digits(d):
        from tokenizers import Regex, normalizers
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(d))
        tok.backend_tokenizer.normalizer = normalizers.Sequence([normalizers.Replace(Regex(r"[0-9]"), ""),
                                                                 normalizers.Strip()])
        tok.save_pretrained(str(d))

    d = c.bad_model("strip_digits", strip_digits)
    p = c.jsonl("digits.jsonl", [dict(REC, answer="1984", perturbed_answers=["nineteen"], meta={"group": "forget"}),
                                 dict(_qa(2, "Brin"), meta={"group": "retain"})])
    return c.eval_args(model=d, probes=p), [str(p), "answer", "zero answer tokens"]


# ------------------------------------------------------------------ environment (issue §1)


@case
def eval_out_under_a_file(c):
    f = c.file("a_file", "x")
    return c.eval_args(out=f / "out"), [str(f / "out")]


@case
def unlearn_out_under_a_file(c):
    f = c.file("a_file2", "x")
    return c.unlearn_args(out=f / "out"), [str(f / "out")]


@case
def run_out_under_a_file(c):
    f = c.file("a_file3", "x")
    return ["run", c.sweep(), "--out", f / "out"], [str(f / "out")]


@case
def froc_cache_is_a_file(c):
    f = c.file("cache_file", "x")
    p = c.sweep("name: b\nmodel: builtin\nbuiltin: {people: 10, arch: tiny, epochs: 1}\nmethods:\n"
                "  graddiff: {lr: [1.0e-3]}\nsteps: [1]\n", name="builtin.yaml")
    return ["run", p, "--out", c.tmp / "run_out"], [str(f)], {"FROC_CACHE": str(f)}


@case
def eval_out_is_an_existing_file(c):
    f = c.file("out_file", "x")
    return c.eval_args(out=f), [str(f)]


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_fails_cleanly(name, tmp_path, model_dir, request_dir):
    built = CASES[name](Ctx(tmp_path, model_dir, request_dir))
    args, needles, env = (*built, None) if len(built) == 2 else built
    res = run_cli(args, env=env)
    assert_clean_failure(res, *needles)


def test_corpus_size():
    """The issue asks for at least 50 bad inputs in the default suite."""
    assert len(CASES) >= 50, len(CASES)


def test_messages_give_lines(tmp_path, request_dir, model_dir):
    """A spot check of has_line on two located errors (file:line, not just the file)."""
    c = Ctx(tmp_path, model_dir, request_dir)
    args, _ = CASES["deep_jsonl_check"](c)
    assert has_line(run_cli(args).output, args[-1], 2)
