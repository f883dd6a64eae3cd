"""A rerun of a finished run keeps its scores and exported files unless what they
were measured from changed (tfdistill.run.scored)."""

import json

import numpy as np
import pytest

from tfdistill.run import config as run_config
from tfdistill.run import pipeline
from tfdistill.run import scored
from tfdistill.run.stages import evaluate
from tfdistill.run.stages import export

from test_run_fingerprints import _context
from test_run_tune import SMOKE

MODELS = ["teacher", "bilstm_distilled", "bilstm_baseline"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny_teacher):
    """A finished tiny run, its config and its folder."""
    config = run_config.override(
        run_config.load(SMOKE),
        [
            f"teacher.preset={tiny_teacher}",
            "distillation.epochs=1",
            "export.tflite=[dynamic_range]",
            "export.latency_batch_sizes=[8]",
            "export.latency_seconds=0.05",
        ],
    )
    run_dir = tmp_path_factory.mktemp("scored") / "run"
    pipeline.run(config, run_dir)
    return config, run_dir


@pytest.fixture
def exported(monkeypatch):
    """The names of the models each rerun exports, the sizes of the sets it scores, and
    the label ids each scoring predicted."""
    seen = {"exported": [], "scored": [], "predicted": []}
    export_model, logits = export.export, evaluate._logits

    def recorded_export(context, name, *args):
        seen["exported"].append(name)
        return export_model(context, name, *args)

    def recorded_logits(context, model, preprocessor, split):
        seen["scored"].append(len(split.texts))
        found = logits(context, model, preprocessor, split)
        seen["predicted"].append(np.argmax(found, axis=-1))
        return found

    monkeypatch.setattr(export, "export", recorded_export)
    monkeypatch.setattr(evaluate, "_logits", recorded_logits)
    return seen


def _metrics(run_dir):
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.mark.slow
def test_a_rerun_keeps_every_score_and_scores_only_a_new_test_set(finished, exported):
    config, run_dir = finished
    before = _metrics(run_dir)

    assert pipeline.run(config, run_dir) == before
    assert exported == {"exported": [], "scored": [], "predicted": []}

    cached_before = set((run_dir / "cache").glob("*.npy"))
    with_drugs = run_config.override(config, ["data.extra_test=[drug_reviews]"])
    summary = pipeline.run(with_drugs, run_dir)
    assert exported["exported"] == []
    # The students on the new set alone (64 reviews), nothing on the test split; the
    # teacher through the logit cache, which now holds its logits on the new set.
    assert exported["scored"] == [64] * 2
    assert summary["models"] == before["models"]
    drugs = summary["extra_test"]["drug_reviews"]["models"]
    assert list(drugs) == MODELS
    (new_file,) = set((run_dir / "cache").glob("*.npy")) - cached_before
    predicted = np.argmax(np.load(new_file), axis=-1)
    # The teacher's predictions per class (the confusion matrix's columns) are the cached ones.
    per_class = np.sum(drugs["teacher"]["confusion_matrix"], axis=0)
    assert per_class.tolist() == np.bincount(predicted, minlength=2).tolist()
    # Each student's agreement there is with those cached predictions.
    for name, students_predicted in zip(MODELS[1:], exported["predicted"]):
        assert drugs[name]["teacher_agreement"] == np.mean(students_predicted == predicted), name
    assert all(0 <= before["models"][name]["teacher_agreement"] <= 1 for name in MODELS[1:])

    exported["scored"].clear()
    assert pipeline.run(with_drugs, run_dir) == summary
    assert exported["scored"] == []


@pytest.mark.slow
def test_a_model_whose_file_is_gone_is_exported_and_measured_again(finished, exported):
    config, run_dir = finished
    before = _metrics(run_dir)["models"]
    (run_dir / before["bilstm_baseline"]["tflite"]["dynamic_range"]["path"]).unlink()

    summary = pipeline.run(config, run_dir)
    assert exported["exported"] == ["bilstm_baseline"]
    assert (run_dir / summary["models"]["bilstm_baseline"]["tflite"]["dynamic_range"]["path"]).is_file()
    assert summary["models"]["teacher"] == before["teacher"]


def test_every_model_is_measured_again_when_the_export_settings_or_the_test_split_change(tmp_path):
    digests = scored.digests(_context(tmp_path))
    (tmp_path / "savedmodel").mkdir()
    summary = {
        "models": {
            name: {"scored_with": digest, "savedmodel": "savedmodel"}
            for name, digest in digests.items()
        }
    }
    assert sorted(scored.kept_models(summary, digests, tmp_path)) == sorted(MODELS)

    for changed in (
        scored.digests(_context(tmp_path, "export.latency_batch_sizes=[16]")),
        scored.digests(_context(tmp_path, texts=("a gem", "a flop"))),
    ):
        assert scored.kept_models(summary, changed, tmp_path) == {}
    # A changed student is measured again; the teacher it did not change is kept.
    changed = scored.digests(_context(tmp_path, "distillation.temperature=4"))
    assert sorted(scored.kept_models(summary, changed, tmp_path)) == ["bilstm_baseline", "teacher"]
