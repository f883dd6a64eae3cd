"""Random keras-hub BERT classifiers small enough for unit tests (shared by test files)."""

import pathlib

import keras
import keras_hub

# The vocabulary of `save_tiny_teacher`: other words are [UNK], which is all a
# teacher needs to give the students logits to learn from.
_TINY_VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + (
    "the a an and of to is it in that this film movie story good bad great funny dull "
    "best worst love characters plot".split()
)


def tiny_bert_classifier(
    num_layers=2,
    hidden_dim=16,
    *,
    num_classes=2,
    vocabulary_size=64,
    max_sequence_length=16,
    num_heads=2,
    dropout=0.1,
    seed=None,
):
    """A random `BertTextClassifier` (logits, no preprocessor); `seed` fixes its weights."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=vocabulary_size,
        num_layers=num_layers,
        num_heads=num_heads,
        hidden_dim=hidden_dim,
        intermediate_dim=2 * hidden_dim,
        max_sequence_length=max_sequence_length,
        dropout=dropout,
    )
    return keras_hub.models.BertTextClassifier(
        backbone=backbone, num_classes=num_classes, preprocessor=None, activation=None
    )


def save_tiny_teacher(preset_dir, hidden_dim=16, max_sequence_length=32):
    """Saves a random 2-layer BERT as a keras-hub preset (for `teacher.preset`), which
    fine-tunes and exports in a fraction of the packaged teacher's time."""
    keras_hub.models.BertTokenizer(vocabulary=_TINY_VOCABULARY).save_to_preset(preset_dir)
    bert = tiny_bert_classifier(
        hidden_dim=hidden_dim,
        vocabulary_size=len(_TINY_VOCABULARY),
        max_sequence_length=max_sequence_length,
        seed=0,
    )
    bert.backbone.save_to_preset(preset_dir)
    return pathlib.Path(preset_dir)
