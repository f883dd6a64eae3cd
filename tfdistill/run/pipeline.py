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
import json
import os
import pathlib
import shutil

import keras
import numpy as np
import tensorflow as tf
import yaml
from absl import logging

from tfdistill import data
from tfdistill import evaluation
from tfdistill import export
from tfdistill import models
from tfdistill.distiller import Distiller
from tfdistill.run import report
from tfdistill.run.config import ConfigError
from tfdistill.run.precision import resolve_dtype_policy
from tfdistill.run.report import TEACHER

PARTIAL_SUFFIX = ".partial"


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
    if not 0.0 <= config.distillation.alpha <= 1.0:
        raise ConfigError(f"distillation.alpha must be in [0, 1], got {config.distillation.alpha}.")
    if config.distillation.temperature <= 0:
        raise ConfigError(
            f"distillation.temperature must be > 0, got {config.distillation.temperature}."
        )
    partial = pathlib.Path(str(output_dir) + PARTIAL_SUFFIX)
    try:
        partial.mkdir(parents=True, exist_ok=True)
        probe = partial / ".write-probe"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise ConfigError(f"output directory {output_dir} cannot be written: {error}") from None


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
    """The state of one run: its config, directory, data and teacher."""

    def __init__(self, config, run_dir):
        self.config = config
        self.run_dir = run_dir
        self.policy = resolve_dtype_policy(config.runtime.dtype_policy)
        self.splits = {}
        self.class_names = None
        for role in ("train", "validation", "test"):
            split_name = getattr(config.data, f"{role}_split")
            self.splits[role], info = _load_split(config, split_name)
            self.class_names = list(info.class_names)
        self.histories = {}

    # Stage 1-2: the pretrained teacher, fine-tuned on the task, then frozen.
    def teacher(self):
        config, teacher_dir = self.config.teacher, self.run_dir / TEACHER
        num_classes = len(self.class_names)
        if teacher_dir.exists():
            logging.info("Reusing the fine-tuned teacher in %s", teacher_dir)
            teacher = models.load_teacher(
                str(teacher_dir), num_classes, sequence_length=config.sequence_length
            )
        else:
            teacher = models.load_teacher(
                config.preset, num_classes, sequence_length=config.sequence_length
            )
            train = self.splits["train"].dataset().shuffle(
                len(self.splits["train"].texts), seed=self.config.seed
            )
            tmp_dir = self.run_dir / f".{TEACHER}.tmp"
            shutil.rmtree(tmp_dir, ignore_errors=True)
            history = models.finetune_teacher(
                teacher,
                train.batch(config.batch_size),
                self.splits["validation"].dataset().batch(config.batch_size),
                epochs=config.epochs,
                learning_rate=config.learning_rate,
                warmup_fraction=config.warmup_fraction,
                weight_decay=config.weight_decay,
                patience=config.patience,
                save_dir=str(tmp_dir),
                callbacks=[keras.callbacks.TensorBoard(str(self.run_dir / "tensorboard" / TEACHER))],
                jit_compile=self.config.runtime.jit_compile,
            )
            _write_json(tmp_dir / "history.json", history.history)
            os.replace(tmp_dir, teacher_dir)
        self.histories[TEACHER] = json.loads((teacher_dir / "history.json").read_text())
        return models.freeze(teacher)

    # Stage 3a: the teacher's logits, computed once per split and kept on disk.
    def teacher_logits(self, teacher, role):
        split = self.splits[role]
        inputs = data.encode(
            split.dataset(), teacher.preprocessor, batch_size=self.config.teacher.batch_size, cache=False
        )
        tokenizer = teacher.preprocessor.tokenizer
        preprocessing = {
            "sequence_length": teacher.preprocessor.sequence_length,
            "vocabulary_size": tokenizer.vocabulary_size(),
            "lowercase": tokenizer.lowercase,
            "strip_accents": tokenizer.strip_accents,
            "special_tokens_in_strings": tokenizer.special_tokens_in_strings,
            "policy": self.policy,
        }
        key = data.fingerprint(teacher, split.texts, preprocessing)
        cache = data.TeacherLogitCache(self.run_dir / "cache")
        logging.info("Teacher logits for %s (%d texts)", role, len(split.texts))
        return cache.get_or_compute(teacher, inputs, key)

    def _build_student(self, teacher):
        config = self.config.student
        # The same seed before each build: distilled and baseline start identical.
        keras.utils.set_random_seed(self.config.seed)
        return models.build_student(
            config.kind,
            len(self.class_names),
            teacher=teacher,
            train_texts=self.splits["train"].texts,
            sequence_length=config.sequence_length,
            **config.sizes,
        )

    def _encode(self, role, student, **kwargs):
        return data.encode(
            self.splits[role].dataset(),
            student.preprocessor,
            batch_size=self.config.distillation.batch_size,
            **kwargs,
        )

    def _distillation_batches(self, role, student, teacher, logits, **kwargs):
        teacher_input = (
            {"teacher_logits": logits[role]}
            if logits
            else {"teacher_preprocessor": teacher.preprocessor}
        )
        return data.encode_for_distillation(
            self.splits[role].dataset(),
            student_preprocessor=student.preprocessor,
            batch_size=self.config.distillation.batch_size,
            **teacher_input,
            **kwargs,
        )

    # Stage 3b: the student, with the teacher (distilled) or without it (baseline).
    def student(self, variant, teacher, logits):
        config = self.config.distillation
        name = f"{self.config.student.kind}_{variant}"
        student_dir = self.run_dir / "students" / name
        student = self._build_student(teacher)
        model_path = student_dir / "model.keras"
        if model_path.exists():
            logging.info("Reusing the trained student in %s", student_dir)
            student = dataclasses.replace(student, model=keras.models.load_model(model_path))
            self.histories[name] = json.loads((student_dir / "history.json").read_text())
            return name, student
        optimizer = keras.optimizers.Adam(config.learning_rate)
        train_options = {"shuffle": True, "seed": self.config.seed}
        if variant == "distilled":
            trainer = Distiller(
                None if logits else teacher,
                student.model,
                temperature=config.temperature,
                alpha=config.alpha,
                distillation_loss=config.loss,
            )
            trainer.compile(optimizer, metrics=["accuracy"], jit_compile=self.config.runtime.jit_compile)
            train = self._distillation_batches("train", student, teacher, logits, **train_options)
            validation = self._distillation_batches("validation", student, teacher, logits)
        else:
            trainer = student.model
            trainer.compile(
                optimizer,
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"],
                jit_compile=self.config.runtime.jit_compile,
            )
            train = self._encode("train", student, **train_options)
            validation = self._encode("validation", student)
        logging.info("Training %s", name)
        history = trainer.fit(
            train,
            validation_data=validation,
            epochs=config.epochs,
            callbacks=_callbacks(self.run_dir, name, config.patience),
            verbose=2,
        )
        student_dir.mkdir(parents=True, exist_ok=True)
        _write_json(student_dir / "history.json", history.history)
        student.model.save(model_path)
        self.histories[name] = history.history
        return name, student

    # Stage 4: evaluation, export and timing.
    def evaluate(self, name, model, preprocessor, test_logits=None):
        test = self.splits["test"]
        if test_logits is None:
            test_logits = model.predict(
                data.encode(test.dataset(), preprocessor, batch_size=64, cache=False), verbose=0
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


def run(config, output_dir=None):
    """Runs every stage of `config` into `output_dir` and returns the metrics summary.

    Args:
        config: a `tfdistill.run.config.RunConfig`.
        output_dir: the run directory; defaults to `config.output_dir`.

    Returns:
        The dict written to `metrics.json`.
    """
    output_dir = pathlib.Path(output_dir or config.output_dir or "")
    validate(config, output_dir if str(output_dir) else None)
    partial = pathlib.Path(str(output_dir) + PARTIAL_SUFFIX)
    if output_dir.exists():
        # A finished run being run again: continue it in place of the partial one.
        shutil.rmtree(partial)
        os.replace(output_dir, partial)
    (partial / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))

    keras.utils.set_random_seed(config.seed)
    state = _Run(config, partial)
    keras.config.set_dtype_policy(state.policy)
    logging.info("dtype policy: %s", state.policy)
    try:
        teacher = state.teacher()
        logits = {}
        if config.distillation.cache_teacher_logits:
            logits = {role: state.teacher_logits(teacher, role) for role in ("train", "validation")}
        test_logits = state.teacher_logits(teacher, "test")
        results = {TEACHER: state.evaluate(TEACHER, teacher, teacher.preprocessor, test_logits)}
        variants = ("distilled", "baseline") if config.distillation.baseline else ("distilled",)
        for variant in variants:
            name, student = state.student(variant, teacher, logits)
            results[name] = state.evaluate(name, student.model, student.preprocessor)
    finally:
        keras.config.set_dtype_policy("float32")
    summary = report.summarize(config, state.policy, state.class_names, results)
    report.write(partial, summary, state.histories)
    os.replace(partial, output_dir)
    return summary
