"""`tfdistill predict`: a file of texts in, one JSON line per row out, streaming; bad
rows are named, not skipped."""

import io
import json
import os
import pathlib
import re
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

from tfdistill import export
from tfdistill import models
from tfdistill import predict
from tfdistill import tflite

from command import tfdistill_in_process

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEXTS = ["a gripping film", "a dull film", "great fun", "awful"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny CNN's SavedModel, and its float32 TFLite file with its companions."""
    folder = tmp_path_factory.mktemp("exported")
    student = models.build_student(
        "cnn", num_classes=2, train_texts=TEXTS, sequence_length=8, kernel_sizes=(2,)
    )
    savedmodel = export.export_savedmodel(
        student.model, student.preprocessor, folder / "savedmodel", ["negative", "positive"]
    )
    path = export.export_tflite(student.model, folder / "model_float32.tflite", "float32")
    tflite.save_companions(folder, student.preprocessor, "text_classification", ["negative", "positive"])
    return savedmodel, path


def _records(path):
    return [json.loads(line) for line in open(path, encoding="utf-8")]


@pytest.mark.parametrize(
    "name, content",
    [
        ("texts.txt", b"a gripping film\n\nawful \xff\xfe\ngreat fun\n"),
        ("texts.csv", b'id,text\n1,a gripping film\n2," \t"\n3,"awful \xff\xfe"\n4,great fun\n5\n'),
        ("texts.jsonl", b'{"text": "a gripping film"}\n{"text": ""}\n{"text": "awful \xff\xfe"}\n'
                        b'{"text": "great fun"}\nnot json\n'),
    ],
)
def test_every_format_names_its_bad_rows(exported, tmp_path, name, content):
    savedmodel, _ = exported
    source = tmp_path / name
    source.write_bytes(content)
    output = tmp_path / "predictions.jsonl"
    summary = predict.predict_file(predict.open_model(savedmodel), source, output, verbose=0)
    records = _records(output)
    assert [record["row"] for record in records] == list(range(1, summary["rows"] + 1))
    assert records[2] == {"row": 3, "error": "invalid UTF-8"}
    # No words (or whitespace alone): the answer would be the model's bias.
    assert records[1] == {"row": 2, "error": "empty text"}
    for record in (records[0], records[3]):
        assert record["label"] in ("negative", "positive")
        assert record["label_id"] == ["negative", "positive"].index(record["label"])
        assert sum(record["probabilities"]) == pytest.approx(1.0, abs=1e-5)
    if name != "texts.txt":
        assert len(records) == 5 and "error" in records[4]
    assert [row for row, _ in summary["bad_rows"]] == [r["row"] for r in records if "error" in r]


def test_the_words_unknown_to_a_word_level_student_are_counted_and_a_foreign_file_named(exported, tmp_path):
    source = tmp_path / "texts.txt"
    # 3 + 3 + 2 words the vectorizer reads ("film" lowercased), 1 + 2 + 0 unknown;
    # the empty row is not predicted, so not counted.
    source.write_text("a gripping movie\nein guter Film\n\ngreat fun\n")
    for path in exported:  # The SavedModel's signature and the TFLite file's companions.
        summary = predict.predict_file(predict.open_model(path), source, tmp_path / "out.jsonl", verbose=0)
        assert (summary["words"], summary["unknown_words"]) == (8, 3)
    assert "38% of the words the model read are unknown to it (3 of 8;" in predict.unknown_words_warning(summary)
    assert predict.unknown_words_warning({**summary, "unknown_words": 2}) is None  # 25%
    # A model without the count (a word-piece student's) says nothing either way.
    assert predict.unknown_words_warning(predict.predict_file(_positive, source, tmp_path / "o.jsonl", verbose=0)) is None


def _positive(texts):
    """A model that answers "positive" to everything, for tests of the file handling."""
    return [{"label": "positive", "label_id": 1, "probabilities": [0.25, 0.75]} for _ in texts]


@pytest.mark.parametrize(
    "name, content, texts",
    [
        # Excel's "CSV UTF-8" starts with a byte-order mark; a blank line is no row.
        ("bom.csv", b'\xef\xbb\xbftext,id\n"a ""gripping"" film",1\n\ndull,2\n', ['a "gripping" film', "dull"]),
        # A TSV keeps its quotes as text, as training reads it.
        ("quotes.tsv", b'text\tid\n"great" film\t1\n"unclosed\t2\n', ['"great" film', '"unclosed']),
    ],
)
def test_tables_are_read_by_the_rules_training_reads_them_by(tmp_path, name, content, texts):
    source = tmp_path / name
    source.write_bytes(content)
    assert [row.text for row in predict.read_rows(source)] == texts
    summary = predict.predict_file(_positive, source, tmp_path / "out.jsonl", verbose=0)
    assert summary == {"rows": len(texts), "bad_rows": []}


def test_an_unclosed_quote_stops_with_its_line_and_writes_nothing(tmp_path):
    source = tmp_path / "texts.csv"
    # Read leniently, row 2's quote would swallow rows 3 to 5 into one text.
    source.write_text('text\ngood film\n"a film,\nawful\nfine\nbad\n')
    with pytest.raises(predict.InputError, match=r"texts\.csv: line 3: a quoted field opened here is never closed"):
        predict.predict_file(_positive, source, tmp_path / "out.jsonl", verbose=0)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["texts.csv"]


def test_predictions_never_replace_the_texts_they_read_or_a_folder(tmp_path):
    source = tmp_path / "texts.jsonl"
    source.write_text('{"text": "a gripping film"}\n{"text": "awful"}\n')
    (tmp_path / "sub.jsonl").mkdir()
    for output in (source, tmp_path / "sub.jsonl" / ".." / "texts.jsonl"):
        with pytest.raises(predict.InputError, match="is the input file: choose another output"):
            predict.predict_file(_positive, source, output, verbose=0)
    assert source.read_text() == '{"text": "a gripping film"}\n{"text": "awful"}\n'
    # Nor a folder, which the atomic write would replace whole.
    (tmp_path / "sub.jsonl" / "notes.txt").write_text("mine")
    with pytest.raises(predict.InputError, match="sub.jsonl is a folder: the output is the JSONL file"):
        predict.predict_file(_positive, source, tmp_path / "sub.jsonl", verbose=0)
    assert (tmp_path / "sub.jsonl" / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.txt", b"", r"empty\.txt: no rows to predict \(an empty file, or a header alone\)"),
        ("header.csv", b"text,label\n", r"header\.csv: no rows to predict"),
        # The texts under another key: every row fails alike.
        ("reviews.jsonl", b'{"review": "great"}\n{"review": "awful"}\n',
         r"reviews\.jsonl: none of its 2 row\(s\) can be read \(row 1: no string 'text' field\)"),
        ("unicode.txt", "great\nawful\n".encode("utf-16"), r"unicode\.txt: the file is UTF-16 text"),
        ("capital.csv", b"Text,label\ngreat,1\n",
         r"no column 'text' \(did you mean 'Text'\?\) in the header \['Text', 'label'\]; --text_column"),
        ("semicolons.csv", b"text;label\ngreat;1\n",
         r"in the header \['text;label'\]; its header is one field: the file looks semicolon-sep"),
        # No column like it: the flag is named all the same.
        ("body.csv", b"id,body\n1,great\n",
         r"no column 'text' in the header \['id', 'body'\]; --text_column names the texts' column\.$"),
    ],
)
def test_an_input_without_a_readable_row_stops_and_writes_nothing(tmp_path, name, content, message):
    source = tmp_path / name
    source.write_bytes(content)
    with pytest.raises(predict.InputError, match=message):
        predict.predict_file(_positive, source, tmp_path / "out.jsonl", verbose=0)
    assert sorted(path.name for path in tmp_path.iterdir()) == [name]


