"""Writing only where asked, terminal output as data, resource bombs (issue 18, sections 5-7)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hardening_helpers import assert_clean_failure, run_cli, tmpfs

from froc.errors import ConfigError

# ------------------------------------------------------------------ 5. symlinks are replaced, never written through


def _victim(tmp_path: Path, name: str, content: str = "precious") -> Path:
    v = tmp_path / "elsewhere" / name
    v.parent.mkdir(parents=True, exist_ok=True)
    v.write_text(content)
    return v


def test_eval_outputs_replace_symlinks(tmp_path, model_dir, request_dir):
    out = tmp_path / "out"
    out.mkdir()
    victims = {n: _victim(tmp_path, n) for n in ("per_sample.parquet", "summary.json")}
    for n, v in victims.items():
        (out / n).symlink_to(v)
    res = run_cli(["eval", "--model", model_dir, "--probes", request_dir / "probes.jsonl", "--out", out,
                   "--no-generate", "--hidden-layers", "none", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    for n, v in victims.items():
        assert v.read_text() == "precious", n  # the link's target is untouched
        assert not (out / n).is_symlink() and (out / n).stat().st_size > 0
    assert json.loads((out / "summary.json").read_text())["metrics"]


def test_report_replaces_symlinked_html_and_plots(tmp_path):
    from froc.report import render_report

    out = tmp_path / "run"
    out.mkdir()
    html_victim = _victim(tmp_path, "index.html")
    (out / "report.html").symlink_to(html_victim)
    pictures = tmp_path / "Pictures"
    pictures.mkdir()
    (pictures / "01-holiday.png").write_bytes(b"my photo")  # a name the report itself would write and delete
    (out / "plots").symlink_to(pictures, target_is_directory=True)
    path = render_report({}, out)
    assert html_victim.read_text() == "precious"
    assert path == out / "report.html" and not path.is_symlink() and "<html" in path.read_text().lower()
    assert (pictures / "01-holiday.png").read_bytes() == b"my photo" and sorted(os.listdir(pictures)) == ["01-holiday.png"]
    assert (out / "plots").is_dir() and not (out / "plots").is_symlink()


def test_sweep_text_outputs_replace_symlinks(tmp_path):
    from froc.safe_write import write_text
    from froc.sweep.runner import write_text as runner_write_text

    for i, writer in enumerate((runner_write_text, write_text)):
        victim = _victim(tmp_path, f"v{i}.yaml")
        link = tmp_path / f"sweep{i}.resolved.yaml"
        link.symlink_to(victim)
        writer(link, "name: x\n")
        assert victim.read_text() == "precious" and not link.is_symlink() and link.read_text() == "name: x\n"
    assert not list(tmp_path.glob(".*.tmp*"))


def test_saved_model_replaces_symlinked_weights(tmp_path):
    from froc.models.loading import save_model
    from froc.models.tiny import tiny_model_and_tokenizer

    out = tmp_path / "m"
    out.mkdir()
    victim = _victim(tmp_path, "weights")
    (out / "model.safetensors").symlink_to(victim)
    save_model(*tiny_model_and_tokenizer(), out)
    assert victim.read_text() == "precious" and not (out / "model.safetensors").is_symlink()


def test_atomic_write_leaves_no_temporary_on_failure(tmp_path):
    from froc.safe_write import write_with

    def boom(t):
        Path(t).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_with(tmp_path / "per_sample.parquet", boom)
    assert list(tmp_path.iterdir()) == []


def test_stale_temporary_folders_of_dead_processes_are_cleaned(tmp_path):
    from froc.safe_write import clean_stale_tmp

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its PID is now free (reuse by a live process only keeps the folder: the safe side)
    stale = tmp_path / f"forget10-abc.tmp{dead.pid}"
    (stale / "target").mkdir(parents=True)
    mine = tmp_path / f"forget10-abc.tmp{os.getpid()}"
    mine.mkdir()
    other = tmp_path / "forget10-abc"
    other.mkdir()
    removed = clean_stale_tmp(tmp_path, "forget10-abc.tmp*")
    assert removed == [stale] and not stale.exists() and mine.is_dir() and other.is_dir()


def test_provenance_reads_git_once_without_index_lock(monkeypatch):
    from froc.metrics import provenance

    calls = []
    real = subprocess.run

    def spy(cmd, *a, **kw):
        calls.append(cmd)
        return real(cmd, *a, **kw)

    provenance._git_info.cache_clear()
    monkeypatch.setattr(provenance.subprocess, "run", spy)
    first = provenance.git_info()
    for _ in range(12):
        assert provenance.git_info() == first
    assert len(calls) <= 2  # rev-parse + status, once per process
    assert all("--no-optional-locks" in c for c in calls)


@pytest.mark.parametrize("where", ["out", "parent"])
def test_read_only_out_is_named(tmp_path, model_dir, request_dir, where):
    with tmpfs(tmp_path / "ro", readonly=True) as ok:
        if not ok:
            pytest.skip("mounting a read-only tmpfs needs root")
        out = tmp_path / "ro" / "eval" if where == "out" else tmp_path / "ro" / "deeper" / "eval"
        res = run_cli(["eval", "--model", model_dir, "--probes", request_dir / "probes.jsonl", "--out", out,
                       "--no-generate", "--hidden-layers", "none", "--device", "cpu"])
        assert_clean_failure(res, "read-only")
        assert "ro" in res.output


# ------------------------------------------------------------------ 6. user strings are data, not markup


@pytest.fixture
def recorded_console(monkeypatch):
    from rich.console import Console

    from froc import progress

    buf = io.StringIO()
    monkeypatch.setattr(progress, "console", Console(file=buf, width=200, force_terminal=True, color_system=None))
    monkeypatch.setenv("FROC_NO_PROGRESS", "0")
    return buf


@pytest.mark.parametrize("text", ["[/]", "[old]", "lr=[/bold]", "[bold red]x[/]", "a\\[b]"])
def test_progress_bar_prints_user_strings_verbatim(recorded_console, text):
    from froc.progress import progress_bar

    with progress_bar(f"sweep {text}", 2) as advance:
        advance(1, info=f"graddiff {{'lr': '{text}'}}")
        advance(1, info=text)
    out = recorded_console.getvalue()
    assert f"sweep {text}" in out and text in out


@pytest.mark.parametrize("text", ["[/]", "[old]", "[link=http://x]y[/link]"])
def test_errors_print_paths_verbatim(tmp_path, text):
    p = tmp_path / text.replace("/", "_") / "forget.jsonl" if "/" in text else tmp_path / text / "forget.jsonl"
    res = run_cli(["data", "check", p])
    assert_clean_failure(res, str(p))


def test_data_check_table_prints_meta_values_verbatim(tmp_path):
    from froc.data.loaders import write_jsonl

    p = tmp_path / "[old]" / "items.jsonl"
    p.parent.mkdir()
    write_jsonl([{"id": "a", "subject": "[/]", "question": "q?", "answer": "a", "meta": {"group": "[bold]x"}}], p)
    res = run_cli(["data", "check", p])
    assert res.exit_code == 0, res.output
    assert "[bold]x" in res.output and "[old]" in res.output.replace("\n", "")


def test_sweep_hyperparameter_markup_in_progress_info(recorded_console):
    """A hyperparameter value "[/]" (a string in a grid) goes through the sweep's info line unchanged."""
    from froc.progress import progress_bar

    group = [{"method": "graddiff", "hparams": {"schedule": "[/]"}}]
    with progress_bar("sweep (training runs)", 1) as advance:
        advance(1, info=f"{group[0]['method']} {group[0]['hparams']}")  # froc.sweep.training's info line
    assert "{'schedule': '[/]'}" in recorded_console.getvalue()


