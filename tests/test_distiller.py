"""The Distiller: training, inputs, precision, XLA, distribution, saving and bad input."""

import os
import re
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfdistill
from tfdistill import losses
from tiny_models import tiny_bert_classifier

NUM_CLASSES = 3
FEATURES = 8


def dense_model(features=FEATURES, hidden=16, name=None):
    inputs = keras.Input((features,))
    hidden_out = keras.layers.Dense(hidden, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(NUM_CLASSES)(hidden_out), name=name)


def toy_data(n=64, features=FEATURES, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = (x[:, 0] > 0).astype("int32") + (x[:, 1] > 1).astype("int32")
    return x, y


def weights_of(model):
    return [w.numpy().copy() for w in model.weights]


def assert_weights_identical(before, model):
    after = weights_of(model)
    assert len(before) == len(after)
    for old, new in zip(before, after):
        np.testing.assert_array_equal(old, new)


def bert_batch(n=32, length=16, seed=0):
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(1, 64, size=(n, length)).astype("int32")
    lengths = rng.integers(4, length + 1, size=n)
    padding_mask = np.arange(length)[None, :] < lengths[:, None]
    x = {
        "token_ids": token_ids * padding_mask,
        "padding_mask": padding_mask,
        "segment_ids": np.zeros((n, length), "int32"),
    }
    return x, (token_ids[:, 0] % 2).astype("int32")


@pytest.mark.slow
def test_tiny_bert_student_learns_from_tiny_bert_teacher_and_teacher_stays_frozen():
    x, y = bert_batch()
    # The method's stage 2: the teacher first learns the task, so its soft labels carry
    # something for the student to match.
    teacher = tiny_bert_classifier(num_layers=2, seed=1)
    teacher.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    teacher.fit(x, y, batch_size=8, epochs=5, verbose=0)
    student = tiny_bert_classifier(num_layers=1, seed=2)
    teacher_before = weights_of(teacher)
    distiller = tfdistill.Distiller(teacher, student, temperature=2.0, alpha=0.5)
    distiller.compile(optimizer=keras.optimizers.Adam(3e-3), metrics=["accuracy"])
    history = distiller.fit(x, y, batch_size=8, epochs=6, verbose=0).history
    assert history["loss"][-1] < 0.8 * history["loss"][0]
    assert history["distillation_loss"][-1] < history["distillation_loss"][0]
    assert_weights_identical(teacher_before, teacher)
    assert not teacher.trainable
    assert {id(w) for w in distiller.trainable_weights} == {
        id(w) for w in student.trainable_weights
    }


def test_fit_logs_every_loss_term_and_metric_for_training_and_validation():
    x, y = toy_data()
    distiller = tfdistill.Distiller(dense_model(), dense_model())
    distiller.compile(optimizer="adam", metrics=["accuracy"])
    history = distiller.fit(x, y, validation_data=(x, y), epochs=1, verbose=0)
    expected = {"loss", "student_loss", "distillation_loss", "accuracy"}
    assert set(history.history) == expected | {f"val_{name}" for name in expected}


def test_fit_on_a_dataset_warns_about_nothing():
    """Keras warned on every fit on a dataset that its default `shuffle=True` is ignored."""
    x, y = toy_data()
    distiller = tfdistill.Distiller(dense_model(), dense_model())
    distiller.compile(optimizer="adam")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        distiller.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(16), epochs=1, verbose=0)


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0, 8.0])
def test_evaluated_loss_matches_numpy_with_sample_weights(temperature):
    """total = α·CE(y, s) + (1-α)·T²·KL(p_t ‖ p_s), weighted as Keras's sum_over_batch_size."""
    teacher, student = dense_model(), dense_model()
    x, y = toy_data(n=16)
    weights = np.linspace(0.0, 2.0, 16).astype("float32")
    alpha = 0.3
    distiller = tfdistill.Distiller(teacher, student, temperature=temperature, alpha=alpha)
    distiller.compile(optimizer="adam")
    got = distiller.evaluate(x, y, sample_weight=weights, batch_size=16, return_dict=True, verbose=0)

    t = teacher.predict(x, verbose=0).astype(np.float64) / temperature
    s = student.predict(x, verbose=0).astype(np.float64)
    log_p = t - np.log(np.exp(t).sum(-1, keepdims=True))
    log_q = s / temperature - np.log(np.exp(s / temperature).sum(-1, keepdims=True))
    kl = temperature**2 * (np.exp(log_p) * (log_p - log_q)).sum(-1)
    ce = -(s - np.log(np.exp(s).sum(-1, keepdims=True)))[np.arange(16), y]
    np.testing.assert_allclose(got["distillation_loss"], (kl * weights).mean(), atol=1e-5)
    np.testing.assert_allclose(got["student_loss"], (ce * weights).mean(), atol=1e-5)
    expected_total = alpha * (ce * weights).mean() + (1 - alpha) * (kl * weights).mean()
    np.testing.assert_allclose(got["loss"], expected_total, atol=1e-5)


