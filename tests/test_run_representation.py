"""`distillation.representation` in a whole run: the teacher's vectors of the transfer
set and the validation split are computed once, cached beside its logits, and train
the distilled student through the representation term."""

import json
import types

import numpy as np
import pytest

from tfdistill.data import cache
from tfdistill.distillation import representation
from tfdistill.run import config as run_config
from tfdistill.run import validate
from tfdistill.run.splits import Split
from tfdistill.run.splits import concatenate
from tfdistill.run.stages import transfer

from test_run_tune import _config as tune_config
from test_run_tune import run_until_students_trained

TINY_WIDTH = 16  # `save_tiny_teacher`'s hidden width


def _config(tmp_path, tiny_teacher, *assignments):
    """The search's smoke run, without the search, one epoch."""
    return tune_config(tmp_path, tiny_teacher, "distillation.tune.trials=0", "distillation.epochs=1", *assignments)


def test_the_teachers_vectors_are_computed_once_and_train_the_student(tmp_path, tiny_teacher, monkeypatch):
    passes = []
    predict_logits = cache.predict_logits

    def recorded(model, inputs, **kwargs):
        outputs = predict_logits(model, inputs, **kwargs)
        passes.append(outputs.shape)
        return outputs

    monkeypatch.setattr(cache, "predict_logits", recorded)
    config = _config(tmp_path, tiny_teacher, "distillation.representation=1.0")
    run_dir = run_until_students_trained(config, tmp_path / "run", monkeypatch)
    # Logits and vectors of the training and validation texts (48 and 16 of them; the
    # test split's texts are the validation split's here, their logits cached once);
    # the vectors as wide as the teacher.
    assert sorted(passes) == sorted([(48, 2), (16, 2), (48, TINY_WIDTH), (16, TINY_WIDTH)])
    training = json.loads((run_dir / "students" / "bilstm_distilled" / "training.json").read_text())
    assert {"representation_loss", "val_representation_loss"} <= set(training["history"])
    # Another weight trains the student again, from the cache: no teacher pass at all.
    passes.clear()
    again = run_config.override(config, ["distillation.representation=2.0"])
    run_until_students_trained(again, tmp_path / "run", monkeypatch, overwrite=True)
    assert passes == []


@pytest.mark.parametrize(
    "assignments, message",
    [
        (["distillation.representation=-1"], "distillation.representation: the weight must be a number >= 0"),
        (["distillation.representation=1", "distillation.cache_teacher_logits=false"],
         "distillation.representation > 0 needs distillation.cache_teacher_logits: true"),
        (["distillation.representation=1", "teacher.ensemble_seeds=[1]"],
         r"distillation.representation > 0 needs one teacher \(no teacher.ensemble_seeds\)"),
    ],
)
def test_what_the_term_cannot_work_with_is_a_config_error(tmp_path, tiny_teacher, assignments, message):
    with pytest.raises(run_config.ConfigError, match=message):
        validate.validate(_config(tmp_path, tiny_teacher, *assignments), tmp_path / "run")


def test_the_vectors_are_standardized_by_the_training_texts_wherever_they_sit(monkeypatch):
    # The training texts sit second: standardized by their own rows (mean 4, std 1),
    # they come out centred; by the first rows' (mean 11), they would not.
    parts = {
        "transfer_texts": Split(["a", "b", "c"], np.full(3, -1)),
        "train": Split(["d", "e"], np.array([0, 1])),
    }
    offsets = {"transfer_texts": 10.0, "train": 3.0, "validation": 5.0}
    monkeypatch.setattr(representation, "teacher_vectors_model", lambda teacher: "model")

    def teacher_outputs(context, model, teacher, split, name):
        # 4-wide vectors alternating between the part's offset and 2 above it.
        return offsets[name] + 2.0 * (np.arange(len(split.texts)) % 2)[:, None] * np.ones(4)

    monkeypatch.setattr(transfer, "teacher_outputs", teacher_outputs)
    context = types.SimpleNamespace(splits={"validation": Split(["f", "g"], np.array([0, 1]))})
    split = concatenate(*parts.values())
    vectors = transfer._with_vectors(context, "teacher", transfer.TransferSet(split), parts)
    np.testing.assert_allclose(vectors.vectors[3:].mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(vectors.vectors[:3].mean(axis=0), 20.0 / 3.0, atol=1e-5)
    np.testing.assert_allclose(vectors.validation_vectors.mean(axis=0), 2.0, atol=1e-6)
