"""tfdistill writes only inside folders it made, one run at a time, and a failed rerun
leaves the finished run where it was (tfdistill.run.folders)."""

import fcntl
import os
import pathlib

import pytest

from tfdistill import atomic
from tfdistill.run import folders


def _finished_run(output_dir):
    with folders.claim(output_dir) as partial:
        (partial / "metrics.json").write_text('{"accuracy": 0.8}')
        (partial / "students").mkdir()
        (partial / "students" / "model.keras").write_text("weights")
        folders.publish(partial, output_dir)


def test_an_existing_file_is_refused_and_kept(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("mine")
    with pytest.raises(folders.RunFolderError, match="exists and is not a folder"):
        with folders.claim(path):
            pass
    assert path.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_folder_tfdistill_did_not_make_is_refused_and_kept(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.jpg").write_text("mine")
    with pytest.raises(folders.RunFolderError, match="was not made by tfdistill"):
        with folders.claim(folder):
            pass
    assert [p.name for p in folder.iterdir()] == ["cat.jpg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]


def test_a_partial_folder_tfdistill_did_not_make_is_refused(tmp_path):
    stranger = tmp_path / "run.partial"
    stranger.mkdir()
    (stranger / "draft.txt").write_text("mine")
    with pytest.raises(folders.RunFolderError, match=r"run\.partial is not empty"):
        with folders.claim(tmp_path / "run"):
            pass
    assert [p.name for p in stranger.iterdir()] == ["draft.txt"]


def test_a_failed_rerun_leaves_the_finished_run_untouched(tmp_path):
    output_dir = tmp_path / "run"
    _finished_run(output_dir)
    before = {p: (p.read_bytes(), p.stat().st_ino) for p in output_dir.rglob("*") if p.is_file()}
    with pytest.raises(RuntimeError, match="the rerun failed"):
        with folders.claim(output_dir) as partial:
            # The rerun starts from the finished files and replaces them whole.
            assert (partial / "students" / "model.keras").read_text() == "weights"
            from tfdistill.atomic import write_text

            write_text(partial / "students" / "model.keras", "new weights")
            (partial / "metrics.json").unlink()
            raise RuntimeError("the rerun failed")
    after = {p: (p.read_bytes(), p.stat().st_ino) for p in output_dir.rglob("*") if p.is_file()}
    assert after == before


def test_a_rerun_replaces_the_finished_run_when_whole(tmp_path):
    output_dir = tmp_path / "run"
    _finished_run(output_dir)
    (output_dir / "my_notes.txt").write_text("kept")
    with folders.claim(output_dir) as partial:
        (partial / "metrics.json").unlink()
        (partial / "metrics.json").write_text('{"accuracy": 0.9}')
        folders.publish(partial, output_dir)
    assert (output_dir / "metrics.json").read_text() == '{"accuracy": 0.9}'
    assert (output_dir / "my_notes.txt").read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_second_concurrent_run_is_stopped_naming_the_first(tmp_path):
    output_dir = tmp_path / "run"
    with folders.claim(output_dir) as partial:
        with pytest.raises(folders.RunFolderError, match=rf"another tfdistill run \(PID {os.getpid()}\)"):
            with folders.claim(output_dir):
                pass
        assert partial.is_dir()


def test_a_stale_lock_of_a_killed_run_is_not_in_the_way(tmp_path):
    output_dir = tmp_path / "run"
    partial = tmp_path / "run.partial"
    with folders.claim(output_dir):
        pass
    # A killed run leaves its lock file with its PID; the OS released its flock.
    (partial / folders.LOCK).write_text("999999")
    with folders.claim(output_dir) as claimed:
        with open(claimed / folders.LOCK) as lock, pytest.raises(BlockingIOError):
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert (claimed / folders.LOCK).read_text() == str(os.getpid())


def test_a_write_killed_midway_leaves_nothing_in_the_resumed_run(tmp_path, monkeypatch):
    output_dir = tmp_path / "run"

    def killed_while_writing(tmp_path):
        pathlib.Path(tmp_path).write_text("half a model")
        raise KeyboardInterrupt("killed before the rename")

    with folders.claim(output_dir) as partial:
        (partial / "students").mkdir()
        (partial / "students" / ".my-notes.tmp").write_text("the user's")
        # As a SIGKILL leaves it: replace_atomically's cleanup never runs.
        monkeypatch.setattr(atomic.shutil, "rmtree", lambda *args, **kwargs: None)
        with pytest.raises(KeyboardInterrupt):
            atomic.replace_atomically(killed_while_writing, partial / "students" / "model.keras")
        monkeypatch.undo()
        assert any(p.name.endswith(atomic.TMP_SUFFIX) for p in (partial / "students").iterdir())
    with folders.claim(output_dir) as partial:
        assert sorted(p.name for p in (partial / "students").iterdir()) == [".my-notes.tmp"]


def test_a_kill_inside_publish_loses_nothing(tmp_path, monkeypatch):
    output_dir = tmp_path / "run"
    _finished_run(output_dir)
    real_replace = os.replace
    calls = []

    def killed_on_second_rename(source, target):
        calls.append(source)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed between moving the old run aside and the new in")
        real_replace(source, target)

    with pytest.raises(KeyboardInterrupt):
        with folders.claim(output_dir) as partial:
            (partial / "metrics.json").unlink()
            (partial / "metrics.json").write_text('{"accuracy": 0.9}')
            monkeypatch.setattr(folders.os, "replace", killed_on_second_rename)
            folders.publish(partial, output_dir)
    monkeypatch.undo()
    # The next run resumes the partial run, publishes it and clears the old one away.
    with folders.claim(output_dir) as partial:
        assert (partial / "metrics.json").read_text() == '{"accuracy": 0.9}'
        folders.publish(partial, output_dir)
    assert (output_dir / "metrics.json").read_text() == '{"accuracy": 0.9}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_kill_while_linking_the_finished_run_is_finished_by_the_next_attempt(tmp_path, monkeypatch):
    output_dir = tmp_path / "run"
    _finished_run(output_dir)
    real_link = os.link

    def killed_on_second_link(source, target):
        if killed_on_second_link.calls == 1:
            raise KeyboardInterrupt("killed while linking the finished run")
        killed_on_second_link.calls += 1
        real_link(source, target)

    killed_on_second_link.calls = 0
    monkeypatch.setattr(folders.os, "link", killed_on_second_link)
    with pytest.raises(KeyboardInterrupt):
        with folders.claim(output_dir):
            pass
    monkeypatch.undo()
    # The half-linked partial folder is ours (marked first), so the rerun takes it up.
    with folders.claim(output_dir) as partial:
        assert (partial / "metrics.json").read_text() == '{"accuracy": 0.8}'
        assert (partial / "students" / "model.keras").read_text() == "weights"


def test_a_kill_while_removing_the_replaced_run_is_cleaned_up_later(tmp_path, monkeypatch):
    output_dir = tmp_path / "run"
    _finished_run(output_dir)
    real_rmtree = folders.shutil.rmtree

    def killed(path, *args, **kwargs):
        raise KeyboardInterrupt("killed while removing the replaced run")

    with pytest.raises(KeyboardInterrupt):
        with folders.claim(output_dir) as partial:
            monkeypatch.setattr(folders.shutil, "rmtree", killed)
            folders.publish(partial, output_dir)
    monkeypatch.setattr(folders.shutil, "rmtree", real_rmtree)
    assert any(p.name.startswith(".run.replaced-") for p in tmp_path.iterdir())
    with folders.claim(output_dir):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "run.partial"]
