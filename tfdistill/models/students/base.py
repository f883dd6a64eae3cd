"""What a student is: the `Student` a builder returns, and the `STUDENTS` registry.

Every student kind is a builder registered in `STUDENTS` with what it is, which the
rest of the library reads instead of a list of names:

- `word_level`: it owns a `TextVectorization` vocabulary built from the training
  texts, and its embedding table can start from the teacher's word vectors. A kind
  that is not word-level reads the teacher's own tokenizer instead (WordPiece ids),
  so its `sequence_length` counts pieces;
- `bert_like`: it is a keras-hub BERT that shares the teacher's tokenizer, so BERT
  features and the intermediate (hidden-state, attention) losses apply to it;
- `recurrent`: it runs a recurrent layer, which sets the dtype policy it can use;
- `tasks`: the tasks (`tfdistill.tasks`) whose logits it outputs.

So a kind is one of three families, each with its builder contract (see
`register_student`): word-level (`"bilstm"`, `"cnn"`, `"bilstm_tagger"`),
BERT-like (`"small_bert"`), or piece-level, neither of the two: a model of its own
over the teacher's tokenizer, with no BERT inside to match layer by layer
(`"bilstm_wordpiece"`).
"""

import dataclasses

import keras

from tfdistill.registry import Registry

# Student kind -> builder; see `register_student` for the two builder contracts.
STUDENTS = Registry("student kind")


def register_student(
    kind, *, word_level=None, bert_like=False, recurrent=False, tasks=("text_classification",)
):
    """Registers a student builder under `kind` (a decorator); configs can then name it.

    A word-level builder (the default) is called as
    `build(sequence_length, vocabulary_size, *, head, **sizes)` and returns a
    `keras.Model` that maps int64 word ids of shape `(batch, sequence_length)` to
    logits. `head(features, dropout=None)` is the task's output head, bound to the
    number of classes: call it on the body's features to get the logits (with
    `dropout`, a `Dropout` layer at that rate comes first). `build_student`
    builds the vocabulary of `vocabulary_size` words before calling it, and, with
    `init_from_teacher=True`, fills the layer named `"token_embedding"` from the
    teacher's word vectors, so name the embedding layer so.

    A BERT-like builder is called as
    `build(teacher, sequence_length, *, bert_model, **sizes)` and returns
    `(model, preprocessor)`. `bert_model(backbone, preprocessor, **kwargs)` is the
    task's keras-hub model over `backbone`, bound to the number of classes
    (`dropout` and `name` go through `kwargs`).

    A piece-level builder (`word_level=False` and not `bert_like`) is called as
    `build(teacher, sequence_length, *, head, bert_preprocessor, **sizes)` and
    returns `(model, preprocessor)`. `head` is as for a word-level builder;
    `bert_preprocessor(teacher_preprocessor, sequence_length)` is the task's
    preprocessor on the teacher's tokenizer (`Task.bert_student_preprocessor`), the
    one a BERT-like student gets, so the model reads its dict of `token_ids`,
    `segment_ids` and `padding_mask`.

    `**sizes` are what the config's `student.sizes` hold.

    Args:
        kind: the name configs and `build_student` use.
        word_level: whether the builder is word-level (its own vocabulary); defaults
            to `not bert_like`. A BERT-like builder is never word-level; one that is
            neither is piece-level.
        bert_like: whether the builder makes a keras-hub BERT.
        recurrent: whether the model runs a recurrent layer (an LSTM, a GRU):
            on a CPU such a student then always computes in float32.
        tasks: the names of the tasks the builder serves: its body's features
            fit their heads (pooled features for text classification, one vector
            per word for token classification).

    Returns:
        A decorator that registers the builder and returns it unchanged.

    Raises:
        ValueError: when `kind` is taken, or `word_level` and `bert_like` both hold.

    Example:

    >>> @register_student("mean_of_embeddings")
    ... def build_mean_of_embeddings(sequence_length, vocabulary_size, *, head):
    ...     token_ids = keras.Input((sequence_length,), dtype="int64")
    ...     embedded = keras.layers.Embedding(
    ...         vocabulary_size, 8, name="token_embedding")(token_ids)
    ...     features = keras.layers.GlobalAveragePooling1D()(embedded)
    ...     return keras.Model(token_ids, head(features))
    >>> STUDENTS.attributes("mean_of_embeddings")
    {'word_level': True, 'bert_like': False, 'recurrent': False, 'tasks': ('text_classification',)}
    >>> STUDENTS.unregister("mean_of_embeddings")
    """
    if word_level is None:
        word_level = not bert_like
    if word_level and bert_like:
        raise ValueError(
            f"A BERT-like student reads the teacher's tokenizer, so it cannot be "
            f"word-level (its own vocabulary); got word_level=True and bert_like=True "
            f"for {kind!r}."
        )
    return STUDENTS.register(
        kind, word_level=word_level, bert_like=bert_like, recurrent=recurrent, tasks=tuple(tasks)
    )


@dataclasses.dataclass(frozen=True)
class Student:
    """A student model and the preprocessor that feeds it.

    Attributes:
        kind: the name the student kind is registered under in `STUDENTS`.
        model: a `keras.Model` that maps the preprocessor's output to float logits
            (for text classification, of shape `(batch, num_classes)`).
        preprocessor: a `keras.layers.Layer` that maps a batch of raw `tf.string`
            texts to the model's inputs.
        num_params: the number of weights in `model`, the embedding table
            included (it is most of a small student's weights).

    Example:

    >>> from tfdistill.models import build_student
    >>> student = build_student("bilstm", num_classes=3, train_texts=["so good"],
    ...                         lstm_units=4, sequence_length=4)
    >>> student.model(student.preprocessor(["so so"])).shape
    TensorShape([1, 3])
    """

    kind: str
    model: keras.Model
    preprocessor: keras.layers.Layer
    num_params: int
