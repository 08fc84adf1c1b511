"""`GraphTransfer`: propagating downstream features along transferred GLoMo graphs."""

import keras
from keras import ops

from glomo_tf.layers.gated_linear import GatedLinear
from glomo_tf.layers.sparse_graphs import SPARSE_KEYS, is_sparse_graphs, sparse_rows_matmul

MODES = ("graphs", "uniform", "none")
# The key of precomputed candidates `Γ^c H` passed as `graphs` (see `GraphTransfer`).
PROPAGATED_KEY = "propagated"


def num_graph_candidates(num_graph_layers, num_heads, hierarchical=True):
    """Number of candidate graphs per direction.

    Per head: every `G^l` plus, when `hierarchical`, every product
    `Λ^l = G^l Λ^{l-1}` for `l >= 2`, i.e. `2L - 1` (or `L`) per head.

    Example:

    >>> num_graph_candidates(3, 8)
    40
    """
    per_head = 2 * num_graph_layers - 1 if hierarchical else num_graph_layers
    return per_head * num_heads


def _stack_weights(weights, shape, dtype):
    """Stacks same-shaped variables (listed mixture-major, direction-minor).

    `ops.stack` on variables fails on the TF backend (TF 2.21 / Keras 3.15:
    "'str' object has no attribute 'base_dtype'"), so flatten and concatenate.
    """
    # Explicit cast: reshaped variables are not autocast under mixed precision.
    flat = [ops.reshape(ops.cast(weight, dtype), (-1,)) for weight in weights]
    return ops.reshape(ops.concatenate(flat, axis=0), shape)


