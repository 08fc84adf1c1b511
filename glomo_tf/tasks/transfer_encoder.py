"""`TransferEncoder`: features (+ transferred graphs) → BiGRU, the shared first stage of every task."""

import keras
from keras import ops

from glomo_tf.layers.graph_transfer import GraphTransfer

TRANSFERS = ("none", "uniform", "embeddings", "rnn")


@keras.saving.register_keras_serializable(package="glomo_tf")
class TransferEncoder(keras.layers.Layer):
    """The one code path for every transfer setting (spec, "Transfer to a downstream task").

    - `"none"`: `BiGRU(dropout(H))` — the feature-only baseline.
    - `"uniform"`: `BiGRU(dropout(GraphTransfer("uniform")(H)))` — the released
      uniform-graph baseline, on the embeddings.
    - `"embeddings"`: `BiGRU(dropout(GraphTransfer("graphs")(H, G)))` — GLoMo on the
      embeddings: the BiGRU reads `[H; g]`.
    - `"rnn"`: `S = BiGRU(dropout(H))`, output `GraphTransfer("graphs")(S, G)` = `[S; g]`
      — GLoMo on the RNN states, the mixtures conditioned on the states; the task's
      next layer reads `[S; g]`.

    So the settings differ only by the `GraphTransfer` sublayer (and the input width
    of whatever reads its output).

    Args:
        hidden_dim: GRU units per direction.
        transfer: one of `"none"`, `"uniform"`, `"embeddings"`, `"rnn"`.
        num_mixtures: mixtures per direction of the graph transfer.
        hierarchical: graph transfer candidates include the products `Λ^l` (released).
        token_conditioned: mixture weights from each token's features (released) or
            one global logit vector per mixture.
        dropout: rate on the GRU input and inside `GraphTransfer`.
        seed: optional int seed of the dropouts.
        num_graph_layers, num_heads: `L` and `K` of the graphs, needed when they come
            sparse (see `GraphTransfer`).
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        features: float `[B, T, D]`.
        graphs: float `[B, 2, L, K, T, T]`, or the sparse dict of
            `glomo_tf.layers.sparse_graphs` (modes `"embeddings"`, `"rnn"`; ignored else).
        mask: `[B, T]`, 1/True = real token. Default all real.
        training: dropout switch.

    Returns:
        `[B, T, 2 * hidden_dim]`, or `[B, T, 4 * hidden_dim]` for `"rnn"`. Padded
        positions are 0.

    Example:

    >>> enc = TransferEncoder(hidden_dim=4, transfer="embeddings")
    >>> h = keras.ops.ones((2, 5, 6)); g = keras.ops.ones((2, 2, 3, 2, 5, 5)) / 5
    >>> tuple(enc(h, graphs=g).shape)
    (2, 5, 8)
    """

    def __init__(self, hidden_dim, transfer="none", num_mixtures=2, dropout=0.0, seed=None,
                 hierarchical=True, token_conditioned=True, num_graph_layers=None,
                 num_heads=None, **kwargs):
        super().__init__(**kwargs)
        if transfer not in TRANSFERS:
            raise ValueError(
                f"TransferEncoder: unknown transfer {transfer!r}; expected one of {TRANSFERS}.")
        if isinstance(hidden_dim, bool) or not isinstance(hidden_dim, int) or hidden_dim < 1:
            raise ValueError(
                f"TransferEncoder: `hidden_dim` must be a positive int, got {hidden_dim!r}.")
        self.hidden_dim = hidden_dim
        self.transfer = transfer
        self.num_mixtures = num_mixtures
        self.hierarchical = bool(hierarchical)
        self.token_conditioned = bool(token_conditioned)
        self.dropout = float(dropout)
        self.seed = seed
        self.num_graph_layers = num_graph_layers
        self.num_heads = num_heads
        self.supports_masking = True
        self.graph_transfer = None
        if transfer != "none":
            self.graph_transfer = GraphTransfer(
                mode="uniform" if transfer == "uniform" else "graphs",
                num_mixtures=num_mixtures, hierarchical=self.hierarchical,
                token_conditioned=self.token_conditioned, dropout=self.dropout, seed=seed,
                num_graph_layers=num_graph_layers, num_heads=num_heads,
                dtype=self.dtype_policy, name="graph_transfer")
        self.input_dropout = keras.layers.Dropout(self.dropout, seed=seed)
        self.rnn = keras.layers.Bidirectional(
            keras.layers.GRU(hidden_dim, return_sequences=True, seed=seed),
            dtype=self.dtype_policy, name="bigru")

    def build(self, features_shape, graphs_shape=None, mask_shape=None):
        if len(features_shape) != 3 or features_shape[-1] is None:
            raise ValueError(
                "TransferEncoder: `features` must be [B, T, D] with D known, got "
                f"{tuple(features_shape)}.")
        if self.transfer in ("embeddings", "rnn") and graphs_shape is None:
            raise ValueError(
                f"TransferEncoder: transfer={self.transfer!r} needs `graphs` "
                "[B, 2, L, K, T, T].")
        dim = features_shape[-1]
        rnn_input = dim * (2 if self.transfer in ("uniform", "embeddings") else 1)
        self.rnn.build((features_shape[0], features_shape[1], rnn_input))
        # Built here, not on first call: a `.keras` file restores weights right after build.
        if self.transfer == "uniform":
            self.graph_transfer.build(features_shape)
        elif self.transfer == "embeddings":
            self.graph_transfer.build(features_shape, graphs_shape)
        elif self.transfer == "rnn":
            states_shape = (features_shape[0], features_shape[1], 2 * self.hidden_dim)
            self.graph_transfer.build(states_shape, graphs_shape)

    def call(self, features, graphs=None, mask=None, training=None):
        if mask is None:
            mask = ops.ones(ops.shape(features)[:2], "bool")
        mask = ops.cast(mask, "bool")
        x = features
        if self.transfer in ("uniform", "embeddings"):
            x = self.graph_transfer(x, graphs=graphs, mask=mask, training=training)
        x = self.input_dropout(x, training=training)
        states = self.rnn(x, mask=mask, training=training)
        states = states * ops.cast(ops.expand_dims(mask, -1), states.dtype)
        if self.transfer == "rnn":
            states = self.graph_transfer(states, graphs=graphs, mask=mask, training=training)
        return states

    def compute_mask(self, features, graphs=None, mask=None):
        return None if mask is None else ops.cast(mask, "bool")

    def compute_output_shape(self, features_shape, graphs_shape=None, mask_shape=None):
        width = 2 * self.hidden_dim * (2 if self.transfer == "rnn" else 1)
        return tuple(features_shape[:-1]) + (width,)

    def get_config(self):
        config = super().get_config()
        config.update({"hidden_dim": self.hidden_dim, "transfer": self.transfer,
                       "num_mixtures": self.num_mixtures, "dropout": self.dropout,
                       "seed": self.seed, "hierarchical": self.hierarchical,
                       "token_conditioned": self.token_conditioned,
                       "num_graph_layers": self.num_graph_layers, "num_heads": self.num_heads})
        return config
