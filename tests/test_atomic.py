"""Tests for tfdistill.atomic: a crash between the write and the rename keeps the old content."""

import os

import pytest

from tfdistill import atomic


def _crash_on_rename(monkeypatch):
    def crash(source, target):
        raise KeyboardInterrupt("killed between the write and the rename")

    monkeypatch.setattr(atomic.os, "replace", crash)


def test_a_crash_before_the_rename_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    atomic.write_json(path, {"accuracy": 0.5})
    _crash_on_rename(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        atomic.write_json(path, {"accuracy": 0.9})
    monkeypatch.undo()
    assert path.read_text() == '{\n  "accuracy": 0.5\n}\n'
    assert os.listdir(tmp_path) == ["metrics.json"]


def test_a_crash_inside_the_write_keeps_the_old_folder(tmp_path):
    folder = tmp_path / "savedmodel"
    folder.mkdir()
    (folder / "saved_model.pb").write_text("old")

    def half_write(tmp):
        os.mkdir(tmp)
        open(os.path.join(tmp, "saved_model.pb"), "w").write("half")
        raise KeyboardInterrupt("killed while writing")

    with pytest.raises(KeyboardInterrupt):
        atomic.replace_atomically(half_write, folder)
    assert (folder / "saved_model.pb").read_text() == "old"
    assert os.listdir(tmp_path) == ["savedmodel"]


def test_a_whole_write_replaces_a_folder(tmp_path):
    folder = tmp_path / "savedmodel"
    folder.mkdir()
    (folder / "stale.txt").write_text("old")

    def write(tmp):
        os.mkdir(tmp)
        open(os.path.join(tmp, "saved_model.pb"), "w").write("new")

    atomic.replace_atomically(write, folder)
    assert os.listdir(folder) == ["saved_model.pb"]
    assert os.listdir(tmp_path) == ["savedmodel"]
