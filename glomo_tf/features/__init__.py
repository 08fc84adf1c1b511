"""Token features that graphs are transferred onto: GloVe and ELMo."""

from glomo_tf.features.elmo_bilm import (
    ElmoBiLM,
    LSTMCellWithProjection,
    sentences_to_character_ids,
    tokens_to_character_ids,
    word_to_character_ids,
)
from glomo_tf.features.elmo_hub import ElmoHubEmbedding
from glomo_tf.features.glove import GloVeEmbedding, OovReport, build_embedding_matrix, load_glove
from glomo_tf.features.scalar_mix import ScalarMix

__all__ = [
    "ElmoBiLM",
    "ElmoHubEmbedding",
    "GloVeEmbedding",
    "LSTMCellWithProjection",
    "OovReport",
    "ScalarMix",
    "build_embedding_matrix",
    "load_glove",
    "sentences_to_character_ids",
    "tokens_to_character_ids",
    "word_to_character_ids",
]
