"""Students: shapes on awkward text, weights copied from the teacher, saving, errors."""

import warnings

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from tfdistill import export
from tfdistill.models import STUDENTS
from tfdistill.models import build_student
from tfdistill.models import load_student
from tfdistill.models import register_student
from tfdistill.models import save_student
from tfdistill.models import students_for
from tfdistill.tflite import TFLiteModel

WORDS = "the a movie film good bad great awful fun dull plot story it was".split()
TRAIN_TEXTS = ["a great fun movie", "an awful dull film", "the plot was good", "bad"]
AWKWARD_TEXTS = np.array(
    [
        "",
        "🎬🍿 loved it 😍",
        ("great fun " * 1000)[:10_000],
        "The movie was DULL, dull, dull.",
    ]
)
SEQUENCE_LENGTH = 16
# The kinds that classify texts (the tagger is tested in test_tasks_token_classification).
CLASSIFIERS = students_for("text_classification")


@pytest.fixture(scope="module")
def tiny_teacher():
    """A random 4-layer BERT classifier, 16 wide, with a WordPiece vocabulary."""
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, "##s"]
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocabulary),
        num_layers=4,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=32,
    )
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer, sequence_length=SEQUENCE_LENGTH
    )
    return keras_hub.models.BertTextClassifier(
        backbone, num_classes=2, preprocessor=preprocessor, activation=None
    )


def _build(kind, teacher, **sizes):
    return build_student(
        kind,
        num_classes=3,
        teacher=teacher,
        train_texts=TRAIN_TEXTS,
        sequence_length=SEQUENCE_LENGTH,
        **sizes,
    )


def _assert_same_weights(layer, other):
    weights, other_weights = layer.get_weights(), other.get_weights()
    assert len(weights) == len(other_weights) > 0
    for weight, other_weight in zip(weights, other_weights):
        np.testing.assert_array_equal(weight, other_weight)


@pytest.mark.parametrize(
    "num_layers, expected_teacher_layers",
    [(1, [0]), (2, [0, 3]), (3, [0, 1, 3])],
)
def test_small_bert_copies_embeddings_and_evenly_spaced_layers(
    tiny_teacher, num_layers, expected_teacher_layers
):
    student = _build("small_bert", tiny_teacher, num_layers=num_layers)
    source, backbone = tiny_teacher.backbone, student.model.backbone

    assert backbone.num_layers == num_layers < source.num_layers
    for name in (
        "token_embedding",
        "position_embedding",
        "segment_embedding",
        "embeddings_layer_norm",
        "pooled_dense",
    ):
        _assert_same_weights(getattr(backbone, name), getattr(source, name))
    for layer, index in zip(backbone.transformer_layers, expected_teacher_layers):
        _assert_same_weights(layer, source.transformer_layers[index])


def test_small_bert_copies_the_teacher_layers_it_is_given(tiny_teacher):
    student = _build("small_bert", tiny_teacher, teacher_layers=[2, 1])

    layers = student.model.backbone.transformer_layers
    _assert_same_weights(layers[0], tiny_teacher.backbone.transformer_layers[2])
    _assert_same_weights(layers[1], tiny_teacher.backbone.transformer_layers[1])


def test_small_bert_can_be_narrower_when_not_initialised(tiny_teacher):
    student = _build(
        "small_bert",
        tiny_teacher,
        hidden_dim=8,
        intermediate_dim=16,
        init_from_teacher=False,
    )

    assert student.model.backbone.hidden_dim == 8
    assert student.num_params < tiny_teacher.count_params()


def test_small_bert_shares_the_teacher_tokenizer(tiny_teacher):
    student = _build("small_bert", tiny_teacher)

    assert student.preprocessor.tokenizer is tiny_teacher.preprocessor.tokenizer
    assert student.preprocessor.sequence_length == SEQUENCE_LENGTH


