"""Negated copies of texts: one negation turned on or off, for the teacher to label.

A word-level student learns what "good" means from the texts it sees, but rarely
sees the same words with their sense reversed: "is good" and "isn't good",
"problems" and "no problems". The teacher reads negation well, so a copy of a
training text with one negation flipped, labelled by the teacher, shows the
student the difference on words it already knows. Like `augment_texts`'s copies,
the negated copies carry no gold label; the teacher's logits are their target.

A flip is one word of a fixed English list (`_FLIPS`): an auxiliary verb gains
"n't" ("is" -> "isn't", "can" -> "can't"), a contraction of "is", "are" or "am"
gains "not" ("it's" -> "it's not"), a negative contraction loses it ("doesn't" ->
"does"), "not", "never" and "no" are dropped, and "nothing", "nobody", "none",
"without" and "cannot" become "something", "somebody", "some", "with" and "can".
An auxiliary already followed by a negation is left alone, so no double negative
is made. The result is not always grammatical ("has a feel of" -> "hasn't a feel
of"); the teacher labels what it reads.

Example:

>>> negated_copies(["It's a good film, not a great one."], copies=2)
["It's not a good film, not a great one.", "It's a good film, a great one."]
"""

import numpy as np

from tfdistill.data.words import split_affixes
from tfdistill.data.words import with_case_of

_NEGATIVE_AUXILIARIES = {
    "is": "isn't", "was": "wasn't", "are": "aren't", "were": "weren't",
    "does": "doesn't", "did": "didn't", "do": "don't", "can": "can't",
    "could": "couldn't", "would": "wouldn't", "should": "shouldn't",
    "will": "won't", "has": "hasn't", "have": "haven't", "had": "hadn't",
}  # fmt: skip
# Contractions of "is", "are" and "am" ("he's" may also be "he has": "he's not been"
# reads as well).
_NOT_AFTER = ("it's", "that's", "he's", "she's", "they're", "you're", "we're", "i'm")
_DROPPED = ("not", "never", "no")
_OPPOSITES = {"nothing": "something", "nobody": "somebody", "none": "some",
              "without": "with", "cannot": "can", "ain't": "is"}  # fmt: skip

# Each word that can be flipped, lowercase, and what it becomes ("" drops it).
_FLIPS = {
    **_NEGATIVE_AUXILIARIES,
    **{negative: positive for positive, negative in _NEGATIVE_AUXILIARIES.items()},
    **{word: word + " not" for word in _NOT_AFTER},
    **{word: "" for word in _DROPPED},
    **_OPPOSITES,
}
# A word before one of these is already negated: flipping it would negate twice.
_NEGATIONS = frozenset(_DROPPED + ("nothing", "nobody", "none"))


def negated_copies(texts, *, copies, seed=0):
    """Up to `copies` copies of each text, each with one negation flipped.

    Words are whitespace-separated, punctuation attached; a word's punctuation
    stays ("isn't," -> "is,"), and a flipped word takes the case of the word it
    replaces ("Is" -> "Isn't"). Each copy flips a different word, chosen at
    random among those that can be flipped (see the module docstring), so a text
    with fewer such words has fewer copies, and a text with none has none. Copies
    equal to another copy or to one of `texts` (up to whitespace) are dropped.

    Args:
        texts: A sequence of strings.
        copies: The most copies of each text, an int >= 0.
        seed: Seed of the `np.random.Generator` choosing the words to flip.

    Returns:
        A list of the new texts, in the order of their source texts.

    Example:

    >>> negated_copies(["The plot does work.", "No complaints at all"], copies=1)
    ["The plot doesn't work.", 'complaints at all']
    """
    if not isinstance(copies, (int, np.integer)) or copies < 0:
        raise ValueError(f"copies must be an int >= 0, got {copies!r}.")
    rng = np.random.default_rng(seed)
    seen = {" ".join(text.split()) for text in texts}
    negated = []
    for text in texts:
        words = [split_affixes(word) for word in text.split()]
        flippable = _flippable_positions(words)
        for position in rng.permutation(flippable)[:copies]:
            copy = _with_flipped(words, int(position))
            if copy and copy not in seen:
                seen.add(copy)
                negated.append(copy)
    return negated


def _lookup(core):
    """A word's key in `_FLIPS`: lowercase, with a typographic apostrophe made plain."""
    return core.lower().replace("\u2019", "'")


def _flippable_positions(words):
    """The positions of the `(prefix, core, suffix)` words that can be flipped."""
    positions = []
    for position, (_, core, _) in enumerate(words):
        key = _lookup(core)
        if key not in _FLIPS:
            continue
        following = _lookup(words[position + 1][1]) if position + 1 < len(words) else ""
        if key in _NEGATIVE_AUXILIARIES or key in _NOT_AFTER:
            if following in _NEGATIONS:
                continue
        positions.append(position)
    return positions


def _with_flipped(words, position):
    """The text of `words` with the word at `position` flipped, single-spaced."""
    tokens = [prefix + core + suffix for prefix, core, suffix in words]
    prefix, core, suffix = words[position]
    flipped = _FLIPS[_lookup(core)]
    if flipped:
        tokens[position] = prefix + with_case_of(core, flipped) + suffix
    elif prefix or suffix:
        # A dropped word's punctuation ("not," -> ",") stays where it was.
        tokens[position] = prefix + suffix
    else:
        del tokens[position]
    return " ".join(tokens)
