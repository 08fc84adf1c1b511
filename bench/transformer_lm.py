"""The baseline of the throughput benchmarks: a causal Transformer LM of the same size and loss.

Same d, layers, heads, T, batch as the GLoMo config; keras `MultiHeadAttention` with K heads of
d/K, pre-norm blocks with a 4d feed-forward; the same context-prediction head as GLoMo (a
`ContextDecoder` at the same number of sampled positions, softmax tied to the embedding). One
direction, as a Transformer LM is trained.
"""

import keras
import keras_hub
from keras import ops

from glomo_tf.layers.context_decoder import ContextDecoder


class TransformerLM(keras.Model):
    def __init__(self, config, seed=None, **kwargs):
        super().__init__(**kwargs)
        c = self.glomo_config = config
        self.embedding = keras_hub.layers.ReversibleEmbedding(
            c.vocabulary_size, c.hidden_dim, tie_weights=True, name="embedding"
        )
        self.positions = keras_hub.layers.PositionEmbedding(c.sequence_length, name="positions")
        self.blocks = []
        for i in range(c.num_layers):
            self.blocks.append(dict(
                norm1=keras.layers.LayerNormalization(name=f"norm1_{i}"),
                attention=keras.layers.MultiHeadAttention(
                    c.num_heads, c.hidden_dim // c.num_heads, name=f"attention_{i}"
                ),
                norm2=keras.layers.LayerNormalization(name=f"norm2_{i}"),
                ffn1=keras.layers.Dense(4 * c.hidden_dim, activation="gelu", name=f"ffn1_{i}"),
                ffn2=keras.layers.Dense(c.hidden_dim, name=f"ffn2_{i}"),
            ))
        self.decoder = ContextDecoder(c.context_length, c.decoder_layers, name="decoder")
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def call(self, ids, training=False):
        c = self.glomo_config
        x = self.embedding(ids)
        x = x + self.positions(x)
        for block in self.blocks:
            h = block["norm1"](x)
            x = x + block["attention"](h, h, use_causal_mask=True)
            x = x + block["ffn2"](block["ffn1"](block["norm2"](x)))
        length = ops.shape(ids)[1]
        positions = keras.random.randint(
            (c.num_sampled_positions,), 0, length - c.context_length, seed=self.seed_generator
        )
        offsets = positions[:, None] + ops.arange(1, c.context_length + 1)[None]
        start = ops.reshape(ops.take(x, positions, axis=1), (-1, c.hidden_dim))
        nxt = ops.reshape(
            ops.take(self.embedding(ids), offsets[:, :-1], axis=1),
            (-1, c.context_length - 1, c.hidden_dim),
        )
        hidden = self.decoder(start, nxt, training=training)
        return {
            "logits": ops.cast(self.embedding(hidden, reverse=True), "float32"),
            "targets": ops.reshape(ops.take(ids, offsets, axis=1), (-1, c.context_length)),
        }

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return self.loss_fn(y_pred["targets"], y_pred["logits"])
