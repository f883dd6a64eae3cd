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

A plain Keras model trained with `fit` (teacher fine-tuning, a baseline student) gets
`NonFiniteLossGuard` instead: it stops `fit` at the first batch whose loss is NaN or
Inf, and at the end of an epoch whose weights hold one, before a checkpoint callback
that follows it saves them. `check_finite_weights` is the same check of the weights,
for the moment before a model is saved.

Example:

>>> import numpy as np
>>> checks = {"teacher_logits": np.zeros(2), "loss": np.array([1.0, np.nan])}
>>> all_finite, first_bad = first_nonfinite_check(checks)
>>> bool(all_finite), list(checks)[int(first_bad)]
(False, 'loss')
"""

import keras
import numpy as np
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


def count_nonfinite(values):
    """The number of NaN and Inf values in a float tensor or array.

    >>> import numpy as np
    >>> count_nonfinite(np.array([[0.0, np.nan], [np.inf, -np.inf]]))
    3
    """
    finite = tf.math.is_finite(values)
    return int(tf.size(finite)) - int(tf.math.count_nonzero(finite))


def check_finite_weights(model, description):
    """Raises `FloatingPointError` naming the first weight of `model` with a NaN or Inf.

    One fused check covers every weight (about 0.1 s for a 22M-weight BERT on 2 CPU
    cores); only a model that fails it is searched for the weight to name.

    Args:
        model: a `keras.Model`; its float weights are checked, in its own order.
        description: what the model is and when it is checked, for the message, e.g.
            `"the teacher before saving"`.

    Example:

    >>> import numpy as np
    >>> model = keras.Sequential(
    ...     [keras.Input((2,)), keras.layers.Dense(2, name="head")], name="classifier")
    >>> check_finite_weights(model, "the model")  # Finite: nothing happens.
    >>> _ = model.layers[0].bias.assign([0.0, np.nan])
    >>> check_finite_weights(model, "the model before saving")
    Traceback (most recent call last):
    ...
    FloatingPointError: NaN or Inf in the weights of the model before saving: 1 of 2 values of 'classifier/head/bias'.
    """
    weights = [w for w in model.weights if keras.backend.is_float_dtype(w.dtype)]
    if bool(is_finite([w.value for w in weights])):
        return
    counts = [(w.path, count_nonfinite(w.value), int(np.prod(w.shape))) for w in weights]
    bad = [(path, count, size) for path, count, size in counts if count]
    path, count, size = bad[0]
    others = f" (and {len(bad) - 1} more weights)" if len(bad) > 1 else ""
    raise FloatingPointError(
        f"NaN or Inf in the weights of {description}: {count} of {size} values of "
        f"{path!r}{others}."
    )


class NonFiniteLossGuard(keras.callbacks.Callback):
    """Stops a plain Keras model's `fit` at the first NaN or Inf loss or weight.

    The loss is checked after every batch: it is one number that `fit` fetches for
    its progress bar anyway, and its running mean stays NaN from the first bad
    batch on. A gradient can also be non-finite while its loss is finite; a dense
    weight it poisons makes the next batch's loss NaN, but the embedding rows of
    words that do not come back would not. So the weights are checked too, at the
    end of every epoch (`check_finite_weights`, 0.1 s for 22M weights, too slow for
    every step): put the guard before any callback that saves the model at the end
    of an epoch, and a poisoned epoch is never saved.

    Either way `fit` stops with a `FloatingPointError` that names the model and the
    epoch and batch (counted from 1, as `fit` prints them).

    Args:
        name: what is being trained, for the message, e.g. `"the teacher"`.

    Example:

    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> targets = np.array([0.0, 0.0, np.nan, 0.0])  # The third batch of 1 is bad.
    >>> model.fit(np.ones((4, 1)), targets, batch_size=1, shuffle=False, verbose=0,
    ...           callbacks=[NonFiniteLossGuard("the baseline")])
    Traceback (most recent call last):
    ...
    FloatingPointError: NaN or Inf loss while training the baseline, at epoch 1, batch 3; training stopped before the end of the epoch, so nothing of it was saved.
    """

    def __init__(self, name):
        super().__init__()
        self.name = name
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            raise FloatingPointError(
                f"NaN or Inf loss while training {self.name}, at epoch {self.epoch + 1}, "
                f"batch {batch + 1}; training stopped before the end of the epoch, so "
                "nothing of it was saved."
            )

    def on_epoch_end(self, epoch, logs=None):
        check_finite_weights(
            self.model, f"{self.name} after epoch {epoch + 1} (stopped before it was saved)"
        )
