"""Every check a config must pass before any work starts.

Names are checked against the registries (`tfdistill.registry`), so a task, student
kind, loss, intermediate term or strategy registered from Python is accepted here
as in the library; each error names the config key.
"""

import os
import pathlib

from tfdistill import data
from tfdistill import losses
from tfdistill import models
from tfdistill import tasks
from tfdistill.distillation.checks import check_alpha
from tfdistill.distillation.checks import check_temperature
from tfdistill.distillation.schedules import SCHEDULED_VARIABLES
from tfdistill.run import distribute
from tfdistill.run.config import ConfigError
from tfdistill.run.layout import PARTIAL_SUFFIX


def validate(config, output_dir):
    """Raises `ConfigError` for what would fail later, before anything is written."""
    if output_dir is None:
        raise ConfigError("output_dir is not set: pass --output_dir or set output_dir.")
    _check_names(config)
    try:
        data.sources.resolve(config.data.source)
    except ValueError as error:
        raise ConfigError(f"data.source: {error}") from None
    try:
        models.resolve_preset(config.teacher.preset)
    except (FileNotFoundError, ValueError) as error:
        raise ConfigError(f"teacher.preset: {error}") from None
    _check_values(config)
    _check_intermediate(config)
    _check_ensemble(config)
    _check_writable(output_dir)


def _check_names(config):
    registries = (
        ("task", tasks.TASKS, config.task),
        ("student.kind", models.STUDENTS, config.student.kind),
        ("distillation.loss", losses.LOGIT_LOSSES, config.distillation.loss),
        ("runtime.strategy", distribute.STRATEGIES, config.runtime.strategy),
    )
    for key, registry, name in registries:
        if name not in registry:
            raise ConfigError(f"{key} must be one of {registry.names()}, got {name!r}.")
    unknown = sorted(set(config.distillation.intermediate) - set(losses.INTERMEDIATE_TERMS.names()))
    if unknown:
        raise ConfigError(
            f"distillation.intermediate: unknown term(s) {unknown}; registered: "
            f"{losses.INTERMEDIATE_TERMS.names()}."
        )
    unknown = sorted(set(config.distillation.schedule) - set(SCHEDULED_VARIABLES))
    if unknown:
        raise ConfigError(
            f"distillation.schedule schedules {sorted(SCHEDULED_VARIABLES)}, not {unknown}."
        )


def _check_values(config):
    checks = (
        ("distillation.temperature", check_temperature, config.distillation.temperature),
        ("distillation.alpha", check_alpha, config.distillation.alpha),
    )
    for key, check, value in checks:
        try:
            check(value)
        except ValueError as error:
            raise ConfigError(f"{key}: {error}") from None


def _check_intermediate(config):
    if not config.distillation.intermediate:
        return
    if not models.STUDENTS.attributes(config.student.kind)["bert_like"]:
        raise ConfigError(
            "distillation.intermediate compares BERT layers, so it needs a BERT-like "
            f"student kind, got {config.student.kind!r}."
        )
    if config.student.sequence_length != config.teacher.sequence_length:
        raise ConfigError(
            "distillation.intermediate compares the models token by token, so "
            "student.sequence_length must equal teacher.sequence_length "
            f"({config.student.sequence_length} != {config.teacher.sequence_length})."
        )


def _check_ensemble(config):
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


def _check_writable(output_dir):
    partial = pathlib.Path(str(output_dir) + PARTIAL_SUFFIX)
    try:
        partial.mkdir(parents=True, exist_ok=True)
        # Per process: every worker of a multi-worker run validates the same path.
        probe = partial / f".write-probe-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise ConfigError(f"output directory {output_dir} cannot be written: {error}") from None
