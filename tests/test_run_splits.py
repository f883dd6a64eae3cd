"""A run's splits are checked before any training: classes, sizes, overlap, bad files."""

import logging

import numpy as np
import pytest

from tfdistill import tasks
from tfdistill.run.config import DataConfig
from tfdistill.run.splits import DataError
from tfdistill.run.splits import prepare_splits

TASK = tasks.get("text_classification")


def write_splits(folder, extension="csv", **rows_by_split):
    """Writes `{split}.<extension>` files with a text,label header; returns the pattern."""
    for split, rows in rows_by_split.items():
        lines = ["text,label"] + [f"{text},{label}" for text, label in rows]
        (folder / f"{split}.{extension}").write_text("\n".join(lines) + "\n")
    return str(folder / f"{{split}}.{extension}")


def two_classes(prefix, labels=(0, 1)):
    return [(f"{prefix} {i}", label) for i, label in enumerate(labels)]


def test_good_splits_load_with_their_class_names(tmp_path):
    source = write_splits(
        tmp_path, train=two_classes("train", (0, 1, 1)), validation=two_classes("val"),
        test=two_classes("test"),
    )
    splits, class_names = prepare_splits(DataConfig(source=source), TASK)
    assert class_names == ["0", "1"]
    assert splits["train"].texts == ["train 0", "train 1", "train 2"]
    np.testing.assert_array_equal(splits["train"].labels, [0, 1, 1])


def test_integer_ids_without_a_training_example_are_a_named_error(tmp_path):
    # Ids 1 and 2 only: taken at face value they would make a phantom class "0".
    source = write_splits(
        tmp_path, train=two_classes("train", (1, 2)), validation=two_classes("val", (1, 2)),
        test=two_classes("test", (2, 1)),
    )
    with pytest.raises(DataError, match=(
        r"data: classes \['0'\] \(label ids \[0\]\) have no example in the train split "
        r"\(.*\{split\}\.csv, 'train'\)\. Integer labels are class ids from 0"
    )):
        prepare_splits(DataConfig(source=source), TASK)


def test_label_names_declare_a_class_without_training_examples(tmp_path, caplog):
    source = write_splits(
        tmp_path, train=two_classes("train", (1, 2)), validation=two_classes("val", (1, 2)),
        test=two_classes("test", (0, 1)),
    )
    config = DataConfig(source=source, label_names=["neutral", "negative", "positive"])
    with caplog.at_level(logging.WARNING):
        _, class_names = prepare_splits(config, TASK)
    assert class_names == ["neutral", "negative", "positive"]
    assert "classes ['neutral'] of data.label_names have no example in the train split" in caplog.text


def test_fewer_than_two_classes_is_an_error(tmp_path):
    rows = [("good", "pos"), ("fine", "pos")]
    source = write_splits(tmp_path, train=rows, validation=rows[:1], test=rows[1:])
    with pytest.raises(DataError, match=r"has 1 class\(es\) \['pos'\]; a classifier needs at least two"):
        prepare_splits(DataConfig(source=source), TASK)


def test_a_training_split_of_one_class_is_an_error(tmp_path):
    source = write_splits(
        tmp_path, train=two_classes("train", (1, 1)), validation=two_classes("val"),
        test=two_classes("test"),
    )
    config = DataConfig(source=source, label_names=["neg", "pos"])
    with pytest.raises(DataError, match=r"every example of the train split .* has the same class"):
        prepare_splits(config, TASK)


def test_an_empty_split_is_named(tmp_path):
    # Two texts per class in one file: the 80/10/10 hash split leaves validation empty.
    path = tmp_path / "tiny.csv"
    path.write_text("text,label\n" + "".join(f"text {i},{i % 2}\n" for i in range(4)))
    with pytest.raises(DataError, match=(
        r"data: the validation split \(.*tiny\.csv, 'validation'\) has no examples"
    )):
        prepare_splits(DataConfig(source=str(path)), TASK)


def test_overlapping_texts_are_counted_and_dropped_on_request(tmp_path, caplog):
    train = [("shared with test", 0), ("shared with both", 1), ("only train", 0),
             ("also only train", 1), ("shared with validation", 1)]
    source = write_splits(
        tmp_path, train=train,
        validation=[("shared with validation", 1), ("shared with both", 1), ("val", 0)],
        test=[("shared with test", 0), ("shared with both", 1), ("test", 1)],
    )
    with caplog.at_level(logging.WARNING):
        kept, _ = prepare_splits(DataConfig(source=source), TASK)
    assert len(kept["train"].texts) == 5
    assert (
        "data: 3 training texts also appear in another split (2 in validation, 2 in test); "
        "set data.drop_overlap: true to drop them from train." in caplog.text
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        dropped, _ = prepare_splits(DataConfig(source=source, drop_overlap=True), TASK)
    assert dropped["train"].texts == ["only train", "also only train"]
    np.testing.assert_array_equal(dropped["train"].labels, [0, 1])
    assert dropped["test"].texts == kept["test"].texts
    assert "data: dropped 3 training texts that also appear in another split" in caplog.text


def test_a_training_split_emptied_by_the_overlap_is_named(tmp_path):
    rows = two_classes("same")
    source = write_splits(tmp_path, train=rows, validation=rows, test=rows)
    with pytest.raises(DataError, match=r"data: the train split .* has no examples"):
        prepare_splits(DataConfig(source=source, drop_overlap=True), TASK)


@pytest.mark.parametrize(
    "files, message",
    [
        ({"train": "text,label\na,0\nb,1\n"}, r"No such data file: '.*validation\.csv'"),
        ({"train": 'text,label\n"a,0\nb,1\n'}, r"train\.csv: line 2: a quoted field opened here is never closed"),
        ({"train": "text,label\na,0\nb,maybe\n"}, r"train\.csv: line 3, column 'label'.*mixes integer and named"),
    ],
)
def test_what_a_source_cannot_read_is_a_data_error(tmp_path, files, message):
    for split, content in files.items():
        (tmp_path / f"{split}.csv").write_text(content)
    with pytest.raises(DataError, match=message):
        prepare_splits(DataConfig(source=str(tmp_path / "{split}.csv")), TASK)
