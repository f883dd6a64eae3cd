"""The main job: fine-tune the teacher, distill a student, train its baseline, evaluate,
export and report, each stage reusing what an earlier run left in the output directory.

The run is built in `<output_dir>.partial/` and renamed to `<output_dir>` when it
finishes, so a finished directory is always whole. Running the same command after a
crash picks the partial directory up again: a fine-tuned teacher, cached teacher logits
and trained students found there are reused, not recomputed.

Example:

```python
from tfdistill.run import config, pipeline

run_config = config.load("configs/smoke.yaml")
summary = pipeline.run(run_config, "runs/smoke")
print(summary["models"]["bilstm_distilled"]["accuracy"])
```
"""

import dataclasses
import functools
import json
import os
import pathlib
import shutil
import sys

import keras
import numpy as np
import tensorflow as tf
import yaml
from absl import logging

from tfdistill import data
from tfdistill import evaluation
from tfdistill import export
from tfdistill import losses
from tfdistill import models
from tfdistill import schedules
from tfdistill.distiller import Distiller
from tfdistill.distiller import check_alpha
from tfdistill.distiller import check_temperature
from tfdistill.run import distribute
from tfdistill.run import report
from tfdistill.run.checkpoint import ResumableBackup
from tfdistill.run.config import ConfigError
from tfdistill.run.precision import dtype_policy
from tfdistill.run.precision import resolve_dtype_policy
from tfdistill.run.report import TEACHER

PARTIAL_SUFFIX = ".partial"
CHECKPOINTS = "checkpoints"
TRAINING_FILE = "training.json"
# The label of a transfer text that only the teacher labels (see `Distiller`).
NO_GOLD_LABEL = -1


@dataclasses.dataclass(frozen=True)
class Split:
    """One split, held in memory: the texts are needed for vocabularies and keys."""

    texts: list
    labels: np.ndarray

    def dataset(self):
        return tf.data.Dataset.from_tensor_slices((self.texts, self.labels))


def validate(config, output_dir):
    """Raises `ConfigError` for what would fail later, before anything is written."""
    if output_dir is None:
        raise ConfigError("output_dir is not set: pass --output_dir or set output_dir.")
    try:
        models.resolve_preset(config.teacher.preset)
    except (FileNotFoundError, ValueError) as error:
        raise ConfigError(f"teacher.preset: {error}") from None
    if config.student.kind not in models.STUDENT_KINDS:
        raise ConfigError(
            f"student.kind must be one of {list(models.STUDENT_KINDS)}, "
            f"got {config.student.kind!r}."
        )
    checks = (
        ("distillation.temperature", check_temperature, config.distillation.temperature),
        ("distillation.alpha", check_alpha, config.distillation.alpha),
    )
    for key, check, value in checks:
        try:
            check(value)
        except ValueError as error:
            raise ConfigError(f"{key}: {error}") from None
    if config.distillation.intermediate and config.student.kind != "small_bert":
        raise ConfigError(
            "distillation.intermediate compares BERT layers, so it needs "
            f"student.kind: small_bert, got {config.student.kind!r}."
        )
    if config.distillation.intermediate and (
        config.student.sequence_length != config.teacher.sequence_length
    ):
        raise ConfigError(
            "distillation.intermediate compares the models token by token, so "
            "student.sequence_length must equal teacher.sequence_length "
            f"({config.student.sequence_length} != {config.teacher.sequence_length})."
        )
    _validate_ensemble(config)
    unknown = set(config.distillation.schedule) - {"temperature", "alpha"}
    if unknown:
        raise ConfigError(
            f"distillation.schedule schedules temperature and alpha, not {sorted(unknown)}."
        )
    partial = pathlib.Path(str(output_dir) + PARTIAL_SUFFIX)
    try:
        partial.mkdir(parents=True, exist_ok=True)
        # Per process: every worker of a multi-worker run validates the same path.
        probe = partial / f".write-probe-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise ConfigError(f"output directory {output_dir} cannot be written: {error}") from None


