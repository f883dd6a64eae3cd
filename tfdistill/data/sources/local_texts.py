"""Local unlabelled texts: a path ending in `.txt`, one text per line.

For `distillation.transfer_texts`: texts like the ones the deployed student will read
(a product's reviews, support tickets), with no labels, which the run's teacher labels
into the transfer set. Out of its training domain a student agrees less with its
teacher; a domain's own unlabelled texts bring it closer there, which helps as far as
the teacher is right in that domain (BENCHMARKS.md section 25).

Each line is a text: its whitespace runs become one space, empty lines are skipped,
and a repeated text is kept once. The texts come in the salted hash order of
`splits.hash_order`, so that `distillation.max_transfer_texts` keeps a fair sample.
A missing file, bytes that are not UTF-8 (naming the line) or a file with no text
are errors.

Example:

>>> path = getfixture("tmp_path") / "tickets.txt"
>>> _ = path.write_text("the app  crashes on start\\n\\nrefund came fast\\nrefund came fast\\n")
>>> sorted(load_local_texts(str(path)))
['refund came fast', 'the app crashes on start']
"""

import os

from tfdistill.data.sources import UNLABELLED
from tfdistill.data.sources import register_source
from tfdistill.data.sources.local import decode_lines
from tfdistill.data.sources.splits import unique_in_hash_order
from tfdistill.registry import did_you_mean_path


@register_source(".txt", match="extension", task=UNLABELLED)
def load_local_texts(path):
    """Every text of a local `.txt` file, an unlabelled source loader.

    Args:
        path: the file's path.

    Returns:
        A tuple of `str` texts, cleaned, unique and in hash order (see the module
        docstring).

    Raises:
        FileNotFoundError: there is no such file.
        ValueError: a line is not UTF-8, or no line holds a text.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such text file: {path!r}{did_you_mean_path(path)}.")
    with open(path, "rb") as f:
        lines = decode_lines(f.read(), path)
    texts = unique_in_hash_order(lines)
    if not texts:
        raise ValueError(f"{path}: the file has no line with a text.")
    return texts
