"""Every check a config must pass before any work starts.

Names are checked against the registries (`tfdistill.registry`), so a task, student
kind, loss, intermediate term or strategy registered from Python is accepted here
as in the library; `student.sizes` are checked against the signature of the builder
registered for `student.kind`. Each error names the config key, in full.

Example:

>>> from tfdistill.run.config import RunConfig
>>> check_numbers(RunConfig.from_dict({"export": {"latency_batch_sizes": []}}))
Traceback (most recent call last):
...
tfdistill.run.config.ConfigError: export.latency_batch_sizes must not be empty.
>>> size_keys("bilstm")
(['dropout', 'embedding_dim', 'hidden_dim', 'init_from_teacher', 'lstm_units', \
'pooling', 'teacher_words', 'vocabulary_size'], set())
"""

import functools
import inspect
import math
import os
import pathlib

from tfdistill import data
from tfdistill import losses
from tfdistill import models
from tfdistill import tasks
from tfdistill.distillation.checks import check_alpha
from tfdistill.distillation.checks import check_temperature
from tfdistill.distillation.intermediate import check_weights
from tfdistill.distillation.schedules import SCHEDULED_VARIABLES
from tfdistill.distillation.schedules import DistillerSchedule
from tfdistill.models.students.bilstm import POOLINGS
from tfdistill.models.students.word_level import build_word_student
from tfdistill.registry import did_you_mean
from tfdistill.run import distribute
from tfdistill.run.config import AUTO
from tfdistill.run.config import TUNED_KEYS
from tfdistill.run.config import ConfigError
from tfdistill.run.config import not_one_of
from tfdistill.run import folders
from tfdistill.run.layout import partial_dir


def validate(config, output_dir):
    """Raises `ConfigError` for what would fail later, before anything is written."""
    if not output_dir:
        raise ConfigError("output_dir is not set: pass --output_dir or set output_dir.")
    _check_names(config)
    check_task(config)
    _check_source(config.data, config.task)
    _check_transfer_texts(config.distillation.transfer_texts)
    _check_augmented_transfer_texts(config.distillation)
    try:
        models.resolve_preset(config.teacher.preset)
    except (FileNotFoundError, ValueError) as error:
        raise ConfigError(f"teacher.preset: {error}") from None
    check_numbers(config)
    check_export(config.export)
    _check_sizes(config.student)
    _check_schedules(config.distillation.schedule)
    _check_intermediate(config)
    _check_representation(config)
    _check_ensemble(config)
    _check_tune(config.distillation)
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
            raise ConfigError(not_one_of(key, registry.names(), name))
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


def check_export(export):
    """What `export` asks is made once: also checked by `tfdistill export`."""
    _check_once("export.tflite", export.tflite, "each mode's file is made once")


def check_task(config):
    """The student kind serves the task, and the config asks nothing the task lacks."""
    try:
        models.check_serves(config.student.kind, config.task)
    except ValueError as error:
        raise ConfigError(f"student.kind: {error}") from None
    for key, allowed in tasks.get(config.task).fixed_config.items():
        value = functools.reduce(getattr, key.split("."), config)
        if value != allowed:
            raise ConfigError(
                f"{key} must be {allowed!r} for {config.task} (not supported yet), got {value!r}."
            )


def _check_source(data_config, task):
    registered = _registered_source("data.source", data_config.source, task)
    for role in ("train", "validation", "test"):
        split = getattr(data_config, f"{role}_split")
        _check_has_split("data.source", data_config.source, registered, split)
    for index, source in enumerate(data_config.extra_test):
        key = f"data.extra_test[{index}]"
        _check_has_split(key, source, _registered_source(key, source, task), "test")
    _check_once("data.extra_test", data_config.extra_test, "each set is scored once")
    label_names = data_config.label_names
    if label_names is None:
        return
    if "label_names" not in data.SOURCES.attributes(registered).get("options", ()):
        raise ConfigError(
            f"data.label_names is only for local files; {data_config.source!r} "
            "defines its own class names."
        )
    if len(label_names) < 2 or len(set(label_names)) != len(label_names):
        raise ConfigError(
            f"data.label_names must name at least two distinct classes, got {label_names}."
        )


