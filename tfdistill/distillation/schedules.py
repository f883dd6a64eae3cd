"""Per-epoch schedules for a `Distiller`'s temperature and alpha, and for any
model's learning rate, as Keras callbacks.

Annealing the temperature (start soft, end sharp) or shifting weight from the
teacher to the labels over training are common variations of Hinton's recipe; a
decaying learning rate is the usual way to let training settle. `DistillerSchedule`
sets `distiller.temperature`, `distiller.alpha` or `model.optimizer.learning_rate` at
the start of every epoch. Each is a non-trainable `keras.Variable` read inside the
compiled train step, so a new value takes effect without retracing it. The value of
each epoch is also written into the epoch logs, so it lands in `History` next to the
losses.

Example:

>>> import keras, numpy as np
>>> from tfdistill.distillation.distiller import Distiller
>>> def dense_model():
...     inputs = keras.Input((4,))
...     return keras.Model(inputs, keras.layers.Dense(2)(inputs))
>>> distiller = Distiller(dense_model(), dense_model())
>>> distiller.compile(optimizer="adam")
>>> schedules = [
...     DistillerSchedule("temperature", start=4.0, end=1.0, kind="cosine"),
...     DistillerSchedule("alpha", start=0.0, end=0.5),
... ]
>>> history = distiller.fit(np.zeros((8, 4)), np.zeros(8), epochs=3,
...                         callbacks=schedules, verbose=0)
>>> history.history["temperature"], history.history["alpha"]
([4.0, 2.5, 1.0], [0.0, 0.25, 0.5])
"""

import math

import keras

from tfdistill.distillation.checks import check_alpha
from tfdistill.distillation.checks import check_learning_rate
from tfdistill.distillation.checks import check_temperature

SCHEDULE_KINDS = ("constant", "linear", "cosine")
# The variables a schedule may drive, and what makes a value valid.
SCHEDULED_VARIABLES = {
    "temperature": check_temperature,
    "alpha": check_alpha,
    "learning_rate": check_learning_rate,
}
# Those of the optimizer, which any compiled model has, not only a Distiller: a
# baseline student trained beside a distilled one takes them too.
OPTIMIZER_VARIABLES = ("learning_rate",)


def _check_kind(kind):
    if kind not in SCHEDULE_KINDS:
        raise ValueError(
            f"Unknown schedule kind {kind!r}; choose one of {SCHEDULE_KINDS}."
        )


def schedule_value(kind, start, end, epoch, epochs):
    """The value of a schedule at a 0-based `epoch` of `epochs`.

    `start` at the first epoch and `end` at the last (and after it); in between,
    `"linear"` interpolates linearly and `"cosine"` follows half a cosine wave, which
    lingers near both ends. `"constant"` is always `start`.

    Example:

    >>> [schedule_value("linear", 4.0, 1.0, epoch, epochs=4) for epoch in range(4)]
    [4.0, 3.0, 2.0, 1.0]
    >>> [round(schedule_value("cosine", 4.0, 1.0, e, epochs=5), 3) for e in range(5)]
    [4.0, 3.561, 2.5, 1.439, 1.0]
    """
    _check_kind(kind)
    if kind == "constant":
        return float(start)
    progress = min(epoch / max(epochs - 1, 1), 1.0)
    if kind == "linear":
        return float(start + (end - start) * progress)
    return float(end + (start - end) * (1.0 + math.cos(math.pi * progress)) / 2.0)


