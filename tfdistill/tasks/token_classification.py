"""Token classification (entity tagging): `TokenClassification` and its scores.

`TokenClassification` is the task: one tag per word, per-word logits, entity scores.
It is not registered in `tfdistill.tasks.TASKS` yet, so configs cannot name it until
the run pipeline (configs, stages, export) can run it; use it from Python.

The scores, on tag strings:

* entity precision, recall and F1, micro-averaged over all entities: an entity counts
  as found only if its span and its type both match exactly;
* the same per entity type, with the type's support (its number of gold entities);
* token accuracy, the fraction of words whose tag equals the gold one.

Entities are read with CoNLL's `conlleval` rules, whatever the sequence: `B-X` opens
an entity, and so does an `I-X` after `O` or after another type (see
`tfdistill.data.conll.to_iob2`), so a model's invalid IOB2 is scored as conlleval and
`seqeval` (default mode) score it. A ratio with a zero denominator is 0, as theirs is.

Example:

>>> gold = [["B-person", "I-person", "O", "B-geo-loc"]]
>>> predicted = [["B-person", "I-person", "O", "I-company"]]
>>> scores = entity_scores(gold, predicted)
>>> scores["precision"], scores["recall"], scores["f1"], scores["token_accuracy"]
(0.5, 0.5, 0.5, 0.75)
>>> scores["per_type"]["company"]
{'precision': 0.0, 'recall': 0.0, 'f1': 0.0, 'support': 0}
"""

import collections

import keras
import numpy as np
import tensorflow as tf

from tfdistill.data.conll import to_iob2
from tfdistill.data.tagging import NO_TAG
from tfdistill.data.tagging import FirstPiecePacker
from tfdistill.models.bert_tagger import BertTokenClassifier
from tfdistill.tasks.base import Task
from tfdistill.tasks.base import dense_head


class TokenClassification(Task):
    """One tag per word (entity tagging). Not registered in `TASKS` yet (see above).

    Labels are int32 tag ids per word slot, `(sentences, max_words)`, or one array per
    sentence; `NO_TAG` (-1) marks a slot without a word to learn or score (padding,
    or a word past the sequence length). Models output `(batch, words, tags)`
    logits; the headline metric is the entity F1 of `entity_scores`.

    Example:

    >>> task = TokenClassification()
    >>> task.head(keras.Input((5, 8)), num_classes=3).shape
    (None, 5, 3)
    >>> logits = np.eye(3)[[[1, 2, 0, 0]]] * 5.0  # B-x I-x O, then a padded slot
    >>> scores = task.evaluate(np.array([[1, 2, 0, -1]]), logits, ["O", "B-x", "I-x"])
    >>> scores["f1"], scores["token_accuracy"]
    (1.0, 1.0)
    """

    name = "token_classification"
    headline_metric = "f1"
    logits_rank = 3
    report_columns = (("entity F1", "f1", 9, ".3f"), ("token acc.", "token_accuracy", 10, ".2%"))

    def check_labels(self, labels, num_classes, where):
        for number, sentence in enumerate(labels):
            sentence = np.asarray(sentence)
            if sentence.ndim != 1 or not np.issubdtype(sentence.dtype, np.integer):
                raise ValueError(
                    f"{where}: token classification takes integer tag ids per word; "
                    f"sentence {number} has labels of shape {sentence.shape} and "
                    f"dtype {sentence.dtype}."
                )
            bad = sentence[(sentence < NO_TAG) | (sentence >= num_classes)]
            if bad.size:
                raise ValueError(
                    f"{where}: sentence {number} has tag id {int(bad[0])}, outside "
                    f"[0, {num_classes}) ({num_classes} tags; {NO_TAG} for no tag)."
                )

    def head(self, features, num_classes, dropout=None):
        if len(features.shape) != 3:
            raise ValueError(
                "A token head takes one feature vector per word, (batch, words, "
                f"features); got shape {tuple(features.shape)}."
            )
        return dense_head(features, num_classes, dropout)

    def bert_model(self, backbone, preprocessor, num_classes, dropout, **kwargs):
        """A `BertTokenClassifier`; `preprocessor` gives its tokenizer and sequence
        length, or is the `FirstPiecePacker` itself."""
        if not isinstance(preprocessor, FirstPiecePacker):
            preprocessor = FirstPiecePacker(preprocessor.tokenizer, preprocessor.sequence_length)
        return BertTokenClassifier(
            backbone, num_classes, preprocessor=preprocessor, dropout=dropout, **kwargs
        )

    def evaluate(self, labels, logits, class_names):
        """`entity_scores` over the words with a tag (label >= 0), each sentence's
        entities read in word order. A word cut off has no label and is not scored."""
        predicted = np.argmax(logits, axis=-1)
        gold_tags, predicted_tags = [], []
        for sentence_labels, sentence_predicted in zip(labels, predicted):
            sentence_labels = np.asarray(sentence_labels)
            tagged = sentence_labels >= 0
            gold_tags.append([class_names[i] for i in sentence_labels[tagged]])
            predicted_tags.append(
                [class_names[i] for i in sentence_predicted[: len(sentence_labels)][tagged]]
            )
        return entity_scores(gold_tags, predicted_tags)

    def serving_outputs(self, logits, class_names):
        """Per word slot: `probabilities` `(batch, words, tags)`, `tag_ids`, `tags`
        (names) and `tag_probabilities` (of the chosen tag). Slots past a sentence's
        words are padding; the signature that knows the words drops them."""
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        tag_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {
            "probabilities": probabilities,
            "tag_ids": tag_ids,
            "tags": tf.gather(class_names, tag_ids),
            "tag_probabilities": tf.reduce_max(probabilities, axis=-1),
        }