def test_one_readable_row_is_enough_to_write_the_others_errors(tmp_path):
    source = tmp_path / "texts.jsonl"
    source.write_text('{"review": "great"}\n{"text": "fine"}\n')
    summary = predict.predict_file(_positive, source, tmp_path / "out.jsonl", verbose=0)
    assert summary == {"rows": 2, "bad_rows": [(1, "no string 'text' field")]}


def test_a_folder_as_the_input_is_named(tmp_path):
    with pytest.raises(predict.InputError, match=rf"^{tmp_path} is a folder: the input is one \.txt, \.csv, \.tsv, \.jsonl file\.$"):
        predict.predict_file(_positive, tmp_path, tmp_path / "out.jsonl", verbose=0)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("output", ["predictions.csv", "predictions.json", "/dev/stdout"])
def test_the_output_must_be_named_as_the_json_lines_it_holds(tmp_path, output):
    source = tmp_path / "texts.txt"
    source.write_text("great\n")
    with pytest.raises(predict.InputError, match="the predictions are JSON lines; name the output"):
        predict.predict_file(_positive, source, tmp_path / output, verbose=0)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["texts.txt"]


def test_a_folder_of_a_run_points_to_the_model_to_pass(exported, tmp_path):
    savedmodel, _ = exported
    run = tmp_path / "run"
    (run / "students" / "cnn_distilled").mkdir(parents=True)
    (run / "metrics.json").write_text("{}")
    with pytest.raises(predict.InputError, match=(
        rf"{run}/students/cnn_distilled is not a finished tfdistill run: it has no metrics\.json; "
        rf"it is inside the run {run} \(pass --model={run}\)\.$"
    )):
        predict.open_model(run / "students" / "cnn_distilled")
    # A run's export/<model>/ folder holds the SavedModel one level down.
    with pytest.raises(predict.InputError, match=rf"it holds a SavedModel \(pass --model={savedmodel}\)\.$"):
        predict.open_model(pathlib.Path(savedmodel).parent)
    with pytest.raises(predict.InputError, match=rf"^{tmp_path} is not a finished tfdistill run: it has no metrics\.json\.$"):
        predict.open_model(tmp_path)


