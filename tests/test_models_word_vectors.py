"""Word vectors from the teacher: the teacher's geometry kept, padding ignored, errors."""

import keras
import keras_hub
import numpy as np
import pytest

from tfdistill.models import build_student
from tfdistill.models import teacher_word_vectors

# "goods" and "plots" split into two pieces ("good", "##s"); "zzz" is [UNK].
VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + (
    "the a movie film good bad great awful fun dull plot story it was ##s".split()
)
WORDS = ["good", "goods", "bad", "film", "plots", "zzz", "Great", "dull", "it", "was"]
HIDDEN_DIM = 16


@pytest.fixture(scope="module")
def teacher():
    keras.utils.set_random_seed(7)
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=VOCABULARY, lowercase=True)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(VOCABULARY),
        num_layers=2,
        num_heads=2,
        hidden_dim=HIDDEN_DIM,
        intermediate_dim=32,
        max_sequence_length=32,
    )
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer, sequence_length=8
    )
    return keras_hub.models.BertTextClassifier(
        backbone, num_classes=2, preprocessor=preprocessor, activation=None
    )


def _unpadded_piece_means(teacher, words):
    """Each word run alone, unpadded, its last-layer outputs averaged by hand."""
    tokenizer = teacher.preprocessor.tokenizer
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    means = []
    for word in words:
        pieces = list(keras.ops.convert_to_numpy(tokenizer(word)))
        token_ids = np.array([[cls_id, *pieces, sep_id]])
        outputs = teacher.backbone(
            {
                "token_ids": token_ids,
                "segment_ids": np.zeros_like(token_ids),
                "padding_mask": np.ones_like(token_ids),
            }
        )["sequence_output"]
        means.append(keras.ops.convert_to_numpy(outputs)[0, 1:-1].mean(axis=0))
    return np.array(means, dtype=np.float64)


def test_full_width_vectors_keep_the_teachers_geometry_up_to_one_scale(teacher):
    vectors = teacher_word_vectors(teacher, WORDS, HIDDEN_DIM - 6)
    means = _unpadded_piece_means(teacher, WORDS)
    centred = means - means.mean(axis=0)
    # 10 centred words span at most 9 directions, all kept in 10: the projection is a
    # rotation, so inner products are the teacher's, times one squared scale.
    gram, expected_gram = vectors @ vectors.T, centred @ centred.T
    scale = np.linalg.norm(centred, axis=1).mean()
    np.testing.assert_allclose(gram * scale**2, expected_gram, atol=2e-4 * scale**2)
    assert np.linalg.norm(vectors, axis=1).mean() == pytest.approx(1.0, abs=1e-5)


def test_directions_come_largest_variance_first(teacher):
    vectors = teacher_word_vectors(teacher, WORDS, 5)
    assert vectors.dtype == np.float32 and vectors.shape == (len(WORDS), 5)
    variances = vectors.var(axis=0)
    assert np.all(np.diff(variances) <= 1e-6), variances


def test_a_word_without_pieces_gets_the_zero_vector_and_no_weight(teacher):
    with_empty = teacher_word_vectors(teacher, ["", *WORDS], 4)
    np.testing.assert_array_equal(with_empty[0], 0.0)
    np.testing.assert_allclose(
        with_empty[1:], teacher_word_vectors(teacher, WORDS, 4), atol=1e-5
    )


@pytest.mark.parametrize(
    "words, dim",
    [(WORDS, 0), (WORDS * 2, HIDDEN_DIM + 1), (WORDS, len(WORDS) + 1)],
)
def test_dim_out_of_range_names_the_bounds(teacher, words, dim):
    with pytest.raises(ValueError, match=rf"dim={dim}.*embedding_dim"):
        teacher_word_vectors(teacher, words, dim)


def test_teacher_must_bring_its_tokenizer(teacher):
    bare = keras_hub.models.BertTextClassifier(
        teacher.backbone, num_classes=2, preprocessor=None
    )
    with pytest.raises(ValueError, match="preprocessor attached"):
        teacher_word_vectors(bare, WORDS, 2)