# ------------------------------------------------------------------ 7. YAML alias bombs are refused before expansion


def _bomb(levels: int, width: int = 9) -> str:
    names = [chr(ord("a") + i) for i in range(levels)]
    lines = [f"a: &a [{', '.join(['x'] * width)}]"]
    lines += [f"{n}: &{n} [{', '.join(['*' + p] * width)}]" for p, n in zip(names, names[1:])]
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_quickly(monkeypatch):
    """Refused after work linear in the document, never expanding it: counted (how many nodes the size check
    visits, whether anything is constructed), not timed, so a loaded machine cannot make it pass or fail."""
    import froc.yaml_io as yaml_io

    visits, constructed = [0], []
    real_children = yaml_io._children

    def counting(node):
        visits[0] += 1
        return real_children(node)

    monkeypatch.setattr(yaml_io, "_children", counting)
    monkeypatch.setattr(yaml_io.Loader, "construct_document", lambda self, node: constructed.append(node))
    text = _bomb(12)  # 9**12 nodes expanded: 282 billion
    with pytest.raises(ConfigError, match=r"bomb.yaml:\d+: the document expands to more than"):
        yaml_io.load_yaml(text, "bomb.yaml")
    n_written = 12 * 10 + 1  # distinct nodes of the document: 12 lists of 9 items (or aliases) + keys, + the root
    assert 0 < visits[0] <= 4 * (n_written + 12)  # each distinct node visited a bounded number of times
    assert constructed == []  # nothing expanded into Python objects


def test_small_aliases_still_work_and_lines_are_kept():
    from froc.yaml_io import key_lines, load_yaml

    text = "lrs: &lrs [1.0e-4, 2.0e-4]\nmethods:\n  npo: {lr: *lrs}\n  graddiff: {lr: *lrs}\n"
    data, node = load_yaml(text, "s.yaml")
    assert data["methods"]["npo"]["lr"] == [1e-4, 2e-4] == data["methods"]["graddiff"]["lr"]
    lines = key_lines(node)
    assert lines[("methods", "graddiff")] == 4 and lines[("lrs",)] == 1


def test_sweep_file_composed_once(tmp_path, monkeypatch):
    """load_sweep parses the file once: the line-number walk reuses the composed node."""
    import yaml

    from froc.sweep.config import load_sweep

    p = tmp_path / "s.yaml"
    p.write_text("name: x\nmodel: builtin\nmethods:\n  graddiff: {lr: [1.0e-3]}\nsteps: [1]\n")
    composed = []
    real = yaml.SafeLoader.get_single_node

    def spy(self):
        composed.append(1)
        return real(self)

    monkeypatch.setattr(yaml.SafeLoader, "get_single_node", spy)
    load_sweep(p)
    assert len(composed) == 1


@pytest.mark.parametrize("bomb_in", ["sweep", "config"])
def test_bomb_at_depth_in_files(tmp_path, bomb_in, model_dir, request_dir):
    p = tmp_path / "bomb.yaml"
    p.write_text(_bomb(10))
    if bomb_in == "sweep":
        res = run_cli(["plan", p])
    else:
        res = run_cli(["unlearn", "--model", model_dir, "--forget", request_dir / "forget.jsonl", "--retain",
                       request_dir / "retain.jsonl", "--out", tmp_path / "o", "--config", p])
    assert_clean_failure(res, str(p), "expands")
