"""The search of the distillation's values (`distillation.tune`): it runs on the
validation split, picks the best trial, resumes after an interruption, and bad
settings stop the run before any work."""

import json
import pathlib
import re

import keras
import keras_tuner
import numpy as np
import pytest

from tfdistill.run import config as run_config
from tfdistill.run import fingerprints
from tfdistill.run import pipeline
from tfdistill.run.report import tuning_section
from tfdistill.run import validate
from tfdistill.run.layout import DISTILLED
from tfdistill.run.layout import partial_dir
from tfdistill.run.stages import students
from tfdistill.run.folders import RunFolderError
from tfdistill.run.splits import Split
from tfdistill.run.stages import transfer
from tfdistill.run.stages import tune
from tfdistill.run.stages.transfer import TransferSet

from test_run_fingerprints import _context
from test_run_fingerprints import _finish_every_stage

SMOKE = pathlib.Path(__file__).resolve().parent.parent / "configs" / "smoke.yaml"


def _write_data(folder):
    """A task a student learns in a few steps: "good" texts are 1, "bad" ones 0."""
    words = ["film", "plot", "story", "movie", "acting", "cast", "script", "ending"]
    for split, count in (("train", 48), ("validation", 16), ("test", 16)):
        rows = [
            f"{'good great' if i % 2 else 'bad dull'} {words[i % 8]} {words[(3 * i) % 8]},{i % 2}"
            for i in range(count)
        ]
        (folder / f"{split}.csv").write_text("text,label\n" + "\n".join(rows) + "\n")
    return str(folder / "{split}.csv")


def _config(tmp_path, tiny_teacher, *assignments):
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    return run_config.override(
        run_config.load(SMOKE),
        [
            f"teacher.preset={tiny_teacher}",
            f"data.source={_write_data(data)}",
            "distillation.epochs=2",
            "distillation.baseline=false",
            "distillation.tune.trials=2",
            "export.tflite=[]",
            "export.latency_batch_sizes=[8]",
            "export.latency_seconds=0.05",
            *assignments,
        ],
    )


@pytest.fixture
def calls(monkeypatch):
    """Records every student build, and every trainer compiled with its distillation
    values: `{"build": n, "trainers": [(variant, temperature, alpha, lr, epochs)]}`."""
    seen = {"build": 0, "trainers": []}
    build, make_trainer = students.build, students.make_trainer

    def counted_build(context, teacher):
        seen["build"] += 1
        return build(context, teacher)

    def recorded_make_trainer(context, variant, *args, **kwargs):
        d = context.config.distillation
        seen["trainers"].append((variant, d.temperature, d.alpha, d.learning_rate, d.epochs))
        return make_trainer(context, variant, *args, **kwargs)

    monkeypatch.setattr(students, "build", counted_build)
    monkeypatch.setattr(students, "make_trainer", recorded_make_trainer)
    return seen


def _trials(run_dir):
    return json.loads((run_dir / "tuning" / "trials.json").read_text())


def _two_learning_rates(tune_config):
    """A search space whose 2 trials try each learning rate once (a search of 2
    trials over a Choice of 2 never repeats one): 1e-9 learns nothing, 0.05 learns
    "good" from "bad"."""
    hp = keras_tuner.HyperParameters()
    hp.Fixed("temperature", 2.0)
    hp.Fixed("alpha", 0.9)
    hp.Choice("learning_rate", [1e-9, 0.05], ordered=False)
    return hp


def test_the_first_trial_is_the_configs_own_values_and_the_rest_stay_in_range(tmp_path):
    tune_config = run_config.TuneConfig(
        trials=50, temperature=[1.5, 3.0], alpha=[0.2, 0.4], learning_rate=[1e-4, 1e-3]
    )
    first = {"temperature": 2.0, "alpha": 0.3, "learning_rate": 5e-4}
    oracle = tune._ConfigFirstOracle(
        first,
        objective=keras_tuner.Objective("score", "max"),
        max_trials=50,
        hyperparameters=tune._search_space(tune_config),
        seed=0,
    )
    oracle._set_project_dir(str(tmp_path), "search")
    drawn = [oracle.create_trial(f"tuner{i}").hyperparameters.values for i in range(50)]
    assert drawn[0] == first
    for values in drawn[1:]:
        assert values != first
        for name in ("temperature", "alpha", "learning_rate"):
            low, high = getattr(tune_config, name)
            assert low <= values[name] <= high, (name, values)