def _validate_ensemble(config):
    seeds, weights = config.teacher.ensemble_seeds, config.teacher.ensemble_weights
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"teacher.ensemble_seeds repeats a seed: {seeds}.")
    if seeds and config.distillation.intermediate:
        raise ConfigError(
            "distillation.intermediate compares one teacher's layers with the student's; "
            "it cannot be combined with teacher.ensemble_seeds."
        )
    if weights is not None:
        try:
            losses.check_teacher_weights(weights, 1 + len(seeds))
        except ValueError as error:
            raise ConfigError(
                f"teacher.ensemble_weights (one per teacher, the first teacher's first): {error}"
            ) from None


def _load_split(config, split):
    dataset, info = data.load(
        config.data.source,
        split,
        text_column=config.data.text_column,
        label_column=config.data.label_column,
        label_names=config.data.label_names,
    )
    if config.data.max_examples is not None:
        dataset = dataset.take(config.data.max_examples)
    texts, labels = [], []
    for text, label in dataset.as_numpy_iterator():
        texts.append(text.decode("utf-8"))
        labels.append(label)
    logging.info("%s/%s: %d examples", config.data.source, split, len(texts))
    return Split(texts, np.asarray(labels, dtype=np.int32)), info


def _fit_verbosity():
    """Progress bars on a terminal; one line per epoch in a log file or CI."""
    return 1 if sys.stdout.isatty() else 2


