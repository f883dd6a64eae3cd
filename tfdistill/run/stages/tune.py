"""Stage 3a': a KerasTuner search of the distillation's temperature, alpha,
learning rate and, optionally, augmentation factor (`distillation.tune`), before the
distilled student trains.

Each trial builds a fresh student (from the run's seed, as the final one), distils
it on the teachers' cached logits with the trial's values for `tune.epochs` epochs,
early-stopped on the task's headline metric on the validation split, and scores the
best epoch's value of that metric. The first trial is the config's own values; the
later ones are drawn at random from the ranges. The winner is the best-scoring trial
only if it beats the config's by more than one standard error of the config's score
(the one-standard-error rule of Hastie et al., ESL 7.10, with the binomial error of
a proportion of the validation examples, exact for accuracy and a guide for F1);
otherwise the config's values stay. A validation split of a few hundred texts ranks
trials a few texts apart at random, and a search that trades the user's values for
such a lead scored worse on test (BENCHMARKS.md section 42). The test split is never
read. A trial of augmentation factor k trains on the first k augmented copies
of each training text, out of the transfer set's (`transfer.augmented_factor`), so
no trial needs the teacher. The search is a KerasTuner project in the run's
`tuning/` folder: an interrupted search resumes there, keeping its finished trials
and running the interrupted one again from its start. `tuning/trials.json` lists
every trial and the winner, whose values the distilled student then trains with.
"""

import dataclasses
import math

import keras_tuner
from absl import logging

from tfdistill.atomic import write_json
from tfdistill.run import fingerprints
from tfdistill.run.config import TUNED_KEYS
from tfdistill.run.layout import DISTILLED
from tfdistill.run.layout import TUNING
from tfdistill.run.stages import students


def tuned_config(context, teachers, transfer):
    """The run's config with the winning trial's values of what the search varies.

    Runs (or resumes) the search in `tuning/` and writes `tuning/trials.json`.

    Raises:
        RuntimeError: when no trial finished (trials.json lists their status).
    """
    layout = context.layout
    # Before KerasTuner writes there: a search made with other settings is never
    # resumed (`fingerprints.check_stages`).
    fingerprints.record(layout.tuning, fingerprints.student_fingerprint(context, DISTILLED))
    search = _Search(context, teachers, transfer)
    search.search(verbose=0)
    record = _record(search.oracle, len(context.splits["validation"].texts))
    write_json(layout.tuning_trials, record)
    best = record["best"]
    if best is None:
        raise RuntimeError(f"No tuning trial finished; see {layout.tuning_trials}.")
    leader = max((t for t in record["trials"] if t["score"] is not None), key=lambda t: t["score"])
    if leader is not best:
        logging.info(
            "Tuning: trial %s led the config's values by %.4f, within one standard error "
            "(%.4f): the config's values stay.",
            leader["trial"], leader["score"] - best["score"], record["standard_error"],
        )
    logging.info(
        "Tuning: trial %s wins with %s %.4f: %s",
        best["trial"], record["objective"], best["score"], best["values"],
    )
    return _with(context.config, **best["values"])


def _with(config, augment_factor=None, **values):
    """`config` with `values` in its `distillation` section, and `augment_factor` as
    its `augment.factor`."""
    distillation = dataclasses.replace(config.distillation, **values)
    if augment_factor is not None:
        augment = dataclasses.replace(distillation.augment, factor=augment_factor)
        distillation = dataclasses.replace(distillation, augment=augment)
    return dataclasses.replace(config, distillation=distillation)


def _searched_values(distillation):
    """The config's own values of what the search varies: the first trial's."""
    values = {name: getattr(distillation, name) for name in TUNED_KEYS}
    if distillation.tune.augment_factor:
        values["augment_factor"] = distillation.augment.factor
    return values


def _search_space(tune):
    hp = keras_tuner.HyperParameters()
    hp.Float("temperature", *tune.temperature)
    hp.Float("alpha", *tune.alpha)
    # Good learning rates spread over orders of magnitude.
    hp.Float("learning_rate", *tune.learning_rate, sampling="log")
    if tune.augment_factor:
        hp.Int("augment_factor", *tune.augment_factor)
    return hp


