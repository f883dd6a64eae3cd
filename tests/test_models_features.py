"""`bert_features` (a keras-hub BERT's insides, shared weights) and the layer maps."""

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

import tiny_models
from tfdistill.models import features

VOCABULARY, LENGTH, WIDTH, HEADS = 64, 12, 8, 2
tiny_bert_classifier = functools.partial(
    tiny_models.tiny_bert_classifier, hidden_dim=WIDTH, num_classes=3, max_sequence_length=LENGTH
)


def bert_inputs(lengths=(12, 5, 1), seed=0):
    rng = np.random.default_rng(seed)
    padding_mask = np.arange(LENGTH)[None, :] < np.array(lengths)[:, None]
    token_ids = rng.integers(1, VOCABULARY, size=padding_mask.shape) * padding_mask
    return {
        "token_ids": token_ids.astype("int32"),
        "segment_ids": (rng.random(padding_mask.shape) < 0.3).astype("int32"),
        "padding_mask": padding_mask.astype("int32"),
    }


def weight(layer, path_suffix):
    (variable,) = [w for w in layer.weights if w.path.endswith(path_suffix)]
    return keras.ops.convert_to_numpy(variable).astype(np.float64)


def np_embeddings(backbone, inputs):
    """LayerNorm(token + position + segment embeddings), written out in NumPy."""
    summed = (
        weight(backbone, "token_embedding/embeddings")[inputs["token_ids"]]
        + weight(backbone, "position_embedding/embeddings")[None, :LENGTH]
        + weight(backbone, "segment_embedding/embeddings")[inputs["segment_ids"]]
    )
    mean, variance = summed.mean(-1, keepdims=True), summed.var(-1, keepdims=True)
    normalised = (summed - mean) / np.sqrt(variance + 1e-12)
    return normalised * weight(backbone, "embeddings_layer_norm/gamma") + weight(
        backbone, "embeddings_layer_norm/beta"
    )


def np_attention_probs(encoder, layer_input, padding_mask):
    """softmax(Q Kᵀ / √d) per head over real keys, from the layer's own kernels."""
    x = layer_input.astype(np.float64)
    query = np.einsum("btd,dnh->btnh", x, weight(encoder, "query/kernel")) + weight(
        encoder, "query/bias"
    )
    key = np.einsum("btd,dnh->btnh", x, weight(encoder, "key/kernel")) + weight(
        encoder, "key/bias"
    )
    scores = np.einsum("bqnh,bknh->bnqk", query, key) / np.sqrt(query.shape[-1])
    scores = np.where(padding_mask[:, None, None, :].astype(bool), scores, -np.inf)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    return probs / probs.sum(-1, keepdims=True)


def to_numpy(tensors):
    return keras.tree.map_structure(keras.ops.convert_to_numpy, tensors)


def test_features_are_what_the_classifier_computes():
    classifier = tiny_bert_classifier(num_layers=3)
    backbone = classifier.backbone
    inputs = bert_inputs()
    got = to_numpy(features.bert_features(classifier)(inputs))

    assert got["logits"].shape == (3, 3)
    np.testing.assert_allclose(got["logits"], classifier.predict(inputs, verbose=0), atol=1e-6)
    np.testing.assert_allclose(got["embeddings"], np_embeddings(backbone, inputs), atol=1e-5)
    assert [h.shape for h in got["hidden_states"]] == [(3, LENGTH, WIDTH)] * 3
    np.testing.assert_allclose(
        got["hidden_states"][-1],
        keras.ops.convert_to_numpy(backbone(inputs)["sequence_output"]),
        atol=1e-6,
    )
    # Each hidden state is the real layer applied to the previous one.
    layer_inputs = [got["embeddings"]] + got["hidden_states"][:-1]
    for encoder, layer_input, hidden in zip(
        backbone.transformer_layers, layer_inputs, got["hidden_states"]
    ):
        plain_call = encoder(layer_input, padding_mask=inputs["padding_mask"])
        np.testing.assert_allclose(hidden, keras.ops.convert_to_numpy(plain_call), atol=1e-6)


