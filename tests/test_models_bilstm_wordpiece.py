"""The BiLSTM over the teacher's WordPiece tokens: its pieces, its start from the
teacher's embeddings, its size, saving, and a whole run that serves raw strings.

The shapes on awkward text, mixed precision and the `.keras` round trip are the
tests every text classifier gets in test_models_students.py."""

import json
import string

import keras
import keras_hub
import numpy as np
import pytest
from tensorflow.python.framework import config as tf_config  # The undo has no public API.

from tfdistill import export
from tfdistill import predict
from tfdistill.models import build_student
from tfdistill.models import load_student
from tfdistill.models import save_student
from tfdistill.run import config as run_config
from tfdistill.run import pipeline

from test_cli import LIGHT_SMOKE
from test_cli import SMOKE

# Whole words, then every letter alone and as a continuation: as in BERT's own
# vocabulary, any word of these letters has pieces, however rare the word.
VOCABULARY = (
    ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    + "the film was good bad dull fun".split()  # "a" is a letter below
    + list(string.ascii_lowercase)
    + [f"##{letter}" for letter in string.ascii_lowercase]
)
TRAIN_TEXTS = ["the film was good", "a dull film", "bad", "fun"]
# Words no training text holds, in the teacher's casing rules (lowercased by it).
UNSEEN = ["The ZYGOMORPHIC quokkas", "a film by Kurosawa"]
SEQUENCE_LENGTH = 24
WIDTH = 16  # the tiny teacher's, the widest PCA it allows


@pytest.fixture(scope="module")
def teacher():
    """A random 1-layer BERT classifier on `VOCABULARY`, uncased like MiniLM."""
    keras.utils.set_random_seed(1)
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=VOCABULARY, lowercase=True)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(VOCABULARY), num_layers=1, num_heads=2, hidden_dim=WIDTH,
        intermediate_dim=32, max_sequence_length=32,
    )
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=32)
    return keras_hub.models.BertTextClassifier(
        backbone, num_classes=2, preprocessor=preprocessor, activation=None
    )


def _build(teacher, kind="bilstm_wordpiece", **sizes):
    sizes = {"embedding_dim": 8, "lstm_units": 4, "hidden_dim": 8, **sizes}
    return build_student(
        kind, num_classes=3, teacher=teacher, train_texts=TRAIN_TEXTS,
        sequence_length=SEQUENCE_LENGTH, **sizes,
    )


def test_unseen_words_get_the_teachers_pieces_never_the_unknown_id(teacher):
    student = _build(teacher)
    ids = np.asarray(student.preprocessor(UNSEEN)["token_ids"])
    teacher_ids = np.asarray(
        keras_hub.models.BertTextClassifierPreprocessor(
            teacher.preprocessor.tokenizer, sequence_length=SEQUENCE_LENGTH
        )(UNSEEN)["token_ids"]
    )

    np.testing.assert_array_equal(ids, teacher_ids)
    assert VOCABULARY.index("[UNK]") not in ids
    pieces = [VOCABULARY[i] for i in ids[0] if i]
    assert pieces[:4] == ["[CLS]", "the", "z", "##y"]  # lowercased, as the teacher reads it
    assert student.model.get_layer("token_embedding").input_dim == len(VOCABULARY)
    # The same words are out of a word-level student's vocabulary (id 1).
    word_ids = np.asarray(_build(teacher, "bilstm").preprocessor(UNSEEN))
    assert (word_ids == 1).sum() == 4  # zygomorphic, quokkas, by, kurosawa


def test_the_table_starts_from_the_pca_of_the_teachers_token_embeddings(teacher):
    dim = 6
    student = _build(teacher, embedding_dim=dim, init_from_teacher=True)
    table = student.model.get_layer("token_embedding").get_weights()[0]

    # Direct: centre, eigenvectors of the covariance, largest first, mean norm 1.
    embeddings = np.asarray(teacher.backbone.token_embedding.embeddings, np.float64)
    centred = embeddings - embeddings.mean(axis=0)
    values, vectors = np.linalg.eigh(centred.T @ centred)
    expected = centred @ vectors[:, np.argsort(values)[::-1][:dim]]
    expected /= np.linalg.norm(expected, axis=1).mean()
    # A principal direction's sign is arbitrary.
    expected *= np.sign((expected * table).sum(axis=0))

    assert table.shape == (len(VOCABULARY), dim)
    np.testing.assert_allclose(table, expected, atol=1e-5)


