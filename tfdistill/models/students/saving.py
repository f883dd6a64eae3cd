"""A trained student saved with its own preprocessing, and loaded back from it alone.

The model goes to `model.keras`; its preprocessor beside it: a word-level student's
`TextVectorization` (its configuration and vocabulary) or `WordLookup` (its config)
to `preprocessor.json`, a keras-hub preprocessor (tokenizer and vocabulary) to the preset folder
`preprocessor/`. A reloaded student reads its input exactly as it did in training,
whatever the current training texts are.

Example:

>>> import tempfile
>>> from tfdistill.models import build_student
>>> student = build_student("cnn", num_classes=2, train_texts=["a gem", "a dud"],
...                         sequence_length=8, kernel_sizes=(2,))
>>> directory = tempfile.mkdtemp()
>>> save_student(student, directory)
>>> reloaded = load_student(directory, kind="cnn")
>>> reloaded.preprocessor.get_vocabulary() == student.preprocessor.get_vocabulary()
True
"""

import json
import pathlib
import warnings

import keras

from tfdistill.atomic import replace_atomically
from tfdistill.atomic import write_text
from tfdistill.models.students.base import Student

MODEL_FILE = "model.keras"
_VECTORIZER_FILE = "preprocessor.json"
_PRESET_FOLDER = "preprocessor"


def save_student(student, directory):
    """Writes the preprocessor, then the model (whose file marks the student whole)."""
    directory = pathlib.Path(directory)
    save_preprocessor(student.preprocessor, directory)
    replace_atomically(student.model.save, directory / MODEL_FILE)


def load_student(directory, kind):
    """The `Student` that `save_student` wrote to `directory`."""
    directory = pathlib.Path(directory)
    with warnings.catch_warnings():
        # A keras-hub task (a small_bert) compiles itself when it is built, so the
        # reloaded one has optimizer variables that the saved, never-built optimizer
        # (the distiller trained it, not its own) cannot fill: Keras warns, and
        # nothing is lost.
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model = keras.models.load_model(directory / MODEL_FILE)
    return Student(
        kind=kind,
        model=model,
        preprocessor=load_preprocessor(directory),
        num_params=model.count_params(),
    )


def save_preprocessor(preprocessor, directory):
    """Saves a `TextVectorization` or a keras-hub preprocessor into `directory`."""
    directory = pathlib.Path(directory)
    if isinstance(preprocessor, keras.layers.TextVectorization):
        layer = keras.saving.serialize_keras_object(preprocessor)
        vocabulary = preprocessor.get_vocabulary()
        write_text(directory / _VECTORIZER_FILE, json.dumps({"layer": layer, "vocabulary": vocabulary}))
    elif hasattr(preprocessor, "save_to_preset"):
        replace_atomically(preprocessor.save_to_preset, directory / _PRESET_FOLDER)
    elif isinstance(preprocessor, keras.layers.Layer):
        # A layer whose config holds its vocabulary (a tagger's `WordLookup`).
        layer = keras.saving.serialize_keras_object(preprocessor)
        write_text(directory / _VECTORIZER_FILE, json.dumps({"layer": layer}))
    else:
        raise ValueError(
            f"Cannot save a preprocessor of type {type(preprocessor).__name__}: a student's "
            "preprocessor is a Keras layer (a keras.layers.TextVectorization, or one whose "
            "config holds its vocabulary) or a keras-hub preprocessor."
        )


def load_preprocessor(directory):
    """The preprocessor `save_preprocessor` wrote to `directory`."""
    directory = pathlib.Path(directory)
    if (directory / _VECTORIZER_FILE).is_file():
        saved = json.loads((directory / _VECTORIZER_FILE).read_text(encoding="utf-8"))
        vectorizer = keras.saving.deserialize_keras_object(saved["layer"])
        if "vocabulary" in saved:  # A TextVectorization's is not in its config.
            vectorizer.set_vocabulary(saved["vocabulary"])
        return vectorizer
    return _load_preset_preprocessor(directory / _PRESET_FOLDER)


def _load_preset_preprocessor(preset):
    """The keras-hub preprocessor `save_to_preset` wrote to `preset`.

    As keras-hub's own preset loader does it: its `preprocessor.json`, then its assets
    (the tokenizer's vocabulary). `Preprocessor.from_preset` cannot: it refuses the
    base class, and a subclass's looks for the backbone's `config.json`, which a
    preprocessor saved alone does not have.
    """
    config = json.loads((preset / "preprocessor.json").read_text(encoding="utf-8"))
    preprocessor = keras.saving.deserialize_keras_object(config)
    preprocessor.load_preset_assets(str(preset))
    return preprocessor
