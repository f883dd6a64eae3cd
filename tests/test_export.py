"""SavedModel export on raw strings (including hostile text); TFLite export in every
mode for every student kind, and full-integer quantization against float32."""

import dataclasses

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from tfdistill import atomic
from tfdistill import export
from tfdistill import models
from tfdistill import tasks
from tfdistill import tflite
from tfdistill.evaluation import size_on_disk
from tfdistill.run import config as run_config
from tfdistill.run.config import RunConfig
from tfdistill.run.context import RunContext
from tfdistill.run.layout import RunLayout
from tfdistill.run.splits import Split
from tfdistill.run.stages import export as export_stage
from tfdistill.tflite import TFLiteModel
from tiny_models import tiny_bert_classifier

TRAIN_TEXTS = ["a gripping funny film", "dull and far too long", "great acting", "awful plot"]
HOSTILE_TEXTS = [
    "",
    "   \t\n ",
    "great " * 20_000,  # about 100,000 characters
    "bad\x00\x01\x07\x1b[31m movie\x7f",
    "très bon film, 非常好 — отличный 😀👍🏽",
    b"\xff\xfe invalid \xc3\x28 utf-8 \x80",
]


@pytest.fixture(scope="module")
def bilstm():
    return models.build_student(
        "bilstm",
        num_classes=2,
        train_texts=TRAIN_TEXTS,
        sequence_length=16,
        vocabulary_size=50,
        embedding_dim=8,
        lstm_units=4,
    )


def _xla_compiled_functions(path):
    """The names of the functions in a SavedModel's graph that XLA must compile."""
    saved = saved_model_pb2.SavedModel.FromString((path / "saved_model.pb").read_bytes())
    return [
        function.signature.name
        for function in saved.meta_graphs[0].graph_def.library.function
        if function.attr["_XlaMustCompile"].b
    ]


@pytest.mark.parametrize("jit_compile", [False, True])
def test_savedmodel_serves_raw_strings_like_the_model_in_memory(bilstm, tmp_path, jit_compile):
    path = export.export_savedmodel(
        bilstm.model,
        bilstm.preprocessor,
        tmp_path / "savedmodel",
        ["negative", "positive"],
        jit_compile=jit_compile,
    )
    # The model's part (each trace of it), and only when asked: the string ops stay
    # outside XLA.
    compiled = _xla_compiled_functions(tmp_path / "savedmodel")
    assert bool(compiled) == jit_compile
    assert all("logits" in name for name in compiled)
    serve = export.load_savedmodel(path)
    texts = tf.constant(TRAIN_TEXTS + ["unseen words only"])
    outputs = serve(texts=texts)
    expected = tf.nn.softmax(bilstm.model(bilstm.preprocessor(texts))).numpy()
    np.testing.assert_allclose(outputs["probabilities"].numpy(), expected, atol=1e-6)
    np.testing.assert_array_equal(outputs["label_ids"].numpy(), expected.argmax(-1))
    names = np.array([b"negative", b"positive"])[expected.argmax(-1)]
    np.testing.assert_array_equal(outputs["labels"].numpy(), names)


def test_savedmodel_stores_each_weight_once(bilstm, tmp_path):
    path = export.export_savedmodel(bilstm.model, bilstm.preprocessor, tmp_path / "sm", ["n", "p"])
    weight_bytes = 4 * bilstm.model.count_params()
    assert size_on_disk(f"{path}/variables") < 1.5 * weight_bytes + 20_000


@pytest.mark.parametrize("batch_size", [1, 10_000])
def test_hostile_text_gets_a_defined_answer(bilstm, tmp_path_factory, batch_size):
    path = tmp_path_factory.mktemp("hostile") / "savedmodel"
    serve = export.load_savedmodel(
        export.export_savedmodel(bilstm.model, bilstm.preprocessor, path, ["n", "p"])
    )
    texts = [HOSTILE_TEXTS[i % len(HOSTILE_TEXTS)] for i in range(batch_size)]
    probabilities = serve(texts=tf.constant(texts))["probabilities"].numpy()
    assert probabilities.shape == (batch_size, 2)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)


