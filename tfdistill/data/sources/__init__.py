"""Raw text-classification examples: `load(source, split)` -> `(text, label)` tf.data.

Every source is a loader in the `SOURCES` registry, found from the string a config
names in `data.source`, in this order:

* an exact name: `"rotten_tomatoes"`, the offline default (`rotten_tomatoes.py`);
* a prefix: `"tfds:<name>"`, e.g. `"tfds:glue/sst2"` (`tfds.py`);
* a file extension: a path ending in `.csv`, `.tsv` or `.jsonl`, which may contain
  `{split}` (`local.py`).

A loader is `loader(name, split, **options) -> (texts, labels, class_names)`. `name`
is the source less its prefix (a file's path; an exact name itself); `options` are
those of `load`'s `text_column`, `label_column` and `label_names` that the source was
registered to read. It returns the split's texts (`str` or `bytes`), their integer
label ids and the class names in id order; `load` makes the tf.data and `SourceInfo`.
Examples come in a deterministic order: file order for `{split}` files and TFDS,
hash order (labels interleaved, so `take(n)` is a fair sample) for the hash splits
of `splits.py`.

A new source is one call (or one new module here that makes it, plus its import at
the end of this file); a config can then name it:

>>> @register_source("tiny_reviews")
... def load_tiny_reviews(name, split):
...     texts = {"train": ["a fine film", "a dull film", "superb"], "test": ["meh"]}
...     return texts[split], [1, 0, 1][: len(texts[split])], ("negative", "positive")
>>> dataset, info = load("tiny_reviews", "train")
>>> info.num_examples, info.label_counts
(3, (1, 2))
>>> SOURCES.unregister("tiny_reviews")
"""

import dataclasses
import os

import numpy as np
import tensorflow as tf

from tfdistill.registry import Registry

SOURCES = Registry("data source")

# How a registered name matches a source string; matches are tried in this order.
MATCHES = ("name", "prefix", "extension")
# The keyword options of `load` that a source may be registered to read.
OPTIONS = ("text_column", "label_column", "label_names")


def register_source(name, loader=None, *, match="name", options=(), override=False):
    """Registers a source loader; without `loader`, returns a decorator.

    Args:
        name: what a config's `data.source` says: the whole string
            (`match="name"`), its start (`match="prefix"`, e.g. `"tfds:"`) or
            its end (`match="extension"`, e.g. `".csv"`).
        loader: `loader(name, split, **options) -> (texts, labels, class_names)`,
            see the module docstring.
        match: one of `MATCHES`.
        options: which of `OPTIONS` the loader takes as keyword arguments; `load`
            passes only these, and rejects `label_names` for other sources.
        override: replace a source registered under the same name.

    Raises:
        ValueError: for an unknown `match` or option, or a name that is taken.
    """
    if match not in MATCHES:
        raise ValueError(f"match must be one of {list(MATCHES)}, got {match!r}.")
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(
            f"Unknown source options {unknown}; expected some of {list(OPTIONS)}."
        )
    return SOURCES.register(
        name, loader, override=override, match=match, options=tuple(options)
    )


@dataclasses.dataclass(frozen=True)
class SourceInfo:
    """What `load` read.

    Attributes:
        name: The source as given to `load` (`"rotten_tomatoes"`,
            `"tfds:glue/sst2"`, a file path).
        split: The split as given to `load`.
        class_names: Class names; the index of a name is its label id.
        num_examples: Number of examples in the split.
        label_counts: Number of examples of each label id.

    Example:

    >>> _, info = load("rotten_tomatoes", "validation")
    >>> info.class_names, info.num_examples, info.label_counts
    (('negative', 'positive'), 1275, (538, 737))
    """

    name: str
    split: str
    class_names: tuple[str, ...]
    num_examples: int
    label_counts: tuple[int, ...]