@pytest.mark.parametrize("kind", ["bilstm", "cnn"])
def test_word_student_starts_from_the_teachers_word_vectors(teacher, kind):
    texts = ["a great fun movie", "an awful dull film", "the plot was good", "bad"]
    student = build_student(
        kind,
        num_classes=2,
        teacher=teacher,
        train_texts=texts,
        sequence_length=8,
        embedding_dim=6,
        init_from_teacher=True,
    )
    vocabulary = student.preprocessor.get_vocabulary()
    assert vocabulary[:2] == ["", "[UNK]"]
    embeddings = student.model.get_layer("token_embedding").get_weights()[0]
    np.testing.assert_array_equal(embeddings[:2], 0.0)
    np.testing.assert_allclose(
        embeddings[2:], teacher_word_vectors(teacher, vocabulary[2:], 6), atol=1e-6
    )


@pytest.mark.parametrize("kind", ["bilstm", "bilstm_tagger"])
def test_teacher_words_make_words_no_training_text_holds_known_with_teacher_vectors(
    teacher, kind
):
    train = ["a great fun movie", "an awful dull film"]
    student = build_student(
        kind,
        num_classes=2,
        teacher=teacher,
        train_texts=train,
        sequence_length=8,
        task="text_classification" if kind == "bilstm" else "token_classification",
        embedding_dim=6,
        init_from_teacher=True,
        teacher_words=True,
    )
    vocabulary = [str(word) for word in student.preprocessor.get_vocabulary()]
    # The training words first, then the teacher's whole words they lack, once
    # each: no "##s", no [special] pieces.
    trained = {word for text in train for word in text.split()}
    assert set(vocabulary[2 : 2 + len(trained)]) == trained
    assert vocabulary[2 + len(trained) :] == [
        word for word in VOCABULARY[5:] if word not in trained and word != "##s"
    ]
    embeddings = student.model.get_layer("token_embedding").get_weights()[0]
    np.testing.assert_allclose(
        embeddings[2:], teacher_word_vectors(teacher, vocabulary[2:], 6), atol=1e-6
    )


def test_teacher_words_give_an_unseen_word_its_own_id_in_the_exported_preprocessor(teacher):
    kwargs = dict(num_classes=2, teacher=teacher, train_texts=["good film"], sequence_length=4)
    plain = build_student("bilstm", **kwargs)
    extended = build_student("bilstm", teacher_words=True, **kwargs)
    unknown = plain.preprocessor.get_vocabulary().index("[UNK]")
    assert plain.preprocessor(["Plot!"]).numpy()[0, 0] == unknown
    plot_id = extended.preprocessor(["Plot!"]).numpy()[0, 0]
    assert extended.preprocessor.get_vocabulary()[plot_id] == "plot"
    assert extended.model.get_layer("token_embedding").input_dim == len(
        extended.preprocessor.get_vocabulary()
    )


def test_teacher_words_need_the_teacher():
    with pytest.raises(ValueError, match="teacher_words=True reads the teacher.s vocabulary, so it needs the teacher"):
        build_student("bilstm", num_classes=2, train_texts=["good"], teacher_words=True)


def test_word_student_from_the_teacher_needs_the_teacher():
    with pytest.raises(ValueError, match="preprocessor attached"):
        build_student(
            "bilstm",
            num_classes=2,
            train_texts=["good", "bad"],
            embedding_dim=1,
            init_from_teacher=True,
        )


@pytest.mark.slow
def test_packaged_minilm_puts_synonyms_closer_than_unrelated_words():
    from tfdistill.models import load_teacher

    pairs = [
        ("film", "movie", "banana"),
        ("funny", "hilarious", "chair"),
        ("boring", "dull", "car"),
        ("terrible", "awful", "table"),
    ]
    words = sorted({word for triple in pairs for word in triple})
    vectors = teacher_word_vectors(load_teacher(sequence_length=32), words, 11)
    unit = dict(zip(words, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)))
    for word, synonym, unrelated in pairs:
        # Measured: synonyms 0.45-0.75, unrelated words below 0 (at width 15).
        assert unit[word] @ unit[synonym] > unit[word] @ unit[unrelated] + 0.3, word