@pytest.mark.parametrize("kind", CLASSIFIERS)
def test_student_maps_awkward_raw_strings_to_logits(tiny_teacher, kind):
    student = _build(kind, tiny_teacher)

    logits = keras.ops.convert_to_numpy(
        student.model(student.preprocessor(AWKWARD_TEXTS))
    )

    assert student.kind == kind
    assert logits.shape == (len(AWKWARD_TEXTS), 3)
    assert logits.dtype == np.float32
    assert np.isfinite(logits).all()
    assert student.num_params == student.model.count_params() > 0


@pytest.mark.parametrize("kind", CLASSIFIERS)
def test_student_builds_under_the_global_mixed_precision_policy(tiny_teacher, kind):
    keras.config.set_dtype_policy("mixed_float16")

    student = _build(kind, tiny_teacher)
    logits = student.model(student.preprocessor(AWKWARD_TEXTS))

    assert logits.shape == (len(AWKWARD_TEXTS), 3)
    assert np.isfinite(keras.ops.convert_to_numpy(logits)).all()
    assert {weight.dtype for weight in student.model.weights} == {"float32"}


@pytest.mark.parametrize("kind", CLASSIFIERS)
def test_student_round_trips_through_keras_file(tiny_teacher, kind, tmp_path):
    student = _build(kind, tiny_teacher)
    inputs = student.preprocessor(AWKWARD_TEXTS)
    path = tmp_path / f"{kind}.keras"

    student.model.save(path)
    reloaded = keras.models.load_model(path)

    np.testing.assert_array_equal(
        reloaded.predict(inputs, verbose=0), student.model.predict(inputs, verbose=0)
    )


@pytest.mark.parametrize("kind", ["bilstm", "bilstm_wordpiece"])
def test_max_pooling_reads_every_real_step_and_no_padding(tiny_teacher, kind, tmp_path):
    keras.utils.set_random_seed(0)
    student = _build(kind, tiny_teacher, pooling="max", embedding_dim=8, lstm_units=8)
    inputs = student.preprocessor(np.array(["the plot was good", "dull"]))
    logits = student.model.predict(inputs, verbose=0)
    # Each pooled feature is the largest of the real steps' outputs: padding never wins.
    pooling = student.model.get_layer("max_pooling")
    steps = student.model.get_layer("bilstm").output
    features = keras.Model(student.model.inputs, [steps, pooling.output]).predict(inputs, verbose=0)
    real = (inputs["padding_mask"] if isinstance(inputs, dict) else inputs != 0).numpy()
    for row, mask in enumerate(real):
        np.testing.assert_allclose(features[1][row], features[0][row][mask.astype(bool)].max(0), rtol=1e-6)
        assert mask.sum() < len(mask)  # There is padding to ignore.
    student.model.save(tmp_path / "max.keras")
    reloaded = keras.models.load_model(tmp_path / "max.keras")
    np.testing.assert_array_equal(reloaded.predict(inputs, verbose=0), logits)
    if kind == "bilstm":  # Builtin TFLite ops still, with the same answers.
        path = export.export_tflite(reloaded, tmp_path / "model_float32.tflite", "float32")
        np.testing.assert_allclose(TFLiteModel(path).predict(inputs.numpy()), logits, atol=1e-5)


def test_word_student_counts_its_embedding_table(tiny_teacher):
    student = _build("cnn", tiny_teacher, embedding_dim=4, filters=2)

    vocabulary_size = student.preprocessor.vocabulary_size()
    assert student.num_params > vocabulary_size * 4


def test_bilstm_stays_xla_compilable_where_cudnn_is_available(
    tiny_teacher, monkeypatch, tmp_path
):
    # Pretend to be on a GPU machine: there, a cuDNN LSTM would switch XLA off for
    # the whole model, silently.
    monkeypatch.setattr(keras.src.backend, "cudnn_ok", lambda *args, **kwargs: True)
    student = _build("bilstm", tiny_teacher)
    student.model.save(tmp_path / "bilstm.keras")
    reloaded = keras.models.load_model(tmp_path / "bilstm.keras")

    for model in (student.model, reloaded):
        model.compile(loss="mse", jit_compile=True)
        assert model.jit_compile is True