class DistillerSchedule(keras.callbacks.Callback):
    """Sets a `Distiller`'s `temperature` or `alpha`, or a model's learning rate, at
    the start of every epoch.

    The value follows `schedule_value(kind, start, end, epoch, epochs)`: `start` at
    the first epoch, `end` at the last. At the end of every epoch it is written into
    the logs under the variable's name (`logs["temperature"]`, `logs["alpha"]` or
    `logs["learning_rate"]`), so `History` records it. Use one callback per variable.
    A `"learning_rate"` schedule drives `model.optimizer.learning_rate`, so any
    compiled model takes one, and replaces the rate the optimizer was made with;
    the optimizer needs a plain rate, not a `LearningRateSchedule`.

    Args:
        variable: `"temperature"`, `"alpha"` or `"learning_rate"`.
        start: the value of the first epoch.
        end: the value of the last epoch; required for `"linear"` and `"cosine"`,
            `None` (or `start`) for `"constant"`.
        kind: one of `SCHEDULE_KINDS`: `"constant"`, `"linear"` (default) or
            `"cosine"`.
        epochs: the number of epochs from `start` to `end`; by default the `epochs`
            passed to `fit`. Epochs past it keep `end`.

    Raises:
        ValueError: for an unknown variable or kind, a missing `end`, or a value the
            variable cannot take (a temperature or learning rate <= 0, an alpha
            outside `[0, 1]`).

    Example:

    >>> temperature = DistillerSchedule("temperature", start=4.0, end=1.0, epochs=5)
    >>> [temperature.value(epoch) for epoch in range(6)]
    [4.0, 3.25, 2.5, 1.75, 1.0, 1.0]
    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer=keras.optimizers.Adam(1.0), loss="mse")
    >>> decay = DistillerSchedule("learning_rate", start=1e-3, end=1e-4)
    >>> history = model.fit(np.zeros((4, 2)), np.zeros(4), epochs=3, callbacks=[decay],
    ...                     verbose=0)
    >>> [round(rate, 6) for rate in history.history["learning_rate"]]
    [0.001, 0.00055, 0.0001]
    """

    def __init__(self, variable, start, end=None, kind="linear", epochs=None):
        super().__init__()
        if variable not in SCHEDULED_VARIABLES:
            raise ValueError(
                f"A DistillerSchedule drives one of {sorted(SCHEDULED_VARIABLES)}; "
                f"got variable={variable!r}."
            )
        _check_kind(kind)
        if kind == "constant":
            if end not in (None, start):
                raise ValueError(
                    f"A constant {variable} schedule has one value; got start={start} "
                    f"and end={end}."
                )
            end = start
        elif end is None:
            raise ValueError(f"A {kind} {variable} schedule needs an end value.")
        for value in (start, end):
            SCHEDULED_VARIABLES[variable](value)
        if epochs is not None and epochs < 1:
            raise ValueError(f"epochs must be >= 1 or None, got {epochs}.")
        self.variable = variable
        self.start = float(start)
        self.end = float(end)
        self.kind = kind
        self.epochs = epochs
        self._total_epochs = epochs

    def _driven(self):
        """The variable this schedule sets: the optimizer's, or the model's own."""
        owner = self.model.optimizer if self.variable in OPTIMIZER_VARIABLES else self.model
        return getattr(owner, self.variable, None)

    def on_train_begin(self, logs=None):
        if not isinstance(self._driven(), keras.Variable):
            owner = (
                "an optimizer with a plain learning rate, not a LearningRateSchedule"
                if self.variable in OPTIMIZER_VARIABLES
                else f"a keras.Variable {self.variable!r} (a tfdistill.Distiller)"
            )
            raise ValueError(
                f"DistillerSchedule({self.variable!r}) needs a model with {owner}; got "
                f"{type(self.model).__name__}."
            )
        if self.epochs is None:
            self._total_epochs = self.params["epochs"]

    def value(self, epoch):
        """The value this schedule gives a 0-based `epoch`."""
        return schedule_value(
            self.kind, self.start, self.end, epoch, self._total_epochs
        )

    def on_epoch_begin(self, epoch, logs=None):
        self._driven().assign(self.value(epoch))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs[self.variable] = float(keras.ops.convert_to_numpy(self._driven()))

    def get_config(self):
        return {
            "variable": self.variable,
            "start": self.start,
            "end": self.end,
            "kind": self.kind,
            "epochs": self.epochs,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
