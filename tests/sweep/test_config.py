"""The sweep file: every error names file and line; grid expansion and content-hash ids."""

from __future__ import annotations

import re
import textwrap

import pytest

from froc.errors import ConfigError
from froc.sweep.config import expand_grid, load_sweep, parse_sweep, resolved_yaml

BASE = textwrap.dedent("""\
    name: t
    model: builtin
    builtin: {people: 20, arch: tiny}
    methods:
      npo:
        lr: [1.0e-3, 3.0e-3]
        beta: [0.1]
      graddiff:
        lr: [1.0e-3]
    steps: [10, 5]
    """)


def _write(tmp_path, text, name="sweep.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def _error(tmp_path, text) -> str:
    p = _write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_sweep(p)
    return str(e.value)


def _line(msg: str) -> int:
    m = re.search(r"sweep\.yaml:(\d+)", msg)
    assert m, f"no file:line in {msg!r}"
    return int(m.group(1))


ERRORS = [
    # (text, expected line, fragments of the message)
    (BASE + "stepz: [1]\n", 11, ["stepz", "unknown key", "valid keys", "steps"]),
    (BASE + "budget:\n  alpha_forget: 0.2\n  alpah: 0.1\n", 13, ["budget.alpah", "unknown key", "alpha_utility"]),
    (BASE + "losses: {forget: binary, utilty: binary}\n", 11, ["losses.utilty", "valid keys", "utility_bound"]),
    (BASE.replace("arch: tiny", "arch: tiny, epoch: 3"), 3, ["builtin.epoch", "epochs"]),
    (BASE + "batch_size: many\n", 11, ["batch_size", "integer"]),
    (BASE.replace("steps: [10, 5]", "steps: [10, x]"), 10, ["steps", "integer"]),
    (BASE.replace("steps: [10, 5]", "steps: [0]"), 10, ["steps", "positive"]),
    (BASE + "budget: {alpha_forget: 1.5}\n", 11, ["budget.alpha_forget", "less than 1"]),
    (BASE.replace("beta: [0.1]", "beta: []"), 7, ["methods.npo.beta", "non-empty list"]),
    (BASE.replace("beta: [0.1]", "beta: 0.1"), 7, ["methods.npo.beta", "list"]),
    (BASE.replace("graddiff:", "gradiff:"), 8, ["method 'gradiff' unknown", "valid methods", "graddiff", "npo"]),
    (BASE.replace("beta: [0.1]", "betta: [0.1]"), 7, ["unknown hyperparameter 'betta'", "valid:", "beta", "retain_weight"]),
    (BASE.replace("beta: [0.1]", "steps: [3]"), 7, ["'steps'", "top-level"]),
    (BASE.replace("lr: [1.0e-3, 3.0e-3]", "lr: [1.0e-3, -1.0]"), 6, ["lr must be a positive number"]),
    (BASE.replace("beta: [0.1]", "schedule: [cosine]"), 7, ["schedule 'cosine'", "constant", "linear"]),
    (BASE + "pvalue: hbx\n", 11, ["pvalue 'hbx' unknown", "bentkus", "hoeffding", "wsr"]),
    (BASE + "fwer: holmes\n", 11, ["fwer 'holmes' unknown", "bonferroni", "holm", "fixed_sequence"]),
    (BASE + "splits: {tune: 0.5, cal: 0.4, test: 0.4}\n", 11, ["splits", "sum to 1"]),
    (BASE + "splits: {tune: -0.2, cal: 0.8, test: 0.4}\n", 11, ["splits.tune", "greater than or equal to 0"]),
    (BASE.replace("model: builtin", "model: ./my-model"), 2, ["model", "'data' section"]),
    (BASE + "losses: {tau_forget: oracle}\n", 11, ["losses.tau_forget", "chance", "oracle_qQ"]),
    (BASE + "losses: {tau_forget: 1.5}\n", 11, ["losses.tau_forget", "[0, 1]"]),
    (BASE + "probes_per_group: {forgett: 3}\n", 11, ["probes_per_group.forgett", "neighbour", "world"]),
    (BASE + "attacks: [relearn, nope]\n", 11, ["attack 'nope' unknown", "relearn"]),
    (BASE + "attacks: [relearn]\nattack_params: {suffix: {n: 1}}\n", 12, ["attack_params.suffix", "not in 'attacks'"]),
    (BASE + "builtin: {people: 20}\n", 11, ["duplicate key 'builtin'", "line 3"]),
    ("name: t\n", 1, ["methods", "missing"]),
    ("methods: {}\n", 1, ["methods", "at least one method"]),
    ("- a\n- b\n", 1, ["mapping"]),
    ("", 1, ["empty"]),
    (BASE + "x: [1\n", 12, ["invalid YAML"]),
]


@pytest.mark.parametrize("text,line,fragments", ERRORS, ids=[str(i) for i in range(len(ERRORS))])
def test_errors_name_file_and_line(tmp_path, text, line, fragments):
    msg = _error(tmp_path, text)
    assert str(tmp_path / "sweep.yaml") in msg
    assert _line(msg) == line, msg
    for f in fragments:
        assert f in msg, (f, msg)


def test_user_model_needs_data_and_paths_resolve(tmp_path):
    cfg = load_sweep(_write(tmp_path, BASE.replace("model: builtin", "model: ./m") +
                            "data: {forget: f.jsonl, retain: r.jsonl, probes: p.jsonl}\noracle: o\n"))
    assert cfg.model == str((tmp_path / "m").resolve())
    assert cfg.data.forget == str((tmp_path / "f.jsonl").resolve()) and cfg.oracle == str((tmp_path / "o").resolve())


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_sweep(tmp_path / "nope.yaml")


def test_yaml_exponent_floats(tmp_path):
    """YAML 1.1 reads 1e-3 as text; the sweep file reads it as the number everyone means."""
    cfg = load_sweep(_write(tmp_path, BASE.replace("lr: [1.0e-3, 3.0e-3]", "lr: [1e-3, 3E-3]")))
    assert cfg.methods["npo"]["lr"] == [0.001, 0.003]
    assert [c["config_id"] for c in expand_grid(cfg)] == [c["config_id"] for c in expand_grid(load_sweep(_write(tmp_path, BASE, "b.yaml")))]


def test_grid_expansion(tmp_path):
    cfg = load_sweep(_write(tmp_path, BASE))
    grid = expand_grid(cfg)
    assert cfg.steps == [5, 10]
    assert len(grid) == (2 + 1) * 2
    assert len({c["config_id"] for c in grid}) == len(grid)
    by_run: dict[str, list] = {}
    for c in grid:
        by_run.setdefault(c["train_key"], []).append(c)
        assert c["config_id"] == f"{c['train_key']}-s{c['steps']}" and c["config_id"].startswith(c["method"] + "-")
    # configurations differing only in steps share one training run
    assert len(by_run) == 3
    for g in by_run.values():
        assert sorted(c["steps"] for c in g) == [5, 10]
        assert all(c["hparams"] == g[0]["hparams"] and c["method"] == g[0]["method"] for c in g)
    assert {tuple(sorted(c["hparams"].items())) for c in grid if c["method"] == "npo"} == {
        (("beta", 0.1), ("lr", 0.001)), (("beta", 0.1), ("lr", 0.003))}


def test_ids_are_stable_under_unrelated_edits(tmp_path):
    ids = {c["config_id"] for c in expand_grid(load_sweep(_write(tmp_path, BASE, "a.yaml")))}
    # another method, another lr for graddiff, another step count, another order, budget/statistics changes
    edited = textwrap.dedent("""\
        name: renamed
        model: builtin
        builtin: {arch: tiny, people: 20}
        methods:
          simnpo: {lr: [1.0e-3]}
          graddiff: {lr: [1.0e-3, 1.0e-2]}
          npo: {beta: [0.1], lr: [3.0e-3, 1.0e-3]}
        steps: [5, 10, 20]
        budget: {alpha_forget: 0.1, delta: 0.05}
        pvalue: bentkus
        fwer: bonferroni
        attacks: [relearn]
        resplits: 10
        threads: 1
        """)
    new = {c["config_id"] for c in expand_grid(load_sweep(_write(tmp_path, edited, "b.yaml")))}
    assert ids < new
    assert len(new - ids) == 3 + 3 + 3  # simnpo x 3 steps, graddiff lr=1e-2 x 3 steps, step 20 of the 3 old runs
    # what changes training changes every id: seed, batch size, the model
    for change in ("seed: 1\n", "batch_size: 8\n", "optimizer: sgd\n", "threads: 2\n"):
        other = {c["config_id"] for c in expand_grid(load_sweep(_write(tmp_path, BASE + change, "c.yaml")))}
        assert not other & ids, change
    other = {c["config_id"] for c in expand_grid(load_sweep(_write(tmp_path, BASE.replace("people: 20", "people: 40"), "d.yaml")))}
    assert not other & ids


def test_decaying_schedule_gets_one_run_per_length(tmp_path):
    cfg = load_sweep(_write(tmp_path, BASE.replace("beta: [0.1]", "beta: [0.1]\n    schedule: [linear, constant]")))
    runs: dict[str, set] = {}
    for c in expand_grid(cfg):
        if c["method"] == "npo":
            runs.setdefault(c["hparams"]["schedule"], set()).add(c["train_key"])
    assert len(runs["constant"]) == 2  # one per lr, shared by both step counts
    assert len(runs["linear"]) == 4  # one per lr and step count


def test_resolved_yaml_reloads_to_the_same_grid(tmp_path):
    cfg = load_sweep(_write(tmp_path, BASE + "losses: {tau_forget: 0.5}\nattacks: [relearn]\n"))
    again = load_sweep(_write(tmp_path, resolved_yaml(cfg), "resolved.yaml"))
    assert again == cfg
    assert [c["config_id"] for c in expand_grid(again)] == [c["config_id"] for c in expand_grid(cfg)]


@pytest.mark.parametrize("method", ["rmu", "rocr"])
def test_lora_with_a_method_that_cannot_use_it_is_refused_at_validation(tmp_path, method):
    """Issue 14/18: the engine's refusal happens when the file is read, at the line of the 'lora' key, not
    after other configurations have trained."""
    p = tmp_path / "sweep.yaml"
    p.write_text(f"name: t\nmethods:\n  graddiff: {{lr: [1.0e-3]}}\n  {method}: {{lr: [1.0e-3]}}\nlora: true\n")
    with pytest.raises(ConfigError) as e:
        load_sweep(p)
    msg = str(e.value)
    assert f"{p}:5:" in msg and "lora" in msg and method in msg and "LoRA" in msg


def test_lora_settings_reach_the_engine(tmp_path):
    from froc.sweep.config import engine_setup

    p = tmp_path / "sweep.yaml"
    p.write_text("methods:\n  npo: {lr: [1.0e-3]}\nlora: {r: 4, alpha: 8, target_modules: [q_proj, v_proj]}\n")
    cfg = load_sweep(p)
    spec = engine_setup(cfg, expand_grid(cfg)[0], 3, []).config.lora
    assert (spec.r, spec.alpha, list(spec.target_modules)) == (4, 8, ["q_proj", "v_proj"])
    p.write_text("methods:\n  npo: {lr: [1.0e-3]}\nlora: {r: 0}\n")
    with pytest.raises(ConfigError, match=r"sweep.yaml:3"):
        load_sweep(p)


def test_run_refuses_torchrun(tmp_path, monkeypatch):
    """A sweep under torchrun would run once per rank against one store: refused before anything runs."""
    from froc.sweep.runner import run_sweep

    p = tmp_path / "sweep.yaml"
    p.write_text("methods:\n  npo: {lr: [1.0e-3]}\n")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="torchrun"):
        run_sweep(p, tmp_path / "out")
    assert not (tmp_path / "out").exists()



@pytest.mark.parametrize("method", ["r2mu", "au", "srmu", "circuit", "purge"] + ["*"])
def test_every_registered_method_fits_in_the_demo_sweep(method):
    """The bundled demo sweep (froc/sweep/demo.yaml) with its npo grid replaced by a registered method (a wrapper
    with a base method) parses and expands to that method's configurations: 1 lr x the demo's 2 step counts.
    "*": every registered method at once in one sweep (2 configurations each)."""
    from importlib.resources import files

    import yaml

    from froc.methods import METHODS

    raw = yaml.safe_load((files("froc.sweep") / "demo.yaml").read_text())
    names = list(METHODS) if method == "*" else [method]
    raw["methods"] = {n: {"lr": [1.0e-4], **({"base": ["npo"]} if METHODS[n].wrapper else {})} for n in names}
    cfg = parse_sweep(raw, source="demo.yaml")
    grid = expand_grid(cfg)
    assert len(grid) == 2 * len(names) and sorted({g["method"] for g in grid}) == sorted(names)
