"""The Distiller's intermediate-layer losses: embeddings, hidden states, attention."""

import keras
import numpy as np
import pytest

import tfdistill
from tfdistill import losses
from tfdistill.models import features
from tiny_models import tiny_bert_classifier

VOCABULARY, LENGTH = 64, 12
ALL_TERMS = {"hidden": 1.0, "attention": 1.0, "embedding": 1.0}


def sharpen_attention(model, factor=25.0):
    """Scales the query and key kernels up, so that attention is far from uniform.

    A random BERT (weights of std 0.02) attends almost uniformly, so its attention
    maps differ from any other's by a KL of about 1e-5; a trained teacher's do not.
    """
    for weight in model.weights:
        if weight.path.endswith(("query/kernel", "key/kernel")):
            weight.assign(weight * factor)


def teacher_and_student(teacher_layers=4, student_layers=2):
    """A 16-wide teacher and an 8-wide student (so projected), 4 and 2 layers deep."""
    teacher = tiny_bert_classifier(teacher_layers, 16, max_sequence_length=LENGTH, seed=1)
    sharpen_attention(teacher)
    return teacher, tiny_bert_classifier(student_layers, 8, max_sequence_length=LENGTH, seed=2)


def bert_batch(n=16, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, LENGTH + 1, size=n)
    padding_mask = np.arange(LENGTH)[None, :] < lengths[:, None]
    token_ids = rng.integers(1, VOCABULARY, size=(n, LENGTH)) * padding_mask
    x = {
        "token_ids": token_ids.astype("int32"),
        "segment_ids": np.zeros((n, LENGTH), "int32"),
        "padding_mask": padding_mask.astype("int32"),
    }
    return x, (token_ids[:, 0] % 2).astype("int32")


@pytest.mark.slow
def test_narrow_student_reduces_every_intermediate_loss_on_a_fixed_batch():
    teacher, student = teacher_and_student()
    x, y = bert_batch()
    distiller = tfdistill.Distiller(teacher, student, intermediate_losses=ALL_TERMS)
    distiller.compile(optimizer=keras.optimizers.Adam(1e-2), metrics=["accuracy"])
    teacher_before = [w.numpy().copy() for w in teacher.weights]
    projections_before = {
        name: projection.kernel.numpy().copy()
        for name, projection in distiller.projections.items()
    }
    before = distiller.evaluate(x, y, batch_size=len(y), return_dict=True, verbose=0)
    epochs = 40
    history = distiller.fit(
        x,
        y,
        batch_size=len(y),
        epochs=epochs,
        validation_data=(x, y),
        validation_freq=epochs,  # Validates once, after the last step.
        verbose=0,
    ).history

    for name in ("hidden_loss", "attention_loss", "embedding_loss"):
        assert history[f"val_{name}"][-1] < 0.8 * before[name], (name, before, history)
    logged = {
        "loss", "student_loss", "distillation_loss", "accuracy",
        "hidden_loss", "attention_loss", "embedding_loss",
    }
    assert set(history) == logged | {f"val_{name}" for name in logged}
    for old, new in zip(teacher_before, teacher.weights):
        np.testing.assert_array_equal(old, new.numpy())
    # The projections (TinyBERT's W_e, W_h) train with the student but are not in it.
    assert set(distiller.projections) == {"embedding", "hidden"}
    for name, projection in distiller.projections.items():
        assert projection.kernel.shape == (8, 16)
        assert not np.allclose(projection.kernel.numpy(), projections_before[name])
    projection_ids = {id(p.kernel) for p in distiller.projections.values()}
    assert not projection_ids & {id(w) for w in student.weights}
    assert {id(w) for w in distiller.trainable_weights} == projection_ids | {
        id(w) for w in student.trainable_weights
    }


