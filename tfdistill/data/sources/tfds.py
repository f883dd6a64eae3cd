"""TensorFlow Datasets sources: `"tfds:<name>"`, e.g. `"tfds:imdb_reviews"`.

A TFDS builder is downloaded and prepared on first use, so it needs the network
once. The text and label features are found from the builder's features; class
names are its `ClassLabel` names. The split is read into memory, and a split without
labels (glue/sst2 "test", all -1) is an error. Builders without a "validation" split
(imdb_reviews) get one carved out of their training split: "train" reads
`train[:90%]` and "validation" reads `train[90%:]` (TFDS slicing, deterministic). Any
other TFDS split string, such as `"train[:1000]"`, is passed through unchanged.
Examples come in the builder's file order.
"""

import numpy as np

from tfdistill.data.sources import register_source
from tfdistill.registry import did_you_mean


@register_source("tfds:", match="prefix", options=("text_column", "label_column"))
def load_tfds(name, split, *, text_column, label_column):
    """One split of a TFDS text-classification dataset, a source loader.

    Args:
        name: the TFDS name after `"tfds:"`, e.g. `"glue/sst2"`.
        split: a split of the builder, or "train"/"validation" as described above.
        text_column: the text feature; a builder with a single `Text` feature
            uses it whatever this says (glue/sst2 calls it "sentence").
        label_column: the label feature; the single `ClassLabel` feature is
            used if there is no feature of this name.

    Returns:
        `(texts, labels, class_names)`: a list of `bytes` texts, int32 labels
        and the `ClassLabel` names.

    Raises:
        ValueError: for a name TFDS does not have, a split without labels, or
            ambiguous features.

    Example (offline, with TFDS's mock data):

    >>> import tensorflow_datasets as tfds
    >>> with tfds.testing.mock_data(num_examples=3):
    ...     texts, labels, class_names = load_tfds(
    ...         "imdb_reviews", "test", text_column="text", label_column="label"
    ...     )
    >>> len(texts), labels.dtype, class_names
    (3, dtype('int32'), ('neg', 'pos'))
    """
    # Imported here: tensorflow_datasets takes seconds to import and only
    # TFDS sources need it.
    import tensorflow_datasets as tfds

    builder = prepared_builder(tfds, name)
    features = builder.info.features
    text_key = _pick_feature(name, features, text_column, tfds.features.Text)
    label_key = _pick_feature(name, features, label_column, tfds.features.ClassLabel)
    dataset = builder.as_dataset(
        split=tfds_split(split, builder.info.splits), shuffle_files=False
    )
    # Read into memory once: it gives exact label counts, lets us check every
    # label, and text-classification sets are small (imdb train is 33 MB).
    texts, labels = [], []
    pairs = dataset.map(lambda example: (example[text_key], example[label_key]))
    for text_batch, label_batch in pairs.batch(4096).as_numpy_iterator():
        texts.extend(text_batch)
        labels.append(label_batch)
    labels = np.concatenate(labels).astype(np.int32) if labels else np.array([], np.int32)
    num_unlabeled = int(np.sum(labels < 0))
    if num_unlabeled:
        raise ValueError(
            f"Split {split!r} of TFDS dataset {name!r} has no labels "
            f"({num_unlabeled} of {len(labels)} examples have label -1): it "
            "cannot be used for training or evaluation. Use 'validation' to "
            "evaluate instead."
        )
    return texts, labels, tuple(features[label_key].names)


def prepared_builder(tfds, name):
    """The TFDS builder of `name`, downloaded and prepared; a ValueError if unknown."""
    try:
        builder = tfds.builder(name)
    except tfds.core.DatasetNotFoundError as error:
        # Its message goes on to list every TFDS dataset ("\t- imdb_reviews"), hundreds
        # of lines: one line here, with the closest of them.
        first, *listed = str(error).splitlines()
        known = [line.strip()[2:] for line in listed if line.strip().startswith("- ")]
        hint = did_you_mean(name.split("/")[0].split(":")[0], known)
        raise ValueError(
            f"{first.rstrip('.')}{hint}. TFDS's datasets: "
            "https://www.tensorflow.org/datasets/catalog/overview"
        ) from None
    builder.download_and_prepare()
    return builder


def _pick_feature(dataset_name, features, wanted, feature_type):
    if wanted in features and isinstance(features[wanted], feature_type):
        return wanted
    candidates = [k for k, f in features.items() if isinstance(f, feature_type)]
    if len(candidates) != 1:
        raise ValueError(
            f"TFDS dataset {dataset_name!r} has no {feature_type.__name__} "
            f"feature named {wanted!r} and {len(candidates)} other "
            f"{feature_type.__name__} features {candidates}; pass the one to "
            f"use. Features: {list(features)}."
        )
    return candidates[0]


def tfds_split(split, available_splits):
    """Maps our split names onto the builder's, carving out a validation split
    for builders that have none. Split names are only known once prepared."""
    if (
        split in ("train", "validation")
        and "train" in available_splits
        and "validation" not in available_splits
    ):
        return {"train": "train[:90%]", "validation": "train[90%:]"}[split]
    return split
