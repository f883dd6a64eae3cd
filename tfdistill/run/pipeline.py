"""The main job: the stages of a run, in order, and nothing else.

teacher (fine-tune, freeze) -> transfer set and teacher logits -> [a search of
the distillation's values] -> students (distilled, baseline) -> evaluate -> export
-> report. Each stage lives in
`tfdistill.run.stages` and reuses what an earlier attempt left whole; evaluation and
export keep a finished run's scores and files when nothing they measured changed
(`tfdistill.run.scored`).

The run is built in `<output_dir>.partial/` and put at `<output_dir>` when it
finishes, so a finished directory is always whole, and a failed rerun leaves the
finished run where it was (`tfdistill.run.folders`). Running the same command after a
crash picks the partial directory up again; a stage made with other settings stops
the run before any work unless `overwrite` (`tfdistill.run.fingerprints`).

`run(config.load("configs/smoke.yaml"), "runs/smoke")` is what
`tfdistill --config=configs/smoke.yaml --output_dir=runs/smoke` does; it returns what
it wrote to `metrics.json`. `tests/test_cli.py` runs it end to end.
"""

import dataclasses
import json
import pathlib
import shutil

import keras
import tensorflow as tf
import yaml
from absl import logging

from tfdistill.atomic import write_text
from tfdistill.run import distribute
from tfdistill.run import fingerprints
from tfdistill.run import folders
from tfdistill.run import report
from tfdistill.run import scored
from tfdistill.run.config import ConfigError
from tfdistill.run.context import RunContext
from tfdistill.run.layout import TEACHER
from tfdistill.run.layout import RunLayout
from tfdistill.run.layout import partial_dir
from tfdistill.run.stages import evaluate
from tfdistill.run.stages import export
from tfdistill.run.stages import students
from tfdistill.run.stages import teacher
from tfdistill.run.stages import transfer
from tfdistill.run.stages import tune
from tfdistill.run.validate import validate


def run(config, output_dir=None, overwrite=False):
    """Runs every stage of `config` into `output_dir` and returns the metrics summary.

    Args:
        config: a `tfdistill.run.config.RunConfig`.
        output_dir: the run directory; defaults to `config.output_dir`.
        overwrite: redo the stages an earlier run made with other settings (and
            what depends on them) instead of stopping.

    Returns:
        The dict written to `metrics.json`.
    """
    # Unset stays None for `validate` to name: `Path("")` would be the current folder.
    output_dir = output_dir or config.output_dir
    # First: a multi-worker strategy sets up TensorFlow's runtime, before any op runs.
    strategy = _make_strategy(config.runtime)
    validate(config, output_dir)
    output_dir = pathlib.Path(output_dir)
    run_dir = distribute.output_dir_for(strategy, output_dir)
    # The data is read and checked before any folder is made: a data error leaves
    # nothing behind.
    context = RunContext.create(config, partial_dir(run_dir))
    if not overwrite:
        # Also before any folder is made: a result made with other settings stops
        # the run with the finished run and any interrupted one as they were.
        for existing in (partial_dir(run_dir), run_dir):
            if existing.is_dir():
                fingerprints.check_stages(dataclasses.replace(context, layout=RunLayout(existing)))
                break
    # After the checks, so that a mistake they catch prints its one line alone.
    logging.info(
        "Strategy %s with %d replica(s)", type(strategy).__name__, strategy.num_replicas_in_sync
    )
    with folders.claim(run_dir) as partial:
        keras.utils.set_random_seed(config.seed)
        if config.runtime.deterministic:
            tf.config.experimental.enable_op_determinism()
        summary = _run_stages(context, strategy, overwrite)
        if distribute.is_chief(strategy):
            folders.publish(partial, run_dir)
        else:
            # This worker's copy only mirrored the chief's steps; the chief wrote the run.
            folders.discard(partial)
    return summary


