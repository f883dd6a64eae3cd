"""Export for serving: a SavedModel that takes raw strings, and a TFLite file.

The SavedModel holds the preprocessor (tokenizer or vectorizer) and the model in one
graph, so a server sends text and gets probabilities back. It is written through
`keras.export.ExportArchive` with a `tf.string` signature: keras-hub's `Task.export()`
drops the preprocessor, and `Model.export(input_signature=...)` of a subclassed model
traces float inputs.

Example:

>>> import tempfile
>>> vectorizer = keras.layers.TextVectorization(max_tokens=20, output_sequence_length=4)
>>> vectorizer.adapt(["a fine film", "a dull film"])
>>> model = keras.Sequential([keras.Input((4,), dtype="int64"), keras.layers.Embedding(20, 4),
...                           keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(2)])
>>> path = export_savedmodel(model, vectorizer, tempfile.mkdtemp() + "/savedmodel",
...                          class_names=["negative", "positive"])
>>> serve = load_savedmodel(path)
>>> outputs = serve(texts=tf.constant(["a fine film", ""]))
>>> outputs["probabilities"].shape, outputs["labels"].dtype
(TensorShape([2, 2]), tf.string)
"""

import pathlib

import keras
import tensorflow as tf
from tensorflow.python.framework import convert_to_constants

from tfdistill import tasks
from tfdistill.atomic import replace_atomically

SERVING_SIGNATURE = "serving_default"


def export_savedmodel(model, preprocessor, path, class_names, task="text_classification"):
    """Writes a SavedModel whose `serving_default` takes raw strings.

    The signature takes `texts`, a `tf.string` tensor of shape `[None]`, and returns
    what the task serves (`tfdistill.tasks`): for text classification,
    `probabilities` (float32, `[batch, classes]`), `label_ids` (int32, `[batch]`)
    and `labels` (the class names, `tf.string`, `[batch]`).

    Args:
        model: a `keras.Model` that maps the preprocessor's output to logits.
        preprocessor: a layer that maps a batch of strings to the model's inputs.
        path: the SavedModel directory; replaced atomically if it exists.
        class_names: the class names, indexed by label id.
        task: the name of a registered task; it decides the outputs.

    Returns:
        `path`, as a string.
    """
    class_names = tf.constant(list(class_names), dtype=tf.string)
    task = tasks.get(task)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
    def serve(texts):
        return task.serving_outputs(model(preprocessor(texts), training=False), class_names)

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

    return replace_atomically(write, path)


def load_savedmodel(path):
    """Loads an exported SavedModel and returns its `serving_default` function.

    Imports `tensorflow_text` first: a graph that holds a BERT tokenizer needs its ops
    registered before loading. See the module docstring for an example.
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

    return replace_atomically(write, path)