def entity_spans(tags):
    """The entities of one tag sequence, `(type, start, stop)` with `stop` exclusive.

    Read with conlleval's rules (see the module docstring).

    Raises:
        ValueError: for a tag other than `O`, `B-<type>` or `I-<type>`.

    Example:

    >>> entity_spans(["I-person", "I-person", "O", "B-geo-loc", "I-company"])
    [('person', 0, 2), ('geo-loc', 3, 4), ('company', 4, 5)]
    """
    spans = []
    for position, tag in enumerate(to_iob2(tags)):
        if tag.startswith("B-"):
            spans.append((tag[2:], position, position + 1))
        elif tag.startswith("I-"):
            # In IOB2 an I- tag continues the entity just before it.
            entity_type, start, _ = spans[-1]
            spans[-1] = (entity_type, start, position + 1)
    return spans


def entity_scores(gold_tags, predicted_tags):
    """Entity-level and token-level scores of predicted tags against gold ones.

    Args:
        gold_tags: one sequence of tag strings per sentence (IOB2 or IOB1).
        predicted_tags: the predicted tags, in the same shape; invalid IOB2 is
            read with conlleval's rules.

    Returns:
        A JSON-serialisable dict: `precision`, `recall`, `f1` (micro-averaged
        over entities), `support` (the number of gold entities),
        `token_accuracy`, and `per_type`: for each entity type found in either,
        sorted, `{"precision", "recall", "f1", "support"}`.

    Raises:
        ValueError: when the numbers of sentences or of a sentence's tags differ,
            or for a malformed tag, naming the sentence.
    """
    if len(gold_tags) != len(predicted_tags):
        raise ValueError(
            f"{len(gold_tags)} gold sentences but {len(predicted_tags)} predicted ones."
        )
    gold_counts, predicted_counts, correct_counts = (collections.Counter() for _ in range(3))
    num_tokens = num_correct_tokens = 0
    for number, (gold, predicted) in enumerate(zip(gold_tags, predicted_tags)):
        if len(gold) != len(predicted):
            raise ValueError(
                f"Sentence {number} has {len(gold)} gold tags but {len(predicted)} predicted ones."
            )
        gold_entities = set(_spans_of(gold, number, "gold"))
        predicted_entities = set(_spans_of(predicted, number, "predicted"))
        gold_counts.update(entity_type for entity_type, _, _ in gold_entities)
        predicted_counts.update(entity_type for entity_type, _, _ in predicted_entities)
        found = gold_entities & predicted_entities
        correct_counts.update(entity_type for entity_type, _, _ in found)
        num_tokens += len(gold)
        num_correct_tokens += sum(g == p for g, p in zip(gold, predicted))
    scores = _scores(
        sum(correct_counts.values()), sum(predicted_counts.values()), sum(gold_counts.values())
    )
    scores["token_accuracy"] = num_correct_tokens / num_tokens if num_tokens else 0.0
    scores["per_type"] = {
        entity_type: _scores(
            correct_counts[entity_type], predicted_counts[entity_type], gold_counts[entity_type]
        )
        for entity_type in sorted(set(gold_counts) | set(predicted_counts))
    }
    return scores


def _spans_of(tags, number, which):
    """`entity_spans(tags)`, with the sentence named in the error of a malformed tag."""
    try:
        return entity_spans(tags)
    except ValueError as error:
        raise ValueError(f"Sentence {number} of the {which} tags: {error}") from None


def _scores(num_correct, num_predicted, num_gold):
    """Precision, recall and F1 from counts, each 0 when its denominator is."""
    return {
        "precision": num_correct / num_predicted if num_predicted else 0.0,
        "recall": num_correct / num_gold if num_gold else 0.0,
        # 2PR/(P+R) written with counts: exact, and 0 when nothing was found.
        "f1": 2 * num_correct / (num_predicted + num_gold) if num_predicted + num_gold else 0.0,
        "support": num_gold,
    }
