"""A run's splits, held in memory: texts are needed for vocabularies and cache keys.

Example:

>>> from tfdistill.run.config import DataConfig
>>> split, info = load_split(DataConfig(max_examples=8), "validation")
>>> len(split.texts), split.labels.dtype, info.class_names
(8, dtype('int32'), ('negative', 'positive'))
"""

import dataclasses

import numpy as np
import tensorflow as tf
from absl import logging

from tfdistill import data


@dataclasses.dataclass(frozen=True)
class Split:
    """The texts and labels of one split (or of a transfer set)."""

    texts: list
    labels: np.ndarray

    def dataset(self):
        """`(text, label)` pairs as a `tf.data.Dataset`."""
        return tf.data.Dataset.from_tensor_slices((self.texts, self.labels))


def load_split(data_config, split):
    """Loads `split` of the source a `DataConfig` names, cut to its `max_examples`.

    Returns:
        `(Split, tfdistill.data.SourceInfo)`.
    """
    dataset, info = data.load(
        data_config.source,
        split,
        text_column=data_config.text_column,
        label_column=data_config.label_column,
        label_names=data_config.label_names,
    )
    if data_config.max_examples is not None:
        dataset = dataset.take(data_config.max_examples)
    texts, labels = [], []
    for text, label in dataset.as_numpy_iterator():
        texts.append(text.decode("utf-8"))
        labels.append(label)
    logging.info("%s/%s: %d examples", data_config.source, split, len(texts))
    return Split(texts, np.asarray(labels, dtype=np.int32)), info


def concatenate(*splits):
    """One split holding the texts and labels of `splits`, in order."""
    return Split(
        [text for split in splits for text in split.texts],
        np.concatenate([split.labels for split in splits]),
    )