def test_keras_logits_distillation_default_loss_is_not_hintons_loss():
    """keras.distillation.LogitsDistillation(loss="kl_divergence") skips softmax and T²."""
    teacher_logits = np.array([[2.0, -1.0, 0.5], [0.1, 3.0, -2.0]], "float32")
    student_logits = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], "float32")
    temperature = 2.0
    correct = np.mean(losses.soft_target_kl(teacher_logits, student_logits, temperature))

    theirs = float(
        keras.distillation.LogitsDistillation(temperature=temperature).compute_loss(
            teacher_logits, student_logits
        )
    )
    # Their number is keras.losses.kl_divergence on the raw tempered logits, which it
    # clips into [1e-7, 1] as if they were probabilities: negative logits count as 0.
    clip = lambda a: np.clip(a / temperature, 1e-7, 1.0)  # noqa: E731
    raw_kl = (clip(teacher_logits) * np.log(clip(teacher_logits) / clip(student_logits))).sum(-1)
    np.testing.assert_allclose(theirs, raw_kl.mean(), rtol=1e-5)
    np.testing.assert_allclose(correct, 0.58099, atol=1e-5)
    np.testing.assert_allclose(theirs, 2.86268, atol=1e-5)  # 4.9x too large here
    assert theirs > 4 * correct

    # With a KLDivergence instance they do apply softmax and T², and agree with ours.
    fixed = keras.distillation.LogitsDistillation(
        temperature=temperature, loss=keras.losses.KLDivergence()
    ).compute_loss(teacher_logits, student_logits)
    np.testing.assert_allclose(float(fixed), correct, atol=1e-5)


