"""A word-level student's tokenizer in plain Python: the same ids, without TensorFlow.

`build_vectorizer`'s `TextVectorization` is a graph of TensorFlow string ops. Called on
one text it costs about a millisecond on a 2-core CPU, several times what the quantized
BiLSTM's TFLite interpreter then needs (BENCHMARKS.md, TFLite). `WordIds` maps texts to
the same ids with Python's `re` and a dict, and spells out the rule an app outside
Python implements:

1. ASCII letters lowercased (other letters kept as they are);
2. the mask token `[MASK]` (any case) made the out-of-vocabulary token, and Keras's
   punctuation characters `!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'` removed;
3. split on runs of ASCII whitespace (space, tab, line feed, carriage return, vertical
   tab, form feed);
4. each word's position in the vocabulary, 1 (out of vocabulary) when absent;
5. cut to the sequence length, or padded with 0 up to it.

Texts are handled as UTF-8 bytes, as TensorFlow does, so invalid UTF-8 gives the ids
the `TextVectorization` gives.
"""

import re

import numpy as np

from tfdistill.data.encoders import MASK_TOKEN
from tfdistill.data.encoders import _LOWERCASE_MASK
from tfdistill.data.encoders import _OOV_TOKEN
from tfdistill.data.encoders import _PUNCTUATION
from tfdistill.data.encoders import lower_and_strip_punctuation_except_mask

# Every word-level preprocessor's ids: padding, then one id for every word outside the
# vocabulary (`TextVectorization`'s and `StringLookup`'s with an empty mask token).
PAD_ID, OOV_ID = 0, 1
_MASK_OR_PUNCTUATION = re.compile(f"({_LOWERCASE_MASK})|{_PUNCTUATION}".encode())
_MASK, _OOV = MASK_TOKEN.lower().encode(), _OOV_TOKEN.encode()
_ASCII_LOWER = bytes.maketrans(
    bytes(range(ord("A"), ord("Z") + 1)), bytes(range(ord("a"), ord("z") + 1))
)


class WordIds:
    """Strings to the word ids of a `build_vectorizer` vectorizer, in plain Python.

    Args:
        vocabulary: the vectorizer's `get_vocabulary()` (padding, OOV, then words).
        sequence_length: the length of every row of ids.

    Example:

    >>> from tfdistill.data.encoders import build_vectorizer
    >>> vectorizer = build_vectorizer(["a good film", "a bad film"], sequence_length=5)
    >>> word_ids = WordIds.from_vectorizer(vectorizer)
    >>> word_ids(["A good, [MASK] film!"]).tolist()
    [[3, 4, 1, 2, 0]]
    >>> vectorizer(["A good, [MASK] film!"]).numpy().tolist()
    [[3, 4, 1, 2, 0]]
    """

    def __init__(self, vocabulary, sequence_length):
        self.ids = {word.encode("utf-8"): index for index, word in enumerate(vocabulary)}
        self.sequence_length = sequence_length

    @classmethod
    def from_vectorizer(cls, vectorizer):
        """The `WordIds` of a vectorizer `build_vectorizer` made.

        Raises:
            ValueError: the vectorizer standardizes, splits or outputs otherwise.
        """
        config = vectorizer.get_config()
        made_by_build_vectorizer = (
            config["standardize"] is lower_and_strip_punctuation_except_mask
            and config["split"] == "whitespace"
            and config["output_mode"] == "int"
            and config["ngrams"] is None
            and config["output_sequence_length"]
        )
        if not made_by_build_vectorizer:
            raise ValueError("WordIds reproduces only the vectorizers build_vectorizer makes.")
        return cls(vectorizer.get_vocabulary(), config["output_sequence_length"])

    def words(self, text):
        """The words of one text (a str or UTF-8 bytes), as bytes."""
        if isinstance(text, str):
            text = text.encode("utf-8")
        text = _MASK_OR_PUNCTUATION.sub(rb"\1", text.translate(_ASCII_LOWER))
        return text.replace(_MASK, b" " + _OOV + b" ").split()

    def __call__(self, texts):
        """`[len(texts), sequence_length]` int64 ids."""
        rows = np.full((len(texts), self.sequence_length), PAD_ID, dtype=np.int64)
        for row, text in zip(rows, texts):
            ids = [self.ids.get(word, OOV_ID) for word in self.words(text)]
            ids = ids[: self.sequence_length]
            row[: len(ids)] = ids
        return rows