def test_a_factorised_table_is_narrower_and_starts_from_the_pca_too(teacher):
    full = _build(teacher, embedding_dim=12)
    factorised = _build(teacher, embedding_dim=12, piece_embedding_dim=3, init_from_teacher=True)
    table = factorised.model.get_layer("token_embedding").get_weights()[0]
    reference = _build(teacher, embedding_dim=3, init_from_teacher=True)

    vocabulary = len(VOCABULARY)
    assert full.num_params - factorised.num_params == vocabulary * 12 - (vocabulary * 3 + 3 * 12)
    np.testing.assert_array_equal(
        table, reference.model.get_layer("token_embedding").get_weights()[0]
    )
    assert factorised.model.get_layer("piece_projection").kernel.shape == (3, 12)


def test_init_from_teacher_refuses_a_table_wider_than_the_teacher(teacher):
    with pytest.raises(ValueError, match=r"1 to 16 wide, not 32.*piece_embedding_dim"):
        _build(teacher, embedding_dim=32, init_from_teacher=True)


def test_padding_is_masked(teacher):
    student = _build(teacher)
    inputs = student.preprocessor(["the film was good"])
    longer = {key: np.pad(np.asarray(value), [(0, 0), (0, 8)]) for key, value in inputs.items()}

    np.testing.assert_allclose(
        student.model.predict(longer, verbose=0),
        student.model.predict(inputs, verbose=0),
        atol=1e-6,
    )


def test_a_saved_student_reloads_with_the_same_logits(teacher, tmp_path):
    student = _build(teacher, embedding_dim=12, piece_embedding_dim=4, init_from_teacher=True)
    save_student(student, tmp_path)
    reloaded = load_student(tmp_path, kind="bilstm_wordpiece")
    texts = [*UNSEEN, "", "Fun, FUN film!"]

    np.testing.assert_array_equal(
        reloaded.model.predict(reloaded.preprocessor(texts), verbose=0),
        student.model.predict(student.preprocessor(texts), verbose=0),
    )


@pytest.fixture
def deterministic_undone():
    yield
    # The run turned on op determinism for the whole process, and Keras then turns
    # jit_compile off for every model that later tests compile.
    tf_config.disable_op_determinism()


@pytest.mark.long  # export, reload and serving per kind: test_export and the reload test above
def test_a_smoke_run_exports_a_savedmodel_that_serves_raw_strings(
    tmp_path, tiny_teacher, deterministic_undone
):
    overrides = [flag.removeprefix("--set=") for flag in LIGHT_SMOKE] + [
        "student.kind=bilstm_wordpiece", f"teacher.preset={tiny_teacher}",
        "student.sizes={embedding_dim: 8, lstm_units: 4, init_from_teacher: true}",
        "export.tflite=[float32]",
    ]
    run_dir = tmp_path / "run"
    summary = pipeline.run(run_config.override(run_config.load(SMOKE), overrides), run_dir)

    name = "bilstm_wordpiece_distilled"
    assert set(summary["models"]) == {"teacher", name}
    metrics = json.loads((run_dir / "metrics.json").read_text())["models"][name]
    assert metrics["tflite"]["float32"]["agreement"] == 1.0
    student = load_student(run_dir / "students" / name, kind="bilstm_wordpiece")
    texts = np.array(["a good film", "", "Zygomorphic quokkas! 🎬"], dtype=object)
    serve = export.load_savedmodel(run_dir / "export" / name / "savedmodel")
    expected = keras.ops.softmax(student.model(student.preprocessor(texts)))
    np.testing.assert_allclose(serve(texts=texts)["probabilities"], expected, atol=1e-6)
    model = predict.open_model(run_dir)
    answers = model.predict(list(texts))
    assert model.count_unknown_words is None  # pieces: no word is unknown to it
    assert [answer["label_id"] for answer in answers] == list(np.argmax(expected, axis=-1))
