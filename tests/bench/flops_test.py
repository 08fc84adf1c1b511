"""The hand FLOP count of bench/flops.py against the ops TensorFlow actually runs."""

import pytest
import tensorflow as tf

from bench import flops
from glomo_tf.configs import GLoMoConfig
from glomo_tf.models.glomo_pretrainer import GLoMoPretrainer

CONFIG = GLoMoConfig.tiny(vocabulary_size=300, hidden_dim=24, num_heads=3, head_dim=8,
                          sequence_length=20, num_sampled_positions=4)


@pytest.mark.parametrize("fused", [False, True])
def test_hand_count_matches_the_traced_graph(fused):
    model = GLoMoPretrainer(CONFIG, seed=0, fused=fused)
    batch, length = 3, CONFIG.sequence_length
    forward = tf.function(lambda ids: model(ids, training=True))
    graph = forward.get_concrete_function(tf.TensorSpec((batch, length), tf.int32)).graph
    counted = sum(flops.graph_matmul_flops(graph).values())
    hand = 2 * flops.glomo_forward_flops(CONFIG, batch, length, fused=fused)
    assert counted == pytest.approx(hand, rel=1e-9)


def test_transformer_hand_count_matches_the_traced_graph():
    from bench.transformer_lm import TransformerLM

    model = TransformerLM(CONFIG, seed=0)
    batch, length = 2, CONFIG.sequence_length
    forward = tf.function(lambda ids: model(ids, training=True))
    graph = forward.get_concrete_function(tf.TensorSpec((batch, length), tf.int32)).graph
    counted = sum(flops.graph_matmul_flops(graph).values())
    assert counted == pytest.approx(flops.transformer_forward_flops(CONFIG, batch, length), rel=1e-9)
