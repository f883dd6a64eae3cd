"""The notebooks' Colab install command works: `pip install git+<repository>`, run here
against a git copy of this checkout in a fresh virtual environment, offline."""

import pathlib
import shutil
import subprocess
import sys
import sysconfig

import nbformat

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "notebooks"))
import run_notebooks  # noqa: E402  (notebooks/run_notebooks.py)

# What each notebook's install cell passes to pip; the test runs the same, from a local URL.
COLAB_PIP_ARGUMENTS = '"pip", "install", "-q", f"git+{REPO_URL}"'
# Offline and fast: no index, no build environment to download, the dependencies are
# the project's own (see _fresh_venv), and an installed tfdistill elsewhere is ignored.
OFFLINE = ["--no-index", "--no-build-isolation", "--no-deps", "--ignore-installed", "--no-cache-dir"]


def _run(*command, cwd=None):
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True, cwd=cwd)
    assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def _git_copy_of_checkout(destination):
    """A git repository holding this checkout's files as they are now, committed."""
    listed = _run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=REPO)
    for name in filter(None, listed.split("\0")):
        if (REPO / name).is_file():  # Deleted but still tracked files are skipped.
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, destination / name)
    _run("git", "init", "-q", cwd=destination)
    _run("git", "add", "-A", cwd=destination)
    _run("git", "-c", "user.name=tests", "-c", "user.email=tests@localhost", "commit", "-q", "-m", "checkout",
         cwd=destination)
    return destination


def _fresh_venv(path):
    """A new virtual environment that sees this one's packages (TensorFlow, pip, setuptools)
    after its own, so that nothing is downloaded; tfdistill itself is not among them (the
    project's editable install hooks in through a .pth file that a path entry never runs)."""
    _run(sys.executable, "-m", "venv", "--without-pip", path)
    python = path / "bin" / "python"
    own_packages = pathlib.Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    (own_packages / "project_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def test_every_notebook_installs_with_the_tested_command():
    for path in run_notebooks.notebook_paths():
        install_cell = next(cell for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code")
        assert COLAB_PIP_ARGUMENTS in install_cell.source, path.name


def test_pip_installs_tfdistill_from_a_git_url_into_a_fresh_venv(tmp_path):
    checkout = _git_copy_of_checkout(tmp_path / "checkout")
    python = _fresh_venv(tmp_path / "venv")
    _run(python, "-m", "pip", "install", "-q", *OFFLINE, f"git+{checkout.as_uri()}")
    imported = _run(python, "-c", "import tfdistill; print(tfdistill.__file__)", cwd=tmp_path).strip()
    assert pathlib.Path(imported).is_relative_to(tmp_path / "venv"), imported
    assert (tmp_path / "venv" / "bin" / "tfdistill").exists()
