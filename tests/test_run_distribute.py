"""The strategy choice of `runtime.strategy` (the strategies run end to end in test_cli)."""

import pathlib
import types

import keras
import pytest
import tensorflow as tf
from keras.src.backend.tensorflow import trainer as keras_trainer

from tfdistill.run import distribute


def _keras_build_standin(self, iterator=None, data_batch=None):
    """Stands for Keras's `_maybe_symbolic_build`, to see whether it was replaced."""


def _keras_reduce_standin(values, strategy, reduction):
    """Stands for Keras's `reduce_per_replica`, to see whether it was replaced."""


@pytest.fixture
def standin_keras_trainer(monkeypatch):
    """Keras's trainer with stand-ins for what the mends replace; restored after the test.

    Whatever a test patches is undone, and whether it patched shows even when an
    earlier test of the process already mended Keras.
    """
    monkeypatch.setattr(
        keras_trainer.TensorFlowTrainer, "_maybe_symbolic_build", _keras_build_standin
    )
    monkeypatch.setattr(keras_trainer, "reduce_per_replica", _keras_reduce_standin)
    return keras_trainer


def _assert_nothing_patched(trainer):
    assert trainer.TensorFlowTrainer._maybe_symbolic_build is _keras_build_standin
    assert trainer.reduce_per_replica is _keras_reduce_standin


def test_default_strategy_is_the_one_device_strategy_and_its_process_writes():
    strategy = distribute.make_strategy("default")
    assert strategy is tf.distribute.get_strategy()
    assert strategy.num_replicas_in_sync == 1
    assert distribute.is_chief(strategy)
    assert distribute.output_dir_for(strategy, "runs/x") == pathlib.Path("runs/x")


def test_unknown_strategy_names_the_registered_ones():
    with pytest.raises(
        ValueError,
        match=r"Unknown strategy 'horovod'; registered: "
        r"\['default', 'mirrored', 'multi_worker', 'tpu'\]",
    ):
        distribute.make_strategy("horovod")


def test_multi_worker_without_tf_config_says_what_is_missing(monkeypatch, standin_keras_trainer):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG environment variable, which is not set"):
        distribute.make_strategy("multi_worker")


def test_a_strategy_registered_from_python_is_accepted_by_the_config_and_made(tmp_path):
    from tfdistill.run import config as run_config
    from tfdistill.run import validate

    calls = []

    @distribute.register_strategy("recorded")
    def recorded(tpu, cpu_devices):
        calls.append((tpu, cpu_devices))
        return tf.distribute.get_strategy()

    try:
        for kind in distribute.STRATEGIES.names():
            config = run_config.override(run_config.RunConfig(), [f"runtime.strategy={kind}"])
            validate.validate(config, tmp_path / "run")
        strategy = distribute.make_strategy("recorded", tpu="grpc://tpu:8470", cpu_devices=3)
    finally:
        distribute.STRATEGIES.unregister("recorded")
    assert strategy is tf.distribute.get_strategy()
    assert calls == [("grpc://tpu:8470", 3)]


@pytest.mark.parametrize("kind", ["mirrored", "multi_worker", "tpu"])
def test_a_distributed_strategy_on_another_keras_fails_and_patches_nothing(
    kind, monkeypatch, standin_keras_trainer
):
    monkeypatch.setattr(keras, "__version__", "3.16.0")
    monkeypatch.setenv("TF_CONFIG", "{}")  # So that multi_worker fails on Keras alone.
    with pytest.raises(
        RuntimeError,
        match=r"written for Keras 3\.11 to 3\.15, and Keras 3\.16\.0 is installed\. Use "
        r"runtime\.strategy: default \(one device\), or install Keras 3\.15",
    ):
        distribute.make_strategy(kind)
    _assert_nothing_patched(standin_keras_trainer)


def test_the_default_strategy_works_on_any_keras(monkeypatch, standin_keras_trainer):
    monkeypatch.setattr(keras, "__version__", "4.0.0")
    assert distribute.make_strategy("default") is tf.distribute.get_strategy()
    _assert_nothing_patched(standin_keras_trainer)


