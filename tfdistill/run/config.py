"""A typed run config: one YAML or JSON file describes a whole run.

Every key a user can set lives here, under the same name it has in the YAML file, and
`--set section.key=value` overrides one of them from the command line. Unknown keys and
values of the wrong type are rejected with the key's full dotted name, before anything
runs.

Example:

>>> config = RunConfig.from_dict({"student": {"kind": "cnn"}})
>>> config.student.kind, config.distillation.temperature
('cnn', 2.0)
>>> override(config, ["distillation.temperature=4"]).distillation.temperature
4.0
>>> override(config, ["distillation.learning_rate=1e-3"]).distillation.learning_rate
0.001
"""

import collections.abc
import dataclasses
import json
import pathlib
import re
import types
import typing
from typing import Literal
from typing import Optional
from typing import Union

import yaml

from tfdistill.export import TFLITE_MODES
from tfdistill.models.teachers import PACKAGED_MINILM
from tfdistill.registry import did_you_mean
from tfdistill.registry import did_you_mean_path
from tfdistill.run.precision import POLICIES


class ConfigError(ValueError):
    """A config that cannot run: the message names the key or the file."""


# A sequence length read from the training texts (see `tfdistill.run.lengths`).
AUTO = "auto"
SequenceLength = Union[int, Literal["auto"]]


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the texts come from (see `tfdistill.data.load`)."""

    source: str = "rotten_tomatoes"
    text_column: str = "text"
    label_column: str = "label"
    label_names: Optional[list[str]] = None
    train_split: str = "train"
    validation_split: str = "validation"
    test_split: str = "test"
    # Keep only the first N examples of each split: for smoke tests and quick looks.
    max_examples: Optional[int] = None
    # Drop from the training split every text that is also in the validation or test
    # split (exact match). Without it such texts are only counted, in a warning.
    drop_overlap: bool = False
    # More test sets, e.g. out of domain: the `test` split of each source, which must
    # have the run's classes in the same order (read like `source`, with its columns;
    # a local file's named labels take the run's ids). Every model is scored on each;
    # adding one to a finished run retrains nothing. Text classification only.
    extra_test: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class TeacherConfig:
    """The teacher preset and its fine-tuning recipe (see `tfdistill.models`)."""

    preset: str = PACKAGED_MINILM
    # WordPiece tokens, [CLS] and [SEP] included; `auto`: read from the training texts.
    sequence_length: SequenceLength = 64
    epochs: int = 2
    batch_size: int = 32
    learning_rate: float = 5e-5
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    patience: int = 1
    # The seed of the (first) teacher's fine-tuning; null: the run's `seed`. Fix it to
    # vary only the students over seeds while they share one fine-tuned teacher.
    seed: Optional[int] = None
    # An ensemble: one more teacher per seed, fine-tuned like the first but from its
    # own seed (head initialisation, dropout, data order). The students learn from
    # the mean of all the teachers' soft labels, weighted by `ensemble_weights` (one
    # weight per teacher, the first teacher's first; null: equal).
    ensemble_seeds: list[int] = dataclasses.field(default_factory=list)
    ensemble_weights: Optional[list[float]] = None


@dataclasses.dataclass(frozen=True)
class StudentConfig:
    """The student architecture; `sizes` go to `tfdistill.models.build_student`."""

    kind: str = "bilstm"
    # Words (a BERT student classifying texts: pieces; a tagger: word slots); `auto`:
    # read from the training texts.
    sequence_length: SequenceLength = 64
    sizes: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Transfer-set augmentation (Tang et al. 2019): new texts that the teacher labels.

    Each training text gets `factor` variants: words masked, words replaced by one of
    their `neighbours` nearest words in the teacher's embedding space, or the text cut
    to an n-gram (see `tfdistill.data.augment_texts`). They carry no gold label, so
    they teach through the distillation loss alone. `factor: 0` turns it off.
    """

    factor: int = 0
    mask_probability: float = 0.1
    replace_probability: float = 0.1
    ngram_probability: float = 0.25
    max_ngram: int = 5
    neighbours: int = 10
    # Tagging: perturb only words tagged O, so every entity keeps its words.
    keep_entities: bool = False
    # Also give each of `distillation.transfer_texts` `factor` variants, so that a
    # domain's few unlabelled texts weigh more in the transfer set (BENCHMARKS.md
    # section 25).
    transfer_texts: bool = False
    # Text classification: also up to this many copies of each training text with
    # one negation flipped ("is" -> "isn't", "no problems" -> "problems"; see
    # `tfdistill.data.negated_copies`), whatever `factor` is; 0: none.
    negations: int = 0


