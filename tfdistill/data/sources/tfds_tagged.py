"""TensorFlow Datasets tagging sources: `"tfds_ner:<name>"`, e.g. `"tfds_ner:conll2003"`.

The builder is downloaded and prepared on first use, as for `"tfds:"` sources
(`tfdistill.data.sources.tfds`, whose split mapping it shares: a builder without a
"validation" split gets `train[90%:]`). The words are the builder's one
`Sequence(Text)` feature (or the one named `tokens`); the tags its
`Sequence(ClassLabel)` feature named `ner`, `ner_tags` or `tags`, else its only one.
Tag names must be `O`, `B-<type>` or `I-<type>`; IOB1 is read as IOB2
(`conll.to_iob2`). The tag names are the builder's, in `conll.tag_vocabulary` order,
so every split maps a tag to the same id. Sentences come in the builder's file order.
"""

import numpy as np

from tfdistill.data.conll import TaggedSentences
from tfdistill.data.conll import tag_vocabulary
from tfdistill.data.conll import to_iob2
from tfdistill.data.sources import register_source
from tfdistill.data.sources.tfds import prepared_builder
from tfdistill.data.sources.tfds import tfds_split

# The names a builder's tag feature goes by, in order of preference.
_TAG_FEATURES = ("ner", "ner_tags", "tags")


@register_source("tfds_ner:", match="prefix", task="token_classification")
def load_tfds_tagged(name, split):
    """One split of a TFDS entity-tagging dataset, a tagging source loader.

    Args:
        name: the TFDS name after `"tfds_ner:"`, e.g. `"conll2003"`.
        split: a split of the builder, or "train"/"validation" as for `"tfds:"`.

    Returns:
        `(sentences, tag_names)`: the split's `TaggedSentences` and the tag names.

    Raises:
        ValueError: for a name TFDS does not have, features it cannot tell apart,
            a tag name that is not BIO, or a sentence whose words and tags differ
            in number.

    Example (offline, with TFDS's mock data made to look like CoNLL-2003):

    >>> import tensorflow as tf
    >>> import tensorflow_datasets as tfds
    >>> def as_dataset(self, *args, **kwargs):
    ...     return tf.data.Dataset.from_tensors(
    ...         {"tokens": ["EU", "rejects", "German", "call"], "pos": [0, 1, 2, 3],
    ...          "chunks": [0, 0, 0, 0], "ner": [3, 0, 7, 0]})
    >>> with tfds.testing.mock_data(as_dataset_fn=as_dataset):
    ...     sentences, tag_names = load_tfds_tagged("conll2003", "test")
    >>> sentences.words, sentences.tags
    ((('EU', 'rejects', 'German', 'call'),), (('B-ORG', 'O', 'B-MISC', 'O'),))
    >>> tag_names[:3]
    ('O', 'B-LOC', 'B-MISC')
    """
    import tensorflow_datasets as tfds  # Slow to import; only TFDS sources need it.

    builder = prepared_builder(tfds, name)
    features = builder.info.features
    words_key = _pick(name, features, ("tokens",), "Sequence(Text)", _is_sequence_of(tfds, tfds.features.Text))
    tags_key = _pick(
        name, features, _TAG_FEATURES, "Sequence(ClassLabel)",
        _is_sequence_of(tfds, tfds.features.ClassLabel),
    )
    names = features[tags_key].feature.names
    dataset = builder.as_dataset(split=tfds_split(split, builder.info.splits), shuffle_files=False)
    words, tags = [], []
    for number, example in enumerate(dataset.as_numpy_iterator()):
        sentence_words = [word.decode("utf-8") for word in example[words_key]]
        sentence_tags = [names[int(i)] for i in np.asarray(example[tags_key])]
        if len(sentence_words) != len(sentence_tags):
            raise ValueError(
                f"tfds_ner:{name}/{split}: sentence {number} has {len(sentence_words)} "
                f"words but {len(sentence_tags)} tags."
            )
        words.append(sentence_words)
        tags.append(to_iob2(sentence_tags))
    return TaggedSentences(words, tags), tag_vocabulary([_bio_names(name, names)])


def _is_sequence_of(tfds, feature_type):
    def check(feature):
        return isinstance(feature, tfds.features.Sequence) and isinstance(feature.feature, feature_type)

    return check


def _pick(dataset_name, features, names, kind, check):
    """The key of the first of `names` whose feature passes `check` (is of `kind`),
    else of the only feature that does."""
    named = [key for key in names if key in features and check(features[key])]
    if named:
        return named[0]
    candidates = [key for key, feature in features.items() if check(feature)]
    if len(candidates) != 1:
        raise ValueError(
            f"TFDS dataset {dataset_name!r} has {len(candidates)} {kind} features "
            f"{candidates} and none named {' or '.join(names)}, so it cannot be read "
            f"as tagged sentences; its features: {list(features)}."
        )
    return candidates[0]


def _bio_names(dataset_name, names):
    """`names`, checked to be BIO tag names."""
    bad = [tag for tag in names if tag != "O" and not tag.startswith(("B-", "I-"))]
    if bad:
        raise ValueError(
            f"TFDS dataset {dataset_name!r} has tag names that are not O, B-<type> or "
            f"I-<type>: {bad[:5]}."
        )
    return list(names)