def _registered_source(key, source, task):
    """The registered source that serves `source`, which must serve `task`."""
    registered, source_task = _resolve(key, source, (task,))
    if source_task == data.sources.UNLABELLED:
        raise ConfigError(
            f"{key}: {source!r} has no labels; name it in distillation.transfer_texts "
            "for the teacher to label."
        )
    if source_task != task:
        raise ConfigError(
            f"{key}: {source!r} is a {source_task} source; this run's task is {task}."
        )
    return registered


def _check_transfer_texts(sources):
    """Each transfer source is unlabelled or labelled text, named once."""
    kinds = data.sources.TEXT_SOURCE_TASKS
    for index, source in enumerate(sources):
        key = f"distillation.transfer_texts[{index}]"
        registered, source_task = _resolve(key, source, kinds)
        if source_task not in kinds:
            raise ConfigError(
                f"{key}: {source!r} is a {source_task} source; transfer texts come from "
                f"{' or '.join(kinds)} sources."
            )
        if source_task != data.sources.UNLABELLED:  # A labelled source lends its train texts.
            _check_has_split(key, source, registered, "train")
    _check_once("distillation.transfer_texts", sources, "each source's texts are taken once")


def _check_augmented_transfer_texts(distillation):
    """`augment.transfer_texts` needs transfer texts to make variants of."""
    if distillation.augment.transfer_texts and not distillation.transfer_texts:
        raise ConfigError(
            "distillation.augment.transfer_texts makes variants of "
            "distillation.transfer_texts, which names no source."
        )


def _check_has_split(key, source, registered, split):
    """A ConfigError naming `key` when `source` is registered with fixed splits
    (`register_source(splits=...)`) and `split` is not one of them."""
    splits = data.SOURCES.attributes(registered).get("splits")
    if splits is not None and split not in splits:
        use = " (an evaluation set, for data.extra_test)" if splits == ("test",) else ""
        raise ConfigError(f"{key}: {source!r} has no {split!r} split, only {list(splits)}{use}.")


def _resolve(key, source, tasks):
    """`(registered source, its task)` for `source`; when no registered name matches,
    a ConfigError naming `key` and the sources of `tasks`."""
    try:
        registered, _ = data.sources.resolve(source, tasks)
    except ValueError as error:
        raise ConfigError(f"{key}: {error}") from None
    return registered, data.SOURCES.attributes(registered)["task"]


def _check_once(key, sources, why):
    repeated = [source for source in sources if sources.count(source) > 1]
    if repeated:
        raise ConfigError(f"{key} names {repeated[0]!r} twice; {why}.")


def _at_least(low):
    return (lambda value: value >= low), f">= {low}"


def _above(low):
    return (lambda value: value > low), f"> {low}"


def _within(low, high):
    return (lambda value: low <= value <= high), f"in [{low}, {high}]"


def _half_open(low, high):
    return (lambda value: low <= value < high), f"in [{low}, {high})"