@dataclasses.dataclass(frozen=True)
class TuneConfig:
    """A KerasTuner random search of `temperature`, `alpha`, `learning_rate` and,
    optionally, `augment.factor`.

    Each trial trains the distilled student with values drawn from the ranges
    (`[low, high]`; the learning rate on a log scale) and is scored on the
    validation split; the distilled student then trains with the best trial's
    values if they beat the config's own by more than one standard error, else with
    the config's (see `tfdistill.run.stages.tune`). The baseline keeps the run's own
    learning rate. `trials: 0` turns it off.
    """

    trials: int = 0
    # Epochs of each trial; null: `distillation.epochs`.
    epochs: Optional[int] = None
    temperature: list[float] = dataclasses.field(default_factory=lambda: [1.0, 8.0])
    alpha: list[float] = dataclasses.field(default_factory=lambda: [0.1, 0.9])
    learning_rate: list[float] = dataclasses.field(default_factory=lambda: [1e-4, 3e-3])
    # `[low, high]` (ints): also search `augment.factor`. The transfer set is then
    # augmented with `high` copies of each text (the teacher labels them once), and
    # a trial of factor k trains on the first k copies of each.
    augment_factor: Optional[list[int]] = None


# The `distillation` values that `distillation.tune` always searches, each over its range.
TUNED_KEYS = ("temperature", "alpha", "learning_rate")


@dataclasses.dataclass(frozen=True)
class DistillationConfig:
    """How the student is trained, with the teacher and (as a baseline) without."""

    temperature: float = 2.0
    alpha: float = 0.5
    loss: str = "kl"
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    patience: int = 3
    # Keep an exponential moving average of the student's weights, with this momentum
    # per step, and validate, keep and save the average (Polyak averaging; Keras's
    # `use_ema`). null: the weights as trained. The baseline averages too.
    ema_momentum: Optional[float] = None
    cache_teacher_logits: bool = True
    # Cut each training batch to its longest text instead of the full sequence
    # length: much faster for short texts, but every new length costs a retrace
    # (a recompilation with jit_compile).
    trim_padding: bool = False
    baseline: bool = True
    augment: AugmentConfig = dataclasses.field(default_factory=AugmentConfig)
    # More texts for the transfer set, which the teacher labels (Tang et al. 2019 use
    # unlabelled in-domain text): sources named as in `data.source`, each unlabelled
    # (`guardian_headlines`, `presidential_debates`, `rotten_tomatoes_plots`) or a
    # text-classification source, of which the train split's texts are taken without
    # labels. Copies of the run's validation, test and `data.extra_test` texts are
    # dropped, and so are copies of training texts. A word-level student's vocabulary
    # (the baseline's too) also learns from them. Text classification only.
    transfer_texts: list[str] = dataclasses.field(default_factory=list)
    # Keep only the first N texts of each `transfer_texts` source (after the drops);
    # null: all of them.
    max_transfer_texts: Optional[int] = None
    # Intermediate-layer terms for small_bert students, name to weight: `hidden`,
    # `attention`, `embedding` (see `tfdistill.Distiller`). They need the live
    # teacher, so the logit cache is not used for training when any is set.
    intermediate: dict = dataclasses.field(default_factory=dict)
    # The teacher layer (0-based) each student layer learns from; null: uniform.
    layer_map: Optional[list[int]] = None
    # The weight of the representation term: the student's features, projected, against
    # the teacher's mean last-layer vector of each text, cached like its logits (see
    # `tfdistill.distillation.representation`). 0: off. Text classification with one
    # cached teacher only.
    representation: float = 0.0
    # Per-epoch schedules, e.g. {temperature: {kind: cosine, start: 4, end: 1}}
    # (see `tfdistill.schedules.DistillerSchedule`). A `learning_rate` schedule
    # replaces `learning_rate`, for the baseline too.
    schedule: dict = dataclasses.field(default_factory=dict)
    tune: TuneConfig = dataclasses.field(default_factory=TuneConfig)


