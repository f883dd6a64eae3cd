"""The `tfdistill` command on a token-classification config, end to end (smoke size)."""

import json
import math
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf

from tfdistill.export import load_savedmodel
from tfdistill.tasks.token_classification import entity_spans

from command import REPO
from command import finished_run
from command import tfdistill
from command import tfdistill_in_process

SMOKE_NER = REPO / "configs" / "smoke_ner.yaml"
MODELS = ("teacher", "bilstm_tagger_distilled", "bilstm_tagger_baseline")


@pytest.fixture(scope="module")
def tagging_run(tmp_path_factory):
    return finished_run(tmp_path_factory, SMOKE_NER, "ner")


@pytest.mark.slow
def test_the_smoke_tagging_run_scores_exports_and_reports_every_model(tagging_run):
    output_dir, _ = tagging_run
    summary = json.loads((output_dir / "metrics.json").read_text())
    assert summary["task"] == "token_classification" and list(summary["models"]) == list(MODELS)
    for name, scores in summary["models"].items():
        for key in ("precision", "recall", "f1", "token_accuracy"):
            assert math.isfinite(scores[key]) and 0 <= scores[key] <= 1, (name, key)
        assert scores["support"] > 0 and scores["per_type"]
        assert (output_dir / scores["savedmodel"] / "saved_model.pb").is_file()
        if name != "teacher":
            # The share of tagged test words given the teacher's tag.
            assert 0 <= scores["teacher_agreement"] <= 1, name
            int8 = scores["tflite"]["dynamic_range"]
            assert int8["exported"] and 0 <= int8["f1"] <= 1 and int8["agreement"] > 0.9, name
    report = (output_dir / "report.md").read_text()
    assert "## F1 per entity type (test)" in report and "| person |" in report


@pytest.mark.slow
def test_the_distilled_tagger_also_learned_from_augmented_tweets(tagging_run):
    """One augmented copy per tweet: the distilled student takes about twice the
    baseline's steps over the same epochs."""
    output_dir, result = tagging_run
    assert "Augmented transfer set: " in result.stderr
    steps = {
        name: json.loads((output_dir / "students" / name / "training.json").read_text())
        for name in MODELS[1:]
    }
    distilled, baseline = (steps[name] for name in MODELS[1:])
    assert len(distilled["history"]["loss"]) == len(baseline["history"]["loss"])
    assert distilled["optimizer_steps"] >= 1.6 * baseline["optimizer_steps"], steps


@pytest.mark.slow
def test_early_stopping_watched_the_validation_entity_f1_of_every_trained_model(tagging_run):
    """Token accuracy sits at the all-O level until a tagger finds entities: the run
    watches entity F1, which each epoch's history records."""
    output_dir, _ = tagging_run
    for folder in (output_dir / "teacher", *(output_dir / "students").iterdir()):
        history = json.loads((folder / "training.json").read_text())["history"]
        assert len(history["val_f1"]) == len(history["loss"]) > 0, folder.name
        assert all(0 <= value <= 1 for value in history["val_f1"]), folder.name


@pytest.mark.slow
def test_the_exported_tagger_tags_each_word_of_raw_strings(tagging_run):
    output_dir, _ = tagging_run
    summary = json.loads((output_dir / "metrics.json").read_text())
    serve = load_savedmodel(output_dir / "export" / "bilstm_tagger_distilled" / "savedmodel")
    outputs = serve(texts=tf.constant(["Obama visits Paris", "", "\u202e🙂 <b>x</b>"]))
    assert outputs["tags"].shape == (3, 40) and outputs["tag_probabilities"].shape == (3, 40)
    assert {tag.decode() for tag in outputs["tags"].numpy().ravel()} <= set(summary["class_names"])
    # The entities of each text, from its words' tags alone (the empty text has none).
    assert outputs["entity_starts"].shape == outputs["entity_types"].shape == (3, 40)
    assert int(outputs["num_entities"][1]) == 0
    for row, words in enumerate((3, 0, 3)):
        tags = [tag.decode() for tag in outputs["tags"].numpy()[row, :words]]
        count = int(outputs["num_entities"][row])
        assert count == len(entity_spans(tags))
        assert (outputs["entity_ends"].numpy()[row, :count] <= words).all()


