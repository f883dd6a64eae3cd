"""Token classification (entity tagging): the scoring its task will use.

The task itself (heads, labels, serving outputs) is not registered yet; this module
holds its metrics, on tag strings, so that they are settled and tested first:

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

from tfdistill.data.conll import to_iob2


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
