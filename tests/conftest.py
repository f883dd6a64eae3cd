"""Test setup shared by every test file: quiet, offline TensorFlow with two CPU devices."""

import importlib.util
import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # as the command: errors come as exceptions
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _quiet_module():
    """`tfdistill/run/quiet.py`, loaded alone: importing the package imports TensorFlow."""
    path = pathlib.Path(__file__).resolve().parent.parent / "tfdistill" / "run" / "quiet.py"
    spec = importlib.util.spec_from_file_location("_tfdistill_quiet", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# TensorFlow's start-up lines come before any log level is read, and a pytest-xdist
# worker's are not captured: hide them as the `tfdistill` command does.
with _quiet_module().filtered_stderr(int(os.environ["TF_CPP_MIN_LOG_LEVEL"])):
    import tensorflow as tf  # noqa: E402

import keras  # noqa: E402
import pytest  # noqa: E402

# Two logical CPU devices let MirroredStrategy tests run on a one-CPU machine. This must
# happen before TensorFlow initialises its devices, hence at import time.
_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    _cpu, [tf.config.LogicalDeviceConfiguration()] * 2
)


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Every test starts in float32 with a fixed seed, whatever the previous one set."""
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")
    keras.backend.clear_session()


@pytest.fixture(scope="session")
def mirrored_strategy():
    """One MirroredStrategy over the two CPU devices for the whole session.

    Each new strategy numbers its collective ops from the same start, so a second
    one in the same process can meet the first one's leftovers ("Shape mismatch in
    the collective instance").
    """
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory):
    """A random 2-layer BERT preset folder for `teacher.preset`: whole runs that test
    a feature rather than the packaged teacher fine-tune it in seconds."""
    from tiny_models import save_tiny_teacher

    return save_tiny_teacher(tmp_path_factory.mktemp("tiny_teacher") / "preset")


@pytest.fixture
def uninstalled(monkeypatch):
    """`uninstalled(package)`: from then on `importlib.util.find_spec` finds no
    `package`, as when its data wheel was never installed."""
    find_spec, hidden = importlib.util.find_spec, set()
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name in hidden else find_spec(name, *args),
    )
    return hidden.add


@pytest.fixture
def vader_sdist_dir(tmp_path, monkeypatch):
    """An empty folder where the VADER sources look for their sdist, as when `make
    install` never downloaded it; no set (nor the lexicon) is cached, before or after."""
    from tfdistill.data.sources import vader_lexicon
    from tfdistill.data.sources import vader_snippets

    monkeypatch.setattr(vader_snippets, "SDIST_DIR", tmp_path)
    caches = (vader_snippets._snippets, vader_lexicon.load_vader_lexicon)
    for cache in caches:
        cache.cache_clear()
    yield tmp_path
    for cache in caches:
        cache.cache_clear()


@pytest.fixture
def absl_messages():
    """The messages absl's logger emits in the test, at INFO and up, read straight from
    its logger: other tests (a command run in-process) can leave it not propagating
    to pytest's `caplog`."""
    import logging

    from absl import logging as absl_logging

    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    absl_logger = absl_logging.get_absl_logger()
    verbosity = absl_logging.get_verbosity()
    absl_logger.addHandler(handler)
    absl_logging.set_verbosity(absl_logging.INFO)
    try:
        yield messages
    finally:
        absl_logger.removeHandler(handler)
        absl_logging.set_verbosity(verbosity)