@pytest.mark.parametrize("version", ["3.11.0", "3.13.2", "3.15.1", "3.15.2rc0"])
def test_the_keras_releases_the_mends_match_are_accepted(version):
    distribute._check_keras_version(version)


@pytest.mark.parametrize("version", ["3.10.0", "3.16.0", "3.16.0.dev2026010100", "4.0.0", ""])
def test_other_keras_releases_are_refused(version):
    with pytest.raises(RuntimeError, match="written for Keras 3.11 to 3.15"):
        distribute._check_keras_version(version)


def test_a_keras_without_a_mended_function_fails_naming_it(monkeypatch, standin_keras_trainer):
    monkeypatch.setattr(keras, "__version__", "3.15.1")
    monkeypatch.delattr(standin_keras_trainer, "reduce_per_replica")
    with pytest.raises(
        RuntimeError, match=r"Keras 3\.15\.1 has no reduce_per_replica in keras\.src\.backend"
    ):
        distribute.patch_keras_distributed_training()
    assert standin_keras_trainer.TensorFlowTrainer._maybe_symbolic_build is _keras_build_standin


def test_the_patch_on_a_supported_keras_mends_keras_own_functions_once(
    monkeypatch, standin_keras_trainer
):
    monkeypatch.setattr(keras, "__version__", "3.15.1")
    for _ in range(2):  # A second call mends Keras's function again, not the mended one.
        distribute.patch_keras_distributed_training()
        trainer = standin_keras_trainer
        mended_build = distribute._first_replica_symbolic_build
        assert trainer.TensorFlowTrainer._maybe_symbolic_build is mended_build
        assert trainer.reduce_per_replica.keras_reduce_per_replica is _keras_reduce_standin


class _PerWorker:
    """Stands for TensorFlow's PerReplica: one value of a log per worker."""

    def __init__(self, *values):
        self.values = [tf.constant(value) for value in values]


class _TwoWorkers(tf.distribute.MultiWorkerMirroredStrategy):
    """Reduces as TensorFlow does: the mean over the workers, then along `axis` if any."""

    def __init__(self):  # No cluster: only `reduce` is exercised.
        self._extended = types.SimpleNamespace(_in_multi_worker_mode=lambda: True)

    def reduce(self, reduce_op, value, axis):
        assert reduce_op == "MEAN"
        over_workers = tf.reduce_mean(tf.stack(value.values), axis=0)
        return over_workers if axis is None else tf.reduce_mean(over_workers, axis=axis)


def test_mended_reduce_averages_logs_over_workers():
    logs = {
        "loss": _PerWorker(0.5, 1.5),
        "accuracy": _PerWorker(0.25, 0.75),
        "recall_per_class": _PerWorker([1.0, 0.0], [0.5, 1.0]),
    }
    current = keras_trainer.reduce_per_replica  # Mended if an earlier test made a strategy.
    keras_reduce = getattr(current, "keras_reduce_per_replica", current)
    # Keras's own mean along axis 0 fails on a scalar log: the bug that is mended.
    with pytest.raises(tf.errors.InvalidArgumentError, match="Invalid reduction dimension"):
        keras_reduce(logs, _TwoWorkers(), "auto")

    reduced = distribute._mend_reduce_per_replica(keras_reduce)(logs, _TwoWorkers(), "auto")
    # The means over the workers; not the first worker's values, and for the vector not
    # Keras's mean along axis 0 (0.625).
    assert {name: value.numpy().tolist() for name, value in reduced.items()} == {
        "loss": 1.0,
        "accuracy": 0.5,
        "recall_per_class": [0.75, 0.5],
    }


@pytest.mark.parametrize(
    "strategy, reduction",
    [(_TwoWorkers(), "concat"), (_TwoWorkers(), "sum"), (tf.distribute.get_strategy(), "auto")],
)
def test_mended_reduce_leaves_every_other_case_to_keras(strategy, reduction):
    def keras_reduce(values, strategy, reduction):
        return ("keras", values, strategy, reduction)

    mended = distribute._mend_reduce_per_replica(keras_reduce)
    logs = {"loss": 1.0}
    assert mended(logs, strategy, reduction) == ("keras", logs, strategy, reduction)