def test_dict_batch_feeds_each_model_its_own_input():
    teacher = dense_model(features=FEATURES)
    student = dense_model(features=3)
    x, y = toy_data()
    teacher_before = weights_of(teacher)
    distiller = tfdistill.Distiller(teacher, student)
    distiller.compile(optimizer="adam", metrics=["accuracy"])
    batch = {"teacher": x, "student": x[:, :3]}
    history = distiller.fit(batch, y, batch_size=16, epochs=3, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    assert_weights_identical(teacher_before, teacher)
    assert distiller.predict(batch, verbose=0).shape == (64, NUM_CLASSES)


def test_cached_teacher_logits_need_no_teacher_and_match_the_live_teacher():
    teacher, student = dense_model(), dense_model()
    x, y = toy_data(n=32)
    cached = {"student": x, "teacher_logits": teacher.predict(x, verbose=0)}

    live = tfdistill.Distiller(teacher, student)
    live.compile(optimizer="adam")
    offline = tfdistill.Distiller(None, student)
    offline.compile(optimizer="adam")
    live_logs = live.evaluate(x, y, batch_size=32, return_dict=True, verbose=0)
    offline_logs = offline.evaluate(cached, y, batch_size=32, return_dict=True, verbose=0)
    for name in ("loss", "student_loss", "distillation_loss"):
        np.testing.assert_allclose(offline_logs[name], live_logs[name], rtol=1e-6)
    history = offline.fit(cached, y, batch_size=8, epochs=3, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]


def test_ensemble_of_teachers_learns_from_their_weighted_soft_labels():
    """Live teachers, their stacked cached logits and NumPy agree on the mixed target."""
    teachers = [dense_model(name=f"teacher_{i}") for i in range(3)]
    student = dense_model()
    x, y = toy_data(n=32)
    weights, temperature = [0.5, 0.3, 0.2], 4.0
    stacked = np.stack([teacher.predict(x, verbose=0) for teacher in teachers], axis=1)

    live = tfdistill.Distiller(teachers, student, temperature=temperature, teacher_weights=weights)
    offline = tfdistill.Distiller(None, student, temperature=temperature, teacher_weights=weights)
    logs = {}
    for name, distiller, batch in (
        ("live", live, x),
        ("cached", offline, {"student": x, "teacher_logits": stacked}),
    ):
        distiller.compile(optimizer="adam")
        logs[name] = distiller.evaluate(batch, y, batch_size=32, return_dict=True, verbose=0)

    t = stacked.astype(np.float64) / temperature
    probs = np.exp(t - t.max(-1, keepdims=True))
    mixed = (np.asarray(weights)[None, :, None] * probs / probs.sum(-1, keepdims=True)).sum(1)
    s = student.predict(x, verbose=0).astype(np.float64) / temperature
    log_q = s - np.log(np.exp(s).sum(-1, keepdims=True))
    kl = temperature**2 * (mixed * (np.log(mixed) - log_q)).sum(-1)
    for name in ("live", "cached"):
        np.testing.assert_allclose(logs[name]["distillation_loss"], kl.mean(), rtol=1e-5)
    history = offline.fit(
        {"student": x, "teacher_logits": stacked}, y, batch_size=8, epochs=3, verbose=0
    ).history
    assert history["loss"][-1] < history["loss"][0]


def test_ensemble_weight_of_one_equals_that_teacher_alone():
    teachers = [dense_model(), dense_model()]
    student = dense_model()
    x, y = toy_data(n=32)
    alone = tfdistill.Distiller(teachers[1], student)
    weighted = tfdistill.Distiller(teachers, student, teacher_weights=[0.0, 1.0])
    logs = []
    for distiller in (alone, weighted):
        distiller.compile(optimizer="adam")
        logs.append(distiller.evaluate(x, y, batch_size=32, return_dict=True, verbose=0))
    np.testing.assert_allclose(logs[1]["distillation_loss"], logs[0]["distillation_loss"], rtol=1e-6)


def test_ensemble_config_round_trip_keeps_teachers_and_weights():
    distiller = tfdistill.Distiller(
        [dense_model(), dense_model()], dense_model(), teacher_weights=[2.0, 1.0]
    )
    clone = tfdistill.Distiller.from_config(distiller.get_config())
    assert len(clone.teacher) == 2
    assert clone.teacher_weights == [2.0, 1.0]
    assert clone.teacher_average == "probabilities"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"teacher_weights": [1.0]}, "1 teacher weights were given for 2 teachers"),
        ({"teacher_weights": [1.0, -1.0]}, "must be >= 0 with a positive sum"),
        ({"teacher_average": "median"}, "teacher_average must be 'auto' or one of"),
    ],
)
def test_bad_ensemble_arguments_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tfdistill.Distiller([dense_model(), dense_model()], dense_model(), **kwargs)


def test_fit_before_compile_says_so_as_keras_does():
    distiller = tfdistill.Distiller(dense_model(), dense_model())
    with pytest.raises(ValueError, match=r"You must call `compile\(\)`"):
        distiller.fit(*toy_data(), epochs=1, verbose=0)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_trains_without_nan(policy):
    keras.config.set_dtype_policy(policy)
    teacher, student = dense_model(), dense_model()
    distiller = tfdistill.Distiller(teacher, student)
    distiller.compile(optimizer="adam", metrics=["accuracy"])
    x, y = toy_data()
    history = distiller.fit(x, y, batch_size=16, epochs=3, verbose=0).history
    assert all(np.isfinite(v).all() for v in history.values())
    assert history["loss"][-1] < history["loss"][0]
    is_loss_scaled = isinstance(distiller.optimizer, keras.optimizers.LossScaleOptimizer)
    assert is_loss_scaled == (policy == "mixed_float16")


