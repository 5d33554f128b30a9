"""transformers' own progress bars follow froc's switch (FROC_NO_PROGRESS) and come back as they were."""

from transformers.utils import logging as hf_logging

from froc.models.loading import load_model, save_model
from froc.models.tiny import tiny_model_and_tokenizer
from froc.progress import hf_progress


def test_hf_progress_switches_and_restores(monkeypatch):
    hf_logging.enable_progress_bar()
    monkeypatch.setenv("FROC_NO_PROGRESS", "1")
    with hf_progress():
        assert not hf_logging.is_progress_bar_enabled()
    assert hf_logging.is_progress_bar_enabled()
    monkeypatch.setenv("FROC_NO_PROGRESS", "0")
    hf_logging.disable_progress_bar()
    with hf_progress():
        assert hf_logging.is_progress_bar_enabled()
    assert not hf_logging.is_progress_bar_enabled()
    hf_logging.enable_progress_bar()


def test_no_transformers_bars_when_froc_progress_is_off(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FROC_NO_PROGRESS", "1")
    hf_logging.enable_progress_bar()
    model, tok = tiny_model_and_tokenizer()
    save_model(model, tok, tmp_path / "m")
    load_model(tmp_path / "m")
    err = capsys.readouterr().err
    assert "Writing model shards" not in err and "Loading weights" not in err
    assert hf_logging.is_progress_bar_enabled()


def test_loading_bar_only_for_large_models(tmp_path, monkeypatch, capsys):
    import froc.models.loading as loading

    monkeypatch.setenv("FROC_NO_PROGRESS", "0")
    model, tok = tiny_model_and_tokenizer()
    save_model(model, tok, tmp_path / "m")
    capsys.readouterr()
    load_model(tmp_path / "m")
    assert "Loading weights" not in capsys.readouterr().err  # a small model: no bar
    monkeypatch.setattr(loading, "BIG_MODEL_BYTES", 1)
    load_model(tmp_path / "m")
    assert "Loading weights" in capsys.readouterr().err
