"""Token classification (entity tagging): `TokenClassification` and its scores.

`TokenClassification` is the task: one tag per word, per-word logits, entity scores.
It is registered in `tfdistill.tasks.TASKS` as `"token_classification"`.

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

from tfdistill import data
from tfdistill import losses
from tfdistill.data.conll import to_iob2
from tfdistill.data.tagging import NO_TAG
from tfdistill.data.tagging import FirstPiecePacker
from tfdistill.models.bert_tagger import BertTokenClassifier
from tfdistill.tasks import register_task
from tfdistill.tasks.base import Task
from tfdistill.tasks.base import check_ids
from tfdistill.tasks.base import dense_head


@register_task("token_classification")
class TokenClassification(Task):
    """One tag per word (entity tagging).

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
    student_slots_are_words = True
    report_columns = (("entity F1", "f1", 10, ".3f"), ("token acc.", "token_accuracy", 11, ".2%"))
    # A source's tag set names B- and I- of every type; a rare I- tag may be absent.
    every_class_in_train = False
    # Not yet for tagging: ensembles of taggers and extra test sets are untested, and
    # unlabelled transfer texts would need the teacher's tags per word.
    fixed_config = {
        "teacher.ensemble_seeds": [],
        "data.extra_test": [],
        "distillation.transfer_texts": [],
        # Negation changes a sentence's words, and with them the tags to give.
        "distillation.augment.negations": 0,
    }

    def check_labels(self, labels, num_classes, where):
        for number, sentence in enumerate(labels):
            check_ids(
                sentence, 1, NO_TAG, num_classes,
                lambda sentence: (
                    f"{where}: token classification takes integer tag ids per word; "
                    f"sentence {number} has labels of shape {sentence.shape} and "
                    f"dtype {sentence.dtype}."
                ),
                lambda bad: (
                    f"{where}: sentence {number} has tag id {bad}, outside "
                    f"[0, {num_classes}) ({num_classes} tags; {NO_TAG} for no tag)."
                ),
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
        length, or is the `FirstPiecePacker` itself, or is None (a student whose
        packer travels beside it). A keras-hub `compile` argument is dropped: the
        tagger is compiled by what trains it."""
        if preprocessor is not None and not isinstance(preprocessor, FirstPiecePacker):
            preprocessor = FirstPiecePacker(preprocessor.tokenizer, preprocessor.sequence_length)
        kwargs.pop("compile", None)
        return BertTokenClassifier(
            backbone, num_classes, preprocessor=preprocessor, dropout=dropout, **kwargs
        )

    def bert_student_preprocessor(self, teacher_preprocessor, sequence_length):
        """A `FirstPiecePacker` on the teacher's tokenizer and piece length, with
        `sequence_length` word slots (a tagging run's `student.sequence_length`)."""
        return FirstPiecePacker(
            teacher_preprocessor.tokenizer, teacher_preprocessor.sequence_length, sequence_length
        )

    def evaluate(self, labels, logits, class_names):
        """`entity_scores` over the words with a tag (label >= 0), each sentence's
        entities read in word order. A word with a label but past the logits' word
        slots (cut off by the model) counts as tagged `O`."""
        predicted = np.argmax(logits, axis=-1)
        outside = list(class_names).index("O")
        gold_tags, predicted_tags = [], []
        for sentence_labels, sentence_predicted in zip(labels, predicted):
            sentence_labels = np.asarray(sentence_labels)
            tagged = sentence_labels >= 0
            sentence_predicted = sentence_predicted[: len(sentence_labels)]
            sentence_predicted = np.pad(
                sentence_predicted, (0, len(sentence_labels) - len(sentence_predicted)),
                constant_values=outside,
            )
            gold_tags.append([class_names[i] for i in sentence_labels[tagged]])
            predicted_tags.append([class_names[i] for i in sentence_predicted[tagged]])
        return entity_scores(gold_tags, predicted_tags)

    def serving_outputs(self, logits, class_names, texts):
        """Per word slot: `probabilities` `(batch, words, tags)`, `tag_ids`, `tags`
        (names) and `tag_probabilities` (of the chosen tag); slots past a text's
        words hold its padding. Per text, the entities its words' tags spell
        (`entity_span_tensors`): `num_entities`, and `entity_types`,
        `entity_starts` and `entity_ends` (word indices, the end exclusive), padded
        with `""` and -1."""
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        tag_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        num_words = tf.cast(self.serving_inputs(texts).row_lengths(), tf.int32)
        return {
            "probabilities": probabilities,
            "tag_ids": tag_ids,
            "tags": tf.gather(class_names, tag_ids),
            "tag_probabilities": tf.reduce_max(probabilities, axis=-1),
            **entity_span_tensors(tag_ids, class_names, num_words),
        }

    def read_examples(self, source, split, data_options):
        """The sentences of `source` as texts of words joined by single spaces (what
        the exported model takes), labels `(sentences, longest)` padded with
        `NO_TAG`. Tagging sources take none of `data_options`."""
        sentences, info = data.load_tagged(source, split)
        for number, words in enumerate(sentences.words):
            spaced = [word for word in words if not word or "".join(word.split()) != word]
            if spaced:
                raise ValueError(
                    f"{source}/{split}: sentence {number} has the word {spaced[0]!r}, "
                    "empty or holding whitespace; a run splits texts into words on whitespace."
                )
        ids = data.tag_ids(sentences.tags, info.tag_names)
        labels = np.full((len(ids), max(map(len, ids), default=0)), NO_TAG, np.int32)
        for row, sentence in enumerate(ids):
            labels[row, : len(sentence)] = sentence
        return [" ".join(words) for words in sentences.words], labels, list(info.tag_names)

    def encode(self, texts, labels, preprocessor, **options):
        """`encode_tagged` batches with sample weights, 1 for each word with a tag
        (so `weighted_metrics` score words, not padding)."""
        options.pop("trim_padding", None)  # The word axis has fixed slots.
        batches = data.encode_tagged(_words(texts), labels, preprocessor, **options)
        return batches.map(lambda x, y: (x, y, tf.cast(y >= 0, "float32")))

    def encode_for_distillation(
        self, texts, labels, *, student_preprocessor, teacher_preprocessor, teacher_logits=None,
        **options
    ):
        options.pop("trim_padding", None)
        words = _words(texts)
        teacher = {"teacher_preprocessor": teacher_preprocessor}
        if teacher_logits is not None:
            # The teacher's word slots are a property of its packer, not of its
            # weights, so cached logits need no cached mask.
            mask = data.word_mask(teacher_preprocessor, words)
            teacher = {"teacher_logits": teacher_logits, "teacher_word_mask": mask}
        return data.encode_tagged_for_distillation(
            words, labels, student_preprocessor=student_preprocessor, **teacher, **options
        )

    def agreement(self, predicted, reference, labels):
        """The share of tagged words (label >= 0, within both models' word slots)
        given the same tag."""
        slots = min(predicted.shape[1], reference.shape[1], np.shape(labels)[1])
        words = np.asarray(labels)[:, :slots] >= 0
        return float(np.mean(predicted[:, :slots][words] == reference[:, :slots][words]))

    def augment(self, texts, labels, class_names, options):
        """Augmented sentences, each word labelled `UNTAGGED_WORD` for the teacher to
        tag. Replacements keep the replaced word's case (the character features read
        it); with `keep_entities`, only `O`-tagged words change."""
        options = dict(options)
        keep = None
        if options.pop("keep_entities"):
            outside = list(class_names).index("O")
            keep = [row[: len(words)] != outside for row, words in zip(labels, _words(texts))]
        new_texts, copy_numbers = data.augment_texts(
            texts, keep=keep, match_case=True, return_copy_numbers=True, **options
        )
        lengths = [len(words) for words in _words(new_texts)]
        new_labels = np.full((len(new_texts), max(lengths, default=0)), NO_TAG, np.int32)
        for row, length in enumerate(lengths):
            new_labels[row, :length] = losses.UNTAGGED_WORD
        return new_texts, new_labels, copy_numbers

    def loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=NO_TAG)

    def word_vectorizer(self, train_texts, vocabulary_size, sequence_length, extra_words=(), **options):
        """A `WordLookup`; `options` (`characters`, `max_chars`) make it spell words."""
        return data.build_word_lookup(
            _words(train_texts), sequence_length, vocabulary_size, extra_words=extra_words, **options
        )

    def serving_inputs(self, texts):
        """Each text's words, split on whitespace."""
        return tf.strings.split(texts)

    def report_sections(self, summary):
        """Entity precision, recall and F1 per model, then F1 per entity type."""
        models = summary["models"]
        lines = ["## Entities (test, exact span and type)", ""]
        lines += ["| model | precision | recall | F1 | token accuracy |", "|---|---|---|---|---|"]
        lines += [
            f"| {name} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} "
            f"| {s['token_accuracy']:.2%} |"
            for name, s in models.items()
        ]
        types = sorted({entity for scores in models.values() for entity in scores["per_type"]})
        lines += ["", "## F1 per entity type (test)", ""]
        lines += ["| type | support | " + " | ".join(models) + " |", "|---" * (len(models) + 2) + "|"]
        for entity in types:
            row = [scores["per_type"].get(entity) for scores in models.values()]
            support = next(entry["support"] for entry in row if entry)
            cells = " | ".join(f"{entry['f1']:.3f}" if entry else "-" for entry in row)
            lines.append(f"| {entity} | {support} | {cells} |")
        return lines + [""]


def _words(texts):
    """The words of texts that `read_examples` made: split on single spaces."""
    return [text.split(" ") for text in texts]


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


def entity_span_tensors(tag_ids, class_names, num_words):
    """`entity_spans` of a batch in TensorFlow ops, for a serving signature.

    Args:
        tag_ids: int32 `(batch, slots)`.
        class_names: a constant `tf.string` tensor of the tag names (its value is
            read when the graph is traced).
        num_words: int32 `(batch,)`: each text's words; slots past them (and words
            past the slots) are read as `O`.

    Returns:
        `num_entities` `(batch,)`, and per entity, in word order and padded to
        `slots`: `entity_types` (`""`), `entity_starts` and `entity_ends` (-1).

    Example:

    >>> names = tf.constant(["O", "B-person", "I-person", "B-geo-loc", "I-company"])
    >>> spans = entity_span_tensors(tf.constant([[2, 2, 0, 3, 4, 1]]), names, tf.constant([5]))
    >>> spans["num_entities"].numpy().tolist(), spans["entity_types"].numpy()[0, :4].tolist()
    ([3], [b'person', b'geo-loc', b'company', b''])
    >>> spans["entity_starts"].numpy()[0, :4].tolist(), spans["entity_ends"].numpy()[0, :4].tolist()
    ([0, 3, 4, -1], [2, 4, 5, -1])
    """
    names = [name.decode("utf-8") for name in tf.get_static_value(class_names)]
    types = sorted({name[2:] for name in names if name != "O"})
    tag_type = tf.gather([types.index(name[2:]) if name != "O" else -1 for name in names], tag_ids)
    begins = tf.gather([name.startswith("B-") for name in names], tag_ids)
    batch, slots = tf.shape(tag_ids)[0], tf.shape(tag_ids)[1]
    positions = tf.range(slots)[None, :]
    tag_type = tf.where(positions < num_words[:, None], tag_type, -1)
    previous = tf.pad(tag_type[:, :-1], [[0, 0], [1, 0]], constant_values=-1)
    # conlleval: B- opens an entity, and so does I- after O or after another type.
    starts = (tag_type >= 0) & (begins | (previous != tag_type))
    entity = tf.cumsum(tf.cast(starts, tf.int32), axis=1) - 1
    # Each entity word goes to the segment of its row and entity; the rest to a bin.
    segments = tf.where(tag_type >= 0, tf.range(batch)[:, None] * slots + entity, batch * slots)

    def per_entity(values):
        found = tf.math.unsorted_segment_max(values, segments, batch * slots + 1)
        return tf.reshape(found[:-1], [batch, slots])

    num_entities = tf.reduce_sum(tf.cast(starts, tf.int32), axis=1)
    exists = positions < num_entities[:, None]
    first = per_entity(tf.where(starts, -positions, -slots) + tf.zeros_like(tag_ids))
    entity_starts = tf.where(exists, -first, -1)
    entity_ends = tf.where(exists, per_entity(positions + 1 + tf.zeros_like(tag_ids)), -1)
    type_ids = tf.gather(tag_type, tf.maximum(entity_starts, 0), batch_dims=1)
    # The last name, "", is every padding entry's.
    entity_types = tf.gather(tf.constant(types + [""]), tf.where(exists, type_ids, len(types)))
    return {
        "num_entities": num_entities,
        "entity_types": entity_types,
        "entity_starts": entity_starts,
        "entity_ends": entity_ends,
    }


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