@pytest.mark.parametrize("dropout", [0.1, 0.0], ids=["dropout", "fused_attention"])
def test_attention_probs_are_the_layers_softmax_over_real_keys(dropout):
    """Without dropout Keras runs a fused attention kernel; the probabilities still fit."""
    classifier = tiny_bert_classifier(num_layers=2, dropout=dropout)
    inputs = bert_inputs()
    got = to_numpy(features.bert_features(classifier)(inputs))
    layer_inputs = [got["embeddings"]] + got["hidden_states"][:-1]
    for encoder, layer_input, probs in zip(
        classifier.backbone.transformer_layers, layer_inputs, got["attention_probs"]
    ):
        assert probs.shape == (3, HEADS, LENGTH, LENGTH)
        expected = np_attention_probs(encoder, layer_input, inputs["padding_mask"])
        np.testing.assert_allclose(probs, expected, atol=1e-6)
        padded_keys = inputs["padding_mask"][:, None, None, :] == 0
        assert (np.broadcast_to(padded_keys, probs.shape) <= (probs == 0)).all()
        np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(
        got["logits"], classifier.predict(inputs, verbose=0), atol=1e-6
    )


def test_features_model_trains_the_classifiers_own_weights():
    classifier = tiny_bert_classifier()
    feature_model = features.bert_features(classifier)
    assert {id(w) for w in feature_model.trainable_weights} == {
        id(w) for w in classifier.trainable_weights
    }
    inputs = bert_inputs()
    before = classifier.predict(inputs, verbose=0)
    optimizer = keras.optimizers.SGD(0.5)
    with tf.GradientTape() as tape:
        loss = keras.ops.mean(keras.ops.square(feature_model(inputs)["logits"]))
    weights = feature_model.trainable_weights
    optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
    assert np.abs(classifier.predict(inputs, verbose=0) - before).max() > 1e-4


def test_a_backbone_gives_features_without_logits():
    backbone = tiny_bert_classifier().backbone
    got = features.bert_features(backbone)(bert_inputs())
    assert set(got) == {"embeddings", "hidden_states", "attention_probs"}


def test_anything_but_a_keras_hub_bert_is_rejected_by_name():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)], name="dense_net")
    message = "BertTextClassifier or BertBackbone; got Sequential 'dense_net'"
    with pytest.raises(ValueError, match=message):
        features.bert_features(model)


@pytest.mark.parametrize(
    "student_layers, teacher_layers, expected",
    [
        (2, 6, [2, 5]),
        (4, 6, [1, 2, 4, 5]),
        (3, 12, [3, 7, 11]),
        (1, 6, [5]),
        (6, 6, [0, 1, 2, 3, 4, 5]),
        (4, 2, [0, 0, 1, 1]),
    ],
)
def test_uniform_layer_map_is_ceil_of_i_times_teacher_over_student(
    student_layers, teacher_layers, expected
):
    assert features.uniform_layer_map(student_layers, teacher_layers) == expected


def test_uniform_layer_map_rejects_empty_models():
    with pytest.raises(ValueError, match="num_student_layers=0"):
        features.uniform_layer_map(0, 6)


@pytest.mark.parametrize("layer_map", [[1], [0, 6], [0, -1], [0, 1.5]])
def test_check_layer_map_names_the_bad_map(layer_map):
    message = r"must list 2 teacher layer indices .* between 0 and 5"
    with pytest.raises(ValueError, match=message):
        features.check_layer_map(layer_map, num_student_layers=2, num_teacher_layers=6)


def test_check_layer_map_accepts_numpy_integers():
    assert features.check_layer_map(np.array([1, 4]), 2, 6) == [1, 4]


@pytest.mark.slow
def test_real_minilm_teacher_features_match_its_logits():
    from tfdistill.models import teachers

    teacher = teachers.load_teacher(teachers.PACKAGED_MINILM, num_classes=2)
    inputs = teacher.preprocessor(["A triumph of a film.", "A mess."])
    got = features.bert_features(teacher)(inputs)
    np.testing.assert_allclose(got["logits"], teacher(inputs), atol=1e-5)
    assert len(got["hidden_states"]) == len(got["attention_probs"]) == 6
    assert got["attention_probs"][0].shape == (2, 12, 128, 128)
