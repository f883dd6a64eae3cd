"""`make notebooks`: executes every notebook in full mode and stores it with its outputs.

Full mode is the whole bundled data and the notebooks' full epochs; the test suite runs
the same cells in smoke mode (`TFDISTILL_SMOKE=1`: 64 examples, one epoch) and writes
nothing back. Before a notebook runs, its Colab install cell gets `REPOSITORY_URL` from
setup.py, the one place that URL is written. After it ran, the notebook's metadata
records a hash of its code cells, which `tests/test_notebooks.py` recomputes: a stored
notebook whose code changed since its outputs were made fails the test suite.

Usage: python notebooks/run_notebooks.py [NOTEBOOK ...]   (default: every notebook here)
"""

import ast
import hashlib
import os
import pathlib
import re
import sys
import tempfile
import time

import nbclient
import nbformat

from tfdistill.atomic import write_text

NOTEBOOKS_DIR = pathlib.Path(__file__).resolve().parent
SETUP_PY = NOTEBOOKS_DIR.parent / "setup.py"
METADATA_KEY = "tfdistill"
# The line of each notebook's install cell that names the repository.
REPO_URL_LINE = re.compile(r'^REPO_URL = "(.*)"$', re.MULTILINE)


def notebook_paths():
    """Every notebook in this folder, by name."""
    return sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def repository_url():
    """`REPOSITORY_URL` as setup.py sets it (read, not run: running it would install)."""
    for node in ast.parse(SETUP_PY.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and [getattr(target, "id", None) for target in node.targets] == [
            "REPOSITORY_URL"
        ]:
            return ast.literal_eval(node.value)
    raise LookupError(f"{SETUP_PY} sets no REPOSITORY_URL")


def _code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def code_hash(notebook):
    """The SHA-256 of the code cells' sources, in order: what the stored outputs answer to."""
    digest = hashlib.sha256()
    for cell in _code_cells(notebook):
        digest.update(cell.source.encode("utf-8") + b"\0")
    return digest.hexdigest()


def _installed_repository_url(notebook):
    """The `REPO_URL` that the notebook's install cell (its first code cell) installs from."""
    match = REPO_URL_LINE.search(_code_cells(notebook)[0].source)
    return match and match[1]


def _set_repository_url(notebook, url):
    cell = _code_cells(notebook)[0]
    cell.source, count = REPO_URL_LINE.subn(f'REPO_URL = "{url}"', cell.source)
    if count != 1:
        raise ValueError(f"the first code cell should set REPO_URL once; it does {count} times")


def problems(notebook):
    """Why a stored notebook does not hold `make notebooks`'s outputs of its current code.

    Returns a list of sentences, empty when the notebook is current.
    """
    found = []
    cells = _code_cells(notebook)
    if not any(cell.outputs for cell in cells):
        found.append("it has no outputs")
    unexecuted = [number for number, cell in enumerate(cells, 1) if cell.execution_count is None]
    if unexecuted:
        found.append(f"code cells {unexecuted} were not executed")
    recorded = notebook.metadata.get(METADATA_KEY, {}).get("code_sha256")
    if recorded is None:
        found.append("`make notebooks` never executed it")
    elif recorded != code_hash(notebook):
        found.append("its code cells changed after `make notebooks` executed it")
    if _installed_repository_url(notebook) != repository_url():
        found.append("its install cell's REPO_URL is not setup.py's REPOSITORY_URL")
    return found


def execute(notebook, working_dir, *, smoke, timeout=None):
    """Runs `notebook` top to bottom in a fresh kernel, filling in its outputs.

    `smoke` sets `TFDISTILL_SMOKE=1` for the kernel; otherwise it is removed, so that a
    value left in the caller's shell cannot turn a full run into a smoke one. The
    outputs are what the cells print through Python: TensorFlow's C++ log lines, which
    its libraries write straight to file descriptor 2 while they load, go to the
    caller's stderr instead. Raises `nbclient.exceptions.CellExecutionError` (with the
    cell and traceback) on an error.
    """
    env = {name: value for name, value in os.environ.items() if name != "TFDISTILL_SMOKE"}
    if smoke:
        env["TFDISTILL_SMOKE"] = "1"
    client = nbclient.NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        extra_arguments=["--IPKernelApp.capture_fd_output=False"],
        resources={"metadata": {"path": str(working_dir)}},
    )
    client.execute(env=env)


def refresh(path):
    """Executes the notebook at `path` in full mode and stores it with its outputs."""
    notebook = nbformat.read(path, as_version=4)
    _set_repository_url(notebook, repository_url())
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as working_dir:
        execute(notebook, working_dir, smoke=False)
    notebook.metadata[METADATA_KEY] = {"code_sha256": code_hash(notebook)}
    write_text(path, nbformat.writes(notebook) + "\n")
    print(f"{path.name}: executed and stored in {(time.monotonic() - start) / 60:.1f} minutes", flush=True)


def main(arguments):
    for path in [pathlib.Path(argument) for argument in arguments] or notebook_paths():
        refresh(path)


if __name__ == "__main__":
    main(sys.argv[1:])
