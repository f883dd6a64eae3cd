"""Tagged sentences from CoNLL-style files: one token per line, its tag in a column.

`read_conll` reads a file into `TaggedSentences`, the words and IOB2 tags of each
sentence. A line's columns are split on tabs when it holds one, else on any
whitespace; a blank or whitespace-only line (such as a lone tab) ends a sentence, and
`-DOCSTART-` lines (CoNLL-2003's document marks) are skipped. Tags are `O`,
`B-<type>` or `I-<type>`, in IOB1 or IOB2; `to_iob2` turns both into IOB2, where every
entity opens with `B-`. `tag_vocabulary` gives the tag names a model predicts, with
stable ids, and `tag_ids` maps tags to them.

Example:

>>> path = getfixture("tmp_path") / "tweets.conll"
>>> _ = path.write_text("Paris\\tI-geo-loc\\nrocks\\tO\\n\\t\\nhi\\tO\\n")
>>> sentences = read_conll(path)
>>> sentences.words, sentences.tags
((('Paris', 'rocks'), ('hi',)), (('B-geo-loc', 'O'), ('O',)))
>>> names = tag_vocabulary(sentences.tags)
>>> names, [ids.tolist() for ids in tag_ids(sentences.tags, names)]
(('O', 'B-geo-loc', 'I-geo-loc'), [[1, 0], [0]])
"""

import dataclasses
import os
import re

import numpy as np

# A well-formed tag; an entity type is any run of non-space characters ("geo-loc").
_TAG = re.compile(r"O|[BI]-\S+")
_EXPECTED_TAGS = "expected 'O', 'B-<type>' or 'I-<type>' (IOB1 or IOB2)"
# CoNLL-2003 separates its documents with this line; it is not a sentence.
DOCUMENT_START = "-DOCSTART-"


@dataclasses.dataclass(frozen=True)
class TaggedSentences:
    """Sentences as words and one tag per word.

    Lists are stored as tuples, so an instance (and a cached corpus) cannot be
    changed in place.

    Attributes:
        words: the words of each sentence, a tuple of tuples of `str`.
        tags: the tag of each word, in the same shape.

    Example:

    >>> sentences = TaggedSentences([["Hi", "Ann"]], [["O", "B-person"]])
    >>> len(sentences), sentences.num_tokens, sentences.select([0]) == sentences
    (1, 2, True)
    """

    words: tuple[tuple[str, ...], ...]
    tags: tuple[tuple[str, ...], ...]

    def __post_init__(self):
        words = tuple(tuple(sentence) for sentence in self.words)
        tags = tuple(tuple(sentence) for sentence in self.tags)
        if [len(sentence) for sentence in words] != [len(sentence) for sentence in tags]:
            raise ValueError("TaggedSentences needs exactly one tag per word in each sentence.")
        object.__setattr__(self, "words", words)
        object.__setattr__(self, "tags", tags)

    def __len__(self):
        return len(self.words)

    @property
    def num_tokens(self):
        return sum(len(sentence) for sentence in self.words)

    def select(self, indices):
        """The sentences at `indices`, in that order."""
        return TaggedSentences(
            tuple(self.words[i] for i in indices), tuple(self.tags[i] for i in indices)
        )


def read_conll(path, *, token_column=0, tag_column=-1):
    """Reads a CoNLL-style file into `TaggedSentences`, with IOB2 tags.

    Args:
        path: the file (a string or `os.PathLike`), UTF-8 encoded.
        token_column: the column of the token; negative counts from the end.
        tag_column: the column of the tag, likewise (default: the last one).

    Returns:
        `TaggedSentences`, in file order.

    Raises:
        FileNotFoundError: when there is no such file.
        ValueError: naming the file and the 1-based line, for bytes that are not
            UTF-8, a line without the two columns, an empty token, a tag other
            than `O`, `B-<type>` or `I-<type>`; and for a file without sentences.
    """
    path = os.fspath(path)
    if token_column == tag_column:
        raise ValueError(f"token_column and tag_column are both {token_column}.")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such data file: {path!r}.")
    with open(path, "rb") as f:
        data = f.read()
    words, tags, sentence = [], [], []
    # A blank line added after the last one ends the last sentence.
    for line_number, line in enumerate([*data.splitlines(), b""], start=1):
        fields = _fields(line, path, line_number)
        if fields and fields[0] != DOCUMENT_START:
            sentence.append(_token_and_tag(fields, token_column, tag_column, path, line_number))
        elif sentence:
            # A blank line ends a sentence; so does a -DOCSTART- line, which is never
            # inside one in CoNLL-2003 and must not glue two sentences together.
            words.append(tuple(token for token, _ in sentence))
            tags.append(to_iob2([tag for _, tag in sentence]))
            sentence = []
    if not words:
        raise ValueError(f"{path}: the file has no tagged sentences.")
    return TaggedSentences(tuple(words), tuple(tags))


