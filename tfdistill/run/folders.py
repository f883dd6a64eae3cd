"""The run folder's safety: tfdistill writes only inside folders it made, one run at a
time, and a rerun never puts a finished run at risk.

- Every folder tfdistill makes holds a marker file, `.tfdistill-run`. An existing
  file, or a non-empty folder without the marker, is refused as an output directory:
  tfdistill never moves, renames or deletes what it did not create.
- A run works in `<output_dir>.partial/`. A rerun of a finished run starts from hard
  links to the finished run's files (no copy of the data, and every write is a
  write-then-rename, so the finished files are never changed in place); the finished
  run stays where it is until the new one is whole, then the two are swapped. A failed
  rerun leaves the finished run untouched.
- A lock file in the partial folder (`fcntl.flock`, released by the operating system
  when its process dies, so a lock left by a killed run is stale by construction)
  stops a second concurrent run in one line naming the first one's PID.

Example:

>>> import pathlib, tempfile
>>> output_dir = pathlib.Path(tempfile.mkdtemp()) / "run"
>>> with claim(output_dir) as partial:
...     _ = (partial / "metrics.json").write_text("{}")
...     publish(partial, output_dir)
>>> sorted(path.name for path in output_dir.iterdir())
['.tfdistill-linked', '.tfdistill-run', '.tfdistill.lock', 'metrics.json']
"""

import contextlib
import fcntl
import json
import os
import pathlib
import shutil

from tfdistill.atomic import remove_interrupted_writes
from tfdistill.run.config import ConfigError
from tfdistill.run.layout import partial_dir

MARKER = ".tfdistill-run"
LOCK = ".tfdistill.lock"
# In a partial folder: the finished run's files are all linked in (a kill while
# linking leaves it out, and the next attempt links the rest).
LINKED = ".tfdistill-linked"


class RunFolderError(ConfigError):
    """An output directory tfdistill may not use, or one that another run holds."""


def check_usable(path):
    """Raises `RunFolderError` unless `path` is absent, an empty folder, or ours."""
    path = pathlib.Path(path)
    if not path.exists() and not path.is_symlink():
        return
    if not path.is_dir():
        raise RunFolderError(f"{path} exists and is not a folder: choose another --output_dir.")
    if any(path.iterdir()) and not (path / MARKER).is_file():
        raise RunFolderError(
            f"{path} is not empty and was not made by tfdistill (it has no {MARKER} "
            "file): choose another --output_dir; tfdistill does not write into folders "
            "it did not make."
        )


@contextlib.contextmanager
def claim(output_dir):
    """Locks `<output_dir>.partial` for this process and yields it, ready to work in.

    A new partial folder starts from hard links to the finished run's files, if
    there is one; an existing partial folder (an interrupted run) is resumed, less
    the half-written temporaries its kill left.
    """
    output_dir = pathlib.Path(output_dir)
    partial = partial_dir(output_dir)
    check_usable(output_dir)
    start(partial)
    with _locked(partial):
        # What a killed attempt was writing when it died; whole copies come again.
        remove_interrupted_writes(partial)
        _remove_replaced(output_dir)
        if not (partial / LINKED).is_file():
            if output_dir.is_dir():
                _link_tree(output_dir, partial)
            (partial / LINKED).write_text("")
        yield partial


def publish(partial, output_dir):
    """Puts the finished `partial` run at `output_dir`, replacing an older run there.

    The older run is moved aside (inside a hidden folder of ours), the new one renamed
    into place, then the older one removed: at no moment is a half-written run at
    `output_dir`.
    """
    partial, output_dir = pathlib.Path(partial), pathlib.Path(output_dir)
    if not output_dir.exists():
        os.replace(partial, output_dir)
        return
    replaced = output_dir.parent / f".{output_dir.name}.replaced-{os.getpid()}"
    os.replace(output_dir, replaced)
    os.replace(partial, output_dir)
    _remove_ours(replaced)


def _remove_replaced(output_dir):
    """Removes older runs that a publish killed midway had moved aside (ours)."""
    for leftover in output_dir.parent.glob(f".{output_dir.name}.replaced-*"):
        if (leftover / MARKER).is_file():
            _remove_ours(leftover)


def _remove_ours(folder):
    """Removes a folder of ours, its marker last: a kill midway leaves it marked."""
    for child in folder.iterdir():
        if child.name == MARKER:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    (folder / MARKER).unlink()
    folder.rmdir()


def discard(partial):
    """Removes a worker's partial folder (ours: it holds the marker)."""
    partial = pathlib.Path(partial)
    if (partial / MARKER).is_file():
        _remove_ours(partial)


@contextlib.contextmanager
def _locked(folder):
    with open(folder / LOCK, "a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            raise RunFolderError(
                f"another tfdistill run (PID {holder}) is writing {folder}: wait for it "
                "to finish or stop it, or choose another --output_dir."
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        yield


def start(partial):
    """Makes `partial` (a run's partial folder) if need be, marked as ours.

    The marker comes before anything else is made in it, the lock file included: a
    kill at any later moment leaves a folder that is recognisably ours. Something
    that seeds a run with files (a benchmark sharing a teacher) starts it first.
    """
    from tfdistill import __version__

    partial = pathlib.Path(partial)
    check_usable(partial)
    partial.mkdir(parents=True, exist_ok=True)
    if not any(partial.iterdir()):
        (partial / MARKER).write_text(json.dumps({"tfdistill": __version__}) + "\n")


def _link_tree(source, target):
    """Hard-links every file of `source` into `target` (folders are made anew)."""
    for directory, subdirectories, files in os.walk(source):
        relative = pathlib.Path(directory).relative_to(source)
        (target / relative).mkdir(parents=True, exist_ok=True)
        for name in files:
            if relative == pathlib.Path(".") and name in (LOCK, MARKER, LINKED):
                continue
            if not (target / relative / name).exists():  # Linked by a killed attempt.
                os.link(pathlib.Path(directory) / name, target / relative / name)