def test_a_misspelt_input_or_model_names_the_file_beside_it(tmp_path):
    (tmp_path / "texts.txt").write_text("great\n")
    (tmp_path / "run").mkdir()
    with pytest.raises(predict.InputError, match=rf"texts.tx: no such input file \(did you mean '{tmp_path}/texts.txt'\?\)\.$"):
        predict.predict_file(_positive, tmp_path / "texts.tx", tmp_path / "out.jsonl", verbose=0)
    with pytest.raises(predict.InputError, match=rf"^{tmp_path}/runn does not exist \(did you mean '{tmp_path}/run'\?\)\.$"):
        predict.open_model(tmp_path / "runn")
    with pytest.raises(predict.InputError, match=rf"^{tmp_path}/elsewhere does not exist\.$"):
        predict.open_model(tmp_path / "elsewhere")


def test_a_students_keras_file_points_to_its_savedmodel(tmp_path):
    run = tmp_path / "run"
    keras_file = run / "students" / "cnn_distilled" / "model.keras"
    keras_file.parent.mkdir(parents=True)
    keras_file.write_text("")
    (run / "metrics.json").write_text("{}")
    not_a_model = rf"^{keras_file} is not a run folder, a SavedModel folder or a \.tflite file"
    # Not exported (a run with `export` failed or not reached): the run is named.
    with pytest.raises(predict.InputError, match=rf"{not_a_model}; it is inside the run {run} \(pass --model={run}\)\.$"):
        predict.open_model(keras_file)
    savedmodel = run / "export" / "cnn_distilled" / "savedmodel"
    savedmodel.mkdir(parents=True)
    (savedmodel / "saved_model.pb").write_bytes(b"")
    with pytest.raises(predict.InputError, match=(
        rf"{not_a_model}; its model is served by {savedmodel} \(pass --model={savedmodel}\)\.$"
    )):
        predict.open_model(keras_file)


