"""GLoMo Keras layers (one concept per module)."""

from glomo_tf.layers.causal_conv_stack import CausalConvStack
from glomo_tf.layers.context_decoder import ContextDecoder
from glomo_tf.layers.feature_predictor import FeaturePredictor
from glomo_tf.layers.gated_linear import GatedLinear
from glomo_tf.layers.graph_predictor import GraphPredictor
from glomo_tf.layers.graph_transfer import GraphTransfer, num_graph_candidates

__all__ = [
    "CausalConvStack",
    "ContextDecoder",
    "FeaturePredictor",
    "GatedLinear",
    "GraphPredictor",
    "GraphTransfer",
    "num_graph_candidates",
]