def test_replacing_an_export_is_atomic(bilstm, tmp_path, monkeypatch):
    path = tmp_path / "savedmodel"
    export.export_savedmodel(bilstm.model, bilstm.preprocessor, path, ["n", "p"])
    before = {p.relative_to(path): p.read_bytes() for p in path.rglob("*") if p.is_file()}

    def crash(source, target):
        raise KeyboardInterrupt("killed between the write and the rename")

    # A kill after the new export is written but before it replaces the old one.
    monkeypatch.setattr(atomic.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        export.export_savedmodel(bilstm.model, bilstm.preprocessor, path, ["bad", "good"])
    monkeypatch.undo()
    after = {p.relative_to(path): p.read_bytes() for p in path.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["savedmodel"]
    served = export.load_savedmodel(path)(texts=tf.constant(["great"]))["labels"].numpy()
    assert served[0] in (b"n", b"p")


# TFLite ---------------------------------------------------------------------------

SEQUENCE_LENGTH = 16
# A toy task with one cue word per class among filler words: separable, so a few
# epochs train a student whose float32 labels mean something.
CUES = {0: ["bad", "awful", "dull", "boring"], 1: ["good", "great", "fun", "superb"]}
FILLER = "the a movie film plot story it was and very".split()
# The share of held-out texts a full_int8 file must label as its float32 Keras model.
FULL_INT8_AGREEMENT = 0.95


def _tiny_teacher():
    """A random 2-layer BERT, 16 wide, with a WordPiece vocabulary of the toy words."""
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *FILLER, *sum(CUES.values(), [])]
    backbone = tiny_bert_classifier(
        vocabulary_size=len(vocabulary), max_sequence_length=SEQUENCE_LENGTH
    ).backbone
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        keras_hub.models.BertTokenizer(vocabulary), sequence_length=SEQUENCE_LENGTH
    )
    return keras_hub.models.BertTextClassifier(
        backbone, num_classes=2, preprocessor=preprocessor, activation=None
    )


def _toy_split(count, seed):
    """`count` texts of 3 to 9 filler words and one cue word, with the cue's class."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, count)
    texts = []
    for label in labels:
        words = list(rng.choice(FILLER, rng.integers(3, 10)))
        words.insert(rng.integers(0, len(words) + 1), rng.choice(CUES[label]))
        texts.append(" ".join(words))
    return texts, labels.astype("int32")


def _student(kind, texts):
    # The kinds on the teacher's tokenizer have its vocabulary, not one of their own.
    sizes = {"small_bert": {"num_layers": 1}, "bilstm_wordpiece": {"lstm_units": 8}}.get(
        kind, {"vocabulary_size": 30}
    )
    return models.build_student(
        kind,
        num_classes=2,
        teacher=_tiny_teacher(),
        train_texts=texts,
        sequence_length=SEQUENCE_LENGTH,
        **sizes,
    )


def _representative(student, texts):
    return lambda: (student.preprocessor(tf.constant([text])) for text in texts)


@pytest.mark.parametrize("kind", models.students_for("text_classification"))
def test_every_mode_converts_to_builtin_ops_and_runs_for_every_student_kind(kind, tmp_path):
    texts, _ = _toy_split(24, seed=0)
    student = _student(kind, texts)
    examples = student.preprocessor(tf.constant(texts))
    expected = student.model(examples).numpy()
    for mode in export.TFLITE_MODES:
        path = export.export_tflite(
            student.model,
            tmp_path / f"model_{mode}.tflite",
            mode,
            _representative(student, texts[:8]),
            sequence_length=SEQUENCE_LENGTH,
        )
        file = TFLiteModel(path)
        logits = file.predict(examples)
        operations = {op["op_name"] for op in file.interpreter._get_ops_details()}
        assert logits.shape == expected.shape and np.isfinite(logits).all(), mode
        assert not [name for name in operations if name.startswith("Flex")], mode
        if mode == "float32":
            np.testing.assert_allclose(logits, expected, atol=1e-5)


def test_full_int8_labels_held_out_texts_as_the_trained_float32_bilstm_does(tmp_path):
    # The BiLSTM is the hardest case: its int8 state goes round the loop 16 times.
    train_texts, train_labels = _toy_split(256, seed=1)
    test_texts, test_labels = _toy_split(200, seed=2)
    student = _student("bilstm", train_texts)
    student.model.compile(
        keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    student.model.fit(
        student.preprocessor(tf.constant(train_texts)), train_labels, epochs=3, verbose=0
    )
    examples = student.preprocessor(tf.constant(test_texts))
    float_labels = student.model(examples).numpy().argmax(-1)
    path = export.export_tflite(
        student.model,
        tmp_path / "model_full_int8.tflite",
        "full_int8",
        _representative(student, train_texts[:64]),
    )
    int8_labels = TFLiteModel(path).predict(examples).argmax(-1)

    assert np.mean(float_labels == test_labels) > 0.9  # the student did learn the task
    assert np.mean(int8_labels == float_labels) >= FULL_INT8_AGREEMENT


def test_full_int8_needs_a_representative_dataset(bilstm, tmp_path):
    with pytest.raises(ValueError, match="full_int8 calibrates on a representative_dataset"):
        export.export_tflite(bilstm.model, tmp_path / "model.tflite", "full_int8")


def test_an_unknown_mode_is_named(bilstm, tmp_path):
    with pytest.raises(ValueError, match="Unknown TFLite mode 'int4'; the modes are"):
        export.export_tflite(bilstm.model, tmp_path / "model.tflite", "int4")


def test_an_open_sequence_length_must_be_given(tmp_path):
    model = tiny_bert_classifier()
    with pytest.raises(ValueError, match="shapes are fixed, so pass sequence_length"):
        export.export_tflite(model, tmp_path / "model.tflite")


@keras.saving.register_keras_serializable(package="tests")
class _CumulativeProduct(keras.layers.Layer):
    """A cumulative product, an op TFLite has no builtin kernel for."""

    def call(self, values):
        return tf.math.cumprod(values, axis=-1)


def test_ops_without_a_builtin_kernel_are_named_as_the_reason(tmp_path):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, _CumulativeProduct()(inputs))
    with pytest.raises(ValueError) as error:
        export.export_tflite(model, tmp_path / "model.tflite")
    first_line = str(error.value).splitlines()[0]
    assert "TFLite float32 conversion of" in first_line
    assert "TFLite's builtins lack (Cumprod)" in first_line
    assert not (tmp_path / "model.tflite").exists()


@keras.saving.register_keras_serializable(package="tests")
class _RunningSum(keras.layers.Layer):
    """A layer with its own `tf.while_loop` that passes its float input through."""

    def call(self, steps):
        def step(time, total, steps):
            return time + 1, total + tf.gather(steps, time, axis=1), steps

        _, total, _ = tf.while_loop(
            lambda time, *_: time < steps.shape[1], step, (0, tf.zeros_like(steps[:, 0]), steps)
        )
        return total


def test_a_loop_that_would_crash_the_calibrator_is_refused_with_a_reason(tmp_path):
    inputs = keras.Input((6,), dtype="int32")
    embedded = keras.layers.Embedding(10, 4)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(_RunningSum()(embedded)))
    ids = np.arange(6, dtype="int32")[None] % 10
    with pytest.raises(ValueError, match="crashes TFLite's calibrator"):
        export.export_tflite(model, tmp_path / "model.tflite", "full_int8", lambda: [ids])
    # The float modes hold the same loop without trouble.
    path = export.export_tflite(model, tmp_path / "model.tflite", "float32")
    np.testing.assert_allclose(TFLiteModel(path).predict(ids), model(ids), atol=1e-5)


# The run's export stage ------------------------------------------------------------


def _context(tmp_path, modes):
    """A run's context on the toy task, as the pipeline makes it (see `RunContext`)."""
    train_texts, train_labels = _toy_split(32, seed=3)
    test_texts, test_labels = _toy_split(24, seed=4)
    config = RunConfig.from_dict(
        {
            "student": {"sequence_length": SEQUENCE_LENGTH},
            "export": {"tflite": modes, "representative_examples": 8, "latency_seconds": 0.05},
        }
    )
    return RunContext(
        config=config,
        layout=RunLayout(tmp_path),
        task=tasks.get(config.task),
        splits={
            "train": Split(train_texts, train_labels),
            "test": Split(test_texts, test_labels),
        },
        class_names=["negative", "positive"],
        teacher_policy="float32",
        student_policy="float32",
    )


