"""The run config: every shipped config loads, overrides are typed, bad keys are named."""

import pathlib

import pytest

from tfdistill.run import config as run_config
from tfdistill.run import validate

CONFIGS = sorted(pathlib.Path(__file__).parent.parent.joinpath("configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.name)
def test_every_shipped_config_loads(path):
    config = run_config.load(path)
    assert config.name == path.stem


def test_overrides_keep_types_and_reach_free_form_sizes():
    config = run_config.RunConfig()
    changed = run_config.override(
        config,
        [
            "distillation.temperature=4",
            "runtime.jit_compile=true",
            "export.latency_batch_sizes=[1, 64]",
            "student.sizes.lstm_units=32",
            "data.max_examples=null",
        ],
    )
    assert changed.distillation.temperature == 4.0
    assert isinstance(changed.distillation.temperature, float)
    assert changed.runtime.jit_compile is True
    assert changed.export.latency_batch_sizes == [1, 64]
    assert changed.student.sizes == {"lstm_units": 32}
    assert config.distillation.temperature == 2.0  # The original is untouched.


def test_json_configs_load_too(tmp_path):
    path = tmp_path / "run.json"
    path.write_text('{"name": "from_json", "student": {"kind": "cnn"}}')
    config = run_config.load(path)
    assert (config.name, config.student.kind) == ("from_json", "cnn")


@pytest.mark.parametrize(
    "values, message",
    [
        ({"distillation": {"temprature": 2}}, r"unknown config key distillation\.temprature"),
        ({"nonsense": 1}, "unknown config key nonsense"),
        ({"distillation": {"epochs": "ten"}}, r"distillation\.epochs must be of type int, got 'ten'"),
        ({"distillation": {"epochs": True}}, r"distillation\.epochs must be of type int, got True"),
        ({"runtime": {"jit_compile": 1}}, r"runtime\.jit_compile must be of type bool"),
        ({"runtime": {"dtype_policy": "float8"}}, r"runtime\.dtype_policy must be one of"),
        ({"export": {"latency_batch_sizes": [1, "x"]}}, r"latency_batch_sizes\[1\] must be of type int"),
        ({"teacher": 3}, "teacher must be a mapping"),
    ],
)
def test_bad_values_name_their_key(values, message):
    with pytest.raises(run_config.ConfigError, match=message):
        run_config.RunConfig.from_dict(values)


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("distillation.temprature=3", r"unknown config key distillation\.temprature"),
        ("nope.key=3", "unknown config key nope"),
        ("temperature", "--set takes key=value"),
        ("distillation.alpha=high", r"distillation\.alpha must be of type float"),
    ],
)
def test_bad_overrides_name_their_key(assignment, message):
    with pytest.raises(run_config.ConfigError, match=message):
        run_config.override(run_config.RunConfig(), [assignment])


def test_missing_and_malformed_files_are_named(tmp_path):
    with pytest.raises(run_config.ConfigError, match="missing.yaml does not exist"):
        run_config.load(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("teacher: [unclosed")
    with pytest.raises(run_config.ConfigError, match="broken.yaml is not valid YAML"):
        run_config.load(broken)


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("distillation.alpha=2", r"distillation\.alpha: alpha .* must be in \[0, 1\]"),
        ("distillation.temperature=0", r"distillation\.temperature: temperature must be > 0"),
        ("student.kind=transformer", r"student\.kind must be one of \['bilstm', 'cnn', 'small_bert'\]"),
        ("distillation.schedule={beta: {start: 1}}", r"schedules \['alpha', 'temperature'\], not \['beta'\]"),
        ("data.source=reviews.txt", r"data\.source: Unknown source 'reviews\.txt'"),
        ("task=summarization", r"task must be one of \['text_classification'\]"),
        ("distillation.loss=l1", r"distillation\.loss must be one of \['cross_entropy', 'kl', 'mse'\]"),
        ("runtime.strategy=horovod", r"runtime\.strategy must be one of \['default', 'mirrored'"),
        ("distillation.intermediate={hiden: 1.0}", r"unknown term\(s\) \['hiden'\]"),
        ("teacher.preset=./no/such/teacher", r"teacher\.preset: .*no/such/teacher"),
    ],
)
def test_values_that_would_fail_mid_run_are_rejected_before_it(tmp_path, assignment, message):
    config = run_config.override(run_config.RunConfig(), [assignment])
    with pytest.raises(run_config.ConfigError, match=message):
        validate.validate(config, tmp_path / "run")
    assert list(tmp_path.iterdir()) == []