def _interrupted_in_the_second_fit(monkeypatch):
    """Makes `students.fit` raise KeyboardInterrupt (Ctrl-C) in its second call."""
    fit, fits = students.fit, []

    def interrupted_fit(*args, **kwargs):
        fits.append(1)
        if len(fits) == 2:
            raise KeyboardInterrupt
        return fit(*args, **kwargs)

    monkeypatch.setattr(students, "fit", interrupted_fit)
    return fit


def test_an_interrupted_search_resumes_picks_the_trial_that_learned_and_trains_with_it(
    tmp_path, tiny_teacher, calls, monkeypatch
):
    monkeypatch.setattr(tune, "_search_space", _two_learning_rates)
    # The config's own values are the first trial's: a learning rate that learns nothing.
    config = _config(
        tmp_path, tiny_teacher, "distillation.baseline=true", "distillation.epochs=3",
        "distillation.tune.epochs=2", "distillation.temperature=2.0", "distillation.alpha=0.9",
        "distillation.learning_rate=1e-9",
    )
    fit = _interrupted_in_the_second_fit(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run(config, tmp_path / "run")
    assert calls["build"] == 2
    assert [call[1:] for call in calls["trainers"]] == [(2.0, 0.9, 1e-9, 2), (2.0, 0.9, 0.05, 2)]

    monkeypatch.setattr(students, "fit", fit)
    calls["trainers"] = []
    summary = pipeline.run(config, tmp_path / "run")
    # The interrupted second trial again (the finished first one is not trained
    # again), then the distilled student with the winner's values for its own
    # epochs, then the baseline with the run's learning rate.
    assert [call[0] for call in calls["trainers"]] == [DISTILLED, DISTILLED, "baseline"]
    assert calls["trainers"][0][1:] == (2.0, 0.9, 0.05, 2)
    assert calls["trainers"][1][1:] == (2.0, 0.9, 0.05, 3)
    assert calls["trainers"][2][3] == config.distillation.learning_rate

    trials = _trials(tmp_path / "run")
    assert [trial["status"] for trial in trials["trials"]] == ["COMPLETED", "COMPLETED"]
    assert trials["trials"][0]["values"] == {"temperature": 2.0, "alpha": 0.9, "learning_rate": 1e-9}
    assert trials["objective"] == "val_accuracy"
    by_rate = {trial["values"]["learning_rate"]: trial["score"] for trial in trials["trials"]}
    assert by_rate[0.05] > by_rate[1e-9], trials
    assert trials["best"]["values"]["learning_rate"] == 0.05
    assert trials["best"]["score"] == max(by_rate.values())
    assert summary["tuning"] == trials
    report = (tmp_path / "run" / "report.md").read_text()
    winner = trials["best"]["trial"]
    assert re.search(rf"^\| {winner} \(winner\) \|", report, re.M), report
    assert report.count("(winner)") == 1
    # The student trained with the winner recorded the config's fingerprint: a
    # rerun of the same config trains nothing.
    calls["trainers"] = []
    pipeline.run(config, tmp_path / "run")
    assert calls["trainers"] == []


def test_a_lead_within_one_standard_error_keeps_the_configs_values():
    # BENCHMARKS.md section 42, seed 42: trial 1 led the config's values by one of 212
    # validation articles, and its student scored 2.79 points lower on test.
    scores = [0.9764150977134705, 0.9811320900917053, 0.9198113083839417, 0.9764150977134705]
    trials = [{"trial": str(i), "score": score} for i, score in enumerate(scores)]
    error = tune._standard_error(scores[0], 212)
    assert error == pytest.approx(0.0104, abs=1e-4)
    assert tune._winner(trials, error) is trials[0]
    # A lead of three articles is more than one standard error: it wins.
    trials[1]["score"] = scores[0] + 3 / 212
    assert tune._winner(trials, error) is trials[1]
    # A config trial that never finished leaves the best finished one.
    trials[0]["score"] = None
    assert tune._winner(trials, tune._standard_error(None, 212)) is trials[1]
    assert tune._winner([{"trial": "0", "score": None}], None) is None


def test_a_transfer_set_with_a_smaller_factor_keeps_each_texts_first_copies():
    texts = ["t0", "t1", "a0", "a1", "b0", "x"]
    # Two training texts, three augmented ones (copies 0 and 1 of one text, 0 of the
    # other), one transfer text; logits that name their row.
    copies = np.array([-1, -1, 0, 1, 0, -1], np.int32)
    logits = np.arange(6, dtype=np.float32)[:, None]
    full = TransferSet(Split(texts, np.arange(6)), logits, "validation", copies)
    one = full.with_factor(1)
    assert one.split.texts == ["t0", "t1", "a0", "b0", "x"]
    assert one.split.labels.tolist() == one.logits[:, 0].tolist() == [0, 1, 2, 4, 5]
    assert one.validation_logits == "validation" and one.copy_numbers.tolist() == [-1, -1, 0, 0, -1]
    assert full.with_factor(0).split.texts == ["t0", "t1", "x"]
    assert full.with_factor(2) is full and full.with_factor(5) is full
    assert TransferSet(Split(texts, np.arange(6))).with_factor(0).split.texts == texts


@pytest.fixture
def augmented(monkeypatch):
    """Records the copy numbers of each augmented transfer set the run makes, and
    the number of texts each distilled student trains on with its factor:
    `{"copies": [array], "trained": [(factor, texts)]}`."""
    seen = {"copies": [], "trained": []}
    augmented_split, datasets = transfer._augmented, students.datasets

    def recorded_augmented_split(context, split, what, options):
        split, copies = augmented_split(context, split, what, options)
        seen["copies"].append(copies)
        return split, copies

    def recorded_datasets(context, variant, *args):
        train, validation, split = datasets(context, variant, *args)
        seen["trained"].append((context.config.distillation.augment.factor, len(split.texts)))
        return train, validation, split

    monkeypatch.setattr(transfer, "_augmented", recorded_augmented_split)
    monkeypatch.setattr(students, "datasets", recorded_datasets)
    return seen


class _StudentsTrained(Exception):
    """Stops a run once its students are trained: what follows is not under test."""


def run_until_students_trained(config, run_dir, monkeypatch, overwrite=False):
    """Runs `config` in `run_dir` up to its trained students, and returns the run's
    partial folder: for a test of what comes before the scores and exports, which
    take a tiny run's longest time."""
    train_students = students.train_students

    def train_students_then_stop(*args):
        train_students(*args)
        raise _StudentsTrained

    monkeypatch.setattr(students, "train_students", train_students_then_stop)
    with pytest.raises(_StudentsTrained):
        pipeline.run(config, run_dir, overwrite=overwrite)
    monkeypatch.setattr(students, "train_students", train_students)
    return partial_dir(run_dir)


def test_a_search_that_keeps_the_configs_values_trains_the_student_an_unsearched_run_does(
    tmp_path, tiny_teacher, monkeypatch
):
    unsearched_config = _config(tmp_path, tiny_teacher, "distillation.tune.trials=0")
    unsearched = pipeline.run(unsearched_config, tmp_path / "unsearched")
    # Every lead within the margin: the config's trial wins whatever the scores.
    monkeypatch.setattr(tune, "_standard_error", lambda score, examples: 1.0)
    searched = pipeline.run(_config(tmp_path, tiny_teacher), tmp_path / "searched")
    trials = _trials(tmp_path / "searched")
    assert trials["best"] == trials["trials"][0] and len(trials["trials"]) == 2
    weights = [
        keras.saving.load_model(path, compile=False).get_weights()
        for run in ("unsearched", "searched")
        for path in (tmp_path / run / "students").glob(f"*_{DISTILLED}/model.keras")
    ]
    assert len(weights) == 2
    for unsearched_weight, searched_weight in zip(*weights, strict=True):
        np.testing.assert_array_equal(unsearched_weight, searched_weight)
    for name, scores in unsearched["models"].items():  # Timings aside.
        for metric in ("accuracy", "precision", "recall", "f1"):
            assert searched["models"][name][metric] == scores[metric], (name, metric)


def test_a_search_of_the_augmentation_factor_augments_once_and_trains_each_trial_on_its_copies(
    tmp_path, tiny_teacher, augmented, monkeypatch
):
    config = _config(
        tmp_path, tiny_teacher, "distillation.augment.factor=1",
        "distillation.tune.augment_factor=[2, 6]", "distillation.tune.epochs=1",
    )
    run_until_students_trained(config, tmp_path / "run", monkeypatch)
    # One augmentation, with the largest factor tried, which every trial shares.
    (copies,) = augmented["copies"]
    assert copies.max() == 5
    trials = _trials(tmp_path / "run.partial")
    factors = [trial["values"]["augment_factor"] for trial in trials["trials"]]
    assert factors[0] == 1 and all(2 <= factor <= 6 for factor in factors[1:]), factors
    winner = trials["best"]["values"]["augment_factor"]
    train = 48
    expected = [(factor, train + int((copies < factor).sum())) for factor in [*factors, winner]]
    assert augmented["trained"] == expected
    assert len({texts for _, texts in expected}) > 1, expected
    header = "| trial | temperature | alpha | learning rate | augment factor | score | status |"
    assert header in tuning_section(trials)


TUNE_ERRORS = (
    (["distillation.tune.alpha=[0.9, 0.1]"], r"distillation\.tune\.alpha must be a range \[low, high\] with low < high, got \[0\.9, 0\.1\]"),
    (["distillation.tune.temperature=[2.0]"], r"distillation\.tune\.temperature must be a range \[low, high\]"),
    (["distillation.tune.temperature=[0, 4]"], r"distillation\.tune\.temperature\[0\] must be > 0, got 0\.0"),
    (["distillation.tune.alpha=[0.5, 1.5]"], r"distillation\.tune\.alpha\[1\] must be in \[0, 1\], got 1\.5"),
    (["distillation.tune.learning_rate=[-1e-3, 1e-2]"], r"distillation\.tune\.learning_rate\[0\] must be > 0"),
    (["distillation.tune.trials=-1"], r"distillation\.tune\.trials must be >= 0, got -1"),
    (["distillation.tune.epochs=0"], r"distillation\.tune\.epochs must be >= 1, got 0"),
    (["distillation.tune.augment_factor=[8, 2]"], r"distillation\.tune\.augment_factor must be a range \[low, high\] with low < high, got \[8, 2\]"),
    (["distillation.tune.augment_factor=[-1, 2]"], r"distillation\.tune\.augment_factor\[0\] must be >= 0, got -1"),
    (
        ["distillation.tune.trials=2", "distillation.cache_teacher_logits=false"],
        r"^distillation\.tune\.trials > 0 needs distillation\.cache_teacher_logits: true\.$",
    ),
    (
        ["distillation.tune.trials=2", "student.kind=small_bert", "student.sizes={}",
         "distillation.intermediate={hidden: 1.0}"],
        r"^distillation\.tune\.trials > 0 needs no distillation\.intermediate",
    ),
    (
        ["distillation.tune.trials=2", "distillation.schedule={temperature: {start: 4.0, end: 1.0}}"],
        r"^distillation\.tune\.trials > 0 needs no distillation\.schedule",
    ),
)


def test_bad_tuning_settings_are_refused_before_any_work(tmp_path):
    for assignments, message in TUNE_ERRORS:
        config = run_config.override(run_config.RunConfig(), assignments)
        with pytest.raises(run_config.ConfigError, match=message):
            validate.validate(config, tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


def test_a_searched_student_is_fingerprinted_by_the_config_it_was_searched_from(tmp_path):
    searched = _context(tmp_path, "distillation.tune.trials=2")
    _finish_every_stage(searched)
    fingerprints.check_stages(searched)
    # The config's own temperature is the first trial's: another one is another search.
    hotter = _context(tmp_path, "distillation.tune.trials=2", "distillation.temperature=5.5")
    with pytest.raises(RunFolderError, match=r"tuning was made with other settings \(distillation\.temperature 2\.0 -> 5\.5\)"):
        fingerprints.check_stages(hotter)
    narrower = _context(tmp_path, "distillation.tune.trials=2", "distillation.tune.alpha=[0.2, 0.8]")
    with pytest.raises(RunFolderError, match=r"tuning was made with other settings \(distillation\.tune\.alpha \[0\.1, 0\.9\] -> \[0\.2, 0\.8\]\)"):
        fingerprints.check_stages(narrower)
    # Searches made before the factor could be searched recorded no such key.
    assert "distillation.tune.augment_factor" not in fingerprints.student_fingerprint(searched, DISTILLED)["config"]
    with_factor = _context(tmp_path, "distillation.tune.trials=2", "distillation.tune.augment_factor=[0, 8]")
    with pytest.raises(RunFolderError, match=r"tuning was made with other settings \(distillation\.tune\.augment_factor \(unset\) -> \[0, 8\]\)"):
        fingerprints.check_stages(with_factor)


def test_without_a_search_its_settings_shape_nothing(tmp_path):
    keys = fingerprints.student_fingerprint(_context(tmp_path), DISTILLED)["config"]
    # Runs made before the search existed recorded no such keys: they stay reusable.
    assert not [key for key in keys if key.startswith("distillation.tune.")]
    assert keys["distillation.temperature"] == 2.0
    stages = [name for name, _, _ in fingerprints.expected_stages(_context(tmp_path))]
    assert "tuning" not in stages
