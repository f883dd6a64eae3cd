"""The NaN/Inf guard of the `Distiller`'s train step: no bad step reaches the weights.

Before applying a step, the distiller checks an ordered dict of named tensors (the
teacher's logits, each loss term and, unless a loss scale absorbs overflows, the
gradients) and names the first one that is not finite, so that a NaN in the teacher's
logits is not reported as the loss it poisons.

`apply_gradients_if_finite` picks the guard. A step that is not jit-compiled stops
on a TensorFlow assertion (`assert_finite`). XLA cannot compile an assertion, so a
jit-compiled step instead skips its update and records `[optimizer step, check
index]` in a variable (`apply_if_finite`), on which the `NonFiniteGuard` callback
stops `fit`.

Example:

>>> import numpy as np
>>> checks = {"teacher_logits": np.zeros(2), "loss": np.array([1.0, np.nan])}
>>> all_finite, first_bad = first_nonfinite_check(checks)
>>> bool(all_finite), list(checks)[int(first_bad)]
(False, 'loss')
"""

import keras
import tensorflow as tf

# The value of the record variable while no check has failed.
NONE_FAILED = [-1, -1]


def record_variable():
    """The variable a jit-compiled step writes `[optimizer step, check index]` into."""
    return keras.Variable(
        NONE_FAILED,
        trainable=False,
        dtype="int64",
        aggregation="only_first_replica",
        name="first_nonfinite",
    )


def is_finite(tensors):
    """A scalar bool tensor: whether every value of a nest of tensors is finite."""
    return tf.reduce_all(
        [tf.reduce_all(tf.math.is_finite(t)) for t in tf.nest.flatten(tensors) if t is not None]
    )


def first_nonfinite_check(checks):
    """`(all finite, index of the first non-finite check)` of the ordered `checks`."""
    finite = tf.stack([is_finite(tensors) for tensors in checks.values()])
    first_bad = tf.argmin(tf.cast(finite, tf.int64), output_type=tf.int64)
    return tf.reduce_all(finite), first_bad


def assert_finite(checks, step):
    """Stops training at the first NaN or Inf, naming the check and the `step`."""
    all_finite, first_bad = first_nonfinite_check(checks)
    tf.debugging.Assert(
        all_finite,
        [
            "NaN or Inf in",
            tf.gather(tf.constant(list(checks)), first_bad),
            "at optimizer step",
            step,
        ],
    )


def apply_if_finite(checks, apply, record, step):
    """The XLA-compilable guard: calls `apply()` only if every check is finite, else
    assigns `[step, index of the first failed check]` to the `record` variable."""
    all_finite, first_bad = first_nonfinite_check(checks)

    def record_failure():
        record.assign(tf.stack([tf.cast(step, tf.int64), first_bad]))

    tf.cond(all_finite, apply, record_failure)


def apply_gradients_if_finite(distiller, checks, gradients, weights):
    """Applies a `Distiller`'s gradients to `weights` unless a check is not finite.

    Asserts when the step runs as a graph; records the failure for `NonFiniteGuard`
    when it is jit-compiled.
    """
    optimizer = distiller.optimizer

    def apply():
        optimizer.apply_gradients(zip(gradients, weights))

    if distiller.jit_compile:
        distiller.nonfinite_check_names = list(checks)
        apply_if_finite(checks, apply, distiller.first_nonfinite, optimizer.iterations)
    else:
        assert_finite(checks, optimizer.iterations)
        apply()


class NonFiniteGuard(keras.callbacks.Callback):
    """Stops a jit-compiled distiller's `fit` at the first step with a NaN or Inf.

    The step itself was skipped (see `apply_if_finite`); the error names the check
    (teacher logits, a loss term, or the gradients) and the step, as the assertion of
    steps that are not jit-compiled does.

    Args:
        distiller: the `Distiller`; its steps write `distiller.first_nonfinite` (a
            `record_variable`) and name their checks in
            `distiller.nonfinite_check_names`.
    """

    def __init__(self, distiller):
        super().__init__()
        self.distiller = distiller

    def on_train_begin(self, logs=None):
        self.distiller.first_nonfinite.assign(NONE_FAILED)

    def on_train_batch_end(self, batch, logs=None):
        step, check = (int(value) for value in self.distiller.first_nonfinite.numpy())
        if step >= 0:
            name = self.distiller.nonfinite_check_names[check]
            raise FloatingPointError(
                f"NaN or Inf in {name} at optimizer step {step}; that step's update "
                "was skipped."
            )