def test_unknown_kind_names_the_registered_kinds(tiny_teacher):
    with pytest.raises(ValueError, match="transformer") as error:
        _build("transformer", tiny_teacher)
    assert STUDENTS.names() == ["bilstm", "bilstm_tagger", "bilstm_wordpiece", "cnn", "small_bert"]
    for kind in STUDENTS.names():
        assert repr(kind) in str(error.value)


def _build_gru(sequence_length, vocabulary_size, *, head, units=8):
    """A word-level GRU student, written as a user would, following the contract."""
    token_ids = keras.Input(shape=(sequence_length,), dtype="int64")
    embedded = keras.layers.Embedding(
        vocabulary_size, 8, mask_zero=True, name="token_embedding"
    )(token_ids)
    return keras.Model(token_ids, head(keras.layers.GRU(units)(embedded)))


@pytest.fixture
def gru_kind():
    register_student("gru", recurrent=True)(_build_gru)
    yield "gru"
    STUDENTS.unregister("gru")


def test_a_student_kind_registered_from_outside_builds_like_the_others(gru_kind):
    student = build_student(
        gru_kind,
        num_classes=3,
        train_texts=TRAIN_TEXTS,
        sequence_length=SEQUENCE_LENGTH,
        vocabulary_size=12,
        units=5,
    )
    logits = student.model(student.preprocessor(AWKWARD_TEXTS))

    assert STUDENTS.attributes(gru_kind) == {
        "word_level": True,
        "bert_like": False,
        "recurrent": True,
        "tasks": ("text_classification",),
    }
    assert student.kind == gru_kind
    assert student.preprocessor.vocabulary_size() == 12
    assert student.model.get_layer("token_embedding").input_dim == 12
    assert logits.shape == (len(AWKWARD_TEXTS), 3)
    assert student.model.layers[-1].name == "logits"


def test_the_built_in_kinds_say_what_they_are():
    attributes = {kind: STUDENTS.attributes(kind) for kind in STUDENTS.names()}

    assert [kind for kind in attributes if attributes[kind]["word_level"]] == [
        "bilstm",
        "bilstm_tagger",
        "cnn",
    ]
    assert [kind for kind in attributes if attributes[kind]["bert_like"]] == [
        "small_bert"
    ]
    # Piece-level: on the teacher's tokenizer, but not a BERT.
    assert [
        kind for kind in attributes
        if not attributes[kind]["word_level"] and not attributes[kind]["bert_like"]
    ] == ["bilstm_wordpiece"]
    assert [kind for kind in attributes if attributes[kind]["recurrent"]] == [
        "bilstm",
        "bilstm_tagger",
        "bilstm_wordpiece",
    ]
    assert [kind for kind in attributes if "token_classification" in attributes[kind]["tasks"]] == [
        "bilstm_tagger",
        "small_bert",
    ]


def test_a_student_is_word_level_or_bert_like_but_not_both():
    with pytest.raises(ValueError, match="BERT-like student .* cannot be word-level"):
        register_student("hybrid", word_level=True, bert_like=True)
    assert "hybrid" not in STUDENTS


@pytest.mark.parametrize(
    "sizes, message",
    [
        ({"hidden_dim": 8}, r"hidden_dim=16.*init_from_teacher=False.*hidden_dim=16"),
        ({"num_heads": 4}, r"num_heads=2.*init_from_teacher=False"),
        ({"teacher_layers": [0, 4]}, r"between 0 and 3"),
        ({"num_layers": 3, "teacher_layers": [0, 1]}, r"3 indices"),
        ({"init_from_teacher": False, "teacher_layers": [0, 1]}, "init_from_teacher"),
    ],
)
def test_small_bert_rejects_weights_it_cannot_copy(tiny_teacher, sizes, message):
    with pytest.raises(ValueError, match=message):
        _build("small_bert", tiny_teacher, **sizes)


def test_small_bert_needs_a_teacher():
    with pytest.raises(ValueError, match="needs the teacher"):
        build_student("small_bert", num_classes=2)