def test_mixed_float16_student_gets_loss_scaling_whatever_the_global_policy():
    """The distiller takes the student's policy, so building order cannot skip scaling."""
    keras.config.set_dtype_policy("mixed_float16")
    teacher, student = dense_model(), dense_model()
    keras.config.set_dtype_policy("float32")
    distiller = tfdistill.Distiller(teacher, student)
    distiller.compile(optimizer="adam")
    assert isinstance(distiller.optimizer, keras.optimizers.LossScaleOptimizer)


def test_loss_scaling_reaches_train_step_gradients():
    """Under mixed_float16 the scaled loss is what the tape differentiates."""
    keras.config.set_dtype_policy("mixed_float16")
    distiller = tfdistill.Distiller(dense_model(), dense_model())
    distiller.compile(optimizer=keras.optimizers.SGD(0.0))
    calls = []
    original = distiller.optimizer.scale_loss
    distiller.optimizer.scale_loss = lambda loss: calls.append(loss) or original(loss)
    x, y = toy_data(n=8)
    distiller.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert calls, "train_step must call optimizer.scale_loss"


def test_jit_compile_gives_the_same_training_as_eager_graph():
    x, y = toy_data()
    results = []
    for jit_compile in (False, True):
        keras.utils.set_random_seed(3)
        distiller = tfdistill.Distiller(dense_model(), dense_model())
        distiller.compile(optimizer="adam", metrics=["accuracy"], jit_compile=jit_compile)
        history = distiller.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        results.append(history.history["loss"])
    np.testing.assert_allclose(results[0], results[1], rtol=1e-4)


def test_mirrored_strategy_on_two_cpu_devices_matches_one_device(mirrored_strategy):
    x, y = toy_data()
    strategy = mirrored_strategy
    assert strategy.num_replicas_in_sync == 2
    losses_by_setting = []
    for scope in (strategy.scope(), tf.distribute.get_strategy().scope()):
        keras.utils.set_random_seed(5)
        with scope:
            distiller = tfdistill.Distiller(dense_model(), dense_model())
            distiller.compile(optimizer=keras.optimizers.SGD(0.1), metrics=["accuracy"])
        history = distiller.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        losses_by_setting.append(history.history["loss"])
    # Same global batches, same initial weights: the replicas' gradients average to the
    # single device's gradient, so training is the same up to rounding.
    np.testing.assert_allclose(losses_by_setting[0], losses_by_setting[1], rtol=1e-4)


def test_student_saves_alone_and_reloads_with_identical_predictions(tmp_path):
    teacher, student = dense_model(hidden=32), dense_model(hidden=4)
    distiller = tfdistill.Distiller(teacher, student)
    distiller.compile(optimizer="adam")
    x, y = toy_data()
    distiller.fit(x, y, epochs=1, verbose=0)

    path = str(tmp_path / "student.keras")
    distiller.save(path)
    reloaded = keras.models.load_model(path)
    assert reloaded.count_params() == student.count_params()
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), student.predict(x, verbose=0))


def test_config_round_trip_rebuilds_both_models():
    distiller = tfdistill.Distiller(
        dense_model(), dense_model(), temperature=4.0, alpha=0.2, distillation_loss="mse"
    )
    clone = tfdistill.Distiller.from_config(distiller.get_config())
    assert float(clone.temperature.numpy()) == 4.0
    assert float(clone.alpha.numpy()) == pytest.approx(0.2)
    assert clone.distillation_loss_fn is losses.logits_mse
    assert clone.teacher.count_params() == distiller.teacher.count_params()


def tempered_l1(teacher_logits, student_logits, temperature=1.0):
    """L1 distance of the tempered probabilities, per example: a loss from outside."""
    teacher = keras.ops.softmax(keras.ops.stop_gradient(teacher_logits) / temperature)
    student = keras.ops.softmax(student_logits / temperature)
    return keras.ops.sum(keras.ops.abs(teacher - student), axis=-1)


