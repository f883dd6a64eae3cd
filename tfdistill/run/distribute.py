"""The `tf.distribute` strategy a run trains under, chosen by `runtime.strategy`.

- `default`: one device (the first GPU if any, else the CPU).
- `mirrored`: `MirroredStrategy`, every local GPU (or, without GPUs, the CPU split
  into `runtime.cpu_devices` logical devices, to try it on a laptop).
- `multi_worker`: `MultiWorkerMirroredStrategy`; the cluster and this process's
  place in it come from the `TF_CONFIG` environment variable, as on every
  multi-worker TensorFlow setup. Every worker runs the same command.
- `tpu`: `TPUStrategy`, on the TPU named by `runtime.tpu` (empty: the local or
  Colab TPU).

These names are the `STRATEGIES` registry, which the config reads; add one with
`register_strategy`.

Batches in the config are global: each of N replicas gets `batch_size / N`
examples per step. Keep the learning rate of the single-device recipe when the
global batch stays the same; when the batch grows with N (the usual way to use more
devices), scale the learning rate by N for SGD-like optimizers, or by about √N for
Adam, and warm it up.

Only the chief writes the run directory; another worker of a multi-worker run works
in `<output_dir>.worker-<task id>/`, removed when the run ends, since every worker
must run the same training steps (and so the same checkpoints) as the chief.

Example:

>>> strategy = make_strategy("default")
>>> strategy.num_replicas_in_sync
1
>>> with strategy.scope():  # built, compiled and fitted as on one device
...     model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
>>> model.count_params()
10
"""

import operator
import os
import pathlib
import re

import keras
import tensorflow as tf
from keras import tree

from tfdistill.registry import Registry

# Strategy name -> factory `(tpu, cpu_devices) -> tf.distribute.Strategy`.
STRATEGIES = Registry("strategy")

# The Keras releases the mends below were written for, as (major, minor), both ends
# included. The private functions they replace, `TensorFlowTrainer._maybe_symbolic_build`
# and `reduce_per_replica` in keras/src/backend/tensorflow/trainer.py, are the same
# code in every release from 3.11.0 (the first whose epoch iterator yields the
# `(_, _, batches)` triples read below) to 3.15.1, the newest when this was checked;
# the strategy tests run on 3.15.1. Later 3.15.x patch releases are trusted to keep them.
SUPPORTED_KERAS = ((3, 11), (3, 15))
# What the mends replace in that module, checked before anything is patched.
_REPLACED_KERAS_FUNCTIONS = ("TensorFlowTrainer._maybe_symbolic_build", "reduce_per_replica")
_INSTEAD_OF_UNSUPPORTED_KERAS = (
    "Use runtime.strategy: default (one device), or install Keras 3.15 "
    "(pip install 'keras==3.15.*')."
)


def register_strategy(name):
    """Registers a strategy factory under `name` (a decorator), for `runtime.strategy`.

    The factory takes the keywords `tpu` and `cpu_devices` (`runtime.tpu` and
    `runtime.cpu_devices`, to use or ignore) and returns a `tf.distribute.Strategy`.
    One that distributes `fit` over several replicas should call
    `patch_keras_distributed_training()` first, as the built-in ones do.

    Example:

    >>> @register_strategy("first_cpu")
    ... def first_cpu(tpu, cpu_devices):
    ...     return tf.distribute.OneDeviceStrategy("/cpu:0")
    >>> make_strategy("first_cpu").extended.worker_devices
    ('/job:localhost/replica:0/task:0/device:CPU:0',)
    >>> STRATEGIES.unregister("first_cpu")
    """
    return STRATEGIES.register(name)


def make_strategy(kind, tpu="", cpu_devices=1):
    """The `tf.distribute.Strategy` registered as `kind` (see the module docstring).

    Every built-in strategy but `default` also mends two bugs of Keras's distributed
    `fit` (see `patch_keras_distributed_training`), for every Keras model in the
    process.

    Raises:
        ValueError: for a name that is not registered (naming those that are), or a
            strategy that cannot be set up from what the process was given.
        RuntimeError: when Keras or TensorFlow cannot provide the strategy.
    """
    return STRATEGIES.get(kind)(tpu=tpu, cpu_devices=cpu_devices)


@register_strategy("default")
def _default_strategy(tpu, cpu_devices):
    """TensorFlow's default strategy: one device, and nothing patched."""
    return tf.distribute.get_strategy()


@register_strategy("mirrored")
def _mirrored_strategy(tpu, cpu_devices):
    """`MirroredStrategy` over every local GPU, else over `cpu_devices` CPU devices."""
    patch_keras_distributed_training()
    split_cpu(cpu_devices)
    gpus = tf.config.list_logical_devices("GPU")
    devices = gpus or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy([device.name for device in devices])


@register_strategy("multi_worker")
def _multi_worker_strategy(tpu, cpu_devices):
    """`MultiWorkerMirroredStrategy` on the cluster that `TF_CONFIG` describes."""
    patch_keras_distributed_training()
    split_cpu(cpu_devices)
    if "TF_CONFIG" not in os.environ:
        raise ValueError(
            "runtime.strategy=multi_worker reads the cluster from the TF_CONFIG "
            "environment variable, which is not set."
        )
    return tf.distribute.MultiWorkerMirroredStrategy()


