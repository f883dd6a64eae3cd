"""Export for serving: a SavedModel that takes raw strings, and TFLite files.

The SavedModel holds the preprocessor (tokenizer or vectorizer) and the model in one
graph, so a server sends text and gets probabilities back. It is written through
`keras.export.ExportArchive` with a `tf.string` signature: keras-hub's `Task.export()`
drops the preprocessor, and `Model.export(input_signature=...)` of a subclassed model
traces float inputs.

A TFLite file holds the model alone, on token ids, in one of `TFLITE_MODES` (float32,
float16, int8 weights, or int8 throughout); `tfdistill.tflite` runs and measures it.

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
>>> tflite_path = export_tflite(model, tempfile.mkdtemp() + "/model_float16.tflite", "float16")
>>> tflite_path.endswith("model_float16.tflite")
True
"""

import pathlib
import re

import keras
import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils
from tensorflow.python.framework import convert_to_constants

from tfdistill import tasks
from tfdistill import tflite
from tfdistill.atomic import replace_atomically
from tfdistill.convertible import convertible_copy
from tfdistill.data.unknown_words import counts_unknown_words
from tfdistill.data.unknown_words import unknown_word_counts

SERVING_SIGNATURE = "serving_default"
# A word-level student's second signature: per text, its words and those unknown to
# the student (`tfdistill.data.unknown_words`), as `tfdistill predict` counts them.
UNKNOWN_WORDS_SIGNATURE = "unknown_words"
# The kinds of TFLite file `export_tflite` makes (see there); `export.tflite` in a
# run's config lists some of them.
TFLITE_MODES = ("float32", "float16", "dynamic_range", "full_int8")
# What every signature takes: a batch of raw strings.
_TEXTS_SPEC = tf.TensorSpec([None], tf.string, name="texts")


def export_savedmodel(
    model, preprocessor, path, class_names, task="text_classification", jit_compile=False
):
    """Writes a SavedModel whose `serving_default` takes raw strings.

    The signature takes `texts`, a `tf.string` tensor of shape `[None]`, and returns
    what the task serves (`tfdistill.tasks`): for text classification,
    `probabilities` (float32, `[batch, classes]`), `label_ids` (int32, `[batch]`)
    and `labels` (the class names, `tf.string`, `[batch]`); for token
    classification, per word slot (`tags`, `tag_ids`, `tag_probabilities`,
    `probabilities`), word `i` being the text's `i`-th word split on whitespace, and
    the entities the tags spell (`num_entities`, `entity_types`, `entity_starts`,
    `entity_ends`).

    A word-level student's SavedModel also has the `unknown_words` signature: on the
    same `texts`, `words` and `unknown_words` (int32, `[batch]`), how many words of
    each text the model reads and how many of those its vocabulary lacks.

    Args:
        model: a `keras.Model` that maps the preprocessor's output to logits.
        preprocessor: a layer that maps a batch of strings to the model's inputs.
        path: the SavedModel directory; replaced atomically if it exists.
        class_names: the class names, indexed by label id.
        task: the name of a registered task; it decides the outputs.
        jit_compile: whether the model's part of the graph (not the preprocessor's
            string ops, which XLA cannot compile) is XLA-compiled when served: once
            per new batch size, on the first batch of that size.

    Returns:
        `path`, as a string.
    """
    class_names = tf.constant(list(class_names), dtype=tf.string)
    task = tasks.get(task)
    logits_of = _model_logits(model, jit_compile)

    @tf.function(input_signature=[_TEXTS_SPEC])
    def serve(texts):
        inputs = preprocessor(task.serving_inputs(texts))
        return task.serving_outputs(logits_of(inputs), class_names, texts)

    @tf.function(input_signature=[_TEXTS_SPEC])
    def unknown_words(texts):
        return unknown_word_counts(preprocessor(task.serving_inputs(texts)))

    def write(tmp_path):
        # ExportArchive only tracks built layers, and an adapted TextVectorization is
        # not built until it first runs.
        preprocessor(task.serving_inputs(tf.constant([""])))
        archive = keras.export.ExportArchive()
        # The preprocessor is tracked for its lookup tables. The model is not: the
        # endpoint captures its weights anyway, and tracking it too makes Keras 3.15
        # save every weight twice (its Keras variables and the captured tf.Variables),
        # doubling the SavedModel.
        archive.track(preprocessor)
        archive.add_endpoint(SERVING_SIGNATURE, serve)
        if counts_unknown_words(preprocessor):
            archive.add_endpoint(UNKNOWN_WORDS_SIGNATURE, unknown_words)
        archive.write_out(tmp_path, verbose=False)

    return replace_atomically(write, path)