@pytest.fixture
def registered_tempered_l1():
    losses.register_logit_loss("tempered_l1")(tempered_l1)
    yield
    losses.LOGIT_LOSSES.unregister("tempered_l1")


def test_a_logit_loss_registered_from_outside_trains_by_name(registered_tempered_l1):
    teacher, student = dense_model(), dense_model()
    x, y = toy_data(n=32)
    temperature = 2.0
    distiller = tfdistill.Distiller(
        teacher, student, temperature=temperature, alpha=0.0, distillation_loss="tempered_l1"
    )
    distiller.compile(optimizer=keras.optimizers.Adam(1e-2))
    before = distiller.evaluate(x, y, batch_size=32, return_dict=True, verbose=0)

    def softmax(logits):
        exp = np.exp(logits - logits.max(-1, keepdims=True))
        return exp / exp.sum(-1, keepdims=True)

    t = softmax(teacher.predict(x, verbose=0).astype(np.float64) / temperature)
    s = softmax(student.predict(x, verbose=0).astype(np.float64) / temperature)
    np.testing.assert_allclose(
        before["distillation_loss"], np.abs(t - s).sum(-1).mean(), rtol=1e-5
    )
    history = distiller.fit(x, y, batch_size=8, epochs=5, verbose=0).history
    assert history["distillation_loss"][-1] < 0.8 * before["distillation_loss"]
    clone = tfdistill.Distiller.from_config(distiller.get_config())
    assert clone.distillation_loss_fn is tempered_l1


