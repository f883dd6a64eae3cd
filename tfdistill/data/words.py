"""The word-level edits that augmentation and negation share: a word split from the
punctuation around it, and a replacement written in the case of the word it replaces."""

import re

# A word's leading and trailing non-word characters ("great," -> "", "great", ","),
# which every edit keeps.
_AFFIXES = re.compile(r"^(\W*)(.*?)(\W*)$")


def split_affixes(word):
    """`(prefix, core, suffix)`: the punctuation around a word and the word.

    A word of punctuation only ("--", "...") is its own core.

    >>> split_affixes('"Great,'), split_affixes("...")
    (('"', 'Great', ','), ('', '...', ''))
    """
    prefix, core, suffix = _AFFIXES.match(word).groups()
    if not core:
        return "", word, ""
    return prefix, core, suffix


def with_case_of(word, replacement):
    """`replacement` in the case of `word`: all capitals, capitalised, or as it is.

    >>> with_case_of("GOOD", "bad"), with_case_of("Good", "bad"), with_case_of("good", "Bad")
    ('BAD', 'Bad', 'Bad')
    """
    if len(word) > 1 and word.isupper():
        return replacement.upper()
    if word[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement
