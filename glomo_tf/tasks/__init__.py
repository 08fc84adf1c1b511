"""Downstream tasks: data, models and metrics (IMDB, SST-2, NLI, SQuAD).

Feature-only, uniform-graph and GLoMo transfer share one code path
(`TransferEncoder`), selected by `FinetuneConfig.transfer`.

Names are imported lazily, so that `glomo --help` and the CLI's input checks do not load
TensorFlow.
"""

import importlib

_EXPORTS = {
    "CharacterCNN": "glomo_tf.tasks.character_cnn",
    "ElmoBiLMEmbedding": "glomo_tf.tasks.elmo_token_features",
    "finetune": "glomo_tf.tasks.finetune",
    "FEATURES": "glomo_tf.tasks.finetune_config",
    "TASKS": "glomo_tf.tasks.finetune_config",
    "TRANSFERS": "glomo_tf.tasks.finetune_config",
    "FinetuneConfig": "glomo_tf.tasks.finetune_config",
    "MaskedPooling": "glomo_tf.tasks.masked_pooling",
    "build_nli_model": "glomo_tf.tasks.nli_model",
    "SoftAlignment": "glomo_tf.tasks.soft_alignment",
    "build_squad_model": "glomo_tf.tasks.squad_model",
    "build_text_classifier": "glomo_tf.tasks.text_classifier",
    "TransferEncoder": "glomo_tf.tasks.transfer_encoder",
    "TrilinearAttention": "glomo_tf.tasks.trilinear_attention",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'glomo_tf.tasks' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
