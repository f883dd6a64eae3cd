"""Random keras-hub BERT classifiers small enough for unit tests (shared by test files)."""

import keras
import keras_hub


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
