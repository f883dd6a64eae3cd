"""Kill a `tfdistill` run at a chosen moment, run it again, compare with a run never killed.

A `KillPoint` says when to send SIGKILL: when a log line appears, when a file or a
stage's checkpoint of some epochs appears, or some seconds after the start.
`kill_then_finish` runs the command until that moment, kills it, then runs the same
command to its end.
`results` reads what a finished run reports (`metrics.json`, every `training.json`,
the weights of every saved model), less what may differ between two runs that are
never killed (wall times, and sizes on disk and ratios derived from them);
`differences` lists where two such results differ.
"""

import dataclasses
import io
import json
import math
import os
import pathlib
import re
import subprocess
import sys
import time
import zipfile

import h5py
import numpy as np


REPO = pathlib.Path(__file__).resolve().parent.parent
SMOKE = REPO / "configs" / "smoke.yaml"
# What two runs of one config may report differently: wall times (the speed of
# SavedModels and TFLite files, epochs), sizes on disk (zip and SavedModel metadata),
# and the ratios derived from them.
TIMING_KEYS = frozenset(
    {
        "speed", "latency", "epoch_seconds", "faster", "smaller",
        "checkpoint_bytes", "savedmodel_bytes", "bytes",
    }
)
# Numbers count as equal within this (absolute or relative) tolerance.
TOLERANCE = 1e-6
# How often a running command is looked at for its kill moment.
_POLL_SECONDS = 0.02


@dataclasses.dataclass(frozen=True)
class KillPoint:
    """When to kill a run: `reached(watch)` (a `Watch`) turns true at that moment."""

    name: str
    reached: object
    # False for moments a run may never meet (random offsets): the run then finishes.
    must_be_reached: bool = True


def after_log(name, pattern):
    """Kill as soon as a log line matches the regular expression `pattern`."""
    return KillPoint(name, lambda watch: re.search(pattern, watch.log) is not None)


def after_file(name, relative):
    """Kill as soon as `relative` exists in the run's folder (or its partial one)."""
    def reached(watch):
        return any(watch.output_dir.parent.glob(f"{watch.output_dir.name}*/{relative}"))

    return KillPoint(name, reached)


def after_checkpoint(name, stage, epochs=None):
    """Kill as soon as the checkpoint of `stage` holds `epochs` finished epochs, or
    (`epochs=None`) its last one, after which training stops (all epochs run, or
    early stopping)."""

    def reached(watch):
        for path in watch.output_dir.parent.glob(
            f"{watch.output_dir.name}*/checkpoints/{stage}/state.json"
        ):
            try:
                state = json.loads(path.read_text())
            except (OSError, ValueError):  # Replaced while being read: look again.
                return False
            if epochs is None:
                return state["stopped"] or len(state["epochs"]) == state["planned_epochs"]
            return len(state["epochs"]) >= epochs
        return False

    return KillPoint(name, reached)


def after_seconds(name, seconds):
    """Kill `seconds` after the command started (if it is still running)."""
    return KillPoint(name, lambda watch: watch.seconds >= seconds, must_be_reached=False)


class Watch:
    """What a kill point looks at: the run's folder, its log so far, its age."""

    def __init__(self, output_dir, log_path):
        self.output_dir = pathlib.Path(output_dir)
        self.log_path = pathlib.Path(log_path)
        self.started = time.monotonic()
        self._log = ""
        self._read_bytes = 0

    @property
    def seconds(self):
        return time.monotonic() - self.started

    @property
    def log(self):
        """The log so far, read from where the last look stopped."""
        with open(self.log_path, "rb") as log:
            log.seek(self._read_bytes)
            new = log.read()
        # Up to the last whole line: a line is matched once it is written in full.
        whole = new[: new.rfind(b"\n") + 1]
        self._read_bytes += len(whole)
        self._log += whole.decode(errors="replace")
        return self._log


@dataclasses.dataclass
class Attempt:
    """How a killed run went: whether the kill came before the end, and timings."""

    killed: bool
    killed_at_seconds: float
    rerun_seconds: float
    rerun_log: str


def command(output_dir, overrides=()):
    """The `tfdistill` command of the smoke config with `overrides` (`--set=...`)."""
    return [
        sys.executable, "-m", "tfdistill", f"--config={SMOKE}", f"--output_dir={output_dir}",
        *overrides,
    ]


def run(output_dir, overrides, log_path, timeout=1800):
    """Runs the command to its end; returns its wall time. Fails on a non-zero exit."""
    started = time.monotonic()
    with open(log_path, "w") as log:
        result = subprocess.run(
            command(output_dir, overrides), cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
            env=_environment(), timeout=timeout,
        )
    log_text = pathlib.Path(log_path).read_text(errors="replace")
    assert result.returncode == 0, f"{output_dir}: exit {result.returncode}\n{log_text[-4000:]}"
    return time.monotonic() - started