def test_every_full_batch_reaches_the_model_in_one_shape_whatever_rows_are_bad(tmp_path):
    source = tmp_path / "texts.txt"
    # Rows 2, 5 and 6 are not UTF-8; 7 rows in batches of 3.
    source.write_bytes(b"one\n\xff\nthree\nfour\n\xfe\n\xff\nseven\n")
    sizes = []
    summary = predict.predict_file(_recording(sizes), source, tmp_path / "out.jsonl", batch_size=3, verbose=0)
    # An XLA-compiled SavedModel compiles once per shape: bad rows must not make more.
    assert sizes == [3, 3, 1]
    assert [row for row, _ in summary["bad_rows"]] == [2, 5, 6]
    records = _records(tmp_path / "out.jsonl")
    assert [("error" in record) for record in records] == [False, True, False, False, True, True, False]


class _Stdin:
    """Standard input holding `content`, a terminal or a pipe."""

    def __init__(self, content, tty=False):
        self.buffer, self.tty = io.BytesIO(content), tty

    def isatty(self):
        return self.tty


def _recording(sizes):
    def recorded(texts):
        sizes.append(len(texts))
        return _positive(texts)

    return recorded


def test_standard_input_and_output_stream_one_text_a_line(monkeypatch, capfd, tmp_path):
    monkeypatch.setattr(sys, "stdin", _Stdin(b"a gripping film\r\n\nawful \xff\ngreat fun"))
    sizes = []
    summary = predict.predict_file(_recording(sizes), "-", "-", batch_size=256, verbose=0)
    out, err = capfd.readouterr()
    records = [json.loads(line) for line in out.splitlines()]
    assert [record["row"] for record in records] == [1, 2, 3, 4] and err == ""
    assert records[1:3] == [{"row": 2, "error": "empty text"}, {"row": 3, "error": "invalid UTF-8"}]
    assert summary == {"rows": 4, "bad_rows": [(2, "empty text"), (3, "invalid UTF-8")]}
    assert sizes == [4]  # a pipe is read in full batches
    # A terminal's lines are answered one at a time, as they are typed.
    monkeypatch.setattr(sys, "stdin", _Stdin(b"great\nawful\n", tty=True))
    predict.predict_file(_recording(sizes), "-", tmp_path / "out.jsonl", batch_size=256, verbose=0)
    assert sizes == [4, 1, 1] and len(_records(tmp_path / "out.jsonl")) == 2


@pytest.mark.parametrize(
    "content, message",
    [(b"", "no rows to predict (it was empty)"),
     (b" \n\xff\n", "none of its 2 row(s) can be read (row 1: empty text)")],
)
def test_standard_input_with_nothing_to_predict_stops_and_leaves_no_file(
    monkeypatch, tmp_path, content, message
):
    monkeypatch.setattr(sys, "stdin", _Stdin(content))
    with pytest.raises(predict.InputError, match=re.escape(f"standard input: {message}")):
        predict.predict_file(_positive, "-", tmp_path / "out.jsonl", verbose=0)
    assert list(tmp_path.iterdir()) == []


def test_savedmodel_and_tflite_agree(exported, tmp_path):
    savedmodel, tflite_path = exported
    source = tmp_path / "texts.txt"
    source.write_text("\n".join(TEXTS) + "\n")
    outputs = []
    for model in (savedmodel, tflite_path):
        output = tmp_path / f"{os.path.basename(str(model))}.jsonl"
        predict.predict_file(predict.open_model(model), source, output, verbose=0)
        outputs.append(_records(output))
    for from_savedmodel, from_tflite in zip(*outputs):
        assert from_savedmodel["label"] == from_tflite["label"]
        np.testing.assert_allclose(from_savedmodel["probabilities"], from_tflite["probabilities"], atol=1e-5)


