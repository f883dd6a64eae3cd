"""Running a TFLite file as an app does: inputs by name, int8 logits dequantized, timing."""

import os
import time
import warnings

import keras
import numpy as np
import pytest

from tfdistill import export
from tfdistill import tflite
from tiny_models import tiny_bert_classifier

SEQUENCE_LENGTH = 8


@pytest.fixture(scope="module")
def bert_file(tmp_path_factory):
    """A random tiny BERT classifier and its float32 file, on three named inputs."""
    model = tiny_bert_classifier(max_sequence_length=SEQUENCE_LENGTH, seed=1)
    path = tmp_path_factory.mktemp("bert") / "model_float32.tflite"
    export.export_tflite(model, path, sequence_length=SEQUENCE_LENGTH)
    return model, path


def _bert_inputs(count):
    rng = np.random.default_rng(0)
    lengths = rng.integers(2, SEQUENCE_LENGTH + 1, count)
    padding_mask = np.arange(SEQUENCE_LENGTH)[None] < lengths[:, None]
    return {
        "token_ids": np.where(padding_mask, rng.integers(5, 64, (count, SEQUENCE_LENGTH)), 0),
        "segment_ids": np.zeros((count, SEQUENCE_LENGTH), "int32"),
        "padding_mask": padding_mask,  # bool, as keras-hub's preprocessor gives it
    }


def test_inputs_go_to_the_file_by_name_in_the_dtypes_it_takes(bert_file):
    model, path = bert_file
    inputs = _bert_inputs(5)
    # The dict's order is not the file's: only the names say which input is which.
    reordered = {name: inputs[name] for name in ("padding_mask", "token_ids", "segment_ids")}
    logits = tflite.TFLiteModel(path).predict(reordered)
    np.testing.assert_allclose(logits, model(inputs).numpy(), atol=1e-5)


def test_one_tensor_for_a_file_of_several_inputs_is_refused(bert_file):
    _, path = bert_file
    with pytest.raises(ValueError, match=r"The model takes 3 inputs \["):
        tflite.TFLiteModel(path).predict(np.zeros((1, SEQUENCE_LENGTH), "int32"))


def test_int8_logits_come_back_as_floats_through_the_output_scale(tmp_path):
    model = keras.Sequential(
        [keras.Input((6,), dtype="int32", name="token_ids"), keras.layers.Embedding(30, 8),
         keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(3)]
    )
    # Logits far from zero, so that a forgotten zero point or scale shows.
    model.layers[-1].bias.assign([4.0, -3.0, 1.0])
    ids = np.random.default_rng(0).integers(0, 30, (40, 6)).astype("int32")
    path = export.export_tflite(model, tmp_path / "m.tflite", "full_int8", lambda: ids[:, None])
    file = tflite.TFLiteModel(path)
    scale, _ = file.interpreter.get_output_details()[0]["quantization"]

    assert file.run(file.feeds(ids), 0).dtype == np.int8
    np.testing.assert_allclose(file.predict(ids), model(ids).numpy(), atol=3 * scale)


def test_converting_and_running_a_file_shows_none_of_tensorflows_own_notices(tmp_path, caplog):
    # An LSTM (a loop) over a lookup-free model, converted calibrated and run: each
    # step printed a notice the user could do nothing about (see LIBRARY_NOTICES).
    model = keras.Sequential(
        [keras.Input((5,), dtype="int32", name="token_ids"), keras.layers.Embedding(30, 8),
         keras.layers.LSTM(4), keras.layers.Dense(2)]
    )
    ids = np.random.default_rng(0).integers(0, 30, (20, 5)).astype("int32")
    with warnings.catch_warnings(record=True) as shown, caplog.at_level("INFO"):
        warnings.simplefilter("always")
        for mode in ("float32", "full_int8"):
            path = export.export_tflite(model, tmp_path / f"{mode}.tflite", mode, lambda: ids[:, None])
            tflite.TFLiteModel(path).predict(ids[:2])
    said = [str(warning.message) for warning in shown] + [r.getMessage() for r in caplog.records]
    assert not [line for line in said if any(n in line for n in tflite.LIBRARY_NOTICES)], said
    # Other warnings still show.
    with pytest.warns(UserWarning, match="a warning of the user's own"), tflite.library_notices_hidden():
        warnings.warn("a warning of the user's own")


def test_latency_is_the_median_of_single_calls_timed_for_long_enough(bert_file, monkeypatch):
    _, path = bert_file
    slow_run = tflite.TFLiteModel.run

    def run_in_ten_milliseconds(self, feeds, index):
        time.sleep(0.01)
        return slow_run(self, feeds, index)

    monkeypatch.setattr(tflite.TFLiteModel, "run", run_in_ten_milliseconds)
    start = time.perf_counter()
    latency = tflite.median_latency_ms(path, _bert_inputs(4), num_threads=1, min_seconds=0.2)

    assert time.perf_counter() - start >= 0.2
    assert 10 <= latency < 30


def test_latency_is_measured_at_one_thread_and_at_every_cpu():
    assert tflite.thread_counts() == sorted({1, os.cpu_count()})
