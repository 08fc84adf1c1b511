"""Downstream tasks: data, models and metrics (IMDB, SST-2, NLI, SQuAD).

Feature-only, uniform-graph and GLoMo transfer share one code path
(`TransferEncoder`), selected by `FinetuneConfig.transfer`.

Names are imported lazily, so that `glomo --help` and the CLI's input checks do not load
TensorFlow.
"""

from glomo_tf.lazy_exports import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "character_cnn": ("CharacterCNN",),
    "elmo_token_features": ("ElmoBiLMEmbedding",),
    "finetune": ("finetune",),
    "finetune_config": ("FEATURES", "TASKS", "TRANSFERS", "FinetuneConfig"),
    "masked_pooling": ("MaskedPooling",),
    "nli_model": ("build_nli_model",),
    "soft_alignment": ("SoftAlignment",),
    "squad_model": ("build_squad_model",),
    "text_classifier": ("build_text_classifier",),
    "transfer_encoder": ("TransferEncoder",),
    "trilinear_attention": ("TrilinearAttention",),
    "untrained_graphs": ("UntrainedGLoMoGraphs", "UntrainedGraphSource"),
})
