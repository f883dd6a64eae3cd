"""The strategy choice of `runtime.strategy` (the strategies run end to end in test_cli)."""

import pathlib

import pytest
import tensorflow as tf

from tfdistill.run import distribute


def test_default_strategy_is_the_one_device_strategy_and_its_process_writes():
    strategy = distribute.make_strategy("default")
    assert strategy is tf.distribute.get_strategy()
    assert distribute.is_chief(strategy)
    assert distribute.output_dir_for(strategy, "runs/x") == pathlib.Path("runs/x")


def test_unknown_strategy_names_the_choices():
    with pytest.raises(ValueError, match=r"strategy must be one of \['default', 'mirrored'"):
        distribute.make_strategy("horovod")


def test_multi_worker_without_tf_config_says_what_is_missing(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG environment variable, which is not set"):
        distribute.make_strategy("multi_worker")


def test_config_choices_match_the_strategies():
    from tfdistill.run import config

    with pytest.raises(config.ConfigError, match="runtime.strategy must be one of"):
        config.RunConfig.from_dict({"runtime": {"strategy": "horovod"}})
    for kind in distribute.STRATEGIES:
        assert config.RunConfig.from_dict({"runtime": {"strategy": kind}}).runtime.strategy == kind


def test_mended_reduce_averages_scalar_logs_over_workers(monkeypatch):
    """The multi-worker branch of the mended `reduce_per_replica` reduces with axis=None."""
    calls = []

    class FakeMultiWorker(tf.distribute.MultiWorkerMirroredStrategy):
        def __init__(self):  # No cluster: only `reduce` is exercised.
            pass

        def reduce(self, reduce_op, value, axis):
            calls.append((reduce_op, axis))
            return value

    logs = {"loss": tf.constant(0.5), "accuracy": tf.constant(1.0)}
    reduced = distribute._reduce_per_replica(logs, FakeMultiWorker(), "auto")
    assert calls == [("MEAN", None), ("MEAN", None)]
    assert {name: float(value) for name, value in reduced.items()} == {"loss": 0.5, "accuracy": 1.0}
