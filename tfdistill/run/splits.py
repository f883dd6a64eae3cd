"""A run's splits, loaded and checked before any training: texts are held in memory.

`prepare_splits` loads the train, validation and test splits a `DataConfig` names
and stops the run with a `DataError` naming the split or class when they cannot
train and evaluate a classifier:

- data a source cannot read (a missing file, a bad line, labels that are not class
  ids), and fewer than two classes;
- a class with no training example: with integer labels, ids `{1, 2}` make a class
  `"0"` that the model never sees. Allowed (with a warning) for the classes that
  `data.label_names` names, since the user declared them, and for a task whose
  classes the source fixes (`Task.every_class_in_train` False: a tag set);
- a training split whose examples are all of one class, and an empty split. The
  minimum is one example of every class in train (two classes at least), and one
  example each in validation and test.

Texts that are in train and also in validation or test (exact matches, after the
source's own stripping) are counted in one warning; `data.drop_overlap: true`
drops them from train.

`prepare_extra_tests` loads the `test` split of each `data.extra_test` source the
same way, and stops the run with a `DataError` naming the key when one cannot be
read (a missing wheel too), is empty, or has other classes than the run.

Example:

>>> from tfdistill import tasks
>>> from tfdistill.run.config import DataConfig
>>> splits, class_names = prepare_splits(
...     DataConfig(max_examples=8), tasks.get("text_classification"))
>>> [len(splits[role].texts) for role in SPLIT_ROLES], class_names
([8, 8, 8], ['negative', 'positive'])
>>> splits["train"].labels.dtype
dtype('int32')
"""

import dataclasses

import numpy as np
from absl import logging

from tfdistill import data


# The roles of a run's splits; `data.<role>_split` names each one in the source.
SPLIT_ROLES = ("train", "validation", "test")


class DataError(ValueError):
    """Data a run cannot use: the message names the file, the split or the class."""


@dataclasses.dataclass(frozen=True)
class Split:
    """The texts and labels of one split (or of a transfer set), as the run's task
    reads them (`Task.read_examples`); `Task.encode` batches them."""

    texts: list
    labels: np.ndarray


def load_split(data_config, split, task):
    """Loads `split` of the source a `DataConfig` names, cut to its `max_examples`.

    Returns:
        `(Split, class_names)`.
    """
    options = {
        "text_column": data_config.text_column,
        "label_column": data_config.label_column,
        "label_names": data_config.label_names,
    }
    texts, labels, class_names = task.read_examples(data_config.source, split, options)
    texts, labels = texts[: data_config.max_examples], labels[: data_config.max_examples]
    logging.info("%s/%s: %d examples", data_config.source, split, len(texts))
    return Split(texts, labels), class_names


def concatenate(*splits):
    """One split holding the texts and labels of `splits`, in order. Per-word labels
    `(texts, words)` are padded to the widest with -1 (no word)."""
    labels = [np.asarray(split.labels) for split in splits]
    if labels[0].ndim == 2:
        width = max(label.shape[1] for label in labels)
        labels = [np.pad(label, ((0, 0), (0, width - label.shape[1])), constant_values=-1) for label in labels]
    return Split([text for split in splits for text in split.texts], np.concatenate(labels))


def prepare_splits(data_config, task):
    """Loads and checks the three splits of a run; see the module docstring.

    Args:
        data_config: the run's `DataConfig`.
        task: the run's `tfdistill.tasks.Task`, whose label contract each split
            must meet.

    Returns:
        `(splits, class_names)`: `{"train" | "validation" | "test": Split}`, with
        overlapping texts dropped from train if `data_config.drop_overlap`, and
        the class names, indexed by label id.

    Raises:
        DataError: see the module docstring.
    """
    splits, class_names = {}, None
    for role in SPLIT_ROLES:
        splits[role], class_names = _load_checked(data_config, role, task)
    if len(class_names) < 2:
        raise DataError(
            f"data: {data_config.source} has {len(class_names)} class(es) "
            f"{list(class_names)}; a classifier needs at least two."
        )
    splits["train"] = _handle_overlap(data_config, splits)
    for role in SPLIT_ROLES:
        if not splits[role].texts:
            raise DataError(
                f"data: the {_describe(data_config, role)} has no examples; every "
                "split needs at least one."
            )
    _check_training_classes(data_config, splits["train"].labels, class_names, task)
    return splits, list(class_names)