@pytest.mark.slow
def test_predict_tags_each_word_of_a_file_and_spells_out_the_entities(tagging_run, tmp_path, capsys):
    output_dir, _ = tagging_run
    long_tweet = " ".join(f"w{i}" for i in range(45))  # past the 40 word slots
    source = tmp_path / "tweets.txt"
    source.write_bytes(b"Obama visits  Paris\n\n" + long_tweet.encode() + b"\n\xff broken\n")
    output = tmp_path / "tags.jsonl"
    # In this process: a fresh one's terminal is test_predict.py's.
    result = tfdistill_in_process(
        capsys, "predict", f"--model={output_dir}", f"--input={source}", f"--output={output}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "4 rows, 2 not predicted (unreadable or empty), " in result.stdout
    # The long tweet's words past the 40 slots are not read, so not counted.
    share_of_unknown_words = re.search(r"([\d.]+)% of their words unknown", result.stdout).group(1)
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert [record["row"] for record in records] == [1, 2, 3, 4]
    assert records[0]["words"] == ["Obama", "visits", "Paris"]
    assert records[1] == {"row": 2, "error": "empty text"}
    assert records[3] == {"row": 4, "error": "invalid UTF-8"}
    tag_names = json.loads((output_dir / "metrics.json").read_text())["class_names"]
    for record in (records[0], records[2]):
        assert len(record["tags"]) == len(record["tag_probabilities"]) == len(record["words"])
        read = [tag or "O" for tag in record["tags"]]
        assert set(read) <= set(tag_names)
        assert [(e["type"], e["start"], e["end"]) for e in record["entities"]] == entity_spans(read)
        assert all(e["text"] == " ".join(record["words"][e["start"]:e["end"]]) for e in record["entities"])
    assert records[2]["tags"][40:] == [None] * 5 and None not in records[2]["tags"][:40]
    # The int8 TFLite file, with its word lookup beside it, tags the same words.
    tflite_file = output_dir / "export" / "bilstm_tagger_distilled" / "model_dynamic_range.tflite"
    from_tflite = tmp_path / "tflite.jsonl"
    result = tfdistill_in_process(
        capsys, "predict", f"--model={tflite_file}", f"--input={source}", f"--output={from_tflite}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{share_of_unknown_words}% of their words unknown" in result.stdout
    for ours, theirs in zip(records, map(json.loads, from_tflite.read_text().splitlines())):
        assert ours.get("words") == theirs.get("words")
        assert ours.get("tags") == theirs.get("tags") or ours.get("error")
        probabilities = [
            [p for p in record.get("tag_probabilities", []) if p is not None] for record in (ours, theirs)
        ]
        np.testing.assert_allclose(*probabilities, atol=0.02)


@pytest.mark.long
def test_a_rerun_reuses_the_fine_tuned_teacher(tagging_run):
    output_dir, _ = tagging_run
    result = tfdistill(f"--config={SMOKE_NER}", f"--output_dir={output_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Reusing the fine-tuned teacher" in result.stderr
    assert "Fine-tuning the teacher" not in result.stderr


@pytest.mark.long
def test_a_small_bert_tagger_distills_from_the_same_teacher(tagging_run, tmp_path):
    output_dir, _ = tagging_run
    copy = tmp_path / "ner"
    shutil.copytree(output_dir, copy)
    result = tfdistill(
        f"--config={SMOKE_NER}", f"--output_dir={copy}", "--set=student.kind=small_bert",
        "--set=student.sizes={num_layers: 1}", "--set=distillation.baseline=false",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Reusing the fine-tuned teacher" in result.stderr
    summary = json.loads((copy / "metrics.json").read_text())
    scores = summary["models"]["small_bert_distilled"]
    assert 0 <= scores["f1"] <= 1 and scores["per_type"]
    serve = load_savedmodel(copy / scores["savedmodel"])
    outputs = serve(texts=tf.constant(["Obama visits Paris", "", "\u202e🙂 <b>x</b>"]))
    assert outputs["tags"].shape == (3, 40)
    assert {tag.decode() for tag in outputs["tags"].numpy().ravel()} <= set(summary["class_names"])


@pytest.mark.parametrize(
    "extra, fragment",
    [
        ("--set=student.kind=bilstm", "student.kind: The bilstm student serves"),
        ("--set=teacher.ensemble_seeds=[7]", "teacher.ensemble_seeds must be []"),
        ("--set=task=text_classification", "The bilstm_tagger student serves ['token_classification']"),
    ],
)
def test_a_config_a_tagging_run_cannot_do_fails_in_one_line(tmp_path, capsys, extra, fragment):
    result = tfdistill_in_process(capsys, f"--config={SMOKE_NER}", f"--output_dir={tmp_path / 'run'}", extra)
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("tfdistill: error:")]
    assert len(errors) == 1 and fragment in errors[0], result.stderr[-2000:]
    assert not (tmp_path / "run").exists()
