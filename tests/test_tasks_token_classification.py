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
    return [list(tags) for tags in conll.read_conll(wnut16_source._corpus_path()).tags]


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
