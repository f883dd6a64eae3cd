"""The README's Keras examples run as written, on a 64-example slice of each split,
with a tiny random BERT in place of the packaged teacher: the packaged teacher's own
path is run whole by tests/test_cli.py, tests/test_run_tagging.py and the notebooks."""

import pathlib
import re

import keras
import numpy as np
import pytest

import tfdistill
from tfdistill import data
from tfdistill import models
from tfdistill.models import teachers

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def readme_block(containing):
    """The first ```python block of the README that contains `containing`."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    return next(block for block in blocks if containing in block)


@pytest.fixture
def tiny_packaged_teacher(monkeypatch, tmp_path_factory):
    """`models.load_teacher("minilm_l6_packaged", ...)` loads a random 2-layer BERT
    instead, as wide (96) and as long (128 tokens) as the examples ask of it."""
    from tiny_models import save_tiny_teacher

    tiny = str(save_tiny_teacher(tmp_path_factory.mktemp("tiny"), 96, max_sequence_length=128))
    resolve = teachers.resolve_preset

    def resolve_to_tiny(preset):
        return tiny if preset == models.PACKAGED_MINILM else resolve(preset)

    monkeypatch.setattr(teachers, "resolve_preset", resolve_to_tiny)


@pytest.fixture
def fewer_epochs(monkeypatch, tiny_packaged_teacher):
    """The README's code as written, with 1 teacher epoch and at most 3 student
    epochs (and the tiny teacher): on the tests' slices, more test nothing more."""
    finetune_teacher, fit = models.finetune_teacher, tfdistill.Distiller.fit

    def finetune_briefly(*args, epochs=2, **kwargs):
        return finetune_teacher(*args, epochs=1, **kwargs)

    def fit_briefly(self, *args, epochs=1, **kwargs):
        return fit(self, *args, epochs=min(epochs, 3), **kwargs)

    monkeypatch.setattr(models, "finetune_teacher", finetune_briefly)
    monkeypatch.setattr(tfdistill.Distiller, "fit", fit_briefly)


@pytest.mark.slow
def test_readme_keras_example_runs(monkeypatch, tmp_path, fewer_epochs):
    load = data.load

    def first_64(*args, **kwargs):
        dataset, info = load(*args, **kwargs)
        return dataset.take(64), info

    monkeypatch.setattr(data, "load", first_64)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(readme_block("distiller.save"), str(README), "exec"), namespace)
    student = keras.models.load_model(tmp_path / "student.keras")
    assert student.count_params() == namespace["student"].num_params
    assert namespace["teacher"].trainable is False

    # "Beyond logits": a BiLSTM from the (here random) teacher's vectors.
    exec(compile(readme_block("init_from_teacher=True"), str(README), "exec"), namespace)
    embeddings = namespace["student"].model.get_layer("token_embedding").get_weights()[0]
    assert embeddings.shape[1] == 96
    assert abs(float(np.linalg.norm(embeddings[2:], axis=1).mean()) - 1.0) < 1e-4


@pytest.mark.slow
def test_readme_tagging_example_runs(monkeypatch, tmp_path, fewer_epochs):
    load_tagged = data.load_tagged

    def first_32(*args, **kwargs):
        sentences, info = load_tagged(*args, **kwargs)
        return sentences.select(range(32)), info

    monkeypatch.setattr(data, "load_tagged", first_32)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(readme_block("tagger.keras"), str(README), "exec"), namespace)
    student = keras.models.load_model(tmp_path / "tagger.keras")
    assert student.count_params() == namespace["student"].num_params
    assert set(student.input) == {"word_ids", "char_ids"}
    assert namespace["teacher"].trainable is False


def test_readme_extending_example_registers_what_it_says():
    import tfdistill

    namespace = {}
    exec(compile(readme_block('register_student("gru"'), str(README), "exec"), namespace)
    try:
        assert "gru" in tfdistill.models.STUDENTS
        assert tfdistill.models.STUDENTS.attributes("gru")["recurrent"]
        student = tfdistill.models.build_student(
            "gru", num_classes=3, train_texts=["a fine film", "a dull one"], sequence_length=8
        )
        assert student.model(student.preprocessor(["a fine one"])).shape == (1, 3)
        loss = tfdistill.losses.get("tempered_l1")
        same = np.array([[1.0, -1.0]], "float32")
        assert float(loss(same, same, 2.0)[0]) == 0.0
    finally:
        tfdistill.models.STUDENTS.unregister("gru")
        tfdistill.losses.LOGIT_LOSSES.unregister("tempered_l1")