def test_the_export_stage_measures_each_tflite_file_and_records_a_failure(tmp_path, monkeypatch):
    context = _context(tmp_path, ["float32", "float16", "full_int8"])
    student = _student("bilstm", context.splits["train"].texts)
    convert = export.export_tflite

    def fail_float16(model, path, mode, *args, **kwargs):
        if mode == "float16":
            raise ValueError("TFLite float16 conversion of bilstm failed: injected\nmore detail")
        return convert(model, path, mode, *args, **kwargs)

    monkeypatch.setattr(export, "export_tflite", fail_float16)
    entries = export_stage.tflite_scores(
        context, "bilstm_distilled", student.model, student.preprocessor
    )

    assert entries["float16"] == {
        "exported": False,
        "reason": "TFLite float16 conversion of bilstm failed: injected",
    }
    for mode in ("float32", "full_int8"):
        entry = entries[mode]
        path = tmp_path / entry["path"]
        assert entry["exported"] and path.name == f"model_{mode}.tflite"
        assert entry["bytes"] == path.stat().st_size
        assert entry["num_examples"] == 24 and 0 <= entry["accuracy"] <= 1 and "f1" in entry
        assert [latency["threads"] for latency in entry["latency"]] == tflite.thread_counts()
        assert all(latency["latency_ms"] > 0 for latency in entry["latency"])
    assert entries["float32"]["agreement"] == 1.0
    assert 0 <= entries["full_int8"]["agreement"] <= 1


def test_the_export_stage_xla_compiles_the_students_savedmodels_only(tmp_path):
    context = _context(tmp_path, [])
    context = dataclasses.replace(
        context, config=run_config.override(context.config, ["export.jit_compile=true"])
    )
    student = _student("bilstm", context.splits["train"].texts)
    compiled = {}
    for name in ("teacher", "bilstm_distilled"):
        entry = export_stage.export(context, name, student.model, student.preprocessor)
        compiled[name] = bool(_xla_compiled_functions(tmp_path / entry["savedmodel"]))
        assert entry["speed"][0]["samples_per_second"] > 0
    assert compiled == {"teacher": False, "bilstm_distilled": True}