def test_evaluated_terms_match_numpy_with_layer_map_projection_and_weights():
    """total = α·CE + (1-α)·KD + Σ w_k·term_k, each term over the mapped layer pairs."""
    teacher, student = teacher_and_student()
    x, y = bert_batch(n=8)
    sample_weight = np.linspace(0.5, 1.5, 8).astype("float32")
    weights = {"hidden": 0.5, "attention": 2.0, "embedding": 3.0}
    alpha, layer_map = 0.3, [0, 2]
    distiller = tfdistill.Distiller(
        teacher, student, alpha=alpha, intermediate_losses=weights, layer_map=layer_map
    )
    distiller.compile(optimizer="adam")
    got = distiller.evaluate(
        x, y, sample_weight=sample_weight, batch_size=8, return_dict=True, verbose=0
    )

    t = keras.tree.map_structure(np.asarray, features.bert_features(teacher)(x))
    s = keras.tree.map_structure(np.asarray, features.bert_features(student)(x))
    w_e = distiller.projections["embedding"].kernel.numpy()
    w_h = distiller.projections["hidden"].kernel.numpy()
    mask = x["padding_mask"]
    # The per-example losses are checked against NumPy in test_losses_intermediate.py.
    per_example = {
        "embedding": losses.embedding_mse(t["embeddings"], s["embeddings"] @ w_e, mask),
        "hidden": np.mean(
            [
                losses.hidden_state_mse(
                    t["hidden_states"][j], s["hidden_states"][i] @ w_h, mask
                )
                for i, j in enumerate(layer_map)
            ],
            axis=0,
        ),
        "attention": np.mean(
            [
                losses.attention_kl(t["attention_probs"][j], s["attention_probs"][i], mask)
                for i, j in enumerate(layer_map)
            ],
            axis=0,
        ),
    }
    expected_total = alpha * got["student_loss"] + (1 - alpha) * got["distillation_loss"]
    for name, weight in weights.items():
        term = np.mean(np.asarray(per_example[name]) * sample_weight)
        np.testing.assert_allclose(got[f"{name}_loss"], term, rtol=1e-5)
        expected_total += weight * term
    np.testing.assert_allclose(got["loss"], expected_total, rtol=1e-5)


def test_only_asked_for_terms_of_the_models_width_are_projected():
    teacher, student = teacher_and_student()
    distiller = tfdistill.Distiller(
        teacher, student, intermediate_losses={"attention": 1.0, "hidden": 0.5}
    )
    assert set(distiller.projections) == {"hidden"}
    assert set(distiller.loss_trackers) == {
        "student_loss", "distillation_loss", "attention_loss", "hidden_loss"
    }


def test_logits_only_distiller_builds_no_feature_model_or_projection():
    teacher, student = teacher_and_student()
    distiller = tfdistill.Distiller(teacher, student)
    assert distiller.teacher_features is None and distiller.student_features is None
    assert distiller.projections == {} and distiller.layer_map is None
    assert {id(w) for w in distiller.trainable_weights} == {
        id(w) for w in student.trainable_weights
    }


def test_equal_widths_need_no_projection_and_layer_map_defaults_to_uniform():
    teacher = tiny_bert_classifier(4, 8, max_sequence_length=LENGTH, seed=1)
    student = tiny_bert_classifier(2, 8, max_sequence_length=LENGTH, seed=2)
    distiller = tfdistill.Distiller(teacher, student, intermediate_losses=ALL_TERMS)
    assert distiller.projections == {}
    assert distiller.layer_map == [1, 3]


def test_student_saves_alone_without_projections(tmp_path):
    teacher, student = teacher_and_student()
    distiller = tfdistill.Distiller(teacher, student, intermediate_losses=ALL_TERMS)
    path = str(tmp_path / "student.keras")
    distiller.save(path)
    reloaded = keras.models.load_model(path)
    assert reloaded.count_params() == student.count_params()
    x, _ = bert_batch(n=4)
    np.testing.assert_array_equal(
        reloaded.predict(x, verbose=0), student.predict(x, verbose=0)
    )


