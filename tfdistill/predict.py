"""Use a trained model on a file of texts: one JSON line of predictions per row.

`predict_file` streams the input in batches (memory does not grow with the file),
writes the output under a temporary name and renames it when whole, and names every
row it could not read instead of skipping it silently. A row whose text is empty (or
whitespace alone) is one of those: a classifier's answer to no words is its bias, not
a prediction.

Inputs, by extension:

- `.txt`: one text per line;
- `.csv` / `.tsv`: a header row, the texts in `text_column`, read by the rules
  training data is (`tfdistill.data.tables`: a CSV quote never closed stops with the
  line where it opened; a TSV keeps quotes as text); blank lines are not rows;
- `.jsonl`: one JSON object per line, the text under `text_column`;
- `-`: standard input, one text per line, for a pipe (`cut -f2 reviews.tsv |
  tfdistill predict --model=runs/demo --input=- --output=-`); read once, so no row
  count beforehand, and a terminal's lines are answered as they are typed.

The output `-` is standard output, written a batch at a time: a pipe's reader gets the
predictions as they come, with no temporary name (a stream cannot be renamed).

The model is a run folder (its distilled student's SavedModel), a SavedModel folder,
or a `.tflite` file with its preprocessor beside it (as a run exports it).

Each output line is, for a classifier, `{"row": n, "label": ..., "label_id": ...,
"probabilities": [...]}` (`probabilities[i]` is label id `i`'s); for a tagger,
`{"row": n, "words": [...], "tags": [...], "tag_probabilities": [...], "entities":
[{"type", "start", "end", "text"}, ...]}` (the words split on whitespace, one tag per
word); or `{"row": n, "error": ...}` for a row that could not be read. `row` counts
the input's records from 1 (the header excluded).

Example:

>>> import pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "texts.txt").write_bytes(b"a fine film\\n\\xff\\xfe broken\\n")
>>> rows = list(read_rows(folder / "texts.txt"))
>>> [(row.number, row.text, row.error) for row in rows]
[(1, 'a fine film', None), (2, None, 'invalid UTF-8')]
>>> _ = (folder / "texts.txt").write_text("a fine film\\n \\n")
>>> [row.error for row in read_rows(folder / "texts.txt")]
[None, 'empty text']
"""

import dataclasses
import json
import os
import pathlib
import sys
from typing import Callable
from typing import Optional

import keras
import numpy as np

from tfdistill.atomic import replace_atomically
from tfdistill.data import tables
from tfdistill.registry import did_you_mean
from tfdistill.registry import did_you_mean_path
from tfdistill.run.layout import RunLayout
from tfdistill.run.layout import enclosing_run

INPUT_SUFFIXES = (".txt", ".csv", ".tsv", ".jsonl")
# As an input, standard input (one text per line); as an output, standard output.
STDIO = "-"
# Above this share of unknown words, `unknown_words_warning` speaks. English from seven
# sources unlike the training texts (reviews, tweets, editorials, headlines, debates,
# Hamlet) leaves `make demo`'s student 1.9-13.4% of its words unknown, its own test
# split 4.7%, a Chinese novel 100% (BENCHMARKS.md section 56); a third is a file it
# was not made for: another column, another language, codes.
UNKNOWN_WORDS_WARNING_SHARE = 0.3


class InputError(ValueError):
    """A model or input file `predict` cannot use; the message names it."""


@dataclasses.dataclass(frozen=True)
class Model:
    """What `predict_file` runs: `predict(texts)`, one JSON-ready dict per text; and,
    for a word-level student, `count_unknown_words(texts)`
    (`tfdistill.data.unknown_words.unknown_word_counts`), else None."""

    predict: Callable
    count_unknown_words: Optional[Callable] = None


@dataclasses.dataclass(frozen=True)
class Row:
    """One input record: its 1-based number, and its text or why it has none."""

    number: int
    text: Optional[str] = None
    error: Optional[str] = None


def read_rows(path, text_column="text"):
    """Yields the `Row`s of a `.txt`, `.csv`, `.tsv` or `.jsonl` file, streaming; a
    text of whitespace alone is an error, `"empty text"`.

    Raises:
        InputError: a missing file, another extension, or a table without
            `text_column`.
    """
    if os.fspath(path) == STDIO:
        return _with_empty_texts_named(_text_rows(STDIO))
    path = pathlib.Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder: the input is one {', '.join(INPUT_SUFFIXES)} file.")
    if not path.is_file():
        raise InputError(f"{path}: no such input file{did_you_mean_path(path)}.")
    try:
        tables.check_not_utf16(path)
    except ValueError as error:
        raise InputError(str(error)) from None
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return _with_empty_texts_named(_text_rows(path))
    if suffix == ".jsonl":
        return _with_empty_texts_named(_jsonl_rows(path, text_column))
    if suffix in (".csv", ".tsv"):
        return _with_empty_texts_named(_table_rows(path, text_column))
    raise InputError(f"{path}: predict reads {', '.join(INPUT_SUFFIXES)} files, not {suffix!r}.")