class _ConfigFirstOracle(keras_tuner.oracles.RandomSearchOracle):
    """A random search whose first trial is `first_values`, not a random draw.

    KerasTuner's random search only draws: with a budget of a few trials, every one
    may land worse than the values the user chose by hand. Trying those first lets
    the search keep them (`_winner`).
    """

    def __init__(self, first_values, **kwargs):
        super().__init__(**kwargs)
        self.first_values = dict(first_values)

    def populate_space(self, trial_id):
        if self.trials:
            return super().populate_space(trial_id)
        return {"status": keras_tuner.engine.trial.TrialStatus.RUNNING, "values": self.first_values}


class _Search(keras_tuner.Tuner):
    """A random search whose trials distil the run's student (see the module doc).

    A trial is not one `model.fit` of a built model, so it overrides `run_trial`,
    KerasTuner's hook for that, rather than giving a `HyperModel`: that also spares
    the build KerasTuner makes to read a model's search space, and the
    `clear_session` before each of its builds, in a run whose teachers live on.
    """

    def __init__(self, context, teachers, transfer):
        tune = context.config.distillation.tune
        self.context, self.teachers, self.transfer = context, teachers, transfer
        oracle = _ConfigFirstOracle(
            _searched_values(context.config.distillation),
            objective=keras_tuner.Objective(f"val_{context.task.headline_metric}", "max"),
            max_trials=tune.trials,
            seed=context.config.seed,
            hyperparameters=_search_space(tune),
        )
        super().__init__(
            oracle,
            directory=str(context.layout.root),
            project_name=TUNING,
            # Resume an interrupted search: its finished trials are not run again.
            overwrite=False,
        )

    def run_trial(self, trial, *args, **kwargs):
        """Distils a fresh student with `trial`'s values; returns its best score."""
        values = trial.hyperparameters.values
        logging.info("Tuning trial %s: %s", trial.trial_id, values)
        config = self.context.config
        epochs = config.distillation.tune.epochs or config.distillation.epochs
        context = dataclasses.replace(self.context, config=_with(config, epochs=epochs, **values))
        built = students.build(context, self.teachers[0])
        stopping = students.stopping(context, built)
        trainer = students.make_trainer(context, DISTILLED, built, self.teachers, cached=True)
        data = students.datasets(context, DISTILLED, built, self.teachers[0], self.transfer, 0)
        students.fit(context, trainer, data, [*students.averaging(config), stopping])
        return {self.oracle.objective.name: float(stopping.best)}


def _record(oracle, validation_examples):
    """What `trials.json` holds: every trial in order, the standard error of the
    config's trial, and the winner (`_winner`)."""
    trials = [
        {
            "trial": trial.trial_id,
            "values": trial.hyperparameters.values,
            "score": trial.score,
            "status": trial.status,
        }
        for trial in sorted(oracle.trials.values(), key=lambda trial: trial.trial_id)
    ]
    error = _standard_error(trials[0]["score"], validation_examples) if trials else None
    return {
        "objective": oracle.objective.name,
        "trials": trials,
        "standard_error": error,
        "best": _winner(trials, error),
    }


def _standard_error(score, examples):
    """The binomial standard error of a score that is a proportion of `examples`."""
    if score is None or not examples:
        return None
    return math.sqrt(score * (1.0 - score) / examples)


def _winner(trials, standard_error):
    """The best finished trial, unless the config's own (the first) is within
    `standard_error` of it: then the config's.

    >>> trials = [{"score": 0.90}, {"score": 0.91}, {"score": None}]
    >>> _winner(trials, 0.02) is trials[0], _winner(trials, 0.005) is trials[1]
    (True, True)
    """
    finished = [trial for trial in trials if trial["score"] is not None]
    if not finished:
        return None
    best = max(finished, key=lambda trial: trial["score"])
    first = trials[0]
    comparable = first["score"] is not None and standard_error is not None
    if comparable and best["score"] - first["score"] <= standard_error:
        return first
    return best
