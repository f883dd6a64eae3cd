"""The notebooks: each executes headless on the smoke settings, and each is stored with
the outputs that `make notebooks` made from its current code (plots included)."""

import copy
import pathlib
import sys

import nbformat
import pytest

NOTEBOOKS_DIR = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
sys.path.insert(0, str(NOTEBOOKS_DIR))
import run_notebooks  # noqa: E402  (notebooks/run_notebooks.py, what `make notebooks` runs)

NOTEBOOKS = run_notebooks.notebook_paths()


def _read(path):
    return nbformat.read(path, as_version=4)


def _outputs(notebook):
    return [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]


# The tagging notebook calls the API that README's tagging example and the tagging
# smoke run (tests/test_run_tagging.py) already call on the packaged teacher and
# tweets; executing it too is left to `make test-long`.
SMOKE_RUNS = [
    pytest.param(path, marks=pytest.mark.long) if path.name == "tagging.ipynb" else path
    for path in NOTEBOOKS
]


@pytest.mark.slow
@pytest.mark.parametrize("path", SMOKE_RUNS, ids=lambda path: path.name)
def test_notebook_executes_in_smoke_mode(path, tmp_path):
    notebook = _read(path)
    run_notebooks.execute(notebook, tmp_path, smoke=True, timeout=600)  # Raises on any error.
    last_code_cell = [cell for cell in notebook.cells if cell.cell_type == "code"][-1]
    assert last_code_cell.outputs, "the last cell printed nothing"
    assert any("smoke run" in output.get("text", "") for output in _outputs(notebook))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_stored_notebook_holds_the_full_run_of_its_code(path):
    notebook = _read(path)
    assert run_notebooks.problems(notebook) == [], f"{path.name}: run `make notebooks`"
    texts = "".join(output.get("text", "") for output in _outputs(notebook))
    assert "full run" in texts and "CPU: " in texts, "the date and machine are not printed"
    assert any("image/png" in output.get("data", {}) for output in _outputs(notebook)), "no plot"


def test_a_stale_or_empty_notebook_is_caught():
    stored = _read(NOTEBOOKS[0])
    assert run_notebooks.problems(stored) == []

    edited = copy.deepcopy(stored)
    edited.cells[-1].source += "\nprint('new code, old outputs')"
    assert run_notebooks.problems(edited) == ["its code cells changed after `make notebooks` executed it"]

    cleared = copy.deepcopy(stored)
    for cell in cleared.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    assert "it has no outputs" in run_notebooks.problems(cleared)

    unstamped = copy.deepcopy(stored)
    del unstamped.metadata[run_notebooks.METADATA_KEY]
    assert run_notebooks.problems(unstamped) == ["`make notebooks` never executed it"]


def test_the_install_cell_names_setup_pys_repository_url():
    moved = copy.deepcopy(_read(NOTEBOOKS[0]))
    install_cell = next(cell for cell in moved.cells if cell.cell_type == "code")
    install_cell.source = install_cell.source.replace(run_notebooks.repository_url(), "https://example.org/fork")
    assert "its install cell's REPO_URL is not setup.py's REPOSITORY_URL" in run_notebooks.problems(moved)