_SEEDS = _within(0, 2**32 - 1)  # What NumPy's and TensorFlow's seeding take.
_PROBABILITY = _within(0, 1)
# Each number a config holds, and the values it may take. A list's rule applies to
# each item. Every rule compares, so NaN fails them all.
_RANGES = {
    "seed": _SEEDS,
    "data.max_examples": _at_least(1),
    "teacher.sequence_length": _at_least(1),
    "teacher.epochs": _at_least(1),
    "teacher.batch_size": _at_least(1),
    "teacher.learning_rate": _above(0),
    "teacher.warmup_fraction": _PROBABILITY,
    "teacher.weight_decay": _at_least(0),
    "teacher.patience": _at_least(0),
    "teacher.seed": _SEEDS,
    "teacher.ensemble_seeds": _SEEDS,
    "student.sequence_length": _at_least(1),
    "distillation.epochs": _at_least(1),
    "distillation.batch_size": _at_least(1),
    "distillation.learning_rate": _above(0),
    "distillation.patience": _at_least(0),
    "distillation.ema_momentum": _half_open(0, 1),
    "distillation.layer_map": _at_least(0),
    "distillation.augment.factor": _at_least(0),
    "distillation.augment.negations": _at_least(0),
    "distillation.augment.mask_probability": _PROBABILITY,
    "distillation.augment.replace_probability": _PROBABILITY,
    "distillation.augment.ngram_probability": _PROBABILITY,
    "distillation.augment.max_ngram": _at_least(1),
    "distillation.augment.neighbours": _at_least(1),
    "distillation.max_transfer_texts": _at_least(1),
    "distillation.tune.trials": _at_least(0),
    "distillation.tune.epochs": _at_least(1),
    "distillation.tune.temperature": _above(0),
    "distillation.tune.alpha": _PROBABILITY,
    "distillation.tune.learning_rate": _above(0),
    "distillation.tune.augment_factor": _at_least(0),
    "runtime.cpu_devices": _at_least(1),
    "export.latency_batch_sizes": _at_least(1),
    "export.latency_seconds": _above(0),
    "export.representative_examples": _at_least(1),
}
# Lists that must hold at least one item.
_NON_EMPTY = ("export.latency_batch_sizes",)


def check_numbers(config):
    """Raises `ConfigError` naming the first number of `config` outside its range.

    Also checks what the numbers must satisfy together: temperature, alpha and the
    augmentation probabilities.
    """
    for key, (rule, description) in _RANGES.items():
        value = functools.reduce(getattr, key.split("."), config)
        if isinstance(value, list):
            if not value and key in _NON_EMPTY:
                raise ConfigError(f"{key} must not be empty.")
            items = [(f"{key}[{i}]", item) for i, item in enumerate(value)]
        else:
            # `auto` is a word, not a number (a sequence length read from the data).
            items = [] if value in (None, AUTO) else [(key, value)]
        for item_key, item in items:
            if not (rule(item) and math.isfinite(item)):
                raise ConfigError(f"{item_key} must be {description}, got {item!r}.")
    checks = (
        ("distillation.temperature", check_temperature, config.distillation.temperature),
        ("distillation.alpha", check_alpha, config.distillation.alpha),
        ("distillation.augment", _check_augment, config.distillation.augment),
    )
    for key, check, value in checks:
        try:
            check(value)
        except ValueError as error:
            raise ConfigError(f"{key}: {error}") from None


def _check_augment(augment):
    # With no texts, augment_texts only runs its own checks of its arguments.
    data.augment_texts(
        [],
        factor=augment.factor,
        mask_probability=augment.mask_probability,
        replace_probability=augment.replace_probability,
        ngram_probability=augment.ngram_probability,
        max_ngram=augment.max_ngram,
    )


# What `build_student` itself passes a student builder: its first two arguments
# (the sequence length and vocabulary size, or the teacher and sequence length), the
# task's output layer and (word-level) the task's vectorizer. The builder's other named parameters are `student.sizes`.
_SUPPLIED_POSITIONALS = 2
_SUPPLIED_KEYWORDS = {"head", "bert_model", "bert_preprocessor", "word_vectorizer"}


def size_keys(kind):
    """`(accepted, required)`: the `student.sizes` keys the builder of `kind` takes.

    `accepted` is sorted, or None when the builder takes any keyword. A word-level
    kind also takes what `build_word_student` reads (`vocabulary_size`,
    `init_from_teacher`, `teacher_words`).
    """
    accepted, required, takes_any = _named_parameters(models.STUDENTS.get(kind))
    if takes_any:
        return None, required
    if models.STUDENTS.attributes(kind)["word_level"]:
        accepted |= _named_parameters(build_word_student, keyword_only=True)[0]
    return sorted(accepted - _SUPPLIED_KEYWORDS), required


