"""One small registry: the single list of names for one concept.

Student kinds, logit losses, intermediate terms, data sources, strategies and tasks
each have one `Registry`. The config validator, the error messages, the library and
the command line all read it, so a name registered from Python (say a new student
kind) is accepted everywhere at once, as torchdistill's registries do.

Each entry is a value (a builder, a loss function, a loader...) plus keyword
attributes that say what it is (e.g. a student's `word_level=True`).

Example:

>>> shapes = Registry("shape")
>>> @shapes.register("square", sides=4)
... def square(size):
...     return size * size
>>> shapes.get("square")(3), shapes.attributes("square")["sides"]
(9, 4)
>>> shapes.names()
['square']
>>> shapes.get("circle")
Traceback (most recent call last):
...
ValueError: Unknown shape 'circle'; registered: ['square'].
>>> shapes.get("sqare")
Traceback (most recent call last):
...
ValueError: Unknown shape 'sqare' (did you mean 'square'?); registered: ['square'].
"""

import difflib
import os


def did_you_mean(name, names):
    """`" (did you mean 'x'?)"` for the registered name closest to a misspelt one,
    or `""` when none is close: every error that rejects a name adds it.

    Example:

    >>> did_you_mean("rotten_tomatos", ["bbc_news", "rotten_tomatoes"])
    " (did you mean 'rotten_tomatoes'?)"
    >>> did_you_mean("Text", ["text", "label"])
    " (did you mean 'text'?)"
    >>> did_you_mean("rnu", ["export", "predict", "run"])
    " (did you mean 'run'?)"
    >>> did_you_mean("no_such_reviews", ["amazon_us_reviews", "imdb_reviews"])
    ''
    >>> did_you_mean("int8", ["float16", "dynamic_range", "full_int8"])
    " (did you mean 'full_int8'?)"
    >>> did_you_mean("reviews", ["amazon_us_reviews", "imdb_reviews"])  # Two have it.
    ''
    """
    close = _closest(name, names)
    return "" if close is None else f" (did you mean {close!r}?)"


def did_you_mean_path(path):
    """`did_you_mean` for a file or folder that does not exist, among the entries of
    the folder it names: `configs/smoke.yml` -> `" (did you mean 'configs/smoke.yaml'?)"`.

    Example:

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> os.mkdir(os.path.join(folder, "demo"))
    >>> did_you_mean_path(os.path.join(folder, "dmo/")).replace(folder, "runs")
    " (did you mean 'runs/demo'?)"
    >>> did_you_mean_path(os.path.join(folder, "no_such_folder", "dmo"))
    ''
    """
    # A trailing separator ("runs/dmo/") names the same folder.
    folder, name = os.path.split(os.fspath(path).rstrip(os.sep))
    try:
        entries = os.listdir(folder or ".")
    except OSError:  # The folder is missing too, or cannot be read: no guess.
        return ""
    close = _closest(name, entries)
    return "" if close is None else f" (did you mean {os.path.join(folder, close)!r}?)"


def _closest(name, names):
    """The one of `names` closest to `name`, or None when none is close."""
    # Case aside, a cut of 0.75 takes a letter or two wrong, missing or doubled, and
    # leaves names that only share a part ("_reviews"), which difflib's 0.6 took.
    by_folded = {str(known).casefold(): known for known in names}
    folded = str(name).casefold()
    # Two letters swapped is the commonest typo, and in a short name ("rnu" for
    # "run") difflib rates it under the cut.
    swapped = [known for known in by_folded if _one_swap_apart(folded, known)]
    close = swapped or difflib.get_close_matches(folded, by_folded, n=1, cutoff=0.75)
    # A name cut short to one of its "_" parts ("int8" for "full_int8"), when only one
    # name has that part.
    part_of = [known for known in by_folded if "_" in known and folded in known.split("_")]
    close = close or (part_of if len(part_of) == 1 else [])
    return by_folded[close[0]] if close else None


def _one_swap_apart(name, known):
    """Whether `known` is `name` with two neighbouring letters swapped."""
    differ = [i for i, (a, b) in enumerate(zip(name, known)) if a != b]
    return (
        len(name) == len(known)
        and len(differ) == 2
        and differ[1] == differ[0] + 1
        and name[differ[0]] == known[differ[1]]
        and name[differ[1]] == known[differ[0]]
    )


class Registry:
    """Names to values for one concept, each value with its attributes.

    Args:
        concept: what one entry is, for error messages (e.g. `"student kind"`).
    """

    def __init__(self, concept):
        self.concept = concept
        self._values = {}
        self._attributes = {}

    def register(self, name, value=None, *, override=False, **attributes):
        """Registers `value` under `name`; without `value`, returns a decorator.

        Args:
            name: the name a config or a call uses.
            value: what the name stands for; omit it to use this as a decorator.
            override: replace an entry of the same name instead of raising.
            **attributes: what the entry is, read back with `attributes(name)`.

        Raises:
            ValueError: when `name` is taken and `override` is False.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"A {self.concept} name must be a non-empty string, got {name!r}.")

        def add(value):
            if name in self._values and not override:
                raise ValueError(
                    f"A {self.concept} named {name!r} is already registered; pass "
                    "override=True to replace it."
                )
            self._values[name] = value
            self._attributes[name] = dict(attributes)
            return value

        return add if value is None else add(value)

    def unregister(self, name):
        """Removes `name` (e.g. what a test registered); unknown names raise."""
        self.check(name)
        del self._values[name], self._attributes[name]

    def check(self, name):
        """Raises a `ValueError` naming the registered names unless `name` is one."""
        if name not in self._values:
            raise ValueError(
                f"Unknown {self.concept} {name!r}{did_you_mean(name, self.names())}; "
                f"registered: {self.names()}."
            )

    def get(self, name):
        """The value registered under `name`."""
        self.check(name)
        return self._values[name]

    def attributes(self, name):
        """A copy of the attributes `name` was registered with."""
        self.check(name)
        return dict(self._attributes[name])

    def names(self):
        """The registered names, sorted."""
        return sorted(self._values)

    def __contains__(self, name):
        return name in self._values

    def __repr__(self):
        return f"Registry({self.concept!r}, {self.names()})"
