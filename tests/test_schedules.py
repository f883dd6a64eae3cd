"""Temperature, alpha and learning-rate schedules: values, History, no retracing, bad
settings, and which schedules a baseline student takes."""

import math

import keras
import numpy as np
import pytest

import tfdistill
from tfdistill.distillation.schedules import DistillerSchedule
from tfdistill.distillation.schedules import schedule_value
from tfdistill.run import config as run_config
from tfdistill.run.layout import BASELINE
from tfdistill.run.layout import DISTILLED
from tfdistill.run.stages import students

EPOCHS = 5


def dense_model():
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(3)(inputs))


def toy_data(n=32):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x[:, 0] > 0).astype("int32")


def count_traces(distiller):
    """Wraps `train_step`; Keras calls it once per trace of the compiled step."""
    traces = []
    original = distiller.train_step
    distiller.train_step = lambda data: traces.append(1) or original(data)
    return traces


@pytest.mark.parametrize(
    "kind, start, end, expected",
    [
        ("constant", 2.0, None, [2.0] * EPOCHS),
        ("linear", 4.0, 1.0, [4.0, 3.25, 2.5, 1.75, 1.0]),
        (
            "cosine",
            4.0,
            1.0,
            [1.0 + 3.0 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(EPOCHS)],
        ),
        ("linear", 0.0, 0.8, [0.0, 0.2, 0.4, 0.6, 0.8]),
    ],
)
def test_schedule_values_go_from_start_at_the_first_epoch_to_end_at_the_last(
    kind, start, end, expected
):
    got = [schedule_value(kind, start, end, epoch, EPOCHS) for epoch in range(EPOCHS)]
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_epochs_past_the_schedule_keep_the_end_value():
    assert schedule_value("cosine", 4.0, 1.0, epoch=9, epochs=5) == 1.0
    assert schedule_value("linear", 4.0, 1.0, epoch=0, epochs=1) == 4.0


def test_fit_follows_the_schedules_logs_them_and_never_retraces():
    x, y = toy_data()
    distiller = tfdistill.Distiller(dense_model(), dense_model())
    # No learning: each epoch's loss then shows which alpha the compiled step used.
    distiller.compile(optimizer=keras.optimizers.SGD(0.0))
    traces = count_traces(distiller)
    callbacks = [
        DistillerSchedule("temperature", start=4.0, end=1.0, kind="cosine"),
        DistillerSchedule("alpha", start=1.0, end=0.0, kind="linear"),
    ]
    history = distiller.fit(
        x, y, batch_size=8, epochs=EPOCHS, shuffle=False, callbacks=callbacks, verbose=0
    ).history

    expected_temperature = [
        schedule_value("cosine", 4.0, 1.0, epoch, EPOCHS) for epoch in range(EPOCHS)
    ]
    expected_alpha = [1.0, 0.75, 0.5, 0.25, 0.0]
    np.testing.assert_allclose(history["temperature"], expected_temperature, rtol=1e-6)
    np.testing.assert_allclose(history["alpha"], expected_alpha, atol=1e-7)
    np.testing.assert_allclose(
        history["loss"],
        np.multiply(expected_alpha, history["student_loss"])
        + (1 - np.array(expected_alpha)) * history["distillation_loss"],
        rtol=1e-5,
    )
    # The temperature reached the compiled step too: T²·KL changes while nothing learns.
    assert len(set(np.round(history["distillation_loss"], 6))) == EPOCHS
    assert len(traces) == 1