def _with_empty_texts_named(rows):
    for row in rows:
        if row.error is None and not row.text.strip():
            yield Row(row.number, error="empty text")
        else:
            yield row


def _lines(path):
    """`(line number, bytes without the line ending)` of a file, or of standard input
    for `STDIO`, streaming."""
    if path == STDIO:
        yield from _numbered(sys.stdin.buffer)
        return
    with open(path, "rb") as file:
        yield from _numbered(file)


def _numbered(file):
    for number, line in enumerate(file, start=1):
        yield number, line.rstrip(b"\r\n")


def _text_rows(path):
    for number, line in _lines(path):
        try:
            yield Row(number, line.decode("utf-8"))
        except UnicodeDecodeError:
            yield Row(number, error="invalid UTF-8")


def _jsonl_rows(path, text_column):
    for number, line in _lines(path):
        try:
            record = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            yield Row(number, error="invalid UTF-8")
            continue
        except json.JSONDecodeError as error:
            yield Row(number, error=f"not JSON ({error.msg})")
            continue
        text = record.get(text_column) if isinstance(record, dict) else None
        if isinstance(text, str):
            yield Row(number, text)
        else:
            yield Row(number, error=f"no string {text_column!r} field")


def _table_rows(path, text_column):
    # surrogateescape keeps undecodable bytes as lone surrogates, so that one bad
    # row is named instead of the whole file failing to decode.
    # utf-8-sig drops the byte-order mark that spreadsheets write first.
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as file:
        rows = (fields for _, fields in _checked_table(file, path))
        header = next(rows, [])
        if text_column not in header:
            raise InputError(
                f"{path}: no column {text_column!r}{did_you_mean(text_column, header)} in the "
                f"header {header}{tables.separator_hint(header, path)}; --text_column names "
                "the texts' column."
            )
        column = header.index(text_column)
        for number, fields in enumerate(rows, start=1):
            if len(fields) != len(header):
                yield Row(number, error=f"{len(fields)} fields where the header has {len(header)}")
            elif any("\udc80" <= char <= "\udcff" for char in fields[column]):
                yield Row(number, error="invalid UTF-8")
            else:
                yield Row(number, fields[column])


def _checked_table(file, path):
    """`tables.table_rows` with its errors as `InputError`s: a broken quote spoils every
    row after it, so the file is refused, not one row."""
    try:
        yield from tables.table_rows(file, path)
    except ValueError as error:
        raise InputError(str(error)) from None


def _batches(rows, batch_size):
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _records(batch, predict):
    """The output records of one batch of rows, in order.

    An unreadable row goes to the model as an empty text and its answer is dropped,
    so that every full batch has the same shape: an XLA-compiled SavedModel
    (`export.jit_compile`) compiles once per batch shape.
    """
    predictions = predict([row.text if row.error is None else "" for row in batch])
    return [
        {"row": row.number, "error": row.error}
        if row.error is not None
        else {"row": row.number, **prediction}
        for row, prediction in zip(batch, predictions)
    ]


def check_output(input_path, output_path, overwrite=False):
    """Raises `InputError` if `output_path` is not a `.jsonl` name, or if writing it
    would replace the texts of `input_path` or a folder, or (without `overwrite`)
    any file already there. `STDIO` (standard output) is always fine."""
    if os.fspath(output_path) == STDIO:
        return
    if pathlib.Path(output_path).suffix.lower() != ".jsonl":
        # JSON lines in a .csv would fool a spreadsheet; `/dev/stdout` would be
        # replaced, not written to, by the atomic rename.
        raise InputError(f"{output_path}: the predictions are JSON lines; name the output *.jsonl.")
    if not os.path.exists(output_path):
        return
    if os.path.isdir(output_path):
        # The atomic write would replace the folder and everything in it.
        raise InputError(f"{output_path} is a folder: the output is the JSONL file to write.")
    if os.fspath(input_path) != STDIO and os.path.exists(input_path) and os.path.samefile(input_path, output_path):
        raise InputError(
            f"{output_path} is the input file: choose another output (predictions never "
            "replace the texts they are made from)."
        )
    if not overwrite:
        raise InputError(f"{output_path} exists; pass --overwrite to replace it.")


def _count_readable(input_path, text_column):
    """The number of rows of `input_path`; raises `InputError` if none is readable:
    an empty file, a header alone, or every row wrong in the same way (the texts
    under another JSON key) is a mistake, not a file of predictions."""
    total, readable, first_bad = 0, 0, None
    for row in read_rows(input_path, text_column):
        total += 1
        if row.error is None:
            readable += 1
        elif first_bad is None:
            first_bad = (row.number, row.error)
    _check_readable(input_path, total, readable, first_bad)
    return total