@dataclasses.dataclass(frozen=True)
class RuntimeConfig:
    """Precision and compilation; `auto` picks what the hardware runs fast.

    `dtype_policy` is the teacher's (fine-tuning and logits, where most of the time
    goes); `student_dtype_policy` the students'. See `tfdistill.run.precision`.
    """

    dtype_policy: str = "auto"
    student_dtype_policy: str = "auto"
    jit_compile: bool = False
    # Deterministic TensorFlow ops: the same seed and config give the same numbers,
    # and a resumed run the same model as an uninterrupted one. Costs a little
    # speed, more on GPUs.
    deterministic: bool = True
    # default, mirrored, multi_worker (cluster from TF_CONFIG) or tpu; batch sizes
    # are global. See `tfdistill.run.distribute`.
    strategy: str = "default"
    # The TPU to use with `strategy: tpu`; empty: the local (or Colab) TPU.
    tpu: str = ""
    # Split the CPU into this many logical devices for `mirrored` (or each worker of
    # `multi_worker`) when there is no GPU: to try multi-device runs on a laptop.
    cpu_devices: int = 1


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """What to export for serving. Every model gets a SavedModel; speed is timed on it."""

    # The TFLite files each student gets, each measured on the test split: some of
    # `tfdistill.export.TFLITE_MODES` (float32, float16, dynamic_range, full_int8);
    # [] for none.
    tflite: list[str] = dataclasses.field(default_factory=lambda: ["float32"])
    # How many training texts full_int8 calibrates its int8 ranges on.
    representative_examples: int = 200
    latency_batch_sizes: list[int] = dataclasses.field(default_factory=lambda: [1, 32])
    # Each model is timed for at least this long per batch size.
    latency_seconds: float = 2.0
    # XLA-compile the model part of each student's SavedModel (its string ops stay
    # outside): once per new batch size, on the first batch of that size. It pays
    # for a BiLSTM's step-by-step loop (BENCHMARKS.md section 20). The teacher's is
    # never compiled, so the students' speed ratios are to the teacher as a run
    # serves it; `benchmarks/inference.py` times a compiled float32 teacher beside
    # it (section 23: as fast at batch 32, faster at batch 1).
    jit_compile: bool = False


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """A whole run: its task, data, teacher, student, distillation, runtime and export."""

    name: str = "run"
    # What one example's label is (see `tfdistill.tasks`).
    task: str = "text_classification"
    seed: int = 42
    output_dir: Optional[str] = None
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    teacher: TeacherConfig = dataclasses.field(default_factory=TeacherConfig)
    student: StudentConfig = dataclasses.field(default_factory=StudentConfig)
    distillation: DistillationConfig = dataclasses.field(default_factory=DistillationConfig)
    runtime: RuntimeConfig = dataclasses.field(default_factory=RuntimeConfig)
    export: ExportConfig = dataclasses.field(default_factory=ExportConfig)

    @classmethod
    def from_dict(cls, values):
        return _build(cls, values, prefix="")

    def to_dict(self):
        return dataclasses.asdict(self)


# Mappings whose keys are not fixed here: they go as keyword arguments to a builder.
_FREE_FORM = {"student.sizes", "distillation.intermediate", "distillation.schedule"}

# Choices fixed by this file's own code. Names that a user can register from Python
# (tasks, students, losses, strategies) are checked against their registries in
# `tfdistill.run.validate`.
_CHOICES = {
    "runtime.dtype_policy": POLICIES,
    "runtime.student_dtype_policy": POLICIES,
    "export.tflite": TFLITE_MODES,
}


# A number in exponent notation, such as 1e-3 or 5.0e5: YAML 1.2 floats that
# PyYAML (YAML 1.1: a dot and a signed exponent) reads as strings.
_EXPONENT_FLOAT = re.compile(r"^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+$")


