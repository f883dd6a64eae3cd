"""Export for serving: a SavedModel that takes raw strings, and a TFLite file.

The SavedModel holds the preprocessor (tokenizer or vectorizer) and the model in one
graph, so a server sends text and gets probabilities back. It is written through
`keras.export.ExportArchive` with a `tf.string` signature: keras-hub's `Task.export()`
drops the preprocessor, and `Model.export(input_signature=...)` of a subclassed model
traces float inputs.

Example:

```python
import tfdistill

path = tfdistill.export.export_savedmodel(
    student.model, student.preprocessor, "runs/demo/student_savedmodel",
    class_names=["negative", "positive"])
serve = tfdistill.export.load_savedmodel(path)
serve(tf.constant(["a gripping, funny film", ""]))["probabilities"]
```
"""

import os
import pathlib
import shutil
import tempfile

import keras
import tensorflow as tf
from tensorflow.python.framework import convert_to_constants

SERVING_SIGNATURE = "serving_default"


def _replace_atomically(write, path):
    """Calls `write(tmp_path)` beside `path`, then renames: no half-written export."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        write(str(tmp / path.name))
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        os.replace(tmp / path.name, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(path)


def export_savedmodel(model, preprocessor, path, class_names):
    """Writes a SavedModel whose `serving_default` takes raw strings.

    The signature takes `texts`, a `tf.string` tensor of shape `[None]`, and returns
    `probabilities` (float32, `[batch, classes]`), `label_ids` (int32, `[batch]`) and
    `labels` (the class names, `tf.string`, `[batch]`).

    Args:
        model: a `keras.Model` that maps the preprocessor's output to logits.
        preprocessor: a layer that maps a batch of strings to the model's inputs.
        path: the SavedModel directory; replaced atomically if it exists.
        class_names: the class names, indexed by label id.

    Returns:
        `path`, as a string.
    """
    class_names = tf.constant(list(class_names), dtype=tf.string)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
    def serve(texts):
        logits = model(preprocessor(texts), training=False)
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        label_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {
            "probabilities": probabilities,
            "label_ids": label_ids,
            "labels": tf.gather(class_names, label_ids),
        }

    def write(tmp_path):
        # ExportArchive only tracks built layers, and an adapted TextVectorization is
        # not built until it first runs.
        preprocessor(tf.constant([""]))
        archive = keras.export.ExportArchive()
        # The preprocessor is tracked for its lookup tables. The model is not: the
        # endpoint captures its weights anyway, and tracking it too makes Keras 3.15
        # save every weight twice (its Keras variables and the captured tf.Variables),
        # doubling the SavedModel.
        archive.track(preprocessor)
        archive.add_endpoint(SERVING_SIGNATURE, serve)
        archive.write_out(tmp_path, verbose=False)

    return _replace_atomically(write, path)


def load_savedmodel(path):
    """Loads an exported SavedModel and returns its `serving_default` function.

    Imports `tensorflow_text` first: a graph that holds a BERT tokenizer needs its ops
    registered before loading.

    Example:

    ```python
    serve = load_savedmodel("runs/demo/students/bilstm_distilled/savedmodel")
    serve(tf.constant(["great", "awful"]))["labels"]
    ```
    """
    import tensorflow_text  # noqa: F401  Registers the WordPiece ops.

    return tf.saved_model.load(str(path)).signatures[SERVING_SIGNATURE]


def export_tflite(model, path):
    """Converts `model` (its numeric inputs to logits) to a TFLite flatbuffer.

    Only TFLite's builtin ops are allowed, so the file runs with the plain TFLite
    runtime; the string preprocessing stays outside (a TFLite app tokenizes itself).
    The batch size is fixed to 1, as on a device: the converter lowers a recurrent
    layer's loop to builtin ops only when every shape in it is static.

    Returns:
        `path` on success.

    Raises:
        ValueError: the model uses ops that TFLite's builtins lack; the message says
            which conversion error occurred.
    """
    input_specs = [
        tf.TensorSpec([1, *tensor.shape[1:]], tensor.dtype, name=tensor.name)
        for tensor in model.inputs
    ]

    @tf.function(input_signature=input_specs)
    def logits(*inputs):
        structured = tf.nest.pack_sequence_as(model.input, list(inputs))
        return model(structured, training=False)

    # Weights become constants first: TFLite cannot read resource variables inside
    # the while loop of a recurrent layer (the file converts, then fails to run).
    frozen = convert_to_constants.convert_variables_to_constants_v2(
        logits.get_concrete_function()
    )
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        flatbuffer = converter.convert()
    except Exception as error:  # The converter raises several unrelated types.
        raise ValueError(f"TFLite conversion of {model.name} failed: {error}") from error

    def write(tmp_path):
        pathlib.Path(tmp_path).write_bytes(flatbuffer)

    return _replace_atomically(write, path)
