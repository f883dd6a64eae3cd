"""`Task`: the interface every task implements (see `tfdistill.tasks`)."""

import keras
import numpy as np


def dense_head(features, num_classes, dropout=None):
    """`Dense(num_classes)` logits (a layer named `logits`) on the last axis of
    `features`, after a `Dropout` named `dropout` when `dropout` is given."""
    # The logits layer is made before the dropout: each draws its seed when made,
    # and this order keeps the initial weights of the students built before the
    # task layer existed.
    logits = keras.layers.Dense(num_classes, name="logits")
    if dropout is not None:
        features = keras.layers.Dropout(dropout, name="dropout")(features)
    return logits(features)


def check_ids(ids, ndim, lowest, num_classes, wrong_shape, out_of_range):
    """Raises a `ValueError` unless `ids` is an integer array of `ndim` dimensions whose
    values lie in `[lowest, num_classes)`: `wrong_shape(ids)` or `out_of_range(the
    first id outside)` is its message."""
    ids = np.asarray(ids)
    if ids.ndim != ndim or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(wrong_shape(ids))
    bad = ids[(ids < lowest) | (ids >= num_classes)]
    if bad.size:
        raise ValueError(out_of_range(int(bad[0])))


class Task:
    """What a task decides: labels, heads, metrics, serving outputs, report columns.

    Subclasses set `name`, `headline_metric` (the metric that retention and the gain
    over the baseline are computed on) and `logits_rank` (the rank of a model's
    logits: 2 for one label per text, 3 for one per token), and implement the
    methods below.

    Example (the two tasks registered in `tfdistill.tasks.TASKS`):

    >>> from tfdistill import tasks
    >>> [(task.name, task.headline_metric, task.logits_rank)
    ...  for task in map(tasks.get, tasks.TASKS.names())]
    [('text_classification', 'accuracy', 2), ('token_classification', 'f1', 3)]
    """

    name = None
    headline_metric = None
    logits_rank = None
    # Whether a class without a training example is an error (a class made up by a
    # gap in label ids) rather than a class the source declares but that is rare.
    every_class_in_train = True
    # Config keys (dotted) a run of this task cannot honour yet, each with the only
    # value it may hold; the config check refuses any other.
    fixed_config = {}
    # Whether Keras's weighted `accuracy` metric is the headline metric, so that early
    # stopping watches `val_accuracy`; otherwise it scores the validation split with
    # `evaluate` at each epoch's end (`tfdistill.run.context.best_epoch_stopping`).
    headline_is_keras_accuracy = False
    # Whether `student.sequence_length` counts words for every student kind (a
    # tagger's word slots), or pieces for a student on the teacher's tokenizer
    # (`tfdistill.run.lengths`).
    student_slots_are_words = False
    # The report table's metric columns: (title, key in a model's scores, width,
    # format spec), e.g. ("F1", "f1", 7, ".3f").
    report_columns = ()

    def check_labels(self, labels, num_classes, where):
        """Raises a `ValueError` naming `where` unless `labels` fit this task.

        Args:
            labels: the label array of one split, as the data source gives it.
            num_classes: the number of classes (or tags).
            where: the split, for the message (e.g. `"rotten_tomatoes/train"`).
        """
        raise NotImplementedError

    def head(self, features, num_classes, dropout=None):
        """Maps a functional student body's `features` to logits (a layer named `logits`).

        With `dropout`, a `Dropout` layer named `dropout` comes before the logits.
        """
        raise NotImplementedError

    def bert_model(self, backbone, preprocessor, num_classes, dropout, **kwargs):
        """A keras-hub task model over `backbone` that outputs logits for this task.

        `**kwargs` go to the keras-hub task's constructor (e.g. `name`).
        """
        raise NotImplementedError

    def bert_student_preprocessor(self, teacher_preprocessor, sequence_length):
        """A BERT student's preprocessor, on the teacher's tokenizer; `sequence_length`
        is the run's `student.sequence_length`."""
        raise NotImplementedError

    def evaluate(self, labels, logits, class_names):
        """The test metrics of `logits` against `labels`: a JSON-serialisable dict."""
        raise NotImplementedError

    def agreement(self, predicted, reference, labels):
        """The share of decisions that two models' label ids, `predicted` and
        `reference` (argmax of their logits on the split whose gold `labels` these
        are), make alike: the task's unit of one decision."""
        raise NotImplementedError

    def serving_outputs(self, logits, class_names, texts):
        """The exported signature's outputs from a batch of logits (tensors in, dict out).

        `class_names` is a constant `tf.string` tensor, indexed by label id; `texts`
        the batch of raw strings the logits come from.
        """
        raise NotImplementedError

    def read_examples(self, source, split, data_options):
        """`(texts, labels, class_names)`: one split of a registered source of this task.

        `texts` are raw strings, as the exported model takes them; `labels` an int32
        array that `check_labels` accepts. `data_options` holds the run's
        `text_column`, `label_column` and `label_names`; a task reads those its
        sources take.
        """
        raise NotImplementedError

    def encode(self, texts, labels, preprocessor, **options):
        """Batches `(inputs, labels)` (and weights, if the task needs them) for one
        model; `options` are those of `tfdistill.data.encode`."""
        raise NotImplementedError

    def encode_for_distillation(
        self, texts, labels, *, student_preprocessor, teacher_preprocessor, teacher_logits=None,
        **options
    ):
        """`Distiller` batches: with `teacher_logits` (cached, in the order of `texts`)
        when given, else with the teacher's inputs. `options` as in `encode`."""
        raise NotImplementedError

    def augment(self, texts, labels, class_names, options):
        """`(texts, labels, copy_numbers)`: new transfer texts made from training
        `texts` by `tfdistill.data.augment_texts`, labelled as having no gold label,
        and which of its source text's copies each one is (`return_copy_numbers`).

        `labels` and `class_names` are the training split's; `options` are
        `augment_texts`'s arguments and `keep_entities` (see the run's
        `distillation.augment`), which only tagging honours.
        """
        raise NotImplementedError

    def no_gold_labels(self, texts):
        """Labels that mark each of `texts` as having no gold label, so that it learns
        from the teacher alone (an unlabelled transfer text, see
        `tfdistill.losses.labels`)."""
        raise NotImplementedError

    def loss(self):
        """The loss of a model's logits against gold labels (fine-tuning, baselines)."""
        raise NotImplementedError

    def word_vectorizer(self, train_texts, vocabulary_size, sequence_length, extra_words=(), **options):
        """A word-level student's preprocessor, its vocabulary from `train_texts`
        and then `extra_words`; `options` are the student's sizes that shape its
        output (see `tfdistill.models.students.word_level.PREPROCESSOR_SIZES`)."""
        raise NotImplementedError

    def serving_inputs(self, texts):
        """What a model's preprocessor reads from a batch of raw strings `[None]`."""
        raise NotImplementedError

    def report_sections(self, summary):
        """The report's task-specific Markdown lines (after the table)."""
        raise NotImplementedError