def test_epochs_default_to_those_of_fit_and_can_be_fixed():
    x, y = toy_data(n=8)
    distiller = tfdistill.Distiller(dense_model(), dense_model())
    distiller.compile(optimizer="sgd")
    by_fit = DistillerSchedule("alpha", start=0.0, end=1.0)
    fixed = DistillerSchedule("temperature", start=3.0, end=1.0, epochs=2)
    history = distiller.fit(x, y, epochs=3, callbacks=[by_fit, fixed], verbose=0).history
    np.testing.assert_allclose(history["alpha"], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(history["temperature"], [3.0, 1.0, 1.0])


def test_config_round_trip():
    schedule = DistillerSchedule("temperature", start=8, end=2, kind="cosine", epochs=10)
    clone = DistillerSchedule.from_config(schedule.get_config())
    assert clone.get_config() == {
        "variable": "temperature", "start": 8.0, "end": 2.0, "kind": "cosine", "epochs": 10
    }
    assert clone.value(9) == 2.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"variable": "beta", "start": 1.0, "end": 2.0},
            r"one of \['alpha', 'learning_rate', 'temperature'\]; got variable='beta'",
        ),
        (
            {"variable": "alpha", "start": 0.1, "end": 0.5, "kind": "step"},
            "Unknown schedule kind 'step'",
        ),
        ({"variable": "alpha", "start": 0.1}, "A linear alpha schedule needs an end value"),
        (
            {"variable": "alpha", "start": 0.1, "end": 0.5, "kind": "constant"},
            "one value; got start=0.1 and end=0.5",
        ),
        (
            {"variable": "temperature", "start": 4.0, "end": 0.0},
            "temperature must be > 0, got 0.0",
        ),
        ({"variable": "alpha", "start": 0.0, "end": 1.5}, r"must be in \[0, 1\], got 1.5"),
        (
            {"variable": "learning_rate", "start": 1e-3, "end": 0.0},
            "learning_rate must be > 0, got 0.0",
        ),
        ({"variable": "alpha", "start": 0.0, "end": 1.0, "epochs": 0}, "epochs must be >= 1"),
    ],
)
def test_bad_schedules_raise_naming_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DistillerSchedule(**kwargs)


def test_a_model_without_the_variable_is_rejected():
    x, y = toy_data(n=8)
    model = dense_model()
    model.compile(optimizer="sgd", loss="mse")
    schedule = DistillerSchedule("temperature", start=4.0, end=1.0)
    with pytest.raises(ValueError, match="needs a model with a keras.Variable 'temperature'"):
        model.fit(x, np.zeros((8, 3)), epochs=1, callbacks=[schedule], verbose=0)


def test_a_learning_rate_schedule_reaches_the_compiled_step_of_a_plain_model():
    x, _ = toy_data()
    model = dense_model()
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    weights = [model.get_weights()[0].copy()]
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: weights.append(model.get_weights()[0].copy())
    )
    decay = DistillerSchedule("learning_rate", start=0.1, end=1e-9, kind="cosine", epochs=2)
    history = model.fit(
        x, np.zeros((len(x), 3)), batch_size=8, epochs=3, shuffle=False,
        callbacks=[decay, record], verbose=0,
    ).history
    np.testing.assert_allclose(history["learning_rate"], [0.1, 1e-9, 1e-9], rtol=1e-5)
    initial, after_first, last = weights[0], weights[1], weights[-1]
    assert np.abs(after_first - initial).max() > 1e-3
    # At the optimizer's own rate of 0.5 the last two epochs would move them too.
    assert np.abs(last - after_first).max() < 1e-6


def test_a_learning_rate_schedule_needs_a_plain_rate_in_the_optimizer():
    x, _ = toy_data(n=8)
    model = dense_model()
    model.compile(
        optimizer=keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)),
        loss="mse",
    )
    decay = DistillerSchedule("learning_rate", start=0.1, end=0.01)
    with pytest.raises(ValueError, match="needs a model with an optimizer with a plain learning rate"):
        model.fit(x, np.zeros((8, 3)), epochs=1, callbacks=[decay], verbose=0)


def test_the_baseline_takes_the_learning_rate_schedule_alone():
    config = run_config.override(
        run_config.RunConfig(),
        ["distillation.schedule={alpha: {start: 0.0, end: 0.5}, "
         "learning_rate: {kind: cosine, start: 1.0e-3, end: 1.0e-5}}"],
    )
    assert [s.variable for s in students.scheduled(config, DISTILLED)] == ["alpha", "learning_rate"]
    assert [s.variable for s in students.scheduled(config, BASELINE)] == ["learning_rate"]