def _named_parameters(function, keyword_only=False):
    """`(names, required names, whether it takes **kwargs)` of what a caller may name.

    The first `_SUPPLIED_POSITIONALS` parameters are the library's; with
    `keyword_only`, only keyword-only parameters count.
    """
    parameters = list(inspect.signature(function).parameters.values())
    kinds = (inspect.Parameter.KEYWORD_ONLY,)
    if not keyword_only:
        kinds += (inspect.Parameter.POSITIONAL_OR_KEYWORD,)
    named = [p for p in parameters[_SUPPLIED_POSITIONALS:] if p.kind in kinds]
    required = {p.name for p in named if p.default is inspect.Parameter.empty}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    return {p.name for p in named}, required - _SUPPLIED_KEYWORDS, takes_any


def _check_sizes(student):
    accepted, required = size_keys(student.kind)
    unknown = [] if accepted is None else sorted(set(student.sizes) - set(accepted))
    missing = sorted(required - set(student.sizes))
    if unknown or missing:
        problem = (
            f"unknown key {unknown[0]!r}{did_you_mean(unknown[0], accepted or [])}"
            if unknown
            else f"missing key {missing[0]!r}"
        )
        raise ConfigError(
            f"student.sizes: {problem} for {student.kind}; accepted: "
            f"{'any key' if accepted is None else accepted}."
        )
    if "pretrained" in student.sizes:
        try:
            models.PRETRAINED_BACKBONES.get(student.sizes["pretrained"])
        except ValueError as error:
            raise ConfigError(f"student.sizes.pretrained: {error}") from None
    _check_size_values(student)


# The sizes that name one of a few choices, with them.
_SIZE_CHOICES = {"pooling": POOLINGS}


def _check_size_values(student):
    """Sizes no network can have, refused before the teacher's fine-tuning instead of
    by Keras after it: a count or width below 1 (below 0 where the builder's own
    default is 0), a dropout rate outside [0, 1), a flag that is not true or false, a
    name that is none of its choices (`_SIZE_CHOICES`).
    The builders' defaults say which is which, so a new student needs no entry here."""
    defaults = _size_defaults(student.kind)
    for key, value in student.sizes.items():
        default, name = defaults.get(key), f"student.sizes.{key}"
        if isinstance(default, bool) and not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}.")
        if key in _SIZE_CHOICES and value not in _SIZE_CHOICES[key]:
            raise ConfigError(not_one_of(name, _SIZE_CHOICES[key], str(value)))
        if "dropout" in key:
            if not _is_number(value) or not 0 <= value < 1:
                raise ConfigError(f"{name} is a rate: it must be in [0, 1), got {value!r}.")
            continue
        lowest = 0 if _is_integer(default) and default == 0 else 1
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if _is_integer(item) and item < lowest:
                raise ConfigError(f"{name} must be >= {lowest}, got {value!r}.")


def _size_defaults(kind):
    """`{key: default}` of every parameter of the builder of `kind` (and, for a
    word-level kind, of `build_word_student`)."""
    functions = [models.STUDENTS.get(kind)]
    if models.STUDENTS.attributes(kind)["word_level"]:
        functions.append(build_word_student)
    return {
        name: parameter.default
        for function in functions
        for name, parameter in inspect.signature(function).parameters.items()
    }


# The keys of a schedule: `DistillerSchedule`'s arguments, less the variable.
_SCHEDULE_KEYS = sorted(set(inspect.signature(DistillerSchedule).parameters) - {"variable"})


