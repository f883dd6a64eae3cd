"""The convertible copy: Keras's results in float32, with loops TFLite can calibrate."""

import keras
import numpy as np
import pytest

from tfdistill import export
from tfdistill.convertible import convertible_copy
from tfdistill.convertible import float32_copy
from tfdistill.tflite import TFLiteModel

RECURRENT_LAYERS = {
    "lstm": lambda: keras.layers.LSTM(5),
    "gru_sequences": lambda: keras.layers.GRU(5, return_sequences=True),
    "simple_rnn_backwards": lambda: keras.layers.SimpleRNN(5, go_backwards=True),
    "bidirectional_lstm": lambda: keras.layers.Bidirectional(keras.layers.LSTM(5)),
    "bidirectional_gru_sequences_zeroed": lambda: keras.layers.Bidirectional(
        keras.layers.GRU(5, return_sequences=True, zero_output_for_mask=True)
    ),
}


def _padded_ids():
    """Token ids of three texts of 6, 4 and 2 words, padded with 0 to 6."""
    ids = np.random.default_rng(0).integers(1, 20, (3, 6))
    ids[1, 4:] = ids[2, 2:] = 0
    return ids


@pytest.mark.parametrize("name", sorted(RECURRENT_LAYERS))
def test_recurrent_layers_give_keras_results_on_padded_texts(name):
    inputs = keras.Input((6,), dtype="int32")
    embedded = keras.layers.Embedding(20, 4, mask_zero=True)(inputs)
    model = keras.Model(inputs, RECURRENT_LAYERS[name]()(embedded))
    ids = _padded_ids()
    np.testing.assert_allclose(convertible_copy(model)(ids), model(ids), atol=1e-6)


def test_recurrent_layers_convert_to_full_int8_without_a_loop_the_calibrator_crashes_on(
    tmp_path,
):
    inputs = keras.Input((6,), dtype="int32", name="token_ids")
    embedded = keras.layers.Embedding(20, 4, mask_zero=True)(inputs)
    sequences = keras.layers.GRU(5, return_sequences=True)(embedded)
    features = keras.layers.Bidirectional(keras.layers.LSTM(5))(sequences)
    model = keras.Model(inputs, keras.layers.Dense(2)(features))
    ids = _padded_ids()
    # Keras's own loop here would kill the process in the calibrator; export_tflite
    # would refuse it first (tests/test_export.py).
    path = export.export_tflite(model, tmp_path / "m.tflite", "full_int8", lambda: ids[:, None])
    assert TFLiteModel(path).predict(ids).shape == (3, 2)


def test_a_mixed_precision_model_is_copied_to_compute_in_float32():
    keras.config.set_dtype_policy("mixed_bfloat16")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(2)])
    keras.config.set_dtype_policy("float32")
    copy = float32_copy(model)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    weights = model.get_weights()
    expected = (x @ weights[0] + weights[1]) @ weights[2] + weights[3]

    assert {layer.dtype_policy.name for layer in copy.layers} == {"float32"}
    np.testing.assert_allclose(copy(x), expected, atol=1e-5)
    assert model(x).dtype == "bfloat16"