def prepare_extra_tests(data_config, task, class_names):
    """Loads and checks the `test` split of each `data.extra_test` source.

    Each is read with the run's `text_column`, `label_column` and `max_examples`;
    a source that takes `label_names` (a local file) gets the run's class names, so
    that its named labels get the run's ids and its integer ones are checked.

    Args:
        data_config: the run's `DataConfig`.
        task: the run's `tfdistill.tasks.Task`.
        class_names: the run's class names, from `prepare_splits`.

    Returns:
        `{source: Split}`, in the order of `data.extra_test`.

    Raises:
        DataError: naming `data.extra_test[<index>]`, for a set that cannot be
            read, has no examples, or has other classes (or another order).
    """
    extra_tests = {}
    for index, source in enumerate(data_config.extra_test):
        try:
            split, names = _load_checked(_extra_config(data_config, source, class_names), "test", task)
            if list(names) != list(class_names):
                raise DataError(
                    f"its classes {list(names)} are not this run's {list(class_names)}; an "
                    "extra test set needs the run's classes, in the same order."
                )
            if not split.texts:
                raise DataError("its test split has no examples.")
        # A DataError is a ValueError, and so is a source that no registered name serves.
        except ValueError as error:
            raise DataError(f"data.extra_test[{index}] ({source}): {error}") from error
        extra_tests[source] = split
    return extra_tests


def _extra_config(data_config, source, class_names):
    """The `DataConfig` that reads the `test` split of the extra test set `source`."""
    registered, _ = data.sources.resolve(source)
    takes_names = "label_names" in data.SOURCES.attributes(registered).get("options", ())
    return dataclasses.replace(
        data_config,
        source=source,
        test_split="test",
        label_names=list(class_names) if takes_names else None,
    )


def _describe(data_config, role):
    """A split as a message names it, e.g. `train split (rotten_tomatoes, 'train')`."""
    split_name = getattr(data_config, f"{role}_split")
    return f"{role} split ({data_config.source}, {split_name!r})"


def _load_checked(data_config, role, task):
    """`(Split, class_names)` of one role; any reading or label error is a DataError.

    Only the loading is wrapped: a `ValueError` there is bad data by the sources'
    contract, while one raised later in the run is a bug and keeps its traceback.
    """
    split_name = getattr(data_config, f"{role}_split")
    try:
        split, class_names = load_split(data_config, split_name, task)
        task.check_labels(split.labels, len(class_names), f"{data_config.source}/{split_name}")
    # A missing data wheel is the user's to install, like a missing file.
    except (ValueError, OSError, ModuleNotFoundError) as error:
        raise DataError(str(error)) from error
    return split, class_names


def _handle_overlap(data_config, splits):
    """The training split, without the texts of validation and test if asked to.

    Either way, one warning counts the training texts found in the other splits.
    """
    train = splits["train"]
    found_in = {role: set(splits[role].texts) for role in SPLIT_ROLES[1:]}
    counts = {
        role: sum(text in texts for text in train.texts) for role, texts in found_in.items()
    }
    if not any(counts.values()):
        return train
    shared = ", ".join(f"{counts[role]} in {role}" for role in found_in)
    keep = [not any(text in texts for texts in found_in.values()) for text in train.texts]
    if not data_config.drop_overlap:
        logging.warning(
            "data: %d training texts also appear in another split (%s); set "
            "data.drop_overlap: true to drop them from train.",
            len(keep) - sum(keep), shared,
        )
        return train
    logging.warning(
        "data: dropped %d training texts that also appear in another split (%s).",
        len(keep) - sum(keep), shared,
    )
    return Split([text for text, kept in zip(train.texts, keep) if kept], train.labels[keep])


def _check_training_classes(data_config, train_labels, class_names, task):
    """Raises unless the training split has two classes and an example of each
    class that `data.label_names` does not declare (or, for a task whose sources
    fix the classes, such as a tag set, only warns)."""
    counts = np.bincount(train_labels[train_labels >= 0].ravel(), minlength=len(class_names))
    where = _describe(data_config, "train")
    if np.count_nonzero(counts) < 2:
        raise DataError(
            f"data: every example of the {where} has the same class; a classifier "
            "needs examples of at least two."
        )
    unseen = [int(i) for i in np.flatnonzero(counts == 0)]
    if not unseen:
        return
    names = [class_names[i] for i in unseen]
    if data_config.label_names is not None or not task.every_class_in_train:
        declared = " of data.label_names" if data_config.label_names is not None else ""
        logging.warning("data: classes %s%s have no example in the %s.", names, declared, where)
        return
    if list(class_names) == [str(i) for i in range(len(class_names))]:
        hint = (
            "Integer labels are class ids from 0, so ids {1, 2} make a class '0': "
            "renumber the labels from 0, or name every class in data.label_names"
        )
    else:
        hint = "Add training examples of them, or (local files) name every class in data.label_names"
    raise DataError(
        f"data: classes {names} (label ids {unseen}) have no example in the {where}. "
        f"{hint} to keep a class without training examples."
    )