def _check_readable(input_path, total, readable, first_bad, written=False):
    streamed = os.fspath(input_path) == STDIO
    where = "standard input" if streamed else input_path
    if total == 0:
        empty = "it was empty" if streamed else "an empty file, or a header alone"
        raise InputError(f"{where}: no rows to predict ({empty}).")
    if readable == 0:
        raise InputError(
            f"{where}: none of its {total} row(s) can be read (row {first_bad[0]}: "
            f"{first_bad[1]}){'' if written else '; nothing was written'}."
        )


def predict_file(model, input_path, output_path, *, text_column="text", batch_size=256, verbose=1):
    """Writes one JSON line per row of `input_path` to `output_path`.

    Args:
        model: a `Model` (see `open_model`), or its `predict` function alone.
        input_path: a `.txt`, `.csv`, `.tsv` or `.jsonl` file, or `STDIO`.
        output_path: the `.jsonl` file to write (atomically), never `input_path`; or
            `STDIO`.
        text_column: the text's column or key in a table or JSONL file.
        batch_size: texts per model call (1 for a terminal's standard input).
        verbose: 1 shows a progress bar, 0 is silent.

    Returns:
        `{"rows": n, "bad_rows": [(row, reason), ...]}`; for a model that counts
        unknown words, also `"words"` and `"unknown_words"`: the read rows' words the
        model reads, and how many of those it does not know.

    Raises:
        InputError: see `read_rows` and `check_output`; also when no row can be read.
    """
    if not isinstance(model, Model):
        model = Model(model)
    check_output(input_path, output_path, overwrite=True)
    streamed = os.fspath(input_path) == STDIO
    # A file's first pass counts the rows for the progress bar, and finds a bad header
    # or a file with nothing to predict before anything is written; both passes
    # stream. Standard input can be read once only: its rows are checked at the end.
    total = None if streamed else _count_readable(input_path, text_column)
    if streamed and sys.stdin.isatty():
        batch_size = 1  # someone typing: answer each line as it comes
    progress = keras.utils.Progbar(total, verbose=verbose, unit_name="row")
    summary = {"rows": 0, "bad_rows": []}
    if model.count_unknown_words is not None:
        summary.update(words=0, unknown_words=0)

    def write(output, written):
        for batch in _batches(read_rows(input_path, text_column), batch_size):
            for record in _records(batch, model.predict):
                output.write(json.dumps(record, ensure_ascii=False) + "\n")
                if "error" in record:
                    summary["bad_rows"].append((record["row"], record["error"]))
            output.flush()
            summary["rows"] += len(batch)
            _count_unknown_words(model, batch, summary)
            progress.add(len(batch))
        if streamed:  # a file was checked by its first pass
            bad = summary["bad_rows"]
            first_bad = bad[0] if bad else None
            _check_readable(input_path, summary["rows"], summary["rows"] - len(bad), first_bad, written)

    if os.fspath(output_path) == STDIO:
        sys.stdout.flush()  # what Python printed before goes first
        # UTF-8 whatever the terminal's locale: JSON lines are UTF-8.
        with open(sys.stdout.fileno(), "w", encoding="utf-8", closefd=False) as output:
            write(output, written=True)
    else:
        replace_atomically(lambda tmp_path: _write_file(tmp_path, write), output_path)
    return summary


def _write_file(path, write):
    with open(path, "w", encoding="utf-8") as output:
        write(output, written=False)


def _count_unknown_words(model, batch, summary):
    # A second pass of the preprocessor over the batch, through its own signature: on
    # 256 product reviews it took 1.8-2.7 ms against 42-54 ms for the prediction
    # (`make demo`'s kind of student, 2 AMD EPYC cores beside a training), too little
    # to add a third signature that returns both.
    texts = [row.text for row in batch if row.error is None]
    if model.count_unknown_words is None or not texts:
        return
    counts = model.count_unknown_words(texts)
    summary["words"] += int(np.sum(counts["words"]))
    summary["unknown_words"] += int(np.sum(counts["unknown_words"]))


def unknown_words_warning(summary):
    """One line when more than `UNKNOWN_WORDS_WARNING_SHARE` of the words the model
    read are unknown to it (its predictions there say little), else None."""
    words, unknown = summary.get("words", 0), summary.get("unknown_words", 0)
    if not words or unknown / words <= UNKNOWN_WORDS_WARNING_SHARE:
        return None
    return (
        f"{unknown / words:.0%} of the words the model read are unknown to it "
        f"({unknown:,} of {words:,}; English text unlike its training texts: 2-13%), "
        "so its predictions say little here: is --text_column the texts' column, and "
        "are they in its training texts' language?"
    )