def test_a_registered_loss_decides_how_an_ensemble_is_averaged():
    teachers = [dense_model(), dense_model()]
    losses.register_logit_loss("logit_l1", ensemble_average="logits")(
        lambda teacher_logits, student_logits, temperature: keras.ops.mean(
            keras.ops.abs(teacher_logits - student_logits), axis=-1
        )
    )
    try:
        by_name = tfdistill.Distiller(teachers, dense_model(), distillation_loss="logit_l1")
        assert by_name.teacher_average == "logits"
    finally:
        losses.LOGIT_LOSSES.unregister("logit_l1")
    # The registered function passed itself reads its registration too; an unregistered
    # callable averages probabilities.
    as_function = tfdistill.Distiller(teachers, dense_model(), distillation_loss=losses.logits_mse)
    assert as_function.teacher_average == "logits"
    unregistered = tfdistill.Distiller(teachers, dense_model(), distillation_loss=tempered_l1)
    assert unregistered.teacher_average == "probabilities"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"temperature": 0.0}, "temperature must be > 0"),
        ({"temperature": -1.0}, "temperature must be > 0"),
        ({"alpha": 1.5}, r"alpha .* must be in \[0, 1\]"),
        ({"alpha": -0.1}, r"alpha .* must be in \[0, 1\]"),
        (
            {"distillation_loss": "nope"},
            r"Unknown logit loss 'nope'; registered: \['cross_entropy', 'kl', 'mse'\]",
        ),
    ],
)
def test_bad_arguments_raise_before_any_step(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tfdistill.Distiller(dense_model(), dense_model(), **kwargs)


def test_teacher_and_student_with_different_classes_are_rejected():
    inputs = keras.Input((FEATURES,))
    two_class_student = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    with pytest.raises(ValueError, match="outputs 3 classes but the student outputs 2"):
        tfdistill.Distiller(dense_model(), two_class_student)


@pytest.mark.parametrize(
    "teacher_present, batch, message",
    [
        (True, {"teacher": "x"}, "needs a 'student' key; got keys \\['teacher'\\]"),
        (True, {"student": "x"}, "needs 'teacher' .* or 'teacher_logits'"),
        (False, "plain", "has no teacher .* must carry precomputed 'teacher_logits'"),
    ],
)
def test_batches_missing_what_they_need_are_rejected(teacher_present, batch, message):
    x, y = toy_data(n=8)
    batch = x if batch == "plain" else {key: x for key in batch}
    distiller = tfdistill.Distiller(dense_model() if teacher_present else None, dense_model())
    distiller.compile(optimizer="adam")
    before = weights_of(distiller.student)
    with pytest.raises(ValueError, match=message):
        distiller.fit(batch, y, epochs=1, verbose=0)
    assert_weights_identical(before, distiller.student)


def test_examples_without_gold_label_learn_from_the_teacher_only():
    """Label -1 (an augmented text): no hard-label loss, not counted by weighted metrics."""
    teacher, student = dense_model(), dense_model()
    x, y = toy_data(n=16)
    unlabelled = np.where(np.arange(16) < 8, y, -1)
    distiller = tfdistill.Distiller(teacher, student, alpha=0.5)
    # Keras's `metrics` ignore sample weights by design; `weighted_metrics` use them.
    distiller.compile(optimizer="adam", weighted_metrics=["accuracy"])
    got = distiller.evaluate(x, unlabelled, batch_size=16, return_dict=True, verbose=0)
    full = distiller.evaluate(x, y, batch_size=16, return_dict=True, verbose=0)
    first_half = distiller.evaluate(x[:8], y[:8], batch_size=8, return_dict=True, verbose=0)

    # The hard-label term sums over the labelled half but averages over the batch.
    np.testing.assert_allclose(got["student_loss"], first_half["student_loss"] / 2, rtol=1e-5)
    np.testing.assert_allclose(got["distillation_loss"], full["distillation_loss"], rtol=1e-6)
    np.testing.assert_allclose(got["accuracy"], first_half["accuracy"], rtol=1e-6)


NAN_SCRIPT = """
import keras, numpy as np, tfdistill
inputs = keras.Input((8,))
student = keras.Model(inputs, keras.layers.Dense(3)(inputs))
logits = np.zeros((32, 3), "float32")
logits[20, 1] = np.nan  # In the third batch of 8: optimizer step 2.
distiller = tfdistill.Distiller(None, student)
distiller.compile(optimizer="adam")
try:
    distiller.fit({"student": np.ones((32, 8)), "teacher_logits": logits}, np.zeros(32),
                  batch_size=8, shuffle=False, verbose=0)
finally:
    print("steps applied:", int(distiller.optimizer.iterations.numpy()))
"""


def test_nan_in_teacher_logits_stops_training_naming_the_term_and_step():
    # In a process of its own: a failed step aborts TensorFlow's collective executor
    # for the rest of the process, which would break later MirroredStrategy tests.
    result = subprocess.run(
        [sys.executable, "-c", NAN_SCRIPT], capture_output=True, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode != 0
    assert re.search(
        r"NaN or Inf in\] \[teacher_logits\] \[at optimizer step\] \[2\]", result.stderr
    ), result.stderr[-2000:]
    assert "steps applied: 2" in result.stdout  # The bad step never reached the weights.


def test_nan_in_teacher_logits_stops_a_jit_compiled_fit_naming_the_term_and_step():
    script = NAN_SCRIPT.replace('compile(optimizer="adam")', 'compile(optimizer="adam", jit_compile=True)')
    assert "jit_compile=True" in script
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode != 0
    assert "FloatingPointError: NaN or Inf in teacher_logits at optimizer step 2" in result.stderr, (
        result.stderr[-2000:]
    )
    assert "steps applied: 2" in result.stdout  # Skipped under XLA too.


def test_float16_overflow_is_absorbed_by_loss_scaling():
    """A loss scale too large for float16 overflows the gradients: the step is skipped
    and the scale halved, with no error and no NaN in the weights."""
    keras.config.set_dtype_policy("mixed_float16")
    distiller = tfdistill.Distiller(dense_model(), dense_model())
    optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(), initial_scale=2.0**40)
    distiller.compile(optimizer=optimizer)
    x, y = toy_data(n=32)
    distiller.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert float(optimizer.dynamic_scale.numpy()) < 2.0**40
    assert all(np.isfinite(w.numpy()).all() for w in distiller.student.weights)