def load(
    source,
    split="train",
    *,
    text_column="text",
    label_column="label",
    label_names=None,
):
    """Loads one split of a text-classification source.

    Args:
        source: a registered source (see `resolve`): `"rotten_tomatoes"`,
            `"tfds:<name>"`, or the path (a string or `os.PathLike`) of a `.csv`,
            `.tsv` or `.jsonl` file, which may contain `{split}`.
        split: `"train"`, `"validation"` or `"test"`; TFDS sources and
            `{split}` paths accept any split name they have.
        text_column: The text column (CSV/TSV header name, JSONL key, TFDS
            feature). For TFDS, a builder with a single text feature uses it
            whatever this says (glue/sst2 calls it "sentence"). Ignored by
            sources that do not read it, such as `"rotten_tomatoes"`.
        label_column: The label column, like `text_column`; for TFDS the single
            `ClassLabel` feature is used if there is no feature of this name.
        label_names: Local files only (and sources registered to read it):
            class names in label-id order, by which named labels are mapped
            and integer labels checked (see `local.load_local`).

    Returns:
        `(dataset, info)`: a `tf.data.Dataset` of `(text, label)` pairs, a
        `tf.string` scalar and a `tf.int32` scalar, and a `SourceInfo`.

    Raises:
        ValueError: for a source no registered name matches, `label_names` for
            a source that defines its own class names, or labels that are not
            class ids; and whatever the source raises.

    Example:

    >>> dataset, info = load("rotten_tomatoes", "test")
    >>> text, label = next(iter(dataset))
    >>> text.dtype, label.dtype, info.class_names
    (tf.string, tf.int32, ('negative', 'positive'))
    """
    source = os.fspath(source)
    registered, name = resolve(source)
    options = _options_read_by(
        registered,
        source,
        text_column=text_column,
        label_column=label_column,
        label_names=label_names,
    )
    texts, labels, class_names = SOURCES.get(registered)(name, split, **options)
    where = f"{source!r}, split {split!r}"
    labels = _class_ids(labels, len(texts), len(class_names), where)
    dataset = tf.data.Dataset.from_tensor_slices(
        (tf.constant(texts, dtype=tf.string), tf.constant(labels, tf.int32))
    )
    return dataset, _source_info(source, split, labels, class_names)


def resolve(source):
    """The registered source that serves `source`, and the `name` its loader gets.

    Exact names are tried first, then prefixes, then extensions, longest first.

    Raises:
        ValueError: naming every accepted form when nothing matches.

    Example:

    >>> resolve("tfds:glue/sst2"), resolve("data/{split}.csv")
    (('tfds:', 'glue/sst2'), ('.csv', 'data/{split}.csv'))
    >>> resolve("reviews.txt")
    Traceback (most recent call last):
    ...
    ValueError: Unknown source 'reviews.txt': expected 'rotten_tomatoes', 'tfds:<name>' \
or a path ending in .csv, .jsonl, .tsv.
    """
    by_match = {match: [] for match in MATCHES}
    for registered in SOURCES.names():
        by_match[SOURCES.attributes(registered).get("match", "name")].append(registered)
    if source in by_match["name"]:
        return source, source
    for prefix in sorted(by_match["prefix"], key=len, reverse=True):
        if source.startswith(prefix):
            return prefix, source[len(prefix) :]
    for extension in sorted(by_match["extension"], key=len, reverse=True):
        if source.endswith(extension):
            return extension, source
    accepted = [repr(name) for name in by_match["name"]]
    accepted += [f"'{prefix}<name>'" for prefix in by_match["prefix"]]
    if by_match["extension"]:
        accepted.append(f"a path ending in {', '.join(by_match['extension'])}")
    *others, last = accepted or ["a registered source (none is registered)"]
    expected = f"{', '.join(others)} or {last}" if others else last
    raise ValueError(f"Unknown source {source!r}: expected {expected}.")


def texts_of(dataset):
    """The texts of a raw `(text, label)` dataset, in order, as Python strings.

    What `build_vectorizer`, `sequence_length_from_data` and `fingerprint`
    take.

    Example:

    >>> dataset, _ = load("rotten_tomatoes", "validation")
    >>> len(texts_of(dataset))
    1275
    """
    return [text.decode("utf-8") for text, _ in dataset.as_numpy_iterator()]


def _source_info(source, split, labels, class_names):
    """What `load` read: `labels` are the split's int32 class ids."""
    return SourceInfo(
        name=source,
        split=split,
        class_names=tuple(class_names),
        num_examples=len(labels),
        label_counts=tuple(
            int(count) for count in np.bincount(labels, minlength=len(class_names))
        ),
    )


def _options_read_by(registered, source, **given):
    """Those of `given` (`load`'s options) that the loader of `registered` reads."""
    read_options = SOURCES.attributes(registered).get("options", ())
    if given["label_names"] is not None and "label_names" not in read_options:
        raise ValueError(
            "label_names is only for local files (and sources registered to read "
            f"it); {source!r} defines its own class names."
        )
    return {option: given[option] for option in read_options}


def _class_ids(labels, num_texts, num_classes, where):
    """A loader's labels as int32, checked to be one class id per text."""
    labels = np.asarray(labels)
    if labels.size == 0:
        labels = labels.astype(np.int32)
    if (
        labels.shape != (num_texts,)
        or not np.issubdtype(labels.dtype, np.integer)
        or np.any((labels < 0) | (labels >= num_classes))
    ):
        raise ValueError(
            f"Source {where}: a loader must return one label per text, each a class "
            f"id in [0, {num_classes}); got {num_texts} texts and labels of shape "
            f"{labels.shape}, dtype {labels.dtype}, values {np.unique(labels)[:10]}."
        )
    return labels.astype(np.int32, copy=False)


# Each source registers itself when its module is imported. The imports come last
# because the modules use `register_source`; a new source adds its module here.
from tfdistill.data.sources import local, rotten_tomatoes, tfds  # noqa: E402, F401
