"""Atomic writes: a file or folder appears whole under its name, or not at all.

Every artefact tfdistill writes (cached logits, checkpoints' state, trained models,
SavedModels, TFLite files, metrics) goes through `replace_atomically`: it is written
under a temporary name in the same folder, then renamed over the final name. A
crash or kill in between leaves the old content (or nothing) and a hidden temporary
folder (its name ends in `TMP_SUFFIX`) that the next write of the same name does not
trip over, and that `remove_interrupted_writes` removes.

Example:

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "metrics.json"
>>> write_json(path, {"accuracy": 0.5})
>>> path.read_text()
'{\\n  "accuracy": 0.5\\n}\\n'
"""

import json
import os
import pathlib
import shutil
import tempfile

# The end of the name of every temporary folder `replace_atomically` makes.
TMP_SUFFIX = ".tfdistill-tmp"


def replace_atomically(write, path):
    """Calls `write(tmp_path)` beside `path`, then renames the result to `path`.

    `write` may create a file or a folder at `tmp_path`; a file is flushed to disk
    before the rename. An existing `path` is replaced only once the new content is
    whole.

    Args:
        write: a function of one argument, the temporary path (a string).
        path: the final path.

    Returns:
        `path`, as a string.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = pathlib.Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent))
    try:
        tmp = tmp_dir / path.name
        write(str(tmp))
        if tmp.is_file():
            with open(tmp, "rb+") as file:
                os.fsync(file.fileno())
        if path.is_dir() and not path.is_symlink():
            # A folder cannot be renamed over another: move the old one aside first,
            # inside the temporary folder, so that it is removed with it.
            os.replace(path, tmp_dir / ".replaced")
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return str(path)


def remove_interrupted_writes(folder):
    """Removes the temporaries that killed `replace_atomically` calls left anywhere in
    `folder`. Only for a folder no other process writes in (a run's, under its lock).

    Example:

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> (folder / f".model.keras.x1{TMP_SUFFIX}").mkdir()
    >>> (folder / ".notes.tmp").mkdir()
    >>> remove_interrupted_writes(folder)
    >>> sorted(path.name for path in folder.iterdir())
    ['.notes.tmp']
    """
    for directory, subdirectories, _ in os.walk(folder):
        for name in [name for name in subdirectories if name.endswith(TMP_SUFFIX)]:
            shutil.rmtree(pathlib.Path(directory) / name)
            subdirectories.remove(name)


def write_text(path, text):
    """Writes `text` (UTF-8) to `path` atomically."""
    replace_atomically(lambda tmp: pathlib.Path(tmp).write_text(text, encoding="utf-8"), path)


def write_json(path, value):
    """Writes `value` as indented JSON to `path` atomically (numpy floats as floats)."""
    write_text(path, json.dumps(value, indent=2, default=float) + "\n")
