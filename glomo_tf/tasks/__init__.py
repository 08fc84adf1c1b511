"""Downstream tasks: data, models and metrics (IMDB, SST-2, NLI, SQuAD).

Feature-only, uniform-graph and GLoMo transfer share one code path
(`TransferEncoder`), selected by `FinetuneConfig.transfer`.
"""

from glomo_tf.tasks.character_cnn import CharacterCNN
from glomo_tf.tasks.elmo_token_features import ElmoBiLMEmbedding
from glomo_tf.tasks.finetune import finetune
from glomo_tf.tasks.finetune_config import FEATURES, TASKS, TRANSFERS, FinetuneConfig
from glomo_tf.tasks.masked_pooling import MaskedPooling
from glomo_tf.tasks.nli_model import build_nli_model
from glomo_tf.tasks.soft_alignment import SoftAlignment
from glomo_tf.tasks.squad_model import build_squad_model
from glomo_tf.tasks.text_classifier import build_text_classifier
from glomo_tf.tasks.transfer_encoder import TransferEncoder
from glomo_tf.tasks.trilinear_attention import TrilinearAttention

__all__ = [
    "FEATURES",
    "TASKS",
    "TRANSFERS",
    "CharacterCNN",
    "ElmoBiLMEmbedding",
    "FinetuneConfig",
    "MaskedPooling",
    "SoftAlignment",
    "TransferEncoder",
    "TrilinearAttention",
    "build_nli_model",
    "build_squad_model",
    "build_text_classifier",
    "finetune",
]
