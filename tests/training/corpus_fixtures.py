"""Tiny corpora and configs shared by the training and CLI tests."""

import os

from glomo_tf.configs import GLoMoConfig, PretrainConfig

_WORDS = ("the cat sat on a mat while the dog ran to the old red barn and a bird sang "
          "near the tall green tree as the sun rose over quiet hills").split()


def write_text_corpus(path, documents=40, words_per_document=30):
    """A deterministic plain-text corpus, one document per line."""
    lines = []
    for d in range(documents):
        words = [_WORDS[(d * 7 + i * (d % 5 + 1)) % len(_WORDS)] for i in range(words_per_document)]
        lines.append(" ".join(words).capitalize() + " .")
    os.makedirs(os.path.dirname(os.fspath(path)) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return os.fspath(path)


def tiny_model_config(**overrides):
    values = dict(hidden_dim=16, num_layers=1, num_heads=2, head_dim=8, cnn_layers=1,
                  sequence_length=12, num_sampled_positions=4)
    values.update(overrides)
    return GLoMoConfig.tiny(**values)


def tiny_train_config(**overrides):
    values = dict(batch_size=4, steps=4, validate_every=2, validation_steps=1, checkpoint_every=2,
                  keep_checkpoints=2, log_every=1, image_every=2)
    values.update(overrides)
    return PretrainConfig.for_model("tiny", **values)
