"""`"bilstm_wordpiece"`: the BiLSTM student over the teacher's own WordPiece tokens.

A word-level BiLSTM (`"bilstm"`) reads every word its training texts lack as one
out-of-vocabulary id, which hurts most out of domain, where such words are common
(issue #18). This student reads the teacher's tokenizer instead: the same pieces,
cased as the teacher reads them (lowercased and accent-stripped for the uncased
MiniLM), and its embedding table has a row for every piece of the teacher's
vocabulary. A word it never saw in training
still reaches it as the pieces the teacher reads; it reads `[UNK]` only where the
teacher does (a word holding a character the vocabulary lacks, as most emoji are, or
a word too long for the tokenizer).

With `init_from_teacher=True` the table starts from the teacher's input token
embeddings, projected on their main directions (the PCA the word-level students'
word vectors use, `principal_projection`). The body after the embeddings is
`build_bilstm`'s (`bilstm_features`). It is not a BERT, so the BERT-internals losses
(`distillation.intermediate`) do not apply to it.

Its size is mostly that table: the teacher's vocabulary times the embedding width
(30,522 pieces for MiniLM: 2.9M weights at width 96, 2.0M at 64). A factorised
table (`piece_embedding_dim`, as ALBERT's) keeps the pieces narrower and projects
them to `embedding_dim` with one learned matrix.
"""

import keras
import numpy as np

from tfdistill.models.students.base import register_student
from tfdistill.models.students.bilstm import bilstm_features
from tfdistill.models.teachers import check_has_tokenizer
from tfdistill.models.word_vectors import principal_projection

# What the teacher's preprocessor gives; the model takes all three so that Keras
# reads the dict as it is, but `segment_ids` (all 0 for one text) feeds nothing.
_INPUTS = ("token_ids", "segment_ids", "padding_mask")


# Text classification only: a tagger reads words, and the task's BERT preprocessor for
# tagging (`FirstPiecePacker`) gives inputs this model does not read.
@register_student(
    "bilstm_wordpiece", word_level=False, recurrent=True, tasks=("text_classification",)
)
def build_bilstm_wordpiece(
    teacher,
    sequence_length,
    *,
    head,
    bert_preprocessor,
    embedding_dim=128,
    piece_embedding_dim=None,
    lstm_units=128,
    hidden_dim=128,
    dropout=0.2,
    init_from_teacher=False,
    pooling="last",
):
    """Piece embeddings of the teacher's vocabulary, then `build_bilstm`'s body and head.

    `teacher`, `sequence_length`, `head` and `bert_preprocessor` are a piece-level
    builder's (see `register_student`); `sequence_length` counts pieces, `[CLS]` and
    `[SEP]` included, as the teacher's does.

    Args:
        embedding_dim: the width the BiLSTM reads.
        piece_embedding_dim: None for one `(vocabulary, embedding_dim)` table; else
            the table's width, followed by a learned `piece_embedding_dim ->
            embedding_dim` projection (fewer weights when smaller than
            `embedding_dim`).
        lstm_units: the LSTM's hidden size per direction.
        hidden_dim: the width of the ReLU layer before the head.
        dropout: the dropout rate before the ReLU layer.
        init_from_teacher: start the table from the teacher's token embeddings,
            projected by PCA to the table's width (at most the teacher's); the
            projection, if any, starts random.
        pooling: one of `bilstm.POOLINGS`, how the steps become one vector.

    Returns:
        `(model, preprocessor)`: the model named `"bilstm_wordpiece_student"`, from
        the preprocessor's dict (`padding_mask` masks the padding) to logits; the
        preprocessor on the teacher's tokenizer.

    Raises:
        ValueError: for a teacher without its tokenizer, or a table wider than the
            teacher's embeddings with `init_from_teacher`.

    Example (a random BERT, for speed):

    >>> import keras_hub
    >>> from tfdistill.models import build_student
    >>> vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "film", "##s"]
    >>> teacher = keras_hub.models.BertTextClassifier(
    ...     keras_hub.models.BertBackbone(len(vocabulary), num_layers=1, num_heads=1,
    ...                                   hidden_dim=4, intermediate_dim=8, max_sequence_length=8),
    ...     num_classes=2, preprocessor=keras_hub.models.BertTextClassifierPreprocessor(
    ...         keras_hub.models.BertTokenizer(vocabulary, lowercase=True)))
    >>> student = build_student("bilstm_wordpiece", num_classes=2, teacher=teacher,
    ...                         sequence_length=8, embedding_dim=4, lstm_units=4,
    ...                         init_from_teacher=True)
    >>> inputs = student.preprocessor(["A Films"])
    >>> [vocabulary[i] for i in inputs["token_ids"][0].numpy() if i]  # the teacher's pieces
    ['[CLS]', 'a', 'film', '##s', '[SEP]']
    >>> student.model(inputs).shape, student.model.get_layer("token_embedding").input_dim
    (TensorShape([1, 2]), 8)
    """
    check_has_tokenizer(teacher, "A bilstm_wordpiece student reads the teacher's tokenizer")
    preprocessor = bert_preprocessor(teacher.preprocessor, sequence_length)
    inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in _INPUTS}
    table = keras.layers.Embedding(
        preprocessor.tokenizer.vocabulary_size(),
        piece_embedding_dim or embedding_dim,
        name="token_embedding",
    )
    embedded = table(inputs["token_ids"])
    if piece_embedding_dim is not None:
        embedded = keras.layers.Dense(embedding_dim, use_bias=False, name="piece_projection")(
            embedded
        )
    features = bilstm_features(
        embedded,
        lstm_units=lstm_units,
        hidden_dim=hidden_dim,
        dropout=dropout,
        mask=keras.ops.cast(inputs["padding_mask"], "bool"),
        pooling=pooling,
    )
    model = keras.Model(inputs, head(features), name="bilstm_wordpiece_student")
    if init_from_teacher:
        table.set_weights([teacher_piece_vectors(teacher, table.output_dim)])
    return model, preprocessor


def teacher_piece_vectors(teacher, dim):
    """The teacher's input token embedding table, one row per piece, projected by PCA
    to `dim` (`principal_projection`: centred, mean norm 1).

    Every row takes part, `[PAD]` and the `[unused]` pieces too: the table is the
    teacher's as it is, and the student's mask hides padding anyway.

    Raises:
        ValueError: when `dim` exceeds the teacher's embedding width.
    """
    embeddings = keras.ops.convert_to_numpy(teacher.backbone.token_embedding.embeddings)
    width = embeddings.shape[1]
    if not 1 <= dim <= width:
        raise ValueError(
            f"init_from_teacher projects the teacher's {width}-wide token embeddings, so "
            f"the student's table can be 1 to {width} wide, not {dim}: lower "
            "embedding_dim (or piece_embedding_dim), or set init_from_teacher=False."
        )
    return principal_projection(np.asarray(embeddings, np.float64), dim)