def _model_logits(model, jit_compile):
    """`inputs -> logits` of `model` in inference mode; with `jit_compile`, a function
    of its own that XLA compiles, so that a serving graph around it can hold ops XLA
    lacks."""
    def logits(inputs):
        return model(inputs, training=False)

    return tf.function(logits, jit_compile=True) if jit_compile else logits


def load_savedmodel(path):
    """Loads an exported SavedModel and returns its `serving_default` function. See
    the module docstring for an example."""
    return load_signatures(path)[SERVING_SIGNATURE]


def load_signatures(path):
    """Loads an exported SavedModel once: `{name: function}` of its signatures,
    `serving_default` and, from a word-level student, `unknown_words`.

    Imports `tensorflow_text` first: a graph that holds a BERT tokenizer needs its ops
    registered before loading.
    """
    import tensorflow_text  # noqa: F401  Registers the WordPiece ops.

    return dict(tf.saved_model.load(str(path)).signatures)


def export_tflite(
    model, path, mode="float32", representative_dataset=None, *, sequence_length=None
):
    """Converts `model` (its numeric inputs to logits) to a TFLite file in `mode`.

    The file holds `convertible_copy(model)` (float32, recurrent loops TFLite can
    calibrate). Only TFLite's builtin ops are allowed, so it runs on the plain TFLite
    runtime with no Select TF ops (the Flex delegate); the string preprocessing stays
    outside (a TFLite app tokenizes itself). Its inputs are the model's inputs at
    batch size 1, as on a device, and `tfdistill.tflite.TFLiteModel` runs it.

    The modes (`TFLITE_MODES`):

    - `float32`: the model as it is.
    - `float16`: float16 weights, computed in float32 on a CPU; half the size.
    - `dynamic_range`: int8 weights; activations quantized on the fly where a kernel
      allows it. A quarter of the size, no calibration.
    - `full_int8`: int8 weights and activations, their ranges calibrated on
      `representative_dataset`; int8 kernels (`TFLITE_BUILTINS_INT8`) wherever
      the converter has one, and the logits come out as int8 with the output's
      scale and zero point. A recurrent loop still hands its state from one step to
      the next in float32 (TFLite does not quantize a loop's operands), and a BERT
      keeps a few element-wise ops of its LayerNorms in float. A BERT loses
      accuracy in this mode (4 points for `small_bert`): its attention mask adds
      -1e9 to padded positions, so the scores' calibrated int8 scale is about 4e6
      and every real score rounds to 0. Use `dynamic_range` for a BERT.

    Args:
        model: a `keras.Model` from token ids (a tensor or a dict of tensors) to logits.
        path: the `.tflite` file; replaced atomically if it exists.
        mode: one of `TFLITE_MODES`.
        representative_dataset: for `full_int8` (and only read then), a function
            returning an iterable of examples, each the model's inputs for one text
            at batch size 1 as its preprocessor returns them; a few hundred are enough.
        sequence_length: the length of any input dimension the model leaves open
            (a keras-hub BERT's sequence length), or a dict of it per input name
            when the inputs differ (a BERT tagger's pieces and words); a file's
            shapes are fixed.

    Returns:
        `path`.

    Raises:
        ValueError: an unknown mode, `full_int8` without a representative dataset, an
            open input dimension without `sequence_length`, or a failed conversion (the
            message says why, e.g. the TensorFlow ops that TFLite's builtins lack).
    """
    if mode not in TFLITE_MODES:
        raise ValueError(f"Unknown TFLite mode {mode!r}; the modes are {list(TFLITE_MODES)}.")
    if mode == "full_int8" and representative_dataset is None:
        raise ValueError("full_int8 calibrates on a representative_dataset; none was given.")
    convertible = convertible_copy(model)
    specs = _input_specs(model, sequence_length)

    @tf.function(input_signature=specs)
    def logits(*inputs):
        # Several inputs go by name, as a keras-hub model and its preprocessor name them.
        named = {spec.name: tensor for spec, tensor in zip(specs, inputs)}
        return convertible(named if len(inputs) > 1 else inputs[0], training=False)

    # Weights become constants first: TFLite cannot read resource variables inside
    # the while loop of a recurrent layer (the file converts, then fails to run).
    with tflite.library_notices_hidden():
        frozen = convert_to_constants.convert_variables_to_constants_v2(
            logits.get_concrete_function()
        )
    calibration = None
    if mode == "full_int8":
        # Where the calibrator would kill the process, the float file shows it first.
        _check_calibratable(_convert(frozen, "float32", None, model.name), model.name)
        calibration = _calibration_inputs(representative_dataset, specs)
    flatbuffer = _convert(frozen, mode, calibration, model.name)

    def write(tmp_path):
        pathlib.Path(tmp_path).write_bytes(flatbuffer)

    return replace_atomically(write, path)


