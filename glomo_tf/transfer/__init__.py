"""Consuming exported GLoMo graph modules in Keras 3."""

from glomo_tf.transfer.glomo_graphs import GLoMoGraphs, module_vocabulary
from glomo_tf.transfer.vocabulary_alignment import check_same_vocabulary, map_vocabulary

__all__ = ["GLoMoGraphs", "check_same_vocabulary", "map_vocabulary", "module_vocabulary"]