def test_config_round_trips_the_terms_and_layer_map():
    teacher, student = teacher_and_student()
    distiller = tfdistill.Distiller(
        teacher,
        student,
        intermediate_losses={"hidden": 2.0, "attention": 0.5},
        layer_map=[1, 3],
    )
    clone = tfdistill.Distiller.from_config(distiller.get_config())
    assert clone.intermediate_losses == {"hidden": 2.0, "attention": 0.5}
    assert clone.layer_map == [1, 3]
    assert set(clone.projections) == {"hidden"}


def test_mixed_float16_and_jit_compile_train_every_term_without_nan():
    keras.config.set_dtype_policy("mixed_float16")
    # Smaller models: XLA compilation dominates this test's time.
    teacher, student = teacher_and_student(teacher_layers=2, student_layers=1)
    x, y = bert_batch(n=8)
    distiller = tfdistill.Distiller(teacher, student, intermediate_losses=ALL_TERMS)
    distiller.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=True)
    # The first steps may be skipped while the dynamic loss scale settles.
    history = distiller.fit(x, y, batch_size=8, epochs=6, verbose=0).history
    assert distiller.jit_compile
    assert isinstance(distiller.optimizer, keras.optimizers.LossScaleOptimizer)
    assert all(np.isfinite(values).all() for values in history.values())
    assert history["loss"][-1] < history["loss"][0]


def test_mirrored_strategy_trains_with_intermediate_terms(mirrored_strategy):
    strategy = mirrored_strategy
    x, y = bert_batch(n=8)
    with strategy.scope():
        teacher, student = teacher_and_student(teacher_layers=2, student_layers=1)
        distiller = tfdistill.Distiller(teacher, student, intermediate_losses=ALL_TERMS)
        distiller.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = distiller.fit(x, y, batch_size=8, epochs=3, verbose=0).history
    assert all(np.isfinite(values).all() for values in history.values())
    assert history["hidden_loss"][-1] < history["hidden_loss"][0]


def dense_model():
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(2)(inputs), name="dense_student")


@pytest.mark.parametrize(
    "make_models, kwargs, message",
    [
        (
            lambda: (None, teacher_and_student()[1]),
            {"intermediate_losses": {"hidden": 1.0}},
            r"need a live teacher; got teacher=None",
        ),
        (
            lambda: (teacher_and_student()[0], dense_model()),
            {"intermediate_losses": {"hidden": 1.0}},
            r"the student must be a keras_hub.models.BertTextClassifier; "
            r"got Functional 'dense_student'",
        ),
        (
            teacher_and_student,
            {"intermediate_losses": {"hiden": 1.0}},
            r"Unknown intermediate loss\(es\) \['hiden'\]; "
            r"valid names: \['attention', 'embedding', 'hidden'\]",
        ),
        (
            teacher_and_student,
            {"intermediate_losses": {"attention": -1.0}},
            r"weight of the 'attention' intermediate loss must be >= 0, got -1.0",
        ),
        (teacher_and_student, {"layer_map": [1, 3]}, "layer_map only applies"),
        (
            teacher_and_student,
            {"intermediate_losses": {"hidden": 1.0}, "layer_map": [1, 4]},
            r"layer_map must list 2 teacher layer indices .* between 0 and 3; got \[1, 4\]",
        ),
    ],
)
def test_bad_intermediate_settings_raise_naming_the_problem(make_models, kwargs, message):
    teacher, student = make_models()
    with pytest.raises(ValueError, match=message):
        tfdistill.Distiller(teacher, student, **kwargs)


def test_cached_teacher_logits_cannot_feed_intermediate_losses():
    teacher, student = teacher_and_student()
    x, y = bert_batch(n=4)
    distiller = tfdistill.Distiller(teacher, student, intermediate_losses={"hidden": 1.0})
    distiller.compile(optimizer="adam")
    cached = {"student": x, "teacher_logits": np.zeros((4, 2), "float32")}
    with pytest.raises(ValueError, match="precomputed 'teacher_logits' do not carry"):
        distiller.fit(cached, y, epochs=1, verbose=0)
