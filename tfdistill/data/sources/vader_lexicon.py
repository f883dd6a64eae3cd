"""The words of VADER's sentiment lexicon, unlabelled texts for a run's transfer set.

`"vader_lexicon"` is `vaderSentiment/vader_lexicon.txt` of the vaderSentiment 3.3.2
sdist that `vader_snippets` reads in place (see its `SDIST_DIR`): the 7,520 tokens that
Hutto & Gilbert (ICWSM 2014) had people rate for sentiment, gathered from earlier word
lists (LIWC, ANEW, the General Inquirer) and from the conventions of microblogs
(emoticons, acronyms such as "lol", slang such as "meh"). It holds words, not texts of
any domain: each word is one text, which a run's teacher labels in its transfer set
(`distillation.transfer_texts: [vader_lexicon]`), so that the student learns what the
teacher makes of sentiment words that its training texts may never show.

A line of the file is a token, a tab, its mean rating, a tab, their standard
deviation, a tab and the ten ratings. Only the token is read: the teacher, not the
raters, labels it. The tokens that start with a letter and hold only letters, digits,
apostrophes and hyphens are kept: 7,244 lines, 7,234 distinct words ("meh", "gr8",
"cover-up"; ten, such as "lol", are listed twice). The other 276 lines are mostly
emoticons (":-)", "</3", "(o:"), which a word-level student, stripping punctuation,
would read as empty texts, and four phrases ("can't stand", "fed up").

The same paper rated the sentences of the `vader_amazon_reviews`, `vader_tweets` and
`vader_nyt_editorials` sets. The lexicon is a list of words, not of their sentences,
but a few of those are one word: case and final punctuation aside, 19 product-review
sentences ("awesome."), 8 tweets and 5 editorial sentences are lexicon words. A run
drops the transfer texts that equal one of its `data.extra_test` texts but for case
(3 tweets: "wow", "Lmfao", "damnit"); a word-level student reads the other 29 as the
words themselves. The texts come in the salted hash order of `splits.hash_order`, as
every unlabelled source's.

Example:

>>> words = load_vader_lexicon("vader_lexicon")
>>> len(words), "meh" in words, ":-)" in words
(7234, True, False)
"""

import functools
import re
import tarfile

from tfdistill.data.sources import UNLABELLED
from tfdistill.data.sources import register_source
from tfdistill.data.sources.splits import unique_in_hash_order
from tfdistill.data.sources.vader_snippets import sdist_path

_LEXICON = "vaderSentiment-3.3.2/vaderSentiment/vader_lexicon.txt"
_WORD = re.compile(r"[a-z][a-z0-9'-]*")


@register_source("vader_lexicon", task=UNLABELLED)
@functools.lru_cache(maxsize=1)
def load_vader_lexicon(name):
    """The lexicon's words (see the module docstring), an unlabelled source loader.

    Args:
        name: `"vader_lexicon"`, the registered source name.

    Returns:
        A tuple of `str` words, unique and in hash order (immutable: shared by every
        caller, as the lexicon is parsed once per process).

    Raises:
        FileNotFoundError: the sdist is not downloaded; the message says how.
    """
    with tarfile.open(sdist_path(name)) as sdist:
        lines = sdist.extractfile(_LEXICON).read().decode("utf-8").splitlines()
    tokens = (line.split("\t", 1)[0] for line in lines if line.strip())
    return unique_in_hash_order(token for token in tokens if _WORD.fullmatch(token))
