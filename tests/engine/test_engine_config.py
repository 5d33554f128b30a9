"""engine_config: the one builder from user settings to a checked run (sweep validation, runner, CLI, unlearn)."""

import pytest
import torch

from froc.engine.config import UnlearnConfig, engine_config
from froc.errors import ConfigError
from froc.models.loading import LoraSpec
from froc.settings import coerce, parse_sets


def test_values_are_coerced_and_routed():
    """Strings from --set / YAML 1.1 ('1e-5' is a string there) become the fields' types; engine fields go to
    the UnlearnConfig, method fields to hparams; keywords set engine fields; None keywords are 'not set'."""
    s = engine_config({"method": "npo", "hparams": {"beta": "0.2", "lr": "1e-5", "retain_weight": 1}},
                      steps=5, checkpoints=[5, 2], batch_size=None, device="cpu", seed=3)
    assert isinstance(s.config, UnlearnConfig)
    assert (s.config.lr, s.config.steps, s.config.checkpoints, s.config.seed) == (1e-5, 5, [2, 5], 3)
    assert s.config.batch_size == UnlearnConfig().batch_size
    assert s.hparams == {"beta": 0.2, "retain_weight": 1.0} and type(s.hparams["retain_weight"]) is float
    assert s.method_config.beta == 0.2 and s.needs == {"retain", "ref_seq_logprobs"}
    config, hparams = s  # unpacks as (UnlearnConfig, hparams)
    assert config is s.config and hparams is s.hparams
    assert s.unlearn_kwargs() == {"method": "npo", "config": s.config, "beta": 0.2, "retain_weight": 1.0}


def test_wrapper_takes_base_hyperparameters():
    s = engine_config({"method": "sam", "hparams": {"base": "graddiff", "retain_weight": "2", "rho": 0.1}})
    assert s.hparams == {"base": "graddiff", "retain_weight": 2.0, "rho": 0.1}
    assert s.method_config.base_config.retain_weight == 2.0 and s.method_config.base_spec.name == "graddiff"


@pytest.mark.parametrize("method,hparams", [("rmu", {}), ("rocr", {}), ("embed_ga", {}), ("sam", {"base": "embed_ga"}),
                                            ("scope", {"base": "rmu"})])
def test_lora_with_a_method_that_cannot_use_it_is_refused(method, hparams):
    with pytest.raises(ConfigError, match="cannot train LoRA adapters"):
        engine_config({"method": method, "hparams": hparams}, lora=True)
    engine_config({"method": method, "hparams": hparams}, lora=False)  # full weights: fine


def test_lora_spec_forms():
    assert engine_config("npo", lora=True).config.lora == LoraSpec()
    assert engine_config("npo", lora={"r": 4}).config.lora == LoraSpec(r=4)
    assert engine_config("npo", lora=False).config.lora is None


@pytest.mark.parametrize("entry,kw,match", [
    ({"method": "nope"}, {}, "unknown method 'nope'; valid methods: .*npo"),
    ({"method": "npo", "hparams": {"betta": 1}}, {}, r"unknown hyperparameter\(s\) betta .*beta"),
    ({"method": "npo"}, {"stepz": 3}, "unknown engine setting.*stepz.*valid: steps"),
    ({"method": "npo", "hparams": {"beta": "x"}}, {}, "invalid value 'x' for method 'npo' hyperparameter 'beta'"),
    ({"method": "npo", "hparams": {"schedule": "cosine"}}, {}, "unknown schedule 'cosine'"),
    ({"method": "npo"}, {"steps": 3, "checkpoints": [5]}, r"checkpoints \[5\] outside"),
    ({"method": "npo"}, {"dtype": "float8"}, "unknown dtype"),
    ({"method": "npo"}, {"device": "tpu"}, "unknown device"),
    ({"method": "sam", "hparams": {"base": "rocr"}}, {}, "unknown base method for sam 'rocr'"),
    ({"method": "sam", "hparams": {"variant": "worst"}}, {}, "sam variant"),
    ({"hparams": {}}, {}, "needs a 'method'"),
])
def test_every_check_before_a_model(entry, kw, match):
    with pytest.raises(ConfigError, match=match):
        engine_config(entry, **kw)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device_is_refused_unless_told_not_to_check():
    with pytest.raises(ConfigError, match="CUDA is not available"):
        engine_config("npo", device="cuda")
    assert engine_config("npo", device="cuda", check_device=False).config.device == "cuda"


def test_missing_inputs_are_refused_when_declared():
    with pytest.raises(ConfigError, match="needs refusals"):
        engine_config("idkpo", inputs=["retain"])
    with pytest.raises(ConfigError, match="needs retain"):
        engine_config({"method": "npo", "hparams": {"retain_weight": 1}}, inputs=[])
    engine_config({"method": "npo", "hparams": {"retain_weight": 0}}, inputs=[])  # retain dropped at weight 0


def test_unlearn_refuses_what_engine_config_refuses_before_touching_the_model():
    """unlearn calls engine_config first: no model is needed to get the error."""
    from froc.engine import unlearn

    with pytest.raises(ConfigError, match="cannot train LoRA"):
        unlearn(None, None, [], method="rmu", config={"lora": {}})
    with pytest.raises(ConfigError, match="invalid value"):
        unlearn(None, None, [], method="npo", beta="high")


def test_parse_sets_and_coerce():
    assert parse_sets(["beta=0.1", "layers=[1, 2]", "name=a:b", "empty=", "lr=1e-5"]) == {
        "beta": 0.1, "layers": [1, 2], "name": "a:b", "empty": None, "lr": 1e-5}  # froc.yaml_io: 1e-5 is a float
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_sets(["beta"])
    assert coerce("lr", float, "1e-5") == 1e-5
    assert coerce("n", int, 3.0) == 3 and coerce("b", bool, "off") is False
    assert coerce("t", tuple[float, float], [1, "2"]) == (1.0, 2.0)
    assert coerce("m", str | list[str], ["a", "b"]) == ["a", "b"] and coerce("m", str | list[str], "a") == "a"
    assert coerce("k", list[int], "1,2") == [1, 2] and coerce("x", int | None, None) is None
    with pytest.raises(ConfigError, match="expected int"):
        coerce("n", int, 2.5)
    with pytest.raises(ConfigError, match="expected bool"):
        coerce("b", bool, "maybe")


def test_unknown_name_suggests_the_closest_valid_ones():
    """difflib's ratio of 'gradiff' to 'graddiff' is 2*7/15 = 0.93 >= 0.75, so it is suggested; 'zzz' is close to
    nothing, so there is no suggestion but the full list stays."""
    from froc.errors import unknown_choice

    msg = str(unknown_choice("method", "gradiff", ["graddiff", "npo", "rmu"]))
    assert msg.startswith("unknown method 'gradiff'; did you mean 'graddiff'?; valid methods: graddiff, npo, rmu")
    assert str(unknown_choice("method", "zzz", ["npo"])) == "unknown method 'zzz'; valid methods: npo"


def test_evaluate_refuses_an_unknown_metric_before_loading_or_scoring(tmp_path):
    """The model path does not even exist: the metric name is checked first."""
    from froc.errors import ConfigError
    from froc.metrics.evaluate import evaluate

    with pytest.raises(ConfigError, match="unknown metric 'none'"):
        evaluate(tmp_path / "no-model", probes=[object()], metrics=["none"])
