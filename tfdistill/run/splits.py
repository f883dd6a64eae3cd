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

`prepare_transfer_texts` loads the `distillation.transfer_texts` sources, without
labels, less every text the run is scored on or trains on already.

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

    @classmethod
    def empty(cls):
        """A split of no texts: a run's transfer texts when it names no source."""
        return cls([], np.zeros(0, np.int32))


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


def prepare_transfer_texts(config, task, splits, extra_tests):
    """The texts of the `distillation.transfer_texts` sources, for the teacher to label.

    Each source's texts (`data.load_texts`; a labelled source's train split, read
    with the run's text and label columns) lose their copies of:

    - a text the run is scored on: of its validation or test split, or of a
      `data.extra_test` set. Trained on with the teacher's label, it would leak
      that split into training;
    - a training text, already in the transfer set with its gold label;
    - a text an earlier source (or this one) already gave.

    Texts are compared as `_comparable` makes them. Of what is left, each source
    keeps its first `distillation.max_transfer_texts` (null: all). One log line per
    source says what it gave, dropped and kept.

    Args:
        config: the run's `RunConfig`.
        task: the run's `tfdistill.tasks.Task`, which labels the texts as having
            no gold label.
        splits: the run's splits, from `prepare_splits`.
        extra_tests: the run's extra test sets, from `prepare_extra_tests`.

    Returns:
        A `Split` of the kept texts, in source order, with no gold labels; empty
        without transfer sources.

    Raises:
        DataError: naming `distillation.transfer_texts[<index>]`, for a source that
            cannot be read.
    """
    if not config.distillation.transfer_texts:
        return Split.empty()
    scored = [splits["validation"], splits["test"], *extra_tests.values()]
    seen = {
        "scored": {_comparable(text) for split in scored for text in split.texts},
        "training": {_comparable(text) for text in splits["train"].texts},
        "repeated": set(),
    }
    kept = []
    for index, source in enumerate(config.distillation.transfer_texts):
        key = f"distillation.transfer_texts[{index}]"
        try:
            texts = data.load_texts(
                source, text_column=config.data.text_column, label_column=config.data.label_column
            )
        except (ValueError, OSError, ModuleNotFoundError) as error:
            raise DataError(f"{key} ({source}): {error}") from error
        new, dropped = _new_texts(texts, seen, config.distillation.max_transfer_texts)
        logging.info(
            "%s (%s): %d texts; dropped %d of the validation, test or extra test texts, "
            "%d of the training texts and %d repeated; kept %d.",
            key, source, len(texts), dropped["scored"], dropped["training"],
            dropped["repeated"], len(new),
        )
        kept += new
    return Split(kept, task.no_gold_labels(kept))


def _new_texts(texts, seen, limit):
    """`(kept texts, {reason: count dropped})`: those of `texts` whose `_comparable`
    form is in none of `seen`'s sets (each a reason to drop), up to `limit` of them.

    Kept texts join `seen["repeated"]`, so later copies, in any source, are dropped.
    """
    kept, dropped = [], dict.fromkeys(seen, 0)
    for text in texts:
        form = _comparable(text)
        reason = next((reason for reason, forms in seen.items() if form in forms), None)
        if reason is not None:
            dropped[reason] += 1
        elif limit is None or len(kept) < limit:
            kept.append(text)
            seen["repeated"].add(form)
    return kept, dropped


def _comparable(text):
    """`text` as the leak check compares it: case-folded, with one space for each
    whitespace run and none at the ends. Sources clean their texts each in their own
    way (the snippets are stripped, the headlines' line breaks are spaces), and a
    text that differs from a test text only in case or spacing is still that text.

    >>> _comparable("  A  Gem,\\n truly ")
    'a gem, truly'
    """
    return " ".join(text.split()).casefold()


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