def _check_schedules(schedule):
    for variable, spec in schedule.items():
        key = f"distillation.schedule.{variable}"
        if not isinstance(spec, dict):
            raise ConfigError(
                f"{key} must be a mapping such as {{kind: linear, start: 4.0, end: 1.0}}, "
                f"got {spec!r}."
            )
        unknown = sorted(set(spec) - set(_SCHEDULE_KEYS))
        if unknown or "start" not in spec:
            problem = f"unknown key {unknown[0]!r}" if unknown else "the key 'start' is missing"
            raise ConfigError(f"{key}: {problem}; accepted: {_SCHEDULE_KEYS}.")
        for name in ("start", "end"):
            if spec.get(name) is not None and not _is_number(spec[name]):
                raise ConfigError(f"{key}.{name} must be a number, got {spec[name]!r}.")
        if spec.get("epochs") is not None and not _is_integer(spec["epochs"]):
            raise ConfigError(f"{key}.epochs must be an integer, got {spec['epochs']!r}.")
        try:
            DistillerSchedule(variable, **spec)
        except ValueError as error:
            raise ConfigError(f"{key}: {error}") from None


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_integer(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_intermediate(config):
    terms = config.distillation.intermediate
    if not terms:
        return
    for name, weight in terms.items():
        key = f"distillation.intermediate.{name}"
        if not _is_number(weight):
            raise ConfigError(f"{key}: the weight must be a number >= 0, got {weight!r}.")
        try:
            check_weights({name: weight})
        except ValueError as error:
            raise ConfigError(f"{key}: {error}") from None
    if not models.STUDENTS.attributes(config.student.kind)["bert_like"]:
        bert_like = [kind for kind in models.STUDENTS.names() if models.STUDENTS.attributes(kind)["bert_like"]]
        raise ConfigError(
            "distillation.intermediate compares BERT layers, so it needs a BERT-like "
            f"student.kind {bert_like}, got {config.student.kind!r}."
        )
    lengths = {config.student.sequence_length, config.teacher.sequence_length}
    if len(lengths) > 1 and AUTO not in lengths:
        raise ConfigError(
            "distillation.intermediate compares the models token by token, so "
            "student.sequence_length must equal teacher.sequence_length "
            f"({config.student.sequence_length} != {config.teacher.sequence_length})."
        )


def _check_representation(config):
    """What the representation term reads: one teacher's cached vectors of whole texts."""
    distillation = config.distillation
    if not _is_number(distillation.representation) or distillation.representation < 0:
        raise ConfigError(
            f"distillation.representation: the weight must be a number >= 0, got "
            f"{distillation.representation!r}."
        )
    if not distillation.representation:
        return
    needs = (
        (config.task != "text_classification", "task: text_classification (one vector a text)"),
        (not distillation.cache_teacher_logits, "distillation.cache_teacher_logits: true"),
        (distillation.intermediate, "no distillation.intermediate (it needs the live teacher)"),
        (config.teacher.ensemble_seeds, "one teacher (no teacher.ensemble_seeds)"),
    )
    for failed, need in needs:
        if failed:
            raise ConfigError(f"distillation.representation > 0 needs {need}.")


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


def _check_tune(distillation):
    """The search's ranges, and what its trials need: the cached teacher logits."""
    searched = TUNED_KEYS + (("augment_factor",) if distillation.tune.augment_factor else ())
    for name in searched:
        bounds = getattr(distillation.tune, name)
        if len(bounds) != 2 or not bounds[0] < bounds[1]:
            raise ConfigError(
                f"distillation.tune.{name} must be a range [low, high] with low < high, got {bounds}."
            )
    if not distillation.tune.trials:
        return
    # Trials are scored on the cached logits: a live teacher per trial would cost
    # the search a teacher forward pass per batch.
    needs = (
        (not distillation.cache_teacher_logits, "distillation.cache_teacher_logits: true"),
        (distillation.intermediate, "no distillation.intermediate (it needs the live teacher)"),
        (distillation.schedule, "no distillation.schedule (it would override the searched values)"),
    )
    for failed, need in needs:
        if failed:
            raise ConfigError(f"distillation.tune.trials > 0 needs {need}.")


def _check_writable(output_dir):
    """The output folder and its partial folder are ours to use, and can be made."""
    for folder in (pathlib.Path(output_dir), partial_dir(output_dir)):
        folders.check_usable(folder)
    existing = pathlib.Path(output_dir).absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"output directory {output_dir} cannot be written: {existing} is not writable.")
