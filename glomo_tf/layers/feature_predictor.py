import keras
from keras import ops


@keras.saving.register_keras_serializable(package="glomo_tf")
class FeaturePredictor(keras.layers.Layer):
    """Propagates features along predicted graphs: the GLoMo feature predictor.

    f^0 = the input features. For each graph layer l, the features are split into K slices
    of d/K; head h aggregates its slice along its graph, m_i^h = sum_j G_ij^{lh} f_j^{l-1,(h)};
    the heads are concatenated into m_i (size d) and one GRU cell, shared by all layers,
    updates every position in parallel: f_i^l = GRUCell([m_i * f_i^{l-1}; m_i], f_i^{l-1}).
    There is no recurrence over time: information moves between positions only through G.

    The cell is `keras.layers.GRUCell` with `reset_after=True`, the same gate equations as
    the released code's `torch.nn.GRUCell`.

    Args:
        num_heads: int, K; the feature size must be divisible by it.

    Call arguments:
        features: `[batch, T, d]`.
        graphs: `[batch, L, K, T, T]`.
        return_all_layers: if True, return `[f^1, ..., f^L]` instead of f^L.
        positions: optional int `[P]`: compute the last layer only at these positions (the
            ones the context decoder reads). Earlier layers still run everywhere, since the
            last layer reads all of them; the result equals `f^L[:, positions]`, for a
            fraction of the last layer's cost.

    Returns:
        `[batch, T, d]` (f^L), or a list of L such tensors; with `positions`, the last of
        them is `[batch, P, d]`.

    Example:
    >>> fp = FeaturePredictor(num_heads=2)
    >>> graphs = keras.ops.zeros((1, 3, 2, 5, 5))
    >>> fp(keras.ops.ones((1, 5, 8)), graphs).shape
    (1, 5, 8)
    """

    def __init__(self, num_heads=8, **kwargs):
        super().__init__(**kwargs)
        if num_heads < 1:
            raise ValueError(f"`num_heads` must be >= 1, got {num_heads}.")
        self.num_heads = num_heads

    def build(self, features_shape, graphs_shape=None):
        hidden_dim = features_shape[-1]
        if hidden_dim % self.num_heads:
            raise ValueError(
                f"Feature size {hidden_dim} is not divisible by num_heads={self.num_heads}."
            )
        self.cell = keras.layers.GRUCell(hidden_dim, dtype=self.dtype_policy, name="gru_cell")
        self.cell.build((None, 2 * hidden_dim))

    def call(self, features, graphs, return_all_layers=False, positions=None):
        if len(graphs.shape) != 5 or graphs.shape[2] not in (None, self.num_heads):
            raise ValueError(
                "`graphs` must be [batch, L, K, T, T] with K="
                f"{self.num_heads}, got shape {graphs.shape}."
            )
        batch, length, hidden_dim = (
            ops.shape(features)[0], ops.shape(features)[1], features.shape[-1]
        )
        head_size = hidden_dim // self.num_heads
        graphs = ops.cast(graphs, features.dtype)
        f = features
        outputs = []
        num_layers = graphs.shape[1]
        # Unstacked, not indexed: the gradient of `graphs[:, l]` is a zero-filled copy of all
        # of `graphs` per layer, summed (StridedSliceGrad + AddN in the TF profile);
        # unstack's is one stack (a `small` step 1.05x faster, bench/step_ablation.py).
        for layer, g in enumerate(ops.unstack(graphs, num=num_layers, axis=1)):
            f_rows = f
            if positions is not None and layer == num_layers - 1:
                # Row i of a graph is what unit i reads: only the sampled readers are needed.
                g = ops.take(g, positions, axis=2)
                f_rows = ops.take(f, positions, axis=1)
            rows = ops.shape(f_rows)[1]
            sliced = ops.reshape(f, (batch, length, self.num_heads, head_size))
            messages = ops.einsum("bkij,bjkh->bikh", g, sliced)
            messages = ops.reshape(messages, (batch, rows, hidden_dim))
            cell_inputs = ops.concatenate([messages * f_rows, messages], axis=-1)
            state, _ = self.cell(
                ops.reshape(cell_inputs, (-1, 2 * hidden_dim)),
                [ops.reshape(f_rows, (-1, hidden_dim))],
            )
            f = ops.reshape(state, (batch, rows, hidden_dim))
            outputs.append(f)
        return outputs if return_all_layers else f

    def compute_output_shape(self, features_shape, graphs_shape=None):
        return tuple(features_shape)

    def get_config(self):
        config = super().get_config()
        config.update(num_heads=self.num_heads)
        return config
