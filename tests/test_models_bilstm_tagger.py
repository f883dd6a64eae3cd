"""The BiLSTM tagger's character features: ids on hostile words, what they let it learn
that word ids cannot, saving and serving raw strings."""

import random
import warnings

import keras
import numpy as np
import tensorflow as tf

from tfdistill import data
from tfdistill import export
from tfdistill import tasks
from tfdistill.data import conll
from tfdistill.models import load_student
from tfdistill.models import save_student
from tfdistill.models.students.bilstm_tagger import build_word_tagger

TAGS = ("O", "B-name", "I-name")
MAX_WORDS = 6


def _sentences(seed, count, name_length=5):
    """Sentences of made-up five-letter lowercase words, each with one made-up
    capitalised name of `name_length` letters tagged B-name."""
    rng = random.Random(seed)

    def word(first_letters, length=5):
        return rng.choice(first_letters) + "".join(rng.choice("aeioulmnrst") for _ in range(length - 1))

    words, tags = [], []
    for _ in range(count):
        sentence = [word("bcdfg") for _ in range(MAX_WORDS)]
        position = rng.randrange(MAX_WORDS)
        sentence[position] = word("BCDFG", name_length)
        words.append(sentence)
        tags.append(["B-name" if i == position else "O" for i in range(MAX_WORDS)])
    return conll.TaggedSentences(words, tags)


def test_character_ids_keep_case_and_survive_hostile_words():
    lookup = data.build_word_lookup([["Paris", "rocks", "🙂"]], MAX_WORDS, characters=16, max_chars=4)
    words = tf.ragged.constant([["Paris", "paris", "🙂", "x" * 100_000, "\xff\xfe"], []])
    ids = lookup(words)
    assert ids["word_ids"].shape == (2, MAX_WORDS) and ids["char_ids"].shape == (2, MAX_WORDS, 4)
    word_ids, char_ids = ids["word_ids"].numpy(), ids["char_ids"].numpy()
    assert word_ids[0, 0] == word_ids[0, 1] and (char_ids[0, 0] != char_ids[0, 1]).any()
    assert (char_ids >= 0).all() and (char_ids < 16).all()
    assert (char_ids[1] == 0).all() and (char_ids[0, 5:] == 0).all()
    invalid = lookup(tf.constant([[b"\xff\xfe"]]))["char_ids"].numpy()
    assert invalid[0, 0, :2].tolist() == [1, 1]  # U+FFFD twice, not in the vocabulary


def _train_tagger(train, characters):
    ids = conll.tag_ids(train.tags, TAGS)
    student = build_word_tagger(
        train.words, len(TAGS), max_words=MAX_WORDS, characters=characters, word_dropout=0.3,
        embedding_dim=16, lstm_units=16, char_dim=16, char_filters=16,
    )
    student.model.compile(keras.optimizers.Adam(3e-3), tasks.get("token_classification").loss())
    batches = data.encode_tagged(train, ids, student.preprocessor, batch_size=32, shuffle=True)
    # The dataset shuffles itself; Keras warns that fit's shuffle=True ignores a dataset.
    student.model.fit(batches, epochs=20, shuffle=False, verbose=0)
    return student


def _name_recall(student, sentences):
    inputs = student.preprocessor(tf.constant([list(words) for words in sentences.words]))
    predicted = np.argmax(student.model.predict(inputs, verbose=0), axis=-1)
    gold = np.array(conll.tag_ids(sentences.tags, TAGS)) == 1
    return (predicted[gold] == 1).mean()


def test_characters_let_the_tagger_find_names_it_never_saw():
    # Six letters: no unseen name is a training word, but each is written with
    # characters the training words hold.
    train, unseen = _sentences(0, 400), _sentences(1, 100, name_length=6)
    with_characters = _train_tagger(train, characters=64)
    words_alone = _train_tagger(train, characters=0)
    # Every unseen name is out of vocabulary: only its capital gives it away.
    assert _name_recall(with_characters, unseen) > 0.9
    assert _name_recall(words_alone, unseen) < 0.1


def test_a_tagger_with_characters_saves_reloads_and_serves_raw_strings(tmp_path):
    train = _sentences(0, 64)
    student = build_word_tagger(
        train.words, len(TAGS), max_words=MAX_WORDS, characters=32, embedding_dim=4,
        lstm_units=4, char_dim=4, char_filters=4, max_chars=8,
    )
    words = tf.constant([["Bolero", "fast", "", "", "", ""]])
    student.preprocessor(words)  # Built, as after training: its build config is saved.
    save_student(student, tmp_path / "student")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # A reused student printed Keras's build warning.
        reloaded = load_student(tmp_path / "student", kind="bilstm_tagger")
    np.testing.assert_array_equal(
        reloaded.model.predict(reloaded.preprocessor(words), verbose=0),
        student.model.predict(student.preprocessor(words), verbose=0),
    )
    path = export.export_savedmodel(
        reloaded.model, reloaded.preprocessor, tmp_path / "savedmodel", list(TAGS),
        task="token_classification",
    )
    signatures = export.load_signatures(path)
    texts = ["Bolero visits Paris", "", "🙂 \xff " + "x" * 100_000]
    outputs = signatures[export.SERVING_SIGNATURE](texts=tf.constant(texts))
    assert outputs["tags"].shape == (3, MAX_WORDS)
    assert np.isfinite(outputs["tag_probabilities"].numpy()).all()
    # Its word ids sit beside the character ids; a training sentence's are all known.
    counts = signatures[export.UNKNOWN_WORDS_SIGNATURE](texts=tf.constant(texts + [" ".join(train.words[0])]))
    assert counts["words"].numpy().tolist() == [3, 0, 3, MAX_WORDS]
    assert counts["unknown_words"].numpy().tolist() == [3, 0, 3, 0]