@register_strategy("tpu")
def _tpu_strategy(tpu, cpu_devices):
    """`TPUStrategy` on the TPU named `tpu` (empty: the local or Colab TPU)."""
    patch_keras_distributed_training()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def split_cpu(num_devices):
    """Splits the CPU into `num_devices` logical devices; call before TF uses devices.

    Raises a `RuntimeError` naming the cause when TensorFlow has already set its
    devices up (the split must come first in the process).
    """
    if num_devices <= 1:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) == num_devices:
        return
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices
        )
    except RuntimeError as error:
        raise RuntimeError(
            f"runtime.cpu_devices={num_devices} must split the CPU before TensorFlow "
            f"initialises its devices: {error}"
        ) from None


def patch_keras_distributed_training():
    """Mends two bugs of Keras's distributed `fit`, for every Keras model in the process.

    They replace private Keras functions (`_first_replica_symbolic_build`,
    `_mend_reduce_per_replica`), so they are applied only on the Keras releases
    they were written for (`SUPPORTED_KERAS`). Calling this again changes nothing.

    Raises:
        RuntimeError: on another Keras release, or one whose trainer lacks a
            function the mends replace; nothing is patched then.
    """
    trainer = _keras_tensorflow_trainer()
    trainer.TensorFlowTrainer._maybe_symbolic_build = _first_replica_symbolic_build
    keras_reduce = trainer.reduce_per_replica
    # After an earlier call, mend Keras's own function again, not the mended one.
    keras_reduce = getattr(keras_reduce, "keras_reduce_per_replica", keras_reduce)
    trainer.reduce_per_replica = _mend_reduce_per_replica(keras_reduce)


def _keras_tensorflow_trainer():
    """Keras's private TensorFlow trainer module, once checked to be the one mended."""
    _check_keras_version(keras.__version__)
    # Imported only here: a Keras release the mends were not written for may lack it,
    # and the `default` strategy needs none of it.
    from keras.src.backend.tensorflow import trainer

    missing = [name for name in _REPLACED_KERAS_FUNCTIONS if not _has(trainer, name)]
    if missing:
        raise RuntimeError(
            f"Keras {keras.__version__} has no {', '.join(missing)} in {trainer.__name__}, "
            "which tfdistill's mends of its distributed fit replace. "
            + _INSTEAD_OF_UNSUPPORTED_KERAS
        )
    return trainer


def _has(module, dotted_name):
    """Whether `module` has the attribute `dotted_name` (e.g. `Class.method`)."""
    try:
        operator.attrgetter(dotted_name)(module)
    except AttributeError:
        return False
    return True


def _check_keras_version(version):
    """Raises a `RuntimeError` unless the mends were written for Keras `version`.

    >>> _check_keras_version("3.15.1")
    >>> _check_keras_version("3.16.0")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    RuntimeError: ... written for Keras 3.11 to 3.15, and Keras 3.16.0 is installed. Use ...
    """
    release = tuple(int(number) for number in re.findall(r"\d+", version)[:2])
    first, last = SUPPORTED_KERAS
    if not first <= release <= last:
        raise RuntimeError(
            "tfdistill's strategies other than `default` mend private functions of "
            f"Keras's distributed fit, written for Keras {'.'.join(map(str, first))} to "
            f"{'.'.join(map(str, last))}, and Keras {version} is installed. "
            + _INSTEAD_OF_UNSUPPORTED_KERAS
        )


def _first_replica_symbolic_build(self, iterator=None, data_batch=None):
    """Keras's `_maybe_symbolic_build`, reading shapes from the first replica's batch.

    Keras (`SUPPORTED_KERAS`) takes the shapes to build a distributed model from
    `strategy.reduce("MEAN", batch)`, which fails on what text models are fed: bool
    padding masks (no AddN for bool) and, under MultiWorkerMirroredStrategy, any dict
    of inputs. Only shapes and dtypes are needed, and the first local replica's batch
    has them.
    """
    if self._distribute_strategy is None:
        return
    if iterator is not None:
        for _, _, batches in iterator:
            data_batch = tree.map_structure(
                lambda value: self.distribute_strategy.experimental_local_results(value)[0]
                if isinstance(value, tf.distribute.DistributedValues)
                else value,
                next(batches),
            )
            break
    with self.distribute_strategy.scope():
        self._symbolic_build(data_batch=data_batch)


def _mend_reduce_per_replica(keras_reduce_per_replica):
    """Keras's `reduce_per_replica` (given), with the multi-worker mean of scalars mended.

    A step's logs are scalars; Keras reduces them across workers with
    `strategy.reduce("MEAN", value, axis=0)`, which fails on a scalar ("Invalid
    reduction dimension 0 for input with 0 dimensions", tensorflow/tensorflow#72388:
    Keras 3's `fit` under MultiWorkerMirroredStrategy). The mean over the workers
    is `axis=None`. The mended function keeps Keras's as `keras_reduce_per_replica`.
    """

    def reduce_per_replica(values, strategy, reduction):
        if reduction == "auto" and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return tree.map_structure(
                lambda value: strategy.reduce("MEAN", value, axis=None), values
            )
        return keras_reduce_per_replica(values, strategy, reduction)

    reduce_per_replica.keras_reduce_per_replica = keras_reduce_per_replica
    return reduce_per_replica


def is_chief(strategy):
    """Whether this process writes the run: all but a multi-worker run's non-chiefs.

    >>> is_chief(make_strategy("default"))
    True
    """
    return strategy.extended.should_checkpoint


def output_dir_for(strategy, output_dir):
    """Where this process writes: `output_dir` on the chief, a scratch sibling elsewhere.

    >>> output_dir_for(make_strategy("default"), "runs/sst2").as_posix()
    'runs/sst2'
    """
    if is_chief(strategy):
        return pathlib.Path(output_dir)
    return pathlib.Path(f"{output_dir}.worker-{strategy.cluster_resolver.task_id}")