def _check_value(key, annotation, value):
    """Returns `value` converted to `annotation`, or raises ConfigError naming `key`."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        arguments = typing.get_args(annotation)
        if value is None and type(None) in arguments:
            return None
        return _check_alternatives(key, [arg for arg in arguments if arg is not type(None)], value)
    if origin is Literal:
        if value not in typing.get_args(annotation):
            raise ConfigError(not_one_of(key, typing.get_args(annotation), value))
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key} must be a list, got {value!r}.")
        (inner,) = typing.get_args(annotation)
        items = [_check_value(f"{key}[{i}]", inner, item) for i, item in enumerate(value)]
        _check_choices(key, items)
        return items
    expected = origin or annotation
    # bool is a subclass of int: `epochs: true` must not pass as 1.
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    # PyYAML follows YAML 1.1, which reads `1e-3` (no dot) as a string.
    if expected is float and isinstance(value, str) and _EXPONENT_FLOAT.match(value):
        return float(value)
    if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
        raise ConfigError(
            f"{key} must be of type {expected.__name__}, got {value!r} "
            f"({type(value).__name__})."
        )
    _check_choices(key, [value])
    return value


def _check_alternatives(key, annotations, value):
    """`value` as the first of `annotations` it fits, or a ConfigError naming them all."""
    if len(annotations) == 1:
        return _check_value(key, annotations[0], value)
    for annotation in annotations:
        try:
            return _check_value(key, annotation, value)
        except ConfigError:
            pass
    names = [
        " or ".join(repr(word) for word in typing.get_args(annotation))
        if typing.get_origin(annotation) is Literal
        else f"of type {annotation.__name__}"
        for annotation in annotations
    ]
    raise ConfigError(f"{key} must be {' or '.join(names)}, got {value!r} ({type(value).__name__}).")


def _check_choices(key, values):
    for value in values:
        if key in _CHOICES and value not in _CHOICES[key]:
            raise ConfigError(not_one_of(key, _CHOICES[key], value))


def not_one_of(key, choices, value):
    """The message for a config value that is none of `choices`."""
    return f"{key} must be one of {list(choices)}, got {value!r}{did_you_mean(value, choices)}."


def _build(cls, values, prefix):
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'the config'} must be a mapping, got {values!r}.")
    hints = typing.get_type_hints(cls)
    fields = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ConfigError(
            f"unknown config key {prefix}{unknown[0]!s}{did_you_mean(unknown[0], fields)} "
            f"(valid keys here: {sorted(fields)})."
        )
    kwargs = {}
    for name, value in values.items():
        annotation = hints[name]
        if dataclasses.is_dataclass(annotation):
            kwargs[name] = _build(annotation, value, prefix=f"{prefix}{name}.")
        else:
            kwargs[name] = _check_value(prefix + name, annotation, value)
    return cls(**kwargs)


def load(path):
    """Reads a YAML or JSON run config from `path` into a `RunConfig`.

    Raises:
        ConfigError: for a missing or unreadable file, bytes that are not UTF-8,
            a syntax error (with its line and column) or a bad key or value.

    Example:

    >>> import tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.yaml"
    >>> _ = path.write_text("student: {kind: cnn}\\ndistillation: {temperature: 4}")
    >>> config = load(path)
    >>> config.student.kind, config.distillation.temperature, config.task
    ('cnn', 4.0, 'text_classification')
    >>> _ = path.write_text("student: {kind: cnn")
    >>> load(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tfdistill.run.config.ConfigError: .../run.yaml is not valid YAML: line 1, column 20: \
expected ',' or '}', but got '<stream end>' (while parsing a flow mapping).
    """
    path = pathlib.Path(path)
    if path.is_dir():
        configs = sorted(str(p) for p in path.iterdir() if p.suffix in (".yaml", ".yml", ".json"))
        listed = f" ({', '.join(configs[:5])}{', ...' if len(configs) > 5 else ''})" if configs else ""
        raise ConfigError(f"config file {path} is a folder: name a config file in it{listed}.")
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist{did_you_mean_path(path)}.")
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"config file {path} cannot be read: {error.strerror}.") from None
    text = _decode_utf8(raw, path)
    try:
        if path.suffix == ".json":
            values = json.loads(text, object_pairs_hook=_unique_keys)
        else:
            values = _load_yaml(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        raise ConfigError(f"{path} is not valid JSON: {where}: {error.msg}.") from None
    except _RepeatedKey as error:
        raise ConfigError(f"{path}: {error}.") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {_yaml_problem(error)}.") from None
    return RunConfig.from_dict(values or {})


class _RepeatedKey(ValueError):
    """A key given twice in one JSON object."""


def _unique_keys(pairs):
    """A JSON object as a dict, refusing a key given twice (`json` keeps the last)."""
    seen = set()
    for key, _ in pairs:
        if key in seen:
            raise _RepeatedKey(
                f"the key {key!r} is given twice in one object; the second would silently "
                "replace the first"
            )
        seen.add(key)
    return dict(pairs)


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping: PyYAML keeps
    the last without a word, so a section written twice loses the first's values."""

    def construct_mapping(self, node, deep=False):
        first_lines = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, collections.abc.Hashable):
                continue  # PyYAML's own error names it below.
            if key in first_lines:
                raise yaml.constructor.ConstructorError(
                    None, None,
                    f"the key {key!r} is given twice (first on line {first_lines[key]}); the "
                    "second would silently replace the first",
                    key_node.start_mark,
                )
            first_lines[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _load_yaml(text):
    return yaml.load(text, Loader=_UniqueKeyLoader)


def _decode_utf8(raw, path):
    """`raw` as text, or a ConfigError naming the line of the first bad byte."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise ConfigError(
            f"{path} is not UTF-8 text: line {line} holds the byte "
            f"{raw[error.start : error.start + 1]!r}; save the file as UTF-8."
        ) from None


def _yaml_problem(error):
    """A YAML error in one line: where it is and what is wrong."""
    mark, problem = getattr(error, "problem_mark", None), getattr(error, "problem", None)
    if mark is None or problem is None:
        return " ".join(str(error).split())
    context = getattr(error, "context", None)
    return (
        f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
        + (f" ({context})" if context else "")
    )


def override(config, assignments):
    """Returns `config` with each `"section.key=value"` of `assignments` applied.

    Values are parsed as YAML, so `4`, `4.0`, `true` and `[1, 32]` keep their types,
    and are checked like the file's own. A key that holds text takes the value as
    written when YAML would read a mapping or a list: `data.source={split}.csv` is a
    path, not a broken mapping.

    Example:

    >>> config = override(RunConfig(), ["data.source={split}.csv", "distillation.temperature=4"])
    >>> config.data.source, config.distillation.temperature
    ('{split}.csv', 4.0)
    """
    values = config.to_dict()
    for assignment in assignments:
        key, separator, raw_value = assignment.partition("=")
        if not separator:
            raise ConfigError(f"--set takes key=value, got {assignment!r}.")
        *parents, leaf = key.strip().split(".")
        node = values
        for depth, part in enumerate(parents):
            if not isinstance(node.get(part), dict):
                raise ConfigError(
                    f"unknown config key {'.'.join(parents[: depth + 1])}"
                    f"{did_you_mean(part, [k for k, v in node.items() if isinstance(v, dict)])}."
                )
            node = node[part]
        if leaf not in node and ".".join(parents) not in _FREE_FORM:
            raise ConfigError(f"unknown config key {key.strip()}{did_you_mean(leaf, node)}.")
        node[leaf] = _override_value(key.strip(), raw_value, node.get(leaf))
    return RunConfig.from_dict(values)


def _override_value(key, raw_value, current):
    """`--set`'s value for `key`, which holds `current` now."""
    try:
        value = _load_yaml(raw_value)
    except yaml.YAMLError as error:
        value = error
    # YAML reads a text in braces or brackets ("{split}.csv") as a flow mapping or list;
    # no key that holds text takes one, so the text is meant.
    if isinstance(current, str) and isinstance(value, (dict, list, yaml.YAMLError)):
        return raw_value.strip()
    if isinstance(value, yaml.YAMLError):
        raise ConfigError(
            f"--set {key}: the value {raw_value!r} is not valid YAML: {_yaml_problem(value)}."
        )
    return value