def _make_strategy(runtime):
    try:
        strategy = distribute.make_strategy(runtime.strategy, runtime.tpu, runtime.cpu_devices)
    except (ValueError, RuntimeError) as error:
        raise ConfigError(f"runtime.strategy: {error}") from None
    return strategy


def _scores(context, served, teacher_test_logits, kept, digests):
    """`{name: scores}` of each served model: its `kept` scores (`scored.kept_models`),
    or evaluated and exported, recording its digest of `digests`."""
    results = {}
    for name, model, preprocessor in served:
        if name in kept:
            logging.info("%s: its scores and exported files are kept (nothing they came from changed)", name)
            results[name] = kept[name]
            continue
        results[name] = evaluate.evaluate(context, name, model, preprocessor, teacher_test_logits)
        results[name].update(export.export(context, name, model, preprocessor))
        results[name][scored.SCORED_WITH] = digests[name]
    return results


def _extra_test_scores(context, served, previous, kept):
    """Every served model's scores on each `data.extra_test` set, those of `previous`
    kept where nothing they came from changed, each set's digest recorded."""
    extra_digests = scored.extra_test_digests(context)
    kept_extra = scored.kept_extra_test(previous, extra_digests, kept)
    # The teacher's logits go through the run's cache, as on the test split: the runs
    # of a pool (each seed, each recipe) then score one set of teacher predictions,
    # computed once. Scored live, the same bfloat16 teacher moved by 1 to 4 texts of
    # a set from one seed's run to the next (BENCHMARKS.md section 17). They are read
    # for every set with a model to score, as each student's agreement needs them.
    teacher_model = served[0][1]
    teacher_logits = {
        source: transfer.teacher_logits(context, teacher_model, split, f"extra test {source}")
        for source, split in context.extra_tests.items()
        if any(name not in kept_extra.get(source, {}) for name, _, _ in served)
    }
    extra_test = evaluate.extra_test_scores(context, served, teacher_logits, kept_extra)
    return scored.record_extra_test(extra_test, extra_digests)


def _run_stages(context, strategy, overwrite):
    """Every stage of the run, in its partial folder; returns the summary written there.

    The models are built and trained under `strategy`; they are evaluated, exported
    and served outside it (a SavedModel loaded in a strategy's scope cannot run).
    """
    config = context.config
    with strategy.scope():
        fingerprints.check_stages(context, overwrite)
        write_text(context.layout.config, yaml.safe_dump(config.to_dict(), sort_keys=False))
        logging.info(
            "dtype policies: teacher %s, students %s",
            context.teacher_policy, context.student_policy,
        )
        teachers = teacher.teachers(context)
        transfer_set = transfer.transfer_set(context, teachers)
        test_logits = transfer.ensemble_logits(context, teachers, context.splits["test"], "test")
        tuning = config.distillation.tune.trials > 0
        tuned = tune.tuned_config(context, teachers, transfer_set) if tuning else None
        trained = students.train_students(context, teachers, transfer_set, tuned)
    served = [(TEACHER, teachers[0], teachers[0].preprocessor)]
    served += [(name, student.model, student.preprocessor) for name, student in trained]
    first_teacher_logits = test_logits if len(teachers) == 1 else test_logits[:, 0]
    previous, digests = scored.previous_summary(context), scored.digests(context)
    kept = scored.kept_models(previous, digests, context.layout.root)
    results = _scores(context, served, first_teacher_logits, kept, digests)
    # Every stage finished, so no checkpoint is left to resume from.
    shutil.rmtree(context.layout.checkpoints, ignore_errors=True)
    extra_test = _extra_test_scores(context, served, previous, kept)
    summary = report.summarize(config, context.class_names, results, extra_test)
    if tuning:
        summary["tuning"] = json.loads(context.layout.tuning_trials.read_text(encoding="utf-8"))
    if len(teachers) > 1:
        summary["teacher_ensemble"] = evaluate.ensemble_scores(context, test_logits)
    histories = {name: training["history"] for name, training in context.trainings.items()}
    report.write(context.layout.root, summary, histories)
    return summary