def kill_then_finish(output_dir, overrides, kill_point, logs_dir, timeout=1800):
    """Runs the command until `kill_point`, SIGKILLs it, then runs it again to its end."""
    logs_dir = pathlib.Path(logs_dir)
    killed, killed_at = run_until(
        output_dir, overrides, kill_point, logs_dir / "killed.log", timeout
    )
    rerun_log = logs_dir / "rerun.log"
    rerun_seconds = run(output_dir, overrides, rerun_log, timeout)
    return Attempt(killed, killed_at, rerun_seconds, rerun_log.read_text(errors="replace"))


def run_until(output_dir, overrides, kill_point, log_path, timeout=1800):
    """Runs the command until `kill_point` and SIGKILLs it there.

    Returns `(killed, seconds)`: whether the run was still going when the moment came
    (a random moment may come after its end), and when that was.
    """
    watch = Watch(output_dir, log_path)
    with open(watch.log_path, "w") as log:
        process = subprocess.Popen(
            command(output_dir, overrides), cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
            env=_environment(),
        )
    try:
        while not kill_point.reached(watch) and process.poll() is None:
            assert watch.seconds < timeout, f"{kill_point.name}: no kill moment in {timeout} s"
            time.sleep(_POLL_SECONDS)
        killed_at = watch.seconds
        killed = process.poll() is None
    finally:
        process.kill()  # SIGKILL: no handler runs, nothing is flushed or cleaned up.
        process.wait()
    if not killed:
        assert not kill_point.must_be_reached, (
            f"{kill_point.name}: the run ended (exit {process.returncode}) before its kill "
            f"moment\n{watch.log[-4000:]}"
        )
        assert process.returncode == 0, f"{kill_point.name}: the run failed\n{watch.log[-4000:]}"
    return killed, killed_at


def _environment():
    # TFDISTILL_TF_LOGS: the export kill points wait for TensorFlow's own "Assets
    # written to" line, written in the middle of a save, which the command hides.
    return {
        **os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1", "TFDISTILL_TF_LOGS": "1",
    }


def results(output_dir):
    """What a finished run reports, timings aside: `{file: flattened numbers and names}`.

    `metrics.json` and every `training.json` by their relative paths, and every saved
    model's weights (`*.keras`, `*.weights.h5`) by path and weight name.
    """
    output_dir = pathlib.Path(output_dir)
    found = {}
    for path in [output_dir / "metrics.json", *sorted(output_dir.rglob("training.json"))]:
        found[str(path.relative_to(output_dir))] = _flatten(json.loads(path.read_text()))
    for path in sorted([*output_dir.rglob("*.keras"), *output_dir.rglob("*.weights.h5")]):
        found[str(path.relative_to(output_dir))] = _weights(path)
    return found


def _flatten(value, prefix=""):
    """`{"a.b.0": leaf}` of a JSON value, without the keys in `TIMING_KEYS`."""
    if isinstance(value, dict):
        items = [(key, item) for key, item in value.items() if key not in TIMING_KEYS]
    elif isinstance(value, list):
        items = list(enumerate(value))
    else:
        return {prefix: value}
    flat = {}
    for key, item in items:
        flat.update(_flatten(item, f"{prefix}{key}."))
    return flat or {prefix: value}


def _weights(path):
    """`{weight path: array}` of a `.keras` archive or a `.weights.h5` file."""
    if path.suffix == ".keras":
        with zipfile.ZipFile(path) as archive:
            source = io.BytesIO(archive.read("model.weights.h5"))
    else:
        source = path
    arrays = {}
    with h5py.File(source, "r") as weights:
        weights.visititems(
            lambda name, item: arrays.update({name: np.asarray(item[()])})
            if isinstance(item, h5py.Dataset) else None
        )
    return arrays


def differences(expected, got):
    """Every place where `got` differs from `expected` (both from `results`)."""
    found = [f"{name}: missing" for name in expected if name not in got]
    found += [f"{name}: not in the uninterrupted run" for name in got if name not in expected]
    for name in expected.keys() & got.keys():
        values, other = expected[name], got[name]
        found += [f"{name} {key}: missing" for key in values.keys() - other.keys()]
        found += [f"{name} {key}: unexpected" for key in other.keys() - values.keys()]
        for key in values.keys() & other.keys():
            difference = _difference(values[key], other[key])
            if difference:
                found.append(f"{name} {key}: {difference}")
    return sorted(found)


def _difference(expected, got):
    """How `got` differs from `expected` (numbers within `TOLERANCE` are equal), or None."""
    if isinstance(expected, np.ndarray):
        if expected.shape != got.shape:
            return f"shape {expected.shape} != {got.shape}"
        if not np.issubdtype(expected.dtype, np.number):
            return None if np.array_equal(expected, got) else "different values"
        if np.allclose(got, expected, rtol=TOLERANCE, atol=TOLERANCE):
            return None
        return f"weights differ by up to {np.max(np.abs(got - expected)):.3g}"
    numbers = (int, float)
    if all(isinstance(value, numbers) and not isinstance(value, bool) for value in (expected, got)):
        same = math.isclose(expected, got, rel_tol=TOLERANCE, abs_tol=TOLERANCE)
    else:
        same = expected == got
    return None if same else f"{expected!r} != {got!r}"
