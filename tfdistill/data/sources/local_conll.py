"""Local tagged files: a path ending in `.conll` or `.bio`, read by `conll.read_conll`.

One token per line with its tag in a column (`token_column`, `tag_column`), sentences
separated by blank or whitespace-only lines; see `tfdistill.data.conll` for the format
and its errors, which name the file and line. (`.conllu`, a different format, is not
read.) A `{split}` in the path is replaced by the split name (`data/{split}.conll`),
and sentences stay in file order; the tag names come from the train file, so every
split maps a tag to the same id, and an entity type missing from the train file is an
error. A path without `{split}` is one file whose sentences are de-duplicated and split
80/10/10 by `splits.split_sentences`, in hash order, with the tag names of the whole
file.
"""

import logging

from tfdistill.data.conll import read_conll, tag_vocabulary
from tfdistill.data.sources import TAGGED_OPTIONS, register_source
from tfdistill.data.sources.splits import split_sentences

logger = logging.getLogger(__name__)


@register_source(".conll", match="extension", options=TAGGED_OPTIONS, task="token_classification")
@register_source(".bio", match="extension", options=TAGGED_OPTIONS, task="token_classification")
def load_local_conll(path, split, *, token_column, tag_column):
    """One split of a local CoNLL-style file, a tagging source loader.

    Args:
        path: the file's path, which may contain `{split}`.
        split: `"train"`, `"validation"` or `"test"`; with `{split}`, any
            split that has a file.
        token_column: the token's column; negative counts from the end.
        tag_column: the tag's column, likewise.

    Returns:
        `(sentences, tag_names)`: the split's `TaggedSentences` and the tag
        names in id order.

    Example:

    >>> folder = getfixture("tmp_path")
    >>> _ = (folder / "train.conll").write_text("Ann B-person NNP\\nsings O VBZ\\n")
    >>> sentences, tag_names = load_local_conll(
    ...     str(folder / "{split}.conll"), "train", token_column=0, tag_column=1
    ... )
    >>> sentences.words, sentences.tags, tag_names
    ((('Ann', 'sings'),), (('B-person', 'O'),), ('O', 'B-person', 'I-person'))
    """
    columns = {"token_column": token_column, "tag_column": tag_column}
    if "{split}" not in path:
        return _single_file_split(path, split, columns)
    file_path = path.replace("{split}", split)
    sentences = read_conll(file_path, **columns)
    train_path = path.replace("{split}", "train")
    train = sentences if train_path == file_path else read_conll(train_path, **columns)
    tag_names = tag_vocabulary(train.tags)
    missing = sorted(set(tag_vocabulary(sentences.tags)) - set(tag_names))
    if missing:
        raise ValueError(
            f"{file_path}: entity type {missing[0][2:]!r} is not in the train file "
            f"{train_path}; every split's types must be, so that tag ids are the same "
            "in every split."
        )
    return sentences, tag_names


def _single_file_split(path, split, columns):
    """`split` of a single file's sentences, after dropping repeated ones."""
    sentences = read_conll(path, **columns)
    indices, num_repeats, num_conflicting = split_sentences(
        sentences.words, sentences.tags, split
    )
    if num_repeats or num_conflicting:
        logger.warning(
            "%s: dropped %d repeated sentences and %d sentences with conflicting tags "
            "before splitting.",
            path,
            num_repeats,
            num_conflicting,
        )
    return sentences.select(indices), tag_vocabulary(sentences.tags)