@pytest.mark.parametrize("kind", ["bilstm", "cnn"])
def test_word_student_needs_train_texts(kind):
    with pytest.raises(ValueError, match="train_texts"):
        build_student(kind, num_classes=2)


def test_unknown_task_is_named():
    with pytest.raises(ValueError, match="Unknown task 'tagging'"):
        build_student("cnn", num_classes=2, train_texts=TRAIN_TEXTS, task="tagging")


def test_cnn_rejects_sequences_shorter_than_its_widest_kernel():
    with pytest.raises(ValueError, match="kernel_sizes"):
        build_student("cnn", num_classes=2, train_texts=TRAIN_TEXTS, sequence_length=4)


@pytest.mark.parametrize("kind", CLASSIFIERS)
def test_a_saved_student_reloads_with_its_preprocessor_from_its_folder_alone(
    tiny_teacher, kind, tmp_path
):
    # What a rerun that reuses a student, `tfdistill export` and `tfdistill predict`
    # do. Accents matter: the teacher's uncased tokenizer strips them (a setting made
    # after construction, which the saved preprocessor must keep).
    tiny_teacher.preprocessor.tokenizer.strip_accents = True
    student = _build(kind, tiny_teacher)
    save_student(student, tmp_path)
    with warnings.catch_warnings():
        # Silently: a rerun's terminal showed Keras's optimizer warning for small_bert.
        warnings.simplefilter("error")
        reloaded = load_student(tmp_path, kind=kind)

    texts = [*AWKWARD_TEXTS, "Café GRÉAT films", "naïve"]
    expected, got = student.preprocessor(texts), reloaded.preprocessor(texts)
    for name in expected if isinstance(expected, dict) else [None]:
        np.testing.assert_array_equal(
            np.asarray(got[name] if name else got), np.asarray(expected[name] if name else expected)
        )
    np.testing.assert_array_equal(
        reloaded.model.predict(got, verbose=0), student.model.predict(expected, verbose=0)
    )


def test_a_small_bert_tagger_copies_the_teacher_reloads_and_serves_tags(tmp_path):
    """The small_bert tagger a tagging run builds (the whole run is a `long` test):
    the teacher's layer, per-word logits, its folder alone, and tags on raw strings."""
    from tfdistill import export
    from tfdistill.models import load_teacher
    from tiny_models import save_tiny_teacher

    tags = ["O", "B-name", "I-name"]
    teacher = load_teacher(
        str(save_tiny_teacher(tmp_path / "preset")), num_classes=len(tags),
        sequence_length=16, task="token_classification", max_words=6,
    )
    student = build_student(
        "small_bert", len(tags), teacher=teacher, task="token_classification",
        sequence_length=6, num_layers=1,
    )
    _assert_same_weights(
        student.model.backbone.transformer_layers[0], teacher.backbone.transformer_layers[0]
    )
    words = tf.constant([["the", "film", "Paris", "", "", ""], ["good", "", "", "", "", ""]])
    logits = student.model.predict(student.preprocessor(words), verbose=0)
    assert logits.shape == (2, 6, len(tags))
    save_student(student, tmp_path / "student")
    reloaded = load_student(tmp_path / "student", kind="small_bert")
    np.testing.assert_allclose(
        reloaded.model.predict(reloaded.preprocessor(words), verbose=0), logits, atol=1e-6
    )
    path = export.export_savedmodel(
        reloaded.model, reloaded.preprocessor, tmp_path / "savedmodel", tags,
        task="token_classification",
    )
    signatures = export.load_signatures(path)
    assert export.UNKNOWN_WORDS_SIGNATURE not in signatures  # Word pieces: no word is unknown.
    outputs = signatures[export.SERVING_SIGNATURE](texts=tf.constant(["Obama visits Paris", "", "🙂"]))
    assert outputs["tags"].shape == (3, 6)
    assert {tag.decode() for tag in outputs["tags"].numpy().ravel()} <= set(tags)
