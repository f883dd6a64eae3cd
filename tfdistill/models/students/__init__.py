"""Students: small models that learn from a BERT teacher's logits.

Every kind is one module here that registers its builder in `STUDENTS` (see
`register_student`); three come from the distillation literature:

- `"small_bert"` (`small_bert.py`): a shallower and/or narrower BERT that shares the
  teacher's tokenizer and starts from a copy of some of its layers (DistilBERT).
- `"bilstm"` (`bilstm.py`): a word-level bidirectional LSTM (Tang et al. 2019).
- `"cnn"` (`cnn.py`): a word-level convolutional network (Kim 2014).

`"bilstm_wordpiece"` (`bilstm_wordpiece.py`) is the BiLSTM over the teacher's own
WordPiece tokens instead of words: no word is unknown to it that the teacher knows.

For token classification, `"bilstm_tagger"` (`bilstm_tagger.py`) tags each word. A
kind's `tasks` attribute names the tasks it serves.

Each comes as a `Student`: a Keras model that maps preprocessed inputs to logits,
and the preprocessor that maps raw strings to those inputs. The two are kept apart
so that preprocessing runs in `tf.data` (on the CPU, cached once) and the model
stays a plain, XLA-compilable Keras model that saves to `.keras`. The model's head
comes from the task (`tfdistill.tasks`).

Example:

>>> STUDENTS.names()
['bilstm', 'bilstm_tagger', 'bilstm_wordpiece', 'cnn', 'small_bert']
>>> STUDENTS.attributes("bilstm")
{'word_level': True, 'bert_like': False, 'recurrent': True, 'tasks': ('text_classification',)}
"""

import functools

from tfdistill import tasks
from tfdistill.models.students.base import STUDENTS
from tfdistill.models.students.base import Student
from tfdistill.models.students.base import register_student
from tfdistill.models.students.saving import load_student
from tfdistill.models.students.saving import save_student
from tfdistill.models.students.word_level import build_word_student


def build_student(
    kind,
    num_classes,
    teacher=None,
    train_texts=None,
    *,
    sequence_length=64,
    task="text_classification",
    **sizes,
):
    """Builds a student of the given kind and the preprocessor that feeds it.

    `**sizes` go to the kind's builder; see `build_bilstm`, `build_cnn`,
    `build_bilstm_wordpiece` and `build_small_bert` for their names and defaults.
    Word-level kinds also take `vocabulary_size` (20,000) and `init_from_teacher`
    (False): with it, the embedding table starts from the teacher's word vectors
    (`teacher_word_vectors`, at most the teacher's width), with zeros for padding
    and out-of-vocabulary.

    A word-level student gets a `TextVectorization` preprocessor that lowercases,
    strips punctuation, splits on whitespace, and pads or truncates to
    `sequence_length` word ids (0 is padding, 1 out-of-vocabulary). Its vocabulary
    is the `vocabulary_size - 2` most frequent words of `train_texts`, so pass
    training texts (and unlabelled ones, if any), never validation or test texts.
    It runs outside the model because it cannot be XLA-compiled. A BERT-like or
    piece-level student gets a preprocessor on the teacher's tokenizer (the task's
    `bert_student_preprocessor`).

    Args:
        kind: a name registered in `STUDENTS`.
        num_classes: the number of logits.
        teacher: the `BertTextClassifier` teacher with its preprocessor attached;
            required for BERT-like and piece-level students and for word-level
            students initialised from it, ignored otherwise.
        train_texts: the training texts (a list, array or `tf.data.Dataset` of
            strings); required for word-level students, ignored otherwise.
        sequence_length: the length of the preprocessor's output, in word pieces
            (`[CLS]` and `[SEP]` included) or words.
        task: the name of the task (`tfdistill.tasks`) whose head the model ends in.
        **sizes: see above.

    Returns:
        A `Student`.

    Raises:
        ValueError: for an unknown kind (the message lists the registered ones), a
            kind that does not serve `task`, a missing teacher or `train_texts`, or
            sizes that cannot be initialised from the teacher.

    Example:

    >>> student = build_student(
    ...     "bilstm", num_classes=2, train_texts=["great fun", "dull"],
    ...     lstm_units=16, sequence_length=8)
    >>> student.model(student.preprocessor(["great"])).shape
    TensorShape([1, 2])
    """
    build_model = STUDENTS.get(kind)
    task_name, task = task, tasks.get(task)
    check_serves(kind, task_name)
    attributes = STUDENTS.attributes(kind)
    if not attributes["word_level"]:
        # On the teacher's tokenizer: a BERT-like builder gets the task's keras-hub
        # model, a piece-level one the task's head (see `register_student`).
        output = (
            {"bert_model": functools.partial(task.bert_model, num_classes=num_classes)}
            if attributes["bert_like"]
            else {"head": functools.partial(task.head, num_classes=num_classes)}
        )
        model, preprocessor = build_model(
            teacher,
            sequence_length,
            bert_preprocessor=task.bert_student_preprocessor,
            **output,
            **sizes,
        )
    else:
        model, preprocessor = build_word_student(
            build_model,
            teacher,
            train_texts,
            sequence_length,
            head=functools.partial(task.head, num_classes=num_classes),
            word_vectorizer=task.word_vectorizer,
            **sizes,
        )
    return Student(
        kind=kind,
        model=model,
        preprocessor=preprocessor,
        num_params=model.count_params(),
    )


def check_serves(kind, task):
    """Raises a `ValueError` unless the student `kind` outputs logits for `task`.

    >>> check_serves("cnn", "token_classification")
    Traceback (most recent call last):
    ...
    ValueError: The cnn student serves ['text_classification'], not token_classification; \
students for token_classification: ['bilstm_tagger', 'small_bert'].
    """
    served = STUDENTS.attributes(kind)["tasks"]
    if task not in served:
        raise ValueError(
            f"The {kind} student serves {list(served)}, not {task}; students for {task}: "
            f"{students_for(task)}."
        )


def students_for(task):
    """The registered student kinds that serve `task`, sorted.

    >>> students_for("text_classification")
    ['bilstm', 'bilstm_wordpiece', 'cnn', 'small_bert']
    """
    return [kind for kind in STUDENTS.names() if task in STUDENTS.attributes(kind)["tasks"]]


# Imported last: each module registers its kind in STUDENTS.
from tfdistill.models.students import bilstm, bilstm_tagger, bilstm_wordpiece, cnn, small_bert  # noqa: E402, F401

__all__ = [
    "STUDENTS",
    "Student",
    "build_student",
    "load_student",
    "register_student",
    "save_student",
]
