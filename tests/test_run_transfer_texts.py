"""`distillation.transfer_texts` in a whole run: the texts join the transfer set with
no gold label, their teacher logits are cached, texts the run is scored on are
dropped, and a word-level student's vocabulary (the baseline's too) reads them."""

import csv
import json

import numpy as np
import pytest

from tfdistill import data
from tfdistill import models
from tfdistill.data import cache
from tfdistill.run import config as run_config
from tfdistill.run import fingerprints
from tfdistill.run import pipeline
from tfdistill.run.context import RunContext
from tfdistill.run.layout import BASELINE
from tfdistill.run.layout import DISTILLED
from tfdistill.run.stages import teacher
from tfdistill.run.stages import transfer

from test_run_tune import SMOKE
from test_run_tune import _write_data

# Few enough that no other set the teacher labels (48 train, 16 validation and 17
# test texts) has as many rows: a call of this size is the transfer texts' own.
KEPT = 5


def _config(tmp_path, tiny_teacher, *assignments):
    folder = tmp_path / "data"
    folder.mkdir(exist_ok=True)
    source = _write_data(folder)
    # The first headline, in other case, is a test text: it must not be trained on.
    with open(folder / "test.csv", "a", newline="", encoding="utf-8") as f:
        csv.writer(f).writerow([data.load_texts("guardian_headlines")[0].upper(), 1])
    return run_config.override(
        run_config.load(SMOKE),
        [
            f"teacher.preset={tiny_teacher}",
            f"data.source={source}",
            "distillation.epochs=1",
            "distillation.transfer_texts=[guardian_headlines]",
            f"distillation.max_transfer_texts={KEPT}",
            "export.tflite=[]",
            "export.latency_batch_sizes=[8]",
            "export.latency_seconds=0.05",
            *assignments,
        ],
    )


@pytest.fixture
def spies(monkeypatch):
    """Records the transfer sets the runs make and the size of every teacher
    forward pass over a set of texts that the logit cache did not hold."""
    seen = {"transfer_sets": [], "computed": []}
    transfer_set, predict_logits = transfer.transfer_set, cache.predict_logits

    def recorded_transfer_set(context, teachers):
        seen["transfer_sets"].append(transfer_set(context, teachers))
        return seen["transfer_sets"][-1]

    def counted_predict_logits(teacher, inputs, **kwargs):
        logits = predict_logits(teacher, inputs, **kwargs)
        seen["computed"].append(len(logits))
        return logits

    monkeypatch.setattr(transfer, "transfer_set", recorded_transfer_set)
    monkeypatch.setattr(cache, "predict_logits", counted_predict_logits)
    return seen


def _vocabulary(run_dir, name):
    return models.load_student(run_dir / "students" / name, kind="bilstm").preprocessor.get_vocabulary()


@pytest.mark.slow
def test_transfer_texts_are_labelled_by_the_teacher_once_and_never_a_test_text(
    tmp_path, tiny_teacher, spies, monkeypatch
):
    config = _config(tmp_path, tiny_teacher)
    pipeline.run(config, tmp_path / "run")

    headlines = data.load_texts("guardian_headlines")
    (made,) = spies["transfer_sets"]
    train_texts = made.split.texts[:48]
    # The leaked headline is dropped; the cap counts the texts kept after it.
    assert made.split.texts[48:] == headlines[1 : 1 + KEPT]
    np.testing.assert_array_equal(made.split.labels[48:], [-1] * KEPT)
    assert (made.split.labels[:48] >= 0).all()
    assert made.logits.shape == (48 + KEPT, 2)
    assert KEPT in spies["computed"]
    # Both students read the headlines' words, which no training text has.
    vocabulary = _vocabulary(tmp_path / "run", "bilstm_distilled")
    assert vocabulary == _vocabulary(tmp_path / "run", "bilstm_baseline")
    new_words = set(vocabulary) - {word for text in train_texts for word in text.lower().split()}
    assert len(new_words) > 10, new_words

    # A rerun reads the same transfer texts, so it reuses both students, and takes the
    # teacher's logits on them from the cache. (Its stages alone: a whole second run
    # would only add evaluation and export.)
    spies["computed"].clear()
    rerun = RunContext.create(config, tmp_path / "run")
    for variant in (DISTILLED, BASELINE):
        recorded = json.loads((tmp_path / "run" / "students" / f"bilstm_{variant}" / "stage.json").read_text())
        assert recorded == fingerprints.student_fingerprint(rerun, variant)
        assert "transfer_texts" in recorded
    teachers = teacher.teachers(rerun)
    # Nor does it tokenize any text for the teacher: on the default config's 80,000
    # transfer texts that alone took minutes.
    encoded = []
    task_encode = type(rerun.task).encode
    monkeypatch.setattr(
        type(rerun.task), "encode",
        lambda self, texts, *args, **kwargs: encoded.append(len(texts)) or task_encode(self, texts, *args, **kwargs),
    )
    again = transfer.transfer_set(rerun, teachers)
    assert spies["computed"] == [] and encoded == []
    assert again.split.texts == made.split.texts
    np.testing.assert_array_equal(again.logits, made.logits)


@pytest.mark.slow
def test_augment_transfer_texts_adds_variants_of_each_transfer_text_only_when_asked(
    tmp_path, tiny_teacher, spies
):
    factor = 2
    for asked in (False, True):
        config = _config(
            tmp_path, tiny_teacher, f"distillation.augment.factor={factor}",
            # Masks and cuts only, so that every variant's words are its headline's.
            "distillation.augment.replace_probability=0",
            f"distillation.augment.transfer_texts={str(asked).lower()}",
        )
        # Its stages up to the transfer set: students, scores and exports add nothing.
        context = RunContext.create(config, tmp_path / f"run_{asked}")
        transfer.transfer_set(context, teacher.teachers(context))
    plain, augmented = (made.split for made in spies["transfer_sets"])
    headlines = data.load_texts("guardian_headlines")[1 : 1 + KEPT]
    # Training texts, their variants, the transfer texts, then (asked) theirs.
    assert plain.texts[-KEPT:] == headlines
    assert augmented.texts[: len(plain.texts)] == plain.texts
    variants = augmented.texts[len(plain.texts) :]
    # A variant equal to another text is dropped (`augment_texts`).
    assert KEPT <= len(variants) <= factor * KEPT
    np.testing.assert_array_equal(augmented.labels[len(plain.texts) :], [-1] * len(variants))
    # Each variant is made from a headline: its words, less the masks, are among its own.
    words = [set(text.lower().split()) for text in headlines]
    for variant in variants:
        tokens = set(variant.lower().split()) - {"[mask]"}
        assert any(tokens <= headline for headline in words), variant
    assert set(spies["transfer_sets"][1].copy_numbers[-len(variants) :]) <= set(range(factor))
    assert spies["transfer_sets"][1].logits.shape[0] == len(augmented.texts)