def _per_text(serve):
    """`serve` (texts -> the task's serving tensors) as `texts -> [one dict per text]`:
    a classifier's label, label id and probabilities, or a tagger's `_tagged`."""

    def predict(texts):
        texts = list(texts)
        outputs = {key: np.asarray(value) for key, value in serve(texts).items()}
        if "tags" in outputs:
            return _tagged(texts, outputs)
        return [
            {
                "label": outputs["labels"][i].decode("utf-8"),
                "label_id": int(outputs["label_ids"][i]),
                "probabilities": [round(float(p), 6) for p in outputs["probabilities"][i]],
            }
            for i in range(len(texts))
        ]

    return predict


def _tagged(texts, outputs):
    """Per text: its `words` (split on whitespace by the op the model uses), each
    word's tag and that tag's probability, and the `entities` the model found
    (`start` and `end` index words, `end` exclusive). A word past the model's word
    slots gets no tag (null) and is read as `O`."""
    import tensorflow as tf

    records = []
    split = tf.strings.split(tf.constant(texts, tf.string)).to_list()
    for row, words in enumerate(split):
        words = [word.decode("utf-8") for word in words]
        slots = min(len(words), outputs["tags"].shape[1])
        untagged = [None] * (len(words) - slots)
        count = int(outputs["num_entities"][row])
        spans = zip(
            outputs["entity_types"][row, :count],
            outputs["entity_starts"][row, :count],
            outputs["entity_ends"][row, :count],
        )
        records.append(
            {
                "words": words,
                "tags": [tag.decode("utf-8") for tag in outputs["tags"][row, :slots]] + untagged,
                "tag_probabilities": [
                    round(float(p), 6) for p in outputs["tag_probabilities"][row, :slots]
                ] + untagged,
                "entities": [
                    {"type": kind.decode("utf-8"), "start": int(start), "end": int(end),
                     "text": " ".join(words[start:end])}
                    for kind, start, end in spans
                ],
            }
        )
    return records


def _savedmodel(path):
    from tfdistill import export

    signatures = export.load_signatures(path)

    def on_strings(signature):
        if signature is None:
            return None
        return lambda texts: signature(texts=np.asarray(texts, dtype=object))

    return Model(
        _per_text(on_strings(signatures[export.SERVING_SIGNATURE])),
        count_unknown_words=on_strings(signatures.get(export.UNKNOWN_WORDS_SIGNATURE)),
    )


def _run_folder_savedmodel(run_dir):
    """The SavedModel of a finished run's distilled student."""
    metrics = run_dir / "metrics.json"
    if not metrics.is_file():
        raise InputError(
            f"{run_dir} is not a finished tfdistill run: it has no metrics.json{_model_nearby(run_dir)}."
        )
    models = json.loads(metrics.read_text(encoding="utf-8"))["models"]
    distilled = [name for name in models if name.endswith("_distilled")]
    if not distilled:
        raise InputError(f"{run_dir} holds no distilled student (models: {sorted(models)}).")
    return run_dir / models[distilled[0]]["savedmodel"]


def _model_nearby(path):
    """For a path that is no model: the SavedModel it holds (a run's
    `export/<model>/`), the SavedModel exported from it (a run's
    `students/<model>/model.keras`, which predict does not read: a student's
    preprocessor lives beside it, the SavedModel holds both), or the finished run
    it is inside, as the `--model` to pass instead."""
    if (path / "savedmodel" / "saved_model.pb").is_file():
        return f"; it holds a SavedModel (pass --model={path / 'savedmodel'})"
    run = enclosing_run(path)
    if run is None:
        return ""
    exported = RunLayout(run).savedmodel(path.parent.name)
    if path.suffix == ".keras" and (exported / "saved_model.pb").is_file():
        return f"; its model is served by {exported} (pass --model={exported})"
    return f"; it is inside the run {run} (pass --model={run})"


def open_model(path):
    """The `Model` of a run folder, a SavedModel folder or a `.tflite` file."""
    path = pathlib.Path(path)
    if path.is_dir() and (path / "saved_model.pb").is_file():
        return _savedmodel(path)
    if path.is_dir():
        return _savedmodel(_run_folder_savedmodel(path))
    if path.suffix == ".tflite" and path.is_file():
        from tfdistill import tflite

        try:
            predict, count_unknown_words = tflite.text_model(path)
            return Model(_per_text(predict), count_unknown_words=count_unknown_words)
        except ValueError as error:
            raise InputError(str(error)) from None
    if not path.exists():
        raise InputError(f"{path} does not exist{did_you_mean_path(path)}.")
    raise InputError(
        f"{path} is not a run folder, a SavedModel folder or a .tflite file{_model_nearby(path)}."
    )
