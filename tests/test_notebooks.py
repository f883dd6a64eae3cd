"""Both notebooks execute headless, top to bottom, on the smoke settings."""

import os
import pathlib

import nbclient
import nbformat
import pytest

NOTEBOOKS = sorted(pathlib.Path(__file__).resolve().parent.parent.joinpath("notebooks").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_executes(path, monkeypatch, tmp_path):
    monkeypatch.setenv("TFDISTILL_SMOKE", "1")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # Raises CellExecutionError, with the cell and traceback, on any error.
    last_code_cell = [cell for cell in notebook.cells if cell.cell_type == "code"][-1]
    assert last_code_cell.outputs, "the last cell printed nothing"