def _fields(line, path, line_number):
    """The stripped columns of one line of bytes; `[]` for a blank line."""
    try:
        # utf-8-sig drops the byte-order mark some editors write first.
        text = line.decode("utf-8-sig" if line_number == 1 else "utf-8")
    except UnicodeDecodeError as error:
        bad_byte = line[error.start : error.start + 1]
        raise ValueError(
            f"{path}: line {line_number} is not valid UTF-8 (byte {error.start + 1} "
            f"of the line is {bad_byte!r})."
        ) from None
    if not text.strip():
        return []
    # A tab-separated line keeps spaces inside its fields (a token "New York").
    return [field.strip() for field in text.split("\t")] if "\t" in text else text.split()


def _token_and_tag(fields, token_column, tag_column, path, line_number):
    """The token and the checked tag of one line's `fields`."""
    where = f"{path}: line {line_number}"
    columns = [
        column % len(fields)
        for column in (token_column, tag_column)
        if -len(fields) <= column < len(fields)
    ]
    if len(set(columns)) < 2:
        raise ValueError(
            f"{where} has {len(fields)} column(s) {fields}; expected a token in column "
            f"{token_column} and a tag in column {tag_column}."
        )
    token, tag = fields[columns[0]], fields[columns[1]]
    if not token:
        raise ValueError(f"{where}: the token (column {token_column}) is empty.")
    if not _TAG.fullmatch(tag):
        raise ValueError(f"{where}: malformed tag {tag!r}; {_EXPECTED_TAGS}.")
    return token, tag


def to_iob2(tags):
    """The IOB2 form of one sentence's IOB1 or IOB2 tags.

    An `I-<type>` that opens an entity (first, after `O`, or after another type)
    becomes `B-<type>`. These are the entities that CoNLL's `conlleval` script reads
    from any tag sequence, so `to_iob2` also normalises a model's invalid output.

    Raises:
        ValueError: for a tag other than `O`, `B-<type>` or `I-<type>`.

    Example:

    >>> to_iob2(["I-person", "I-person", "B-person", "O", "I-geo-loc", "I-company"])
    ('B-person', 'I-person', 'B-person', 'O', 'B-geo-loc', 'B-company')
    """
    iob2, previous_type = [], None
    for position, tag in enumerate(tags):
        if not isinstance(tag, str) or not _TAG.fullmatch(tag):
            raise ValueError(f"Malformed tag {tag!r} at position {position}; {_EXPECTED_TAGS}.")
        entity_type = None if tag == "O" else tag[2:]
        if tag.startswith("I-") and entity_type != previous_type:
            tag = "B-" + entity_type
        iob2.append(tag)
        previous_type = entity_type
    return tuple(iob2)


def tag_vocabulary(tags):
    """The tag names of tagged sentences, in id order: `O`, then sorted names.

    Every entity type found gets both its `B-` and `I-` name, so that ids stay the
    same whether or not a type's single-word entities leave its `I-` tag unused.

    Example:

    >>> tag_vocabulary([["B-person", "O"], ["B-geo-loc"]])
    ('O', 'B-geo-loc', 'B-person', 'I-geo-loc', 'I-person')
    """
    types = {tag[2:] for sentence in tags for tag in sentence if tag != "O"}
    return ("O", *sorted(f"{prefix}-{entity_type}" for entity_type in types for prefix in "BI"))


def tag_ids(tags, names):
    """Each sentence's tags as an int32 array of their indices in `names`.

    Raises:
        ValueError: for a tag that is not in `names`, naming its sentence.
    """
    index = {name: i for i, name in enumerate(names)}
    ids = []
    for sentence_number, sentence in enumerate(tags):
        unknown = [tag for tag in sentence if tag not in index]
        if unknown:
            raise ValueError(
                f"Sentence {sentence_number}: tag {unknown[0]!r} is not one of {list(names)}."
            )
        ids.append(np.array([index[tag] for tag in sentence], dtype=np.int32))
    return ids