@keras.saving.register_keras_serializable(package="glomo_tf")
class GraphTransfer(keras.layers.Layer):
    """Fuses downstream features with features propagated along GLoMo graphs.

    The transfer step of GLoMo (spec, "Transfer to a downstream task"), with the
    two released baselines in the same code path so comparisons are fair:

    - `mode="graphs"`: for each direction (forward, backward), head `k` and
      graph layer `l` the candidates are `G^l` and, with `hierarchical`, the
      products `Λ^l = G^l Λ^{l-1}` (`Λ^1 = G^1`) for `l >= 2`. Each of
      `num_mixtures` mixtures per direction weighs the candidates per token,
      `w_i = softmax(W dropout(h_i) + b)` (or, with `token_conditioned=False`,
      one logit vector per mixture, initialised to 0), giving
      `M_ij = Σ_m w_im Γ^m_ij`. Then
      `g_i = GatedLinear(dropout([h_i; s_1 (M^{fw,1} H)_i; s_2 (M^{bw,1} H)_i;
      s_3 (M^{fw,2} H)_i; s_4 (M^{bw,2} H)_i; ...]))` maps `(1 + 2 num_mixtures) D`
      to `D`, with learnable scalars `s` (init 1), and the output is
      `[H; g]`, `[B, T, 2D]`.
    - `mode="uniform"`: the released "uniform graph" baseline, a graph whose
      every entry is `1/n` (n = number of real tokens): one vector per sequence,
      the masked mean of `H` over the whole sequence (past and future),
      `g_i = GatedLinear(dropout([h_i; mean]))`, `2D -> D`, output `[H; g]`,
      `[B, T, 2D]`. No mixture or scale weights.
    - `mode="none"`: feature-only baseline; returns `features` unchanged,
      `[B, T, D]`, and has no weights.

    `M H` is computed without forming `M`: every candidate is applied to `H`
    (`Λ^l H = G^l (Λ^{l-1} H)`, so no `T x T` products are formed either) and
    each row mixes the propagated rows, `(M H)_i = Σ_m w_im (Γ^m H)_i` —
    the same math, `O(T^2 D)` per candidate instead of `O(T^3)`.

    Sparse graphs: `graphs` may instead be the sparse dict of
    `glomo_tf.layers.sparse_graphs` (`values`, `slots`, `rows`, `cols`, each `[B, N]`:
    the live entries only, e.g. from a `glomo_tf.transfer.graph_cache.GraphCache`). Every
    `G^l H` and `Λ^l H = G^l (Λ^{l-1} H)` is then a gathered product over the entries,
    `O(N D)` instead of `O(T^2 D)` (entries sorted as `sparse_graphs` says); with every
    live entry present the result equals the
    dense path's (to float rounding). `L` and `K` cannot be read from the dict, so give
    `num_graph_layers` and `num_heads` when building on sparse graphs.

    Propagated candidates: `graphs` may also be `{"propagated": P}` with `P` =
    `propagate(features, graphs)` transposed to `[B, T, 2, C, D]`, computed elsewhere (e.g.
    once per example by `glomo_tf.transfer.propagated_cache`). Only the mixtures, scales and
    gate are then computed here. That is the same model only when `features` are fixed
    (frozen GloVe): `P` is not recomputed from the `features` given. Give
    `num_graph_layers` and `num_heads` here too.

    Padding: features at padded positions are zeroed before propagation and
    before the uniform mean, so padded columns never leak even if the graphs
    were not zero there; `g` is set to 0 at padded rows (the `H` half of the
    output is passed through as given). An all-padding sequence yields finite
    outputs (its mean is 0).

    The mixture logits carry a bias (`W h_i + b`, as a `Linear` does in the
    released PyTorch code); the spec writes `W h_i`.

    Args:
        mode: `"graphs"`, `"uniform"` or `"none"`.
        num_mixtures: positive int, mixtures per direction (released: 2).
        hierarchical: use the products `Λ^l` as candidates besides the `G^l`.
        token_conditioned: mixture weights from each token's features (`True`,
            released) or one global logit vector per mixture (`False`).
        dropout: float in `[0, 1)`, applied to `h` before the mixture logits and
            to the gate's input.
        kernel_initializer: initializer for the mixture kernels and the gate.
        bias_initializer: initializer for the mixture biases and the gate.
        seed: optional int seed for the dropout.
        num_graph_layers, num_heads: `L` and `K` of the graphs; optional with dense
            graphs (read from their shape, checked against these when given),
            required with sparse ones.
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        features: `H`, float tensor `[B, T, D]` (`D` known at build time).
        graphs: float tensor `[B, 2, L, K, T, T]`: index 0 of axis 1 = forward
            (row `i` reads `j < i`), index 1 = backward already flipped to
            input order (`j > i`); rows sum to 1 or 0; or the sparse dict (above).
            Required in mode `"graphs"`, ignored otherwise. `L` and `K` are fixed at
            build time. Or the propagated candidates `{"propagated": [B, T, 2, C, D]}`
            (above).
        mask: optional `[B, T]`, 1 (or True) for real tokens. Default: all real.
        training: whether dropout is active.

    Returns:
        `[B, T, 2D]` in modes `"graphs"` and `"uniform"`, `[B, T, D]` in mode
        `"none"`.

    Weights (mode `"graphs"`, per direction `fw`/`bw` and mixture `m`, 1-based):
    `{dir}_mixture_{m}_kernel` `[D, C]` and `{dir}_mixture_{m}_bias` `[C]` when
    token-conditioned, else `{dir}_mixture_{m}_logits` `[C]`;
    `mixture_scales` `[2 num_mixtures]` ordered `fw1, bw1, fw2, bw2, ...`;
    plus the gate's four. `C = num_graph_candidates(L, K, hierarchical)`;
    candidate `c = kind * K + head`, kinds ordered
    `G^1, G^2, Λ^2, G^3, Λ^3, ...` (only the `G^l` without `hierarchical`).

    Example:

    >>> layer = GraphTransfer(mode="graphs", num_mixtures=2)
    >>> h = keras.ops.ones((2, 5, 6))
    >>> g = keras.ops.ones((2, 2, 3, 4, 5, 5)) / 5.0
    >>> tuple(layer(h, graphs=g).shape)
    (2, 5, 12)
    >>> tuple(GraphTransfer(mode="uniform")(h).shape)
    (2, 5, 12)
    """

    def __init__(
        self,
        mode="graphs",
        num_mixtures=2,
        hierarchical=True,
        token_conditioned=True,
        dropout=0.0,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        seed=None,
        num_graph_layers=None,
        num_heads=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (("num_graph_layers", num_graph_layers), ("num_heads", num_heads)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value <= 0
            ):
                raise ValueError(
                    f"GraphTransfer: `{name}` must be a positive int or None, got {value!r}."
                )
        if mode not in MODES:
            raise ValueError(
                f"GraphTransfer: unknown mode {mode!r}; expected one of {MODES}."
            )
        if (
            isinstance(num_mixtures, bool)
            or not isinstance(num_mixtures, int)
            or num_mixtures <= 0
        ):
            raise ValueError(
                "GraphTransfer: `num_mixtures` must be a positive int, got "
                f"{num_mixtures!r}."
            )
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(
                f"GraphTransfer: `dropout` must be in [0, 1), got {dropout!r}."
            )
        self.mode = mode
        self.num_mixtures = num_mixtures
        self.hierarchical = bool(hierarchical)
        self.token_conditioned = bool(token_conditioned)
        self.dropout = float(dropout)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.seed = seed
        self.supports_masking = True
        self.num_graph_layers = num_graph_layers
        self.num_heads = num_heads
        self.num_candidates = None
        self.dropout_layer = keras.layers.Dropout(self.dropout, seed=seed)
        # Created in build(): its size depends on D.
        self.gate = None

    # ----------------------------------------------------------------- checks
    def _check_features_shape(self, features_shape):
        if len(features_shape) != 3:
            raise ValueError(
                "GraphTransfer: `features` must be [B, T, D], got shape "
                f"{tuple(features_shape)}."
            )
        if features_shape[-1] is None:
            raise ValueError(
                "GraphTransfer: the feature size D (last axis of `features`) "
                "must be known."
            )

    def _check_sparse_shapes(self, features_shape, graphs_shape):
        missing = [key for key in SPARSE_KEYS if key not in graphs_shape]
        if missing:
            raise ValueError(
                f"GraphTransfer: sparse `graphs` lack the keys {missing} (expected "
                f"{list(SPARSE_KEYS)}, got {sorted(graphs_shape)})."
            )
        shapes = {key: tuple(graphs_shape[key]) for key in SPARSE_KEYS}
        if any(len(shape) != 2 for shape in shapes.values()) or len(set(shapes.values())) != 1:
            raise ValueError(
                "GraphTransfer: sparse `graphs` must be four [B, N] tensors of one shape, "
                f"got {shapes}."
            )
        batch, graphs_batch = features_shape[0], shapes["values"][0]
        if batch is not None and graphs_batch is not None and batch != graphs_batch:
            raise ValueError(
                f"GraphTransfer: `features` has batch {batch} but the sparse `graphs` "
                f"have batch {graphs_batch}."
            )
        if self.num_graph_layers is None or self.num_heads is None:
            raise ValueError(
                "GraphTransfer: with sparse `graphs` give `num_graph_layers` (L) and "
                "`num_heads` (K) to the constructor: the dict does not carry them."
            )

    def _check_propagated_shape(self, features_shape, shape):
        shape = tuple(shape)
        if self.num_graph_layers is None or self.num_heads is None:
            raise ValueError(
                "GraphTransfer: with propagated candidates give `num_graph_layers` (L) and "
                "`num_heads` (K) to the constructor: the tensor does not carry them."
            )
        candidates = num_graph_candidates(self.num_graph_layers, self.num_heads,
                                          self.hierarchical)
        expected = (features_shape[0], features_shape[1], 2, candidates, features_shape[-1])
        if len(shape) != 5 or any(
                a is not None and b is not None and a != b for a, b in zip(shape, expected)):
            raise ValueError(
                f"GraphTransfer: `graphs['propagated']` must be [B, T, 2, C, D] = {expected} "
                f"(C = {candidates} candidates for L={self.num_graph_layers}, "
                f"K={self.num_heads}, hierarchical={self.hierarchical}; D and T of the "
                f"features), got shape {shape}."
            )

    def _check_graphs_shape(self, features_shape, graphs_shape):
        if graphs_shape is None:
            raise ValueError(
                "GraphTransfer: mode='graphs' needs `graphs` [B, 2, L, K, T, T]; "
                "got None (use mode='uniform' or 'none' for the baselines)."
            )
        if isinstance(graphs_shape, dict) and PROPAGATED_KEY in graphs_shape:
            return self._check_propagated_shape(features_shape, graphs_shape[PROPAGATED_KEY])
        if isinstance(graphs_shape, dict):
            return self._check_sparse_shapes(features_shape, graphs_shape)
        graphs_shape = tuple(graphs_shape)
        if len(graphs_shape) != 6:
            raise ValueError(
                "GraphTransfer: `graphs` must be [B, 2, L, K, T, T] (rank 6), "
                f"got shape {graphs_shape}."
            )
        if graphs_shape[1] != 2:
            raise ValueError(
                "GraphTransfer: axis 1 of `graphs` must hold the 2 directions "
                f"(forward, backward), got shape {graphs_shape}."
            )
        if graphs_shape[2] is None or graphs_shape[3] is None:
            raise ValueError(
                "GraphTransfer: the number of graph layers L and heads K "
                f"(axes 2, 3 of `graphs`) must be known, got {graphs_shape}."
            )
        rows, cols = graphs_shape[4], graphs_shape[5]
        if rows is not None and cols is not None and rows != cols:
            raise ValueError(
                "GraphTransfer: `graphs` must be square T x T on its last two "
                f"axes, got shape {graphs_shape}."
            )
        steps = features_shape[1]
        for size in (rows, cols):
            if steps is not None and size is not None and size != steps:
                raise ValueError(
                    f"GraphTransfer: `features` has T={steps} but `graphs` has "
                    f"T={size} (features {tuple(features_shape)}, graphs "
                    f"{graphs_shape})."
                )
        batch, graphs_batch = features_shape[0], graphs_shape[0]
        if batch is not None and graphs_batch is not None and batch != graphs_batch:
            raise ValueError(
                f"GraphTransfer: `features` has batch {batch} but `graphs` has "
                f"batch {graphs_batch}."
            )
        if self.num_graph_layers is not None and (
            graphs_shape[2] != self.num_graph_layers
            or graphs_shape[3] != self.num_heads
        ):
            raise ValueError(
                "GraphTransfer: the layer was built for L="
                f"{self.num_graph_layers}, K={self.num_heads} graphs, got "
                f"shape {graphs_shape}."
            )

    # ------------------------------------------------------------------ build
    def build(self, features_shape, graphs_shape=None):
        self._check_features_shape(features_shape)
        dim = features_shape[-1]
        if self.mode == "graphs":
            self._check_graphs_shape(features_shape, graphs_shape)
            if not isinstance(graphs_shape, dict):
                self.num_graph_layers = int(graphs_shape[2])
                self.num_heads = int(graphs_shape[3])
            self.num_candidates = num_graph_candidates(
                self.num_graph_layers, self.num_heads, self.hierarchical
            )
            self._build_mixtures(dim)
            gate_input_dim = (1 + 2 * self.num_mixtures) * dim
        elif self.mode == "uniform":
            gate_input_dim = 2 * dim
        if self.mode != "none":
            self.gate = GatedLinear(
                units=dim,
                kernel_initializer=self.kernel_initializer,
                bias_initializer=self.bias_initializer,
                dtype=self.dtype_policy,
                name="gate",
            )
            self.gate.build((None, None, gate_input_dim))

    def _build_mixtures(self, dim):
        self.mixture_kernels = []
        self.mixture_biases = []
        self.mixture_logits = []
        for m in range(self.num_mixtures):
            for direction in ("fw", "bw"):
                prefix = f"{direction}_mixture_{m + 1}"
                if self.token_conditioned:
                    self.mixture_kernels.append(
                        self.add_weight(
                            name=f"{prefix}_kernel",
                            shape=(dim, self.num_candidates),
                            initializer=self.kernel_initializer,
                        )
                    )
                    self.mixture_biases.append(
                        self.add_weight(
                            name=f"{prefix}_bias",
                            shape=(self.num_candidates,),
                            initializer=self.bias_initializer,
                        )
                    )
                else:
                    self.mixture_logits.append(
                        self.add_weight(
                            name=f"{prefix}_logits",
                            shape=(self.num_candidates,),
                            initializer="zeros",
                        )
                    )
        self.mixture_scales = self.add_weight(
            name="mixture_scales",
            shape=(2 * self.num_mixtures,),
            initializer="ones",
        )

    # ------------------------------------------------------------------- call
    def call(self, features, graphs=None, mask=None, training=None):
        self._check_features_shape(features.shape)
        if self.mode == "none":
            return features
        if mask is None:
            mask = ops.ones(ops.shape(features)[:2], dtype="bool")
        elif len(mask.shape) != 2:
            raise ValueError(
                f"GraphTransfer: `mask` must be [B, T], got shape "
                f"{tuple(mask.shape)}."
            )
        real = ops.expand_dims(ops.cast(mask, "bool"), -1)  # [B, T, 1]
        masked_features = ops.where(real, features, ops.zeros_like(features))

        if self.mode == "graphs":
            if graphs is None:
                graphs_shape = None
            elif isinstance(graphs, dict) and PROPAGATED_KEY in graphs:
                graphs_shape = {PROPAGATED_KEY: graphs[PROPAGATED_KEY].shape}
            elif is_sparse_graphs(graphs):
                graphs_shape = {key: graphs[key].shape for key in SPARSE_KEYS}
            else:
                graphs_shape = graphs.shape
            self._check_graphs_shape(features.shape, graphs_shape)
            if not isinstance(graphs_shape, dict):
                graphs = ops.cast(graphs, features.dtype)
            contexts = self._mixed_contexts(features, masked_features, graphs, training)
        else:
            # float32: low-precision sums stop counting exactly past 256 tokens.
            count = ops.sum(ops.cast(real, "float32"), axis=1)  # [B, 1]
            total = ops.sum(ops.cast(masked_features, "float32"), axis=1)
            mean = ops.cast(total / ops.maximum(count, 1.0), features.dtype)
            contexts = ops.zeros_like(features) + ops.expand_dims(mean, 1)

        gate_inputs = ops.concatenate([features, contexts], axis=-1)
        gated = self.gate(self.dropout_layer(gate_inputs, training=training))
        gated = ops.where(real, gated, ops.zeros_like(gated))
        return ops.concatenate([features, gated], axis=-1)

    def propagate(self, features, graphs, mask=None):
        """Every candidate graph applied to the features, `Γ^c H`: `[B, 2, T, C, D]`.

        What the mixtures weigh (candidate `c` ordered as in the class docstring). Features
        at padded positions (`mask` 0) are zeroed first, as in `call`. `graphs`: dense
        `[B, 2, L, K, T, T]` or the sparse dict; `L` and `K` must be known (constructor,
        or a build on dense graphs).
        """
        if self.num_graph_layers is None or self.num_heads is None:
            if isinstance(graphs, dict):
                raise ValueError("GraphTransfer.propagate: give `num_graph_layers` and "
                                 "`num_heads` to the constructor for sparse graphs.")
            self.num_graph_layers, self.num_heads = int(graphs.shape[2]), int(graphs.shape[3])
        if mask is None:
            mask = ops.ones(ops.shape(features)[:2], dtype="bool")
        real = ops.expand_dims(ops.cast(mask, "bool"), -1)
        masked = ops.where(real, features, ops.zeros_like(features))
        if not isinstance(graphs, dict):
            graphs = ops.cast(graphs, features.dtype)
        return self._propagated_candidates(masked, graphs)

    def _propagated_candidates(self, masked_features, graphs):
        """`Γ^c H` for every candidate: `[B, 2, T, C, D]`."""
        if isinstance(graphs, dict) and PROPAGATED_KEY in graphs:
            # Precomputed, token-major as a cache stores them.
            return ops.transpose(ops.cast(graphs[PROPAGATED_KEY], masked_features.dtype),
                                 (0, 2, 1, 3, 4))
        if isinstance(graphs, dict):
            return self._sparse_propagated_candidates(masked_features, graphs)
        # [B, 1, 1, T, D] broadcasts against per-direction, per-head graphs.
        values = ops.expand_dims(ops.expand_dims(masked_features, 1), 1)
        kinds = []
        chained = None
        for layer in range(self.num_graph_layers):
            graph = graphs[:, :, layer]  # [B, 2, K, T, T]
            kinds.append(ops.matmul(graph, values))  # G^l H
            if self.hierarchical:
                if chained is None:
                    chained = kinds[-1]  # Λ^1 H = G^1 H
                else:
                    chained = ops.matmul(graph, chained)  # Λ^l H
                    kinds.append(chained)
        return ops.transpose(ops.concatenate(kinds, axis=2), (0, 1, 3, 2, 4))

    def _sparse_propagated_candidates(self, masked_features, graphs):
        """`Γ^c H` from the live entries only (sparse dict): `[B, 2, T, C, D]`.

        Entries come sorted by (direction, row, layer, head) within each example, so every
        output row id below is non-decreasing over the flattened batch and the products
        are sorted segment sums.
        """
        layers, heads = self.num_graph_layers, self.num_heads
        shape = ops.shape(masked_features)
        batch, steps, dim = shape[0], shape[1], masked_features.shape[-1]
        entries = ops.shape(graphs["values"])[1]
        values = ops.reshape(graphs["values"], (-1,))
        slot = ops.reshape(ops.cast(graphs["slots"], "int32"), (-1,))
        row = ops.reshape(ops.cast(graphs["rows"], "int32"), (-1,))
        col = ops.reshape(ops.cast(graphs["cols"], "int32"), (-1,))
        padding = row < 0
        values = ops.where(padding, ops.zeros_like(values), values)
        example = ops.repeat(ops.arange(batch, dtype="int32"), entries)
        direction = slot // (layers * heads)
        layer = (slot // heads) % layers
        head = slot % heads
        # Padding sits at the end of its example: give it the example's last output row.
        direction = ops.where(padding, ops.ones_like(direction), direction)
        row = ops.where(padding, ops.full_like(row, steps - 1), row)
        layer = ops.where(padding, ops.full_like(layer, layers - 1), layer)
        head = ops.where(padding, ops.full_like(head, heads - 1), head)
        position = (example * 2 + direction) * steps + row  # (example, direction, i)
        flat = ops.reshape(masked_features, (-1, dim))
        # Every G^l H at once: output rows (example, direction, i, layer, head).
        direct = sparse_rows_matmul(
            values, (position * layers + layer) * heads + head, example * steps + col,
            batch * 2 * steps * layers * heads, flat, sorted_rows=True)
        direct = ops.reshape(direct, (batch, 2, steps, layers, heads, dim))
        kinds, chained = [], None
        source = (example * 2 + direction) * steps + col  # (example, direction, j)
        for l in range(layers):
            kinds.append(direct[:, :, :, l])  # G^l H: [B, 2, T, K, D]
            if not self.hierarchical:
                continue
            if chained is None:
                chained = kinds[-1]  # Λ^1 H = G^1 H
                continue
            # Λ^l H = G^l (Λ^{l-1} H), rows (example, direction, i, head): this layer's
            # entries weigh in; the others keep the order at the first / last head of
            # their (example, direction, i) with weight 0.
            this = layer == l
            out_head = ops.where(this, head, ops.where(layer < l, ops.zeros_like(head),
                                                       ops.full_like(head, heads - 1)))
            chained = sparse_rows_matmul(
                ops.where(this, values, ops.zeros_like(values)), position * heads + out_head,
                source * heads + head, batch * 2 * steps * heads,
                ops.reshape(chained, (-1, dim)), sorted_rows=True)
            chained = ops.reshape(chained, (batch, 2, steps, heads, dim))
            kinds.append(chained)
        return ops.concatenate(kinds, axis=3)

    def _mixed_contexts(self, features, masked_features, graphs, training):
        """`[s_1 (M^{fw,1} H)_i; s_2 (M^{bw,1} H)_i; ...]`: `[B, T, 2 M D]`."""
        propagated = self._propagated_candidates(masked_features, graphs)  # [B, 2, T, C, D]
        mixtures, dim = self.num_mixtures, features.shape[-1]
        candidates = self.num_candidates
        steps = ops.shape(features)[1]
        # Logits and softmax in float32, as attention does under mixed precision.
        if self.token_conditioned:
            kernel = _stack_weights(
                self.mixture_kernels, (mixtures, 2, dim, candidates), "float32"
            )
            bias = _stack_weights(
                self.mixture_biases, (mixtures, 2, candidates), "float32"
            )
            dropped = ops.cast(
                self.dropout_layer(features, training=training), "float32"
            )
            logits = ops.einsum("bid,mndc->bnimc", dropped, kernel)
            logits = logits + ops.transpose(bias, (1, 0, 2))[None, :, None]
            weights = ops.softmax(logits, axis=-1)  # [B, 2, T, M, C]
        else:
            logits = _stack_weights(
                self.mixture_logits, (mixtures, 2, candidates), "float32"
            )
            weights = ops.softmax(ops.transpose(logits, (1, 0, 2)), axis=-1)  # [2, M, C]
            weights = ops.broadcast_to(
                weights[None, :, None], (ops.shape(features)[0], 2, steps, mixtures,
                                         candidates))
        # A batched [M, C] x [C, D] matmul per (example, direction, i): 4.6x faster on CPU
        # than the equivalent 5-index einsum, which transposes the candidates first.
        mixed = ops.matmul(ops.cast(weights, propagated.dtype), propagated)  # [B, 2, T, M, D]
        mixed = ops.transpose(mixed, (0, 2, 3, 1, 4))  # [B, T, M, 2, D]
        scales = ops.reshape(self.mixture_scales, (1, 1, mixtures, 2, 1))
        mixed = mixed * ops.cast(scales, mixed.dtype)
        return ops.reshape(mixed, (-1, steps, mixtures * 2 * dim))

    # ------------------------------------------------------------ Keras glue
    def compute_mask(self, features, mask=None):
        if mask is None:
            return None
        return ops.cast(mask, "bool")

    def compute_output_shape(self, features_shape, graphs_shape=None):
        features_shape = tuple(features_shape)
        if self.mode == "none":
            return features_shape
        dim = features_shape[-1]
        return features_shape[:-1] + (None if dim is None else 2 * dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "mode": self.mode,
                "num_mixtures": self.num_mixtures,
                "hierarchical": self.hierarchical,
                "token_conditioned": self.token_conditioned,
                "dropout": self.dropout,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
                "seed": self.seed,
                "num_graph_layers": self.num_graph_layers,
                "num_heads": self.num_heads,
            }
        )
        return config
