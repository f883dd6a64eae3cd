"""The `tf.distribute` strategy a run trains under, chosen by `runtime.strategy`.

- `default`: one device (the first GPU if any, else the CPU).
- `mirrored`: `MirroredStrategy`, every local GPU (or, without GPUs, the CPU split
  into `runtime.cpu_devices` logical devices, to try it on a laptop).
- `multi_worker`: `MultiWorkerMirroredStrategy`; the cluster and this process's
  place in it come from the `TF_CONFIG` environment variable, as on every
  multi-worker TensorFlow setup. Every worker runs the same command.
- `tpu`: `TPUStrategy`, on the TPU named by `runtime.tpu` (empty: the local or
  Colab TPU).

Batches in the config are global: each of N replicas gets `batch_size / N`
examples per step. Keep the learning rate of the single-device recipe when the
global batch stays the same; when the batch grows with N (the usual way to use more
devices), scale the learning rate by N for SGD-like optimizers, or by about √N for
Adam, and warm it up.

Only the chief writes the run directory; another worker of a multi-worker run works
in `<output_dir>.worker-<task id>/`, removed when the run ends, since every worker
must run the same training steps (and so the same checkpoints) as the chief.

Example:

```python
strategy = make_strategy("mirrored")
with strategy.scope():
    model = ...  # built, compiled and fitted as on one device
```
"""

import os
import pathlib

import tensorflow as tf
from keras import tree
# Private: the two Keras bugs mended below live there (see each function).
from keras.src.backend.tensorflow import trainer as keras_tf_trainer

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


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


def _first_replica_symbolic_build(self, iterator=None, data_batch=None):
    """Keras's `_maybe_symbolic_build`, reading shapes from the first replica's batch.

    Keras (3.15, the version this was written against) takes the shapes to build a distributed model from
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


_keras_reduce_per_replica = keras_tf_trainer.reduce_per_replica


def _reduce_per_replica(values, strategy, reduction):
    """Keras's `reduce_per_replica`, with the multi-worker mean of scalars mended.

    A step's logs are scalars; Keras reduces them across workers with
    `strategy.reduce("MEAN", value, axis=0)`, which fails on a scalar ("Invalid
    reduction dimension 0 for input with 0 dimensions", tensorflow/tensorflow#72388:
    Keras 3's `fit` under MultiWorkerMirroredStrategy). The mean over the workers
    is `axis=None`.
    """
    if reduction == "auto" and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return tree.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)
    return _keras_reduce_per_replica(values, strategy, reduction)


def _patch_keras_distributed_training():
    keras_tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _first_replica_symbolic_build
    keras_tf_trainer.reduce_per_replica = _reduce_per_replica


def make_strategy(kind, tpu="", cpu_devices=1):
    """The `tf.distribute.Strategy` for `runtime.strategy` (see the module docstring).

    Any strategy but `default` also mends two bugs of Keras's distributed `fit`
    (`_first_replica_symbolic_build`, `_reduce_per_replica`), for every Keras model
    in the process.
    """
    if kind not in STRATEGIES:
        raise ValueError(f"strategy must be one of {list(STRATEGIES)}, got {kind!r}.")
    if kind in ("mirrored", "multi_worker"):
        split_cpu(cpu_devices)
    if kind == "default":
        return tf.distribute.get_strategy()
    _patch_keras_distributed_training()
    if kind == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if kind == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "runtime.strategy=multi_worker reads the cluster from the TF_CONFIG "
                "environment variable, which is not set."
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def is_chief(strategy):
    """Whether this process writes the run: all but a multi-worker run's non-chiefs."""
    return strategy.extended.should_checkpoint


def output_dir_for(strategy, output_dir):
    """Where this process writes: `output_dir` on the chief, a scratch sibling elsewhere."""
    if is_chief(strategy):
        return pathlib.Path(output_dir)
    return pathlib.Path(f"{output_dir}.worker-{strategy.cluster_resolver.task_id}")
