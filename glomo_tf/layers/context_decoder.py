import keras
from keras import ops


@keras.saving.register_keras_serializable(package="glomo_tf")
class ContextDecoder(keras.layers.Layer):
    """Decodes the next D units from one feature vector: the context-prediction head.

    A stack of GRUs, every layer's initial state set to the feature f_t^L, reads the
    teacher-forced inputs [0, E(x_{t+1}), ..., E(x_{t+D-1})] and returns one hidden state
    per predicted unit. The caller maps them to logits with the softmax tied to the
    embedding (`ReversibleEmbedding(..., reverse=True)`), bias-free as released.

    Args:
        context_length: int, D.
        num_layers: int, GRU layers (2 as released).

    Call arguments:
        features: `[N, d]`, f_t^L at the sampled positions.
        next_embeddings: `[N, D - 1, d]`, E(x_{t+1}) ... E(x_{t+D-1}).
        training: passed to the GRUs.

    Returns:
        `[N, D, d]`: hidden state from which unit x_{t+k} is predicted, k = 1..D.

    Example:
    >>> decoder = ContextDecoder(context_length=3)
    >>> decoder(keras.ops.ones((4, 8)), keras.ops.ones((4, 2, 8))).shape
    (4, 3, 8)
    """

    def __init__(self, context_length=3, num_layers=2, **kwargs):
        super().__init__(**kwargs)
        if context_length < 1 or num_layers < 1:
            raise ValueError(
                f"`context_length` and `num_layers` must be >= 1, got {context_length}, {num_layers}."
            )
        self.context_length = context_length
        self.num_layers = num_layers

    def build(self, features_shape, next_embeddings_shape=None):
        hidden_dim = features_shape[-1]
        self.grus = []
        for i in range(self.num_layers):
            # D is a handful of steps: unrolling beats a while-loop.
            gru = keras.layers.GRU(
                hidden_dim, return_sequences=True, unroll=True, dtype=self.dtype_policy,
                name=f"gru_{i}",
            )
            gru.build((None, self.context_length, hidden_dim))
            self.grus.append(gru)

    def call(self, features, next_embeddings, training=None):
        start = ops.zeros_like(features)[:, None, :]
        x = ops.concatenate([start, ops.cast(next_embeddings, features.dtype)], axis=1)
        for gru in self.grus:
            x = gru(x, initial_state=[features], training=training)
        return x

    def compute_output_shape(self, features_shape, next_embeddings_shape=None):
        return (features_shape[0], self.context_length, features_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(context_length=self.context_length, num_layers=self.num_layers)
        return config