def _steps_per_epoch(split, batch_size):
    return -(-len(split.texts) // batch_size)


def _write_json(path, value):
    path.write_text(json.dumps(value, indent=2, default=float) + "\n", encoding="utf-8")


def _callbacks(run_dir, name, patience):
    return [
        keras.callbacks.EarlyStopping(
            monitor="val_accuracy", mode="max", patience=patience, restore_best_weights=True
        ),
        keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard" / name)),
    ]


class _Run:
    """The state of one run: its config, directory, data and the trainings so far."""

    def __init__(self, config, run_dir):
        self.config = config
        self.run_dir = run_dir
        self.teacher_policy = resolve_dtype_policy(config.runtime.dtype_policy)
        self.student_policy = resolve_dtype_policy(
            config.runtime.student_dtype_policy, recurrent=config.student.kind == "bilstm"
        )
        self.splits = {}
        for role in ("train", "validation", "test"):
            split_name = getattr(config.data, f"{role}_split")
            self.splits[role], info = _load_split(config, split_name)
        self.class_names = list(info.class_names)
        # Per stage: {"history": per-epoch logs, "optimizer_steps": ...}.
        self.trainings = {}

    # Stages 1-2: the pretrained teacher, fine-tuned on the task, then frozen.
    def teachers(self):
        """The fine-tuned teachers: the first (the run's seed), then one per ensemble seed."""
        return [self._teacher(name, seed) for name, seed in _teacher_members(self.config)]

    def _teacher(self, name, seed):
        config, teacher_dir = self.config.teacher, self.run_dir / name
        with dtype_policy(self.teacher_policy):
            if not teacher_dir.exists():
                self._finetune_teacher(name, seed)
            else:
                logging.info("Reusing the fine-tuned teacher in %s", teacher_dir)
            # Always the saved teacher, so what the students learn from is what was
            # saved, and the fine-tuning optimizer is gone.
            teacher = models.load_teacher(
                str(teacher_dir), len(self.class_names), sequence_length=config.sequence_length
            )
        self.trainings[name] = json.loads((teacher_dir / TRAINING_FILE).read_text())
        return models.freeze(teacher)

    def _finetune_teacher(self, name, seed):
        config = self.config.teacher
        # The seed draws the classification head and dropout: an ensemble's members
        # differ by it alone.
        keras.utils.set_random_seed(seed)
        teacher = models.load_teacher(
            config.preset, len(self.class_names), sequence_length=config.sequence_length
        )
        backup = ResumableBackup(self.run_dir / CHECKPOINTS / name)
        train = self.splits["train"]
        # The teacher's preprocessor is applied by keras-hub's fit; this only batches.
        batches = data.encode(
            train.dataset(),
            lambda texts: texts,
            batch_size=config.batch_size,
            shuffle=True,
            seed=seed,
            epochs=(backup.initial_epoch, config.epochs),
        )
        logging.info(
            "Fine-tuning the teacher %s as %s, seed %d (%s)",
            config.preset, name, seed, self.teacher_policy,
        )
        tmp_dir = self.run_dir / f".{name}.tmp"
        shutil.rmtree(tmp_dir, ignore_errors=True)
        models.finetune_teacher(
            teacher,
            batches,
            self.splits["validation"].dataset().batch(config.batch_size),
            epochs=config.epochs,
            learning_rate=config.learning_rate,
            warmup_fraction=config.warmup_fraction,
            weight_decay=config.weight_decay,
            patience=config.patience,
            steps_per_epoch=_steps_per_epoch(train, config.batch_size),
            initial_epoch=backup.initial_epoch,
            save_dir=str(tmp_dir),
            callbacks=[keras.callbacks.TensorBoard(str(self.run_dir / "tensorboard" / name)), backup],
            jit_compile=self.config.runtime.jit_compile,
            verbose=_fit_verbosity(),
        )
        _write_json(tmp_dir / TRAINING_FILE, {"history": backup.history()})
        os.replace(tmp_dir, self.run_dir / name)
        shutil.rmtree(backup.backup_dir)

    # Stage 3a: the transfer set, and the teacher's logits on it, computed once.
    def transfer_set(self, teachers):
        """The distilled student's training set, and the teachers' logits on it.

        Returns `(transfer, transfer_logits, validation_logits)`: the training split
        plus any augmented texts, and the teachers' logits on it and on the
        validation split, `(texts, classes)` for one teacher and `(texts, teachers,
        classes)` for an ensemble; both logits are None when `cache_teacher_logits`
        is off (the teachers then run on every batch).
        """
        config = self.config.distillation
        parts = {"train": self.splits["train"]}
        if config.augment.factor > 0:
            parts["augmented"] = self._augmented_split(teachers[0])
        transfer = _concatenate(*parts.values())
        # Intermediate terms read the live teacher's hidden states on every batch.
        if not config.cache_teacher_logits or config.intermediate:
            return transfer, None, None
        transfer_logits = np.concatenate(
            [self.ensemble_logits(teachers, split, name) for name, split in parts.items()]
        )
        validation = self.ensemble_logits(teachers, self.splits["validation"], "validation")
        return transfer, transfer_logits, validation

    def ensemble_logits(self, teachers, split, name):
        """One teacher's logits on `split`, or an ensemble's stacked on axis 1."""
        logits = [self.teacher_logits(teacher, split, name) for teacher in teachers]
        return logits[0] if len(logits) == 1 else np.stack(logits, axis=1)

    def _augmented_split(self, teacher):
        """Augmented variants of the training texts, labelled -1 (no gold label)."""
        augment = self.config.distillation.augment
        neighbours = (
            data.teacher_neighbours(teacher, k=augment.neighbours)
            if augment.replace_probability > 0
            else None
        )
        texts = data.augment_texts(
            self.splits["train"].texts,
            factor=augment.factor,
            seed=self.config.seed,
            mask_probability=augment.mask_probability,
            replace_probability=augment.replace_probability,
            ngram_probability=augment.ngram_probability,
            max_ngram=augment.max_ngram,
            neighbours=neighbours,
        )
        logging.info("Augmented transfer set: %d new texts", len(texts))
        return Split(texts, np.full(len(texts), NO_GOLD_LABEL, dtype=np.int32))

    def teacher_logits(self, teacher, split, name):
        tokenizer = teacher.preprocessor.tokenizer
        preprocessing = {
            "sequence_length": teacher.preprocessor.sequence_length,
            "vocabulary_size": tokenizer.vocabulary_size(),
            "lowercase": tokenizer.lowercase,
            "strip_accents": tokenizer.strip_accents,
            "special_tokens_in_strings": tokenizer.special_tokens_in_strings,
            "policy": self.teacher_policy,
        }
        key = data.fingerprint(teacher, split.texts, preprocessing)
        inputs = data.encode(
            split.dataset(),
            teacher.preprocessor,
            batch_size=self.config.teacher.batch_size,
            cache=False,
            trim_padding=True,
        )
        logging.info("Teacher logits for %s (%d texts)", name, len(split.texts))
        return data.TeacherLogitCache(self.run_dir / "cache").get_or_compute(
            teacher, inputs, key, verbose=_fit_verbosity()
        )

    # Stage 3b: the student, with the teacher (distilled) or without it (baseline).
    def student(self, variant, teachers, transfer, transfer_logits, validation_logits):
        """Trains (or reloads) one student and returns `(name, Student)`.

        `transfer` is the distilled student's training set (the training split plus
        any augmented texts); `transfer_logits` and `validation_logits` are the
        teachers' logits on it and on the validation split, or None to run the
        teachers on every batch.
        """
        teacher = teachers[0]
        config = self.config.distillation
        name = f"{self.config.student.kind}_{variant}"
        student_dir = self.run_dir / "students" / name
        model_path = student_dir / "model.keras"
        with dtype_policy(self.student_policy):
            # The same seed before each build: distilled and baseline start identical.
            keras.utils.set_random_seed(self.config.seed)
            student = models.build_student(
                self.config.student.kind,
                len(self.class_names),
                teacher=teacher,
                train_texts=self.splits["train"].texts,
                sequence_length=self.config.student.sequence_length,
                **self.config.student.sizes,
            )
        if model_path.exists():
            logging.info("Reusing the trained student in %s", student_dir)
            self.trainings[name] = json.loads((student_dir / TRAINING_FILE).read_text())
            return name, dataclasses.replace(student, model=keras.models.load_model(model_path))

        backup = ResumableBackup(self.run_dir / CHECKPOINTS / name)
        # Training batches stream the epochs still to run, each in the order that
        # epoch has in any run (so a resumed stage replays the interrupted one).
        epochs = (backup.initial_epoch, config.epochs)
        batches = functools.partial(
            self._batches, student, teacher if transfer_logits is None else None
        )
        callbacks = _callbacks(self.run_dir, name, config.patience)
        if variant == "distilled":
            live_teachers = teachers if len(teachers) > 1 else teacher
            trainer = Distiller(
                None if transfer_logits is not None else live_teachers,
                student.model,
                temperature=config.temperature,
                alpha=config.alpha,
                distillation_loss=config.loss,
                intermediate_losses=config.intermediate or None,
                layer_map=config.layer_map,
                teacher_weights=self.config.teacher.ensemble_weights,
            )
            callbacks += [
                schedules.DistillerSchedule(variable, **spec)
                for variable, spec in config.schedule.items()
            ]
            train_split = transfer
            train = batches(transfer, transfer_logits, epochs=epochs)
            validation = batches(self.splits["validation"], validation_logits)
            loss = None
        else:
            trainer = student.model
            train_split = self.splits["train"]
            train = batches(train_split, epochs=epochs)
            validation = batches(self.splits["validation"])
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        trainer.compile(
            keras.optimizers.Adam(config.learning_rate),
            loss=loss,
            weighted_metrics=["accuracy"],
            jit_compile=self.config.runtime.jit_compile,
        )
        logging.info("Training %s (%s)", name, self.student_policy)
        trainer.fit(
            train,
            validation_data=validation,
            epochs=config.epochs,
            initial_epoch=backup.initial_epoch,
            steps_per_epoch=_steps_per_epoch(train_split, config.batch_size),
            callbacks=[*callbacks, backup],
            shuffle=False,  # The dataset shuffles itself, reproducibly from the seed.
            verbose=_fit_verbosity(),
        )
        self.trainings[name] = {
            "history": backup.history(),
            "optimizer_steps": int(trainer.optimizer.iterations.numpy()),
        }
        student_dir.mkdir(parents=True, exist_ok=True)
        _write_json(student_dir / TRAINING_FILE, self.trainings[name])
        # model.keras marks the stage done, so it appears whole or not at all.
        tmp_path = student_dir / ".model.tmp.keras"
        student.model.save(tmp_path)
        os.replace(tmp_path, model_path)
        shutil.rmtree(backup.backup_dir)
        return name, student

    def _batches(self, student, live_teacher, split, teacher_logits=None, epochs=None):
        """Batches of `split` for a student: plain, with the live teacher, or with logits.

        With `epochs=(first, stop)`, a shuffled stream of those epochs (for training);
        without, one epoch in order (for validation).
        """
        options = {
            "batch_size": self.config.distillation.batch_size,
            "shuffle": epochs is not None,
            "seed": self.config.seed,
            "epochs": epochs,
            "trim_padding": self.config.distillation.trim_padding,
        }
        if teacher_logits is not None:
            options["teacher_logits"] = teacher_logits
        elif live_teacher is not None:
            options["teacher_preprocessor"] = live_teacher.preprocessor
        else:
            return data.encode(split.dataset(), student.preprocessor, **options)
        return data.encode_for_distillation(
            split.dataset(), student_preprocessor=student.preprocessor, **options
        )

    # Stage 4: evaluation, export and timing.
    def evaluate(self, name, model, preprocessor, test_logits=None):
        test = self.splits["test"]
        if test_logits is None:
            # Not `model.predict`: under a multi-worker strategy it would shard the
            # test set between the workers.
            test_logits = data.predict_logits(
                model, data.encode(test.dataset(), preprocessor, batch_size=64, cache=False), verbose=0
            )
        scores = evaluation.classification_metrics(
            test.labels, np.argmax(test_logits, axis=-1), len(self.class_names)
        )
        model_dir = self.run_dir / TEACHER if name == TEACHER else self.run_dir / "students" / name
        savedmodel = export.export_savedmodel(
            model, preprocessor, self.run_dir / "export" / name / "savedmodel", self.class_names
        )
        scores.update(
            {
                "dtype_policy": model.dtype_policy.name,
                "optimizer_steps": self.trainings.get(name, {}).get("optimizer_steps"),
                "parameters": int(model.count_params()),
                "savedmodel": os.path.relpath(savedmodel, self.run_dir),
                "savedmodel_bytes": evaluation.size_on_disk(savedmodel),
                "checkpoint_bytes": evaluation.size_on_disk(model_dir),
            }
        )
        if self.config.export.tflite and name != TEACHER:
            scores["tflite"] = self._export_tflite(name, model)
        serve = export.load_savedmodel(savedmodel)
        scores["speed"] = [
            evaluation.measure_throughput(
                lambda texts: serve(texts=texts),
                test.texts,
                batch_size,
                min_seconds=self.config.export.latency_seconds,
            )
            for batch_size in self.config.export.latency_batch_sizes
        ]
        return scores

    def _export_tflite(self, name, model):
        path = self.run_dir / "export" / name / "model.tflite"
        try:
            export.export_tflite(model, path)
        except ValueError as error:
            logging.warning("%s", error)
            return {"exported": False, "reason": str(error).splitlines()[0]}
        return {"exported": True, "path": os.path.relpath(path, self.run_dir), "bytes": path.stat().st_size}


def _teacher_members(config):
    """`(directory name, fine-tuning seed)` of each teacher, the first one first."""
    return [(TEACHER, config.seed)] + [
        (f"{TEACHER}_seed_{seed}", seed) for seed in config.teacher.ensemble_seeds
    ]


def _ensemble_scores(config, state, test_logits):
    """Test accuracy of each ensemble member and of their averaged prediction."""
    test = state.splits["test"]
    accuracy = {
        member: float(np.mean(np.argmax(test_logits[:, i], axis=-1) == test.labels))
        for i, (member, _) in enumerate(_teacher_members(config))
    }
    mixed = keras.ops.convert_to_numpy(
        losses.ensemble_logits(test_logits, weights=config.teacher.ensemble_weights)
    )
    scores = evaluation.classification_metrics(
        test.labels, np.argmax(mixed, axis=-1), len(state.class_names)
    )
    logging.info("Teacher ensemble: members %s, ensemble %.4f", accuracy, scores["accuracy"])
    return {"member_accuracy": accuracy, **scores}


def _concatenate(*splits):
    return Split(
        [text for split in splits for text in split.texts],
        np.concatenate([split.labels for split in splits]),
    )


def run(config, output_dir=None):
    """Runs every stage of `config` into `output_dir` and returns the metrics summary.

    Args:
        config: a `tfdistill.run.config.RunConfig`.
        output_dir: the run directory; defaults to `config.output_dir`.

    Returns:
        The dict written to `metrics.json`.
    """
    output_dir = pathlib.Path(output_dir or config.output_dir or "")
    # First: a multi-worker strategy sets up TensorFlow's runtime, before any op runs.
    strategy = _make_strategy(config.runtime)
    validate(config, output_dir if str(output_dir) else None)
    run_dir = distribute.output_dir_for(strategy, output_dir)
    partial = pathlib.Path(str(run_dir) + PARTIAL_SUFFIX)
    if run_dir.exists():
        # A finished run being run again: continue it in place of the partial one.
        shutil.rmtree(partial, ignore_errors=True)
        os.replace(run_dir, partial)
    partial.mkdir(parents=True, exist_ok=True)
    (partial / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))

    keras.utils.set_random_seed(config.seed)
    if config.runtime.deterministic:
        tf.config.experimental.enable_op_determinism()
    summary = _run_stages(config, partial, strategy)
    if distribute.is_chief(strategy):
        os.replace(partial, run_dir)
    else:
        # This worker's copy only mirrored the chief's steps; the chief wrote the run.
        shutil.rmtree(partial)
    return summary