def test_a_100000_line_file_streams_in_bounded_memory(tmp_path):
    source = tmp_path / "many.txt"
    with open(source, "w") as file:
        for i in range(100_000):
            file.write(f"text number {i} about a film\n")

    tracemalloc.start()
    summary = predict.predict_file(_positive, source, tmp_path / "out.jsonl", batch_size=256, verbose=0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert summary == {"rows": 100_000, "bad_rows": []}
    # The input is 3 MB and the output 8 MB; what is held at once is a batch.
    assert peak < 2_000_000, peak
    with open(tmp_path / "out.jsonl") as output:
        assert sum(1 for _ in output) == 100_000


def test_the_command_predicts_and_refuses_to_overwrite_in_one_line(exported, tmp_path, capsys):
    savedmodel, _ = exported
    source = tmp_path / "texts.txt"
    source.write_text("a gripping film\n")
    output = tmp_path / "predictions.jsonl"
    command = [sys.executable, "-m", "tfdistill", "predict", f"--model={savedmodel}",
               f"--input={source}", f"--output={output}"]
    first = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "1 row, 0 not predicted (unreadable or empty), 0.0% of their words unknown to the model" in first.stdout
    assert first.stderr == ""
    foreign = tmp_path / "foreign.txt"
    foreign.write_text("ein guter Film\n" + "\n" * 22 + "das ist schlecht\n")
    warned = subprocess.run(command[:-2] + [f"--input={foreign}", f"--output={tmp_path}/f.jsonl"],
                            capture_output=True, text=True, cwd=REPO)
    assert warned.returncode == 0, warned.stderr[-2000:]
    assert "24 rows, 22 not predicted (unreadable or empty), 83.3% of their words unknown" in warned.stdout
    lines = warned.stderr.splitlines()
    assert lines[:20] == [f"  row {row}: empty text" for row in range(2, 22)]
    assert lines[20] == f"  and 2 more, each an error line in {tmp_path}/f.jsonl"
    assert re.fullmatch(r"\d\d:\d\d:\d\d warning: 83% of the words the model read are unknown to it "
                        r"\(5 of 6; .*are they in its training texts' language\?", lines[21])
    assert len(lines) == 22
    # The mistakes stop before the model loads: the command's own `main` is enough.
    again = tfdistill_in_process(capsys, *command[3:])
    assert again.returncode == 2
    assert again.stderr.strip().splitlines()[-1] == (
        f"tfdistill: error: {output} exists; pass --overwrite to replace it."
    )
    texts = tmp_path / "texts.jsonl"
    texts.write_text('{"text": "a gripping film"}\n')
    same = tfdistill_in_process(capsys, *command[3:-2], f"--input={texts}", f"--output={texts}", "--overwrite")
    assert same.returncode == 2
    assert "is the input file: choose another output" in same.stderr.strip().splitlines()[-1]
    assert texts.read_text() == '{"text": "a gripping film"}\n'
    wrong = tfdistill_in_process(capsys, *command[3:-1], f"--output={tmp_path}/predictions.csv")
    assert wrong.returncode == 2 and wrong.stderr.strip().splitlines()[-1].endswith(
        "predictions.csv: the predictions are JSON lines; name the output *.jsonl.")
    piped = subprocess.run(command[:-2] + ["--input=-", "--output=-"], input="a gripping film\n",
                           capture_output=True, text=True, cwd=REPO)
    assert piped.returncode == 0, piped.stderr[-2000:]
    assert [json.loads(line)["row"] for line in piped.stdout.splitlines()] == [1]
    assert piped.stderr.startswith("1 row, 0 not predicted (unreadable or empty), 0.0% of their "
                                   "words unknown to the model, predictions in standard output")
    column = subprocess.run(command[:-2] + ["--input=-", "--output=-", "--text_column=review"],
                            input="great\n", capture_output=True, text=True, cwd=REPO)
    assert column.returncode == 2 and column.stdout == ""
    assert column.stderr.strip().splitlines()[-1].startswith(
        "tfdistill: error: --text_column picks a column of a .csv, .tsv or .jsonl file")
    missing = tfdistill_in_process(
        capsys, *command[3:-2], f"--input={tmp_path}/nope.csv", f"--output={tmp_path}/o.jsonl"
    )
    assert missing.returncode == 2 and "nope.csv: no such input file." in missing.stderr
