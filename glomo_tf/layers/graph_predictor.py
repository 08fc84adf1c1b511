import math

import keras
from keras import ops

from glomo_tf.configs import SPARSE_MODES
from glomo_tf.layers.causal_conv_stack import CausalConvStack

# Mode 5 keeps this many entries of every row above its threshold.
LIVE_ENTRIES = 2
# Mode 6's cap on a row's live entries.
MOST_ENTRIES = 8


def causal_padding_mask(padding_mask, length):
    """Allowed (i, j) pairs of a forward graph: `j < i`, both real units. `[B, 1, 1, T, T]` float32.

    Padded rows are masked too, so a padded unit reads nothing (the exported module's contract:
    its row sums to 0).
    """
    rows = ops.arange(length)[:, None]
    cols = ops.arange(length)[None, :]
    allowed = ops.cast(cols < rows, "float32")[None]
    if padding_mask is not None:
        real = ops.cast(padding_mask, "float32")
        allowed = allowed * real[:, :, None] * real[:, None, :]
    return allowed[:, None, None]


@keras.saving.register_keras_serializable(package="glomo_tf")
class GraphPredictor(keras.layers.Layer):
    """Predicts L x K latent graphs over a sequence, for one direction (forward).

    A key CNN and a query CNN (`CausalConvStack`, shared by all graph layers) read the
    embeddings; per layer l a linear map gives K heads of keys k and queries q, the score is
    s_ij = q_i . k_j (row i = query, column j = key, no 1/sqrt scaling, as released) and the
    sparse affinity is masked to strictly earlier real units and row-normalised:
    G_ij = A(s)_ij C_ij P_i P_j / (sum_j ... + epsilon). Rows with no allowed j are all zero.

    The per-layer linear maps of the released code are stored as one matrix per role
    (`[d, L * K * head_dim]`), which computes exactly the same L separate Linear layers in one
    matmul.

    Sparse modes (`sparse_mode`), as in the released code:
        0: s^2.  1: ReLU(s)^2.  2: ReLU(s - b_l)^2, one learned scalar per layer (init 1e-4).
        3: s^2 keeping the top k = clamp(int(topk_rate * sqrt(T)), 1, T) allowed entries per
           row (ties at the k-th value are all kept).
        4 (default): ReLU(s - theta_i)^2 with theta_i = w_l . q_i + b_l, one Linear(head_dim
           -> 1) per layer shared by the heads.
        5: mode 4 with theta_i capped at the row's third-largest allowed score,
           ReLU(s - min(theta_i, s_(3)))^2 (`keep_live_entries`): a row with an allowed
           column always keeps its two best entries (all of them when it has fewer than
           three) and so a gradient. In mode 4 a head whose theta_i rises above all its
           scores is switched off for good: its rows are all zero and nothing flows back.
        6: mode 5 with theta_i also raised to the row's ninth-largest allowed score when
           it is below it: a live row keeps between 2 and 8 entries (`keep_live_entries`
           with `most=8`). Not in the released code: on real text mode 5's thresholds
           sank until a row's weight spread over most of its allowed columns
           (BENCHMARKS.md "attachment_curve"), so mode 6 keeps the rows both live and
           sparse.

    Args:
        num_layers: int, L.
        num_heads: int, K.
        head_dim: int, key/query size per head.
        cnn_layers: int, depth of the key and query CNNs.
        kernel_size: int, causal conv width.
        sparse_mode: int in 0..6.
        topk_rate: float, mode 3 only.
        epsilon: float, added to row sums before normalising (keeps empty rows at 0).

    Call arguments:
        embeddings: `[batch, T, d]`.
        padding_mask: optional `[batch, T]` (1 = real unit).
        training: BatchNorm mode of the CNNs.

    Returns:
        graphs `[batch, L, K, T, T]`, float32. Run the same layer on the reversed sequence for
        the backward direction.

    Example:
    >>> predictor = GraphPredictor(num_layers=2, num_heads=2, head_dim=4, cnn_layers=1)
    >>> predictor(keras.ops.ones((1, 5, 8))).shape
    (1, 2, 2, 5, 5)
    """

    def __init__(
        self,
        num_layers=3,
        num_heads=8,
        head_dim=256,
        cnn_layers=4,
        kernel_size=3,
        sparse_mode=4,
        topk_rate=1.0,
        epsilon=1e-16,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if sparse_mode not in SPARSE_MODES:
            raise ValueError(f"`sparse_mode` must be one of {SPARSE_MODES}, got {sparse_mode!r}.")
        for name, value in (("num_layers", num_layers), ("num_heads", num_heads),
                            ("head_dim", head_dim)):
            if value < 1:
                raise ValueError(f"`{name}` must be >= 1, got {value}.")
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.head_dim = head_dim
        self.cnn_layers = cnn_layers
        self.kernel_size = kernel_size
        self.sparse_mode = sparse_mode
        self.topk_rate = topk_rate
        self.epsilon = epsilon
        self.key_cnn = CausalConvStack(cnn_layers, kernel_size, dtype=self.dtype_policy,
                                       name="key_cnn")
        self.query_cnn = CausalConvStack(cnn_layers, kernel_size, dtype=self.dtype_policy,
                                         name="query_cnn")

    def build(self, embeddings_shape, padding_mask_shape=None):
        hidden_dim = embeddings_shape[-1]
        self.key_cnn.build(embeddings_shape)
        self.query_cnn.build(embeddings_shape)
        width = self.num_layers * self.num_heads * self.head_dim
        self.key_dense = keras.layers.Dense(width, dtype=self.dtype_policy, name="key_dense")
        self.key_dense.build(tuple(embeddings_shape[:-1]) + (hidden_dim,))
        self.query_dense = keras.layers.Dense(width, dtype=self.dtype_policy, name="query_dense")
        self.query_dense.build(tuple(embeddings_shape[:-1]) + (hidden_dim,))
        if self.sparse_mode in (4, 5, 6):
            # One Linear(head_dim -> 1) per layer, initialised as PyTorch's nn.Linear in
            # the released code: U(±1/sqrt(head_dim)) for weight and bias. (Glorot over the
            # [L, head_dim] stack would treat L as the fan-in and draw thresholds ~2.4x
            # larger, which leaves many rows with no score above θ_i, and so no gradient.)
            bound = 1.0 / self.head_dim ** 0.5
            self.threshold_kernel = self.add_weight(
                name="threshold_kernel", shape=(self.num_layers, self.head_dim),
                initializer=keras.initializers.RandomUniform(-bound, bound),
            )
            self.threshold_bias = self.add_weight(
                name="threshold_bias", shape=(self.num_layers,),
                initializer=keras.initializers.RandomUniform(-bound, bound),
            )
        elif self.sparse_mode == 2:
            self.layer_bias = self.add_weight(
                name="layer_bias", shape=(self.num_layers,),
                initializer=keras.initializers.Constant(1e-4),
            )

    def _heads(self, x):
        # [B, T, L*K*H] -> [B, L, K, T, H]
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        x = ops.reshape(x, (batch, length, self.num_layers, self.num_heads, self.head_dim))
        return ops.transpose(x, (0, 2, 3, 1, 4))

    def _affinity(self, scores, queries, allowed):
        mode = self.sparse_mode
        if mode == 0:
            return ops.square(scores)
        if mode == 3:
            values = ops.where(allowed > 0, ops.square(scores), -1.0)
            length = ops.shape(scores)[-1]
            k = ops.clip(
                ops.cast(self.topk_rate * ops.sqrt(ops.cast(length, "float32")), "int32"),
                1, length,
            )
            kth = ops.take(ops.sort(values, axis=-1), length - k, axis=-1)[..., None]
            return ops.where(values >= kth, ops.square(scores), 0.0)
        offset = self.score_offset(queries)  # Modes 1, 2, 4, 5, 6: ReLU(s - offset)^2.
        shifted = scores if offset is None else scores - offset[..., None]
        if mode in (5, 6):
            shifted = keep_live_entries(shifted, allowed, most=entry_cap(mode))
        return ops.square(ops.relu(shifted))

    def queries_and_keys(self, embeddings, padding_mask=None, training=None):
        """Per-head queries and keys `[batch, L, K, T, head_dim]`, float32.

        Squared scores overflow half precision quickly, so graphs are always float32.
        """
        keys = self._heads(self.key_dense(self.key_cnn(embeddings, padding_mask, training=training)))
        queries = self._heads(self.query_dense(self.query_cnn(embeddings, padding_mask, training=training)))
        return ops.cast(queries, "float32"), ops.cast(keys, "float32")

    def score_offset(self, queries):
        """What the affinity subtracts from s_ij before ReLU(.)^2: theta_i `[B, L, K, T]`
        (modes 4, 5 and 6) or b_l as `[1, L, 1, 1]` (mode 2); None in modes 0, 1 and 3."""
        mode = self.sparse_mode
        if mode in (4, 5, 6):
            return ops.einsum(
                "blkih,lh->blki", queries, ops.cast(self.threshold_kernel, "float32")
            ) + ops.cast(self.threshold_bias, "float32")[None, :, None, None]
        if mode == 2:
            return ops.cast(self.layer_bias, "float32")[None, :, None, None]
        return None

    def call(self, embeddings, padding_mask=None, training=None):
        queries, keys = self.queries_and_keys(embeddings, padding_mask, training=training)
        scores = ops.einsum("blkih,blkjh->blkij", queries, keys)
        allowed = causal_padding_mask(padding_mask, ops.shape(embeddings)[1])
        graphs = self._affinity(scores, queries, allowed) * allowed
        return graphs / (ops.sum(graphs, axis=-1, keepdims=True) + self.epsilon)

    def compute_output_shape(self, embeddings_shape, padding_mask_shape=None):
        batch, length = embeddings_shape[0], embeddings_shape[1]
        return (batch, self.num_layers, self.num_heads, length, length)

    def compute_output_spec(self, embeddings, padding_mask=None, training=None):
        return keras.KerasTensor(self.compute_output_shape(embeddings.shape), dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update(
            num_layers=self.num_layers,
            num_heads=self.num_heads,
            head_dim=self.head_dim,
            cnn_layers=self.cnn_layers,
            kernel_size=self.kernel_size,
            sparse_mode=self.sparse_mode,
            topk_rate=self.topk_rate,
            epsilon=self.epsilon,
        )
        return config


def entry_cap(sparse_mode):
    """The most live entries a row may keep: `MOST_ENTRIES` in mode 6, else None (no cap)."""
    return MOST_ENTRIES if sparse_mode == 6 else None


def keep_live_entries(shifted, allowed, keep=LIVE_ENTRIES, most=None):
    """Moves each row's threshold so that it keeps between `keep` and `most` live entries.

    `shifted` holds s_ij - theta_i. The row's floor is min(0, d) where d is its
    (keep + 1)-th largest allowed value, or its smallest allowed value minus 1 when it has
    at most `keep` allowed columns; subtracting the floor is the same as capping theta_i at
    that score. With `most`, a row whose (most + 1)-th largest allowed value is still
    positive is shifted down by it instead (theta_i raised to that score), so at most `most`
    entries stay positive. The shift carries no gradient: it only moves the threshold, and
    the scores above it train as in mode 4.

    Args:
        shifted: float `[..., T, T]`, scores minus the row's threshold.
        allowed: `[..., T, T]` (broadcastable), 1 where row i may read column j.
        keep: int >= 1.
        most: int >= keep, or None for no cap.

    Returns:
        `shifted - shift`, same shape.

    Example:
    ```python
    d = keras.ops.convert_to_tensor([[[-3.0, -1.0, -2.0, -5.0]]])
    keep_live_entries(d, keras.ops.ones((1, 1, 4)))  # floor = third largest = -3
    # [[[0., 2., 1., -2.]]]
    e = keras.ops.convert_to_tensor([[[4.0, 1.0, 3.0, 2.0]]])
    keep_live_entries(e, keras.ops.ones((1, 1, 4)), most=2)  # third largest = 2
    # [[[2., -1., 1., 0.]]]
    ```
    """
    if most is not None and most < keep:
        raise ValueError(f"keep_live_entries: most ({most}) must be >= keep ({keep}).")
    allowed = ops.broadcast_to(allowed, ops.shape(shifted)) > 0
    # Huge but finite, so rows with no allowed column stay free of inf - inf.
    big = 1e30
    masked = ops.where(allowed, shifted, -big)
    depth = keep if most is None else most
    # Padding columns make top_k well defined when T <= depth.
    pad = ops.full(ops.shape(shifted)[:-1] + (depth + 1,), -big, dtype=shifted.dtype)
    top = ops.top_k(ops.concatenate([masked, pad], axis=-1), depth + 1, sorted=True)[0]
    lowest = ops.min(ops.where(allowed, shifted, big), axis=-1)
    floor = ops.where(top[..., keep] > -big, top[..., keep], lowest - 1.0)
    shift = ops.minimum(floor, 0.0)
    if most is not None:
        ceiling = top[..., most]
        shift = ops.where(ceiling > 0.0, ceiling, shift)
    return shifted - ops.stop_gradient(shift)[..., None]


def topk_count(topk_rate, length):
    """k of sparse mode 3 for a static length (documentation and tests)."""
    return max(1, min(int(topk_rate * math.sqrt(length)), length))


def bidirectional_graphs(forward, backward, embeddings, padding_mask=None, training=None):
    """Both directions' graphs in input order, `[batch, 2, L, K, T, T]` float32.

    Equal (to float tolerance) to stacking `forward(e)` and the backward predictor's graphs
    of the reversed sequence flipped back, `flip(backward(flip(e)), (-2, -1))`, with fewer
    passes over the graphs, which are memory-bound (`T x T` per head, a few FLOPs per
    entry): each pass is made once for both directions. The gain depends on the machine and
    on T (graphs alone, default vs plain path, per T: BENCHMARKS.md "downstream_step"; on an
    AVX-512 machine 1.15-1.17x at `small`, 16 x 400 tokens). The backward CNNs still read the
    reversed sequence; only their queries and keys (`T x head_dim`) are flipped back, so no
    `T x T` flip or stack is made. The affinity's offset is folded into the score matmul
    (`[q, -offset] . [k, 1]`), which saves one more pass.

    Args:
        forward, backward: `GraphPredictor`s of the same shape and sparse mode (not 3).
        embeddings: `[batch, T, d]`.
        padding_mask: optional `[batch, T]`.
        training: BatchNorm mode of the CNNs.

    Returns:
        graphs `[batch, 2, L, K, T, T]`: `[:, 0]` forward (row i reads j < i), `[:, 1]`
        backward in input order (row i reads j > i).
    """
    if forward.sparse_mode == 3 or backward.sparse_mode != forward.sparse_mode:
        raise ValueError(
            "bidirectional_graphs needs both predictors in the same sparse mode, not 3 "
            f"(top-k); got {forward.sparse_mode} and {backward.sparse_mode}."
        )
    reversed_mask = None if padding_mask is None else ops.flip(padding_mask, 1)
    fw_queries, fw_keys = forward.queries_and_keys(embeddings, padding_mask, training=training)
    bw_queries, bw_keys = backward.queries_and_keys(
        ops.flip(embeddings, 1), reversed_mask, training=training)
    bw_queries, bw_keys = ops.flip(bw_queries, 3), ops.flip(bw_keys, 3)
    queries, keys = [], []
    for predictor, q, k in ((forward, fw_queries, fw_keys), (backward, bw_queries, bw_keys)):
        offset = predictor.score_offset(q)
        if offset is not None:
            offset = ops.broadcast_to(offset, ops.shape(q)[:-1])
            q = ops.concatenate([q, -offset[..., None]], axis=-1)
            k = ops.concatenate([k, ops.ones_like(k[..., :1])], axis=-1)
        queries.append(q)
        keys.append(k)
    scores = ops.einsum("bnlkih,bnlkjh->bnlkij", ops.stack(queries, 1), ops.stack(keys, 1))
    # The backward mask is the forward one transposed (j > i; the padding part is symmetric).
    forward_allowed = causal_padding_mask(padding_mask, ops.shape(embeddings)[1])
    allowed = ops.stack([forward_allowed, ops.swapaxes(forward_allowed, -1, -2)], axis=1)
    if forward.sparse_mode in (5, 6):
        scores = keep_live_entries(scores, allowed, most=entry_cap(forward.sparse_mode))
    affinity = ops.square(scores if forward.sparse_mode == 0 else ops.relu(scores))
    graphs = affinity * allowed
    # A reciprocal per row and a multiply: cheaper than dividing every entry.
    return graphs * (1.0 / (ops.sum(graphs, axis=-1, keepdims=True) + forward.epsilon))