def _make_strategy(runtime):
    try:
        strategy = distribute.make_strategy(runtime.strategy, runtime.tpu, runtime.cpu_devices)
    except (ValueError, RuntimeError) as error:
        raise ConfigError(f"runtime.strategy: {error}") from None
    logging.info(
        "Strategy %s with %d replica(s)", type(strategy).__name__, strategy.num_replicas_in_sync
    )
    return strategy


def _run_stages(config, partial, strategy):
    """Every stage of the run, in `partial`; returns the summary it wrote there.

    The models are built and trained under `strategy`; they are evaluated, exported
    and served outside it (a SavedModel loaded in a strategy's scope cannot run).
    """
    with strategy.scope():
        state = _Run(config, partial)
        logging.info(
            "dtype policies: teacher %s, students %s", state.teacher_policy, state.student_policy
        )
        teachers = state.teachers()
        transfer, transfer_logits, validation_logits = state.transfer_set(teachers)
        test_logits = state.ensemble_logits(teachers, state.splits["test"], "test")
        variants = ("distilled", "baseline") if config.distillation.baseline else ("distilled",)
        students = [
            state.student(variant, teachers, transfer, transfer_logits, validation_logits)
            for variant in variants
        ]
    teacher_test_logits = test_logits if len(teachers) == 1 else test_logits[:, 0]
    results = {
        TEACHER: state.evaluate(TEACHER, teachers[0], teachers[0].preprocessor, teacher_test_logits)
    }
    for name, student in students:
        results[name] = state.evaluate(name, student.model, student.preprocessor)
    # Every stage finished, so no checkpoint is left to resume from.
    shutil.rmtree(partial / CHECKPOINTS, ignore_errors=True)
    summary = report.summarize(config, state.class_names, results)
    if len(teachers) > 1:
        summary["teacher_ensemble"] = _ensemble_scores(config, state, test_logits)
    report.write(partial, summary, {name: t["history"] for name, t in state.trainings.items()})
    return summary