def _input_specs(model, sequence_length):
    """The model's inputs at batch size 1, open dimensions set to `sequence_length`
    (or to its entry for the input's name)."""
    specs = []
    for tensor in model.inputs:
        length = sequence_length.get(tensor.name) if isinstance(sequence_length, dict) else sequence_length
        shape = [length if size is None else size for size in tensor.shape[1:]]
        if None in shape:
            raise ValueError(
                f"Input {tensor.name} of {model.name} has the open shape {tensor.shape}: "
                "a TFLite file's shapes are fixed, so pass sequence_length."
            )
        specs.append(tf.TensorSpec([1, *shape], tensor.dtype, name=tensor.name))
    return specs


def _calibration_inputs(representative_dataset, specs):
    """The converter's representative dataset: each example as a list in `specs` order."""
    names = [spec.name for spec in specs]

    def examples():
        for example in representative_dataset():
            arrays = tflite.arrays_by_name(example, names)
            yield [tf.cast(array, spec.dtype) for array, spec in zip(arrays, specs)]

    return examples


def _convert(frozen, mode, calibration, name):
    """The TFLite flatbuffer of the concrete function `frozen` in `mode`."""
    with tflite.library_notices_hidden():
        converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if mode != "float32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if mode == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if mode == "full_int8":
            converter.representative_dataset = calibration
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_output_type = tf.int8
        try:
            return converter.convert()
        except Exception as error:  # The converter raises several unrelated types.
            raise ValueError(f"TFLite {mode} conversion of {name} failed: {_why(error)}") from error


def _why(error):
    """One line on why the converter failed: the ops it lacks, when that is the reason."""
    message = str(error).strip()
    select_ops = re.search(r"TF Select ops: (.+)", message)
    if select_ops:
        return (
            f"it needs TensorFlow ops that TFLite's builtins lack ({select_ops.group(1)}), "
            "which only the Select TF ops runtime (the Flex delegate) would give the app."
        )
    return message.splitlines()[0]


def _check_calibratable(float_flatbuffer, name):
    """Raises a ValueError where TFLite's calibrator would crash on the model.

    It crashes (a segmentation fault) on a loop whose body returns a float input
    unchanged (see `tfdistill.convertible`); Keras's recurrent layers no longer do,
    but a model's own `tf.while_loop` may.
    """
    model = flatbuffer_utils.convert_bytearray_to_object(float_flatbuffer)
    for subgraph in model.subgraphs:
        for operator in subgraph.operators:
            if not isinstance(operator.builtinOptions, schema.WhileOptionsT):
                continue
            body = model.subgraphs[operator.builtinOptions.bodySubgraphIndex]
            for given, returned in zip(body.inputs, body.outputs):
                if given == returned and body.tensors[given].type == schema.TensorType.FLOAT32:
                    raise ValueError(
                        f"TFLite full_int8 conversion of {name} failed: a loop passes the float "
                        f"tensor {body.tensors[given].name.decode()} through unchanged, which "
                        "crashes TFLite's calibrator (tensorflow/tensorflow#75140)."
                    )
