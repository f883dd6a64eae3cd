"""Local file sources: a path ending in `.csv`, `.tsv` or `.jsonl`.

`.csv` has a header row and standard quoting, `.tsv` a header row, tabs and quotes
kept verbatim, `.jsonl` one JSON object per line. A `{split}` in the path is replaced
by the split name (`data/{split}.csv`), and rows stay in file order; a path without
it is one file that is de-duplicated and split 80/10/10 with the stable hash rule of
`splits`, in hash order. Texts are stripped; rows with an empty text are skipped
with a logged warning giving their count and lines. Labels are integer ids or names
(see `load_local`). Bad input raises a `FileNotFoundError` or `ValueError` naming
the file, the 1-based line and the column: a missing file or column, an empty file,
an empty or unknown label, named labels that differ only in case (`pos`, `Pos`), bytes that
are not UTF-8, integer and named labels mixed, and in
CSV files a quote that is never closed or a closing quote followed by more text
(`"great" film,1`; a quote inside an unquoted field, `a "great" film,1`, is kept as
text). A CSV or TSV field may hold up to `tables.MAX_FIELD_CHARS` characters (10
MiB); a longer one is an error naming its line (`tfdistill.data.tables`, which
`predict` reads tables with too).
"""

import json
import logging
import os
import re

import numpy as np

from tfdistill.data.sources import register_source
from tfdistill.data.sources.splits import deduplicate, split_indices
from tfdistill.data.tables import check_not_utf16
from tfdistill.data.tables import separator_hint
from tfdistill.data.tables import table_rows
from tfdistill.registry import did_you_mean
from tfdistill.registry import did_you_mean_path

logger = logging.getLogger(__name__)

_OPTIONS = ("text_column", "label_column", "label_names")
_INT_PATTERN = re.compile(r"^[+-]?\d+$")


@register_source(".csv", match="extension", options=_OPTIONS)
@register_source(".tsv", match="extension", options=_OPTIONS)
@register_source(".jsonl", match="extension", options=_OPTIONS)
def load_local(path, split, *, text_column, label_column, label_names):
    """One split of a local CSV, TSV or JSONL file, a source loader.

    Args:
        path: the file's path, which may contain `{split}`.
        split: `"train"`, `"validation"` or `"test"`; with `{split}`, any
            split that has a file.
        text_column: the text column (header name or JSON key).
        label_column: the label column, likewise.
        label_names: class names in label-id order, or None. Named labels are
            mapped by it (an unknown name is an error); integer labels are ids
            and are checked against it. Without it, named labels get ids in
            sorted name order and integer labels are used as they are. With a
            `{split}` path the names come from the train file, so every split
            maps names to the same ids.

    Returns:
        `(texts, labels, class_names)`: the texts, int32 label ids and the
        class names.

    Example:

    >>> folder = getfixture("tmp_path")
    >>> rows = "text,label\\ngreat film,pos\\ndull film,neg\\n"
    >>> _ = (folder / "train.csv").write_text(rows)
    >>> texts, labels, class_names = load_local(
    ...     str(folder / "{split}.csv"), "train",
    ...     text_column="text", label_column="label", label_names=None,
    ... )
    >>> texts, labels.tolist(), class_names
    (['great film', 'dull film'], [1, 0], ('neg', 'pos'))
    """
    split_files = "{split}" in path
    file_path = path.replace("{split}", split) if split_files else path
    texts, raw_labels, rows = _read_examples(file_path, text_column, label_column)
    if label_names is not None:
        class_names = tuple(label_names)
    else:
        # With {split} files the names come from the train file, so that every split
        # maps a name to the same id even if a split lacks a class.
        train_path = path.replace("{split}", "train")
        naming_labels = (
            raw_labels
            if train_path == file_path
            else _read_examples(train_path, text_column, label_column)[1]
        )
        class_names = _class_names(naming_labels, train_path)
    labels = _label_ids(raw_labels, rows, class_names, file_path, label_column)
    if not split_files:
        texts, labels = _deduplicated_split(path, texts, labels, split)
    return texts, labels, class_names


def _deduplicated_split(path, texts, labels, split):
    """`split` of a single file's examples, after dropping repeated texts."""
    texts, labels, num_repeats, num_conflicting = deduplicate(texts, labels)
    if num_repeats or num_conflicting:
        logger.warning(
            "%s: dropped %d repeated texts and %d texts with conflicting labels "
            "before splitting.",
            path,
            num_repeats,
            num_conflicting,
        )
    indices = split_indices(texts, labels, split)
    return texts[indices], labels[indices]


def _read_examples(path, text_column, label_column):
    """Reads a local file's texts, raw labels and their 1-based line numbers.

    Texts are stripped; rows with an empty text are skipped with a warning. An empty
    label beside a text is an error.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such data file: {path!r}{did_you_mean_path(path)}.")
    check_not_utf16(path)
    with open(path, "rb") as f:
        lines = decode_lines(f.read(), path)
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
        if isinstance(label, str) and not label.strip():
            # Else "" would be a class of its own.
            raise ValueError(
                f"{path}: line {row}, column {label_column!r}: the label is empty; every "
                "row with a text needs its class."
            )
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


def decode_lines(data, path):
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
    """Returns `(line_number, text, raw_label)` from CSV or TSV lines."""
    rows = list(table_rows(lines, path))
    if not rows:
        raise ValueError(f"{path}: the file is empty (no header line).")
    _, header = rows[0]
    columns = {}
    for option, column in (("text_column", text_column), ("label_column", label_column)):
        if column not in header:
            raise _missing_field(
                f"{path}: line 1 (header)", "column", column, header, option,
                hint=separator_hint(header, path),
            )
        columns[column] = header.index(column)
    records = []
    for line_number, fields in rows[1:]:
        for column, position in columns.items():
            if position >= len(fields):
                raise ValueError(
                    f"{path}: line {line_number} has {len(fields)} fields "
                    f"and no value for column {column!r}."
                )
        records.append((line_number, fields[columns[text_column]], fields[columns[label_column]]))
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
        for option, key in (("text_column", text_column), ("label_column", label_column)):
            if key not in record:
                raise _missing_field(f"{path}: line {line_number}", "key", key, sorted(record), option)
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


def _missing_field(where, kind, name, present, option, hint=""):
    """The error for a column or JSON key that is not there, naming the config key
    (`data.text_column`, `data.label_column`) that chooses it."""
    return ValueError(
        f"{where} has no {kind} {name!r}{did_you_mean(name, present)}; {kind}s are {present}"
        f"{hint} (data.{option} names the {kind} to read)."
    )


def _is_int_label(label):
    if isinstance(label, bool):
        return False
    return isinstance(label, int) or (
        isinstance(label, str) and bool(_INT_PATTERN.match(label.strip()))
    )


def _class_names(raw_labels, path):
    """Class names when none are given: sorted names, or "0".."max" for ids.

    Names that differ only in case ("pos", "Pos") are refused: a spreadsheet's
    inconsistency, which would otherwise train a class of its own.
    """
    if all(_is_int_label(label) for label in raw_labels):
        return tuple(str(i) for i in range(max(int(label) for label in raw_labels) + 1))
    names = tuple(sorted({str(label).strip() for label in raw_labels}))
    by_case = {}
    for name in names:
        by_case.setdefault(name.casefold(), []).append(name)
    for spellings in by_case.values():
        if len(spellings) > 1:
            raise ValueError(
                f"{path}: labels {' and '.join(map(repr, spellings))} differ only in case; "
                "spell each class one way, or name every class in data.label_names if "
                "they are different classes."
            )
    return names


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
