"""Sparse GLoMo graphs: the live entries of `[B, 2, L, K, T, T]` graphs, and products with them.

Mode-4 and mode-6 rows are sparse (`ReLU(s - θ)^2` zeroes every column whose score is
below the row's threshold; mode 6 keeps 2 to 8), so the transfer only needs each row's live
columns. Mode-5 rows need not be: `glomo_wiki_30m`'s hold 116 live entries on average on IMDB
at T 400, and `GraphCache` refuses graphs that dense. A batch of sparse graphs is a dict of
four `[B, N]` tensors, one entry per live `(direction, layer, head, row, column)`:

- `"values"`: float, `G_ij`;
- `"slots"`: int, `(direction * L + layer) * K + head`, in `[0, 2 L K)`;
- `"rows"`: int, `i`, the reading unit, in `[0, T)`; `-1` marks a padding entry;
- `"cols"`: int, `j`, the unit read, in `[0, T)`.

Order: within an example, entries are sorted by `(direction, row, layer, head)` (then
column). `GraphTransfer` relies on it (sorted segment sums, several times faster on CPU
than scattered ones); TensorFlow raises "segment ids are not increasing" otherwise.
`N` is the largest entry count of the batch; shorter examples are padded at the end
(value 0, row -1). `sparse_from_dense` and `GraphCache` produce this layout, keeping
every live entry or at most `top_k` per row (renormalised where something was dropped);
`sparse_rows_matmul` is the gathered product that replaces `G @ H`.
"""

import numpy as np
from keras import ops

SPARSE_KEYS = ("values", "slots", "rows", "cols")


def is_sparse_graphs(graphs):
    """Whether `graphs` is the sparse dict form (rather than a dense tensor)."""
    return isinstance(graphs, dict) and set(graphs) >= set(SPARSE_KEYS)


def example_entries(graphs, length=None, top_k=None):
    """The live entries of ONE example's dense graphs, as flat NumPy arrays.

    Args:
        graphs: array `[2, L, K, T, T]` (a NumPy array or tensor).
        length: real tokens of the example (rows and columns past it are ignored);
            default all `T`.
        top_k: keep at most this many largest entries per row (None: every live one,
            exact). A row that loses entries is renormalised to its original sum.

    Returns:
        `(entries, stats)`: `entries` a dict `values` float32 `[n]`, `slots` uint8,
        `rows` and `cols` int16 (ordered by direction, row, layer, head, column);
        `stats` a dict
        `rows` (real rows), `max_live` (most live columns of one row), `dropped`
        (entries past `top_k`) and `dropped_mass` (their summed value, before
        renormalising).

    Example:

    >>> g = np.zeros((2, 1, 1, 3, 3), "float32"); g[0, 0, 0, 2, :2] = 0.5
    >>> entries, _ = example_entries(g)
    >>> entries["rows"].tolist(), entries["cols"].tolist()
    ([2, 2], [0, 1])
    >>> entries["slots"].tolist()
    [0, 0]
    """
    graphs = np.asarray(graphs, dtype=np.float32)
    if graphs.ndim != 5 or graphs.shape[0] != 2 or graphs.shape[-1] != graphs.shape[-2]:
        raise ValueError(f"example_entries: expected graphs [2, L, K, T, T], got {graphs.shape}.")
    steps = graphs.shape[-1]
    length = steps if length is None else int(length)
    if not 0 <= length <= steps:
        raise ValueError(f"example_entries: length {length} outside [0, T={steps}].")
    slots = graphs.shape[0] * graphs.shape[1] * graphs.shape[2]
    if slots > 256 or length > 32767:
        raise ValueError(
            f"example_entries: {slots} graphs per example (at most 256) or T={length} "
            "(at most 32767) do not fit the compact index types.")
    directions, layers, heads = graphs.shape[:3]
    # [2, T, L, K, T]: np.nonzero then yields the (direction, row, layer, head, column) order.
    graphs = np.transpose(graphs[..., :length, :length], (0, 3, 1, 2, 4))
    live = graphs > 0
    stats = {"rows": int(slots * length), "max_live": int(live.sum(-1).max(initial=0)),
             "dropped": 0, "dropped_mass": 0.0}
    if top_k is not None and stats["max_live"] > top_k:
        # The k-th largest value of each row; ties at it may keep a few more (stable, exact
        # on the kept ones, and rare with float scores).
        # Only the rows over the cap are partitioned (a few percent of them).
        over = live.sum(-1) > top_k
        threshold = np.zeros(graphs.shape[:-1] + (1,), np.float32)
        threshold[over] = -np.partition(-graphs[over], top_k - 1, axis=-1)[:, top_k - 1:top_k]
        kept = live & (graphs >= threshold)
        dropped = live & ~kept
        stats["dropped"] = int(dropped.sum())
        stats["dropped_mass"] = float(graphs[dropped].sum())
        sums = graphs.sum(-1, keepdims=True)
        kept_sums = np.where(kept, graphs, 0).sum(-1, keepdims=True)
        scale = np.where(kept_sums > 0, sums / np.maximum(kept_sums, 1e-30), 1.0)
        graphs = np.where(kept, graphs * scale, 0).astype(np.float32)
        live = kept
    direction, row, layer, head, col = np.nonzero(live)
    slot = (direction * layers + layer) * heads + head
    entries = {"values": graphs[direction, row, layer, head, col].astype(np.float32),
               "slots": slot.astype(np.uint8), "rows": row.astype(np.int16),
               "cols": col.astype(np.int16)}
    return entries, stats


def pad_entries(examples):
    """Stacks per-example entry dicts into a padded batch dict of `[B, N]` arrays.

    `values` float32, the indices int32; padding entries have value 0, slot 0, column 0
    and row -1.
    """
    count = max([len(e["values"]) for e in examples] + [1])
    batch = {"values": np.zeros((len(examples), count), np.float32)}
    for key in SPARSE_KEYS[1:]:
        batch[key] = np.full((len(examples), count), -1 if key == "rows" else 0, np.int32)
    for b, entries in enumerate(examples):
        n = len(entries["values"])
        for key in SPARSE_KEYS:
            batch[key][b, :n] = entries[key]
    return batch


def sparse_from_dense(graphs, mask=None, top_k=None):
    """Dense graphs `[B, 2, L, K, T, T]` → the padded sparse dict (NumPy), see the module doc.

    Args:
        graphs: dense graphs (array or tensor).
        mask: optional `[B, T]`, 1 on real tokens (rows/columns past an example's
            length are left out; default all real).
        top_k: at most this many entries per row (None: all live, exact).

    Example:

    >>> g = np.zeros((1, 2, 1, 1, 3, 3), "float32"); g[0, 0, 0, 0, 1, 0] = 1.0
    >>> sparse_from_dense(g)["values"].tolist()
    [[1.0]]
    """
    graphs = np.asarray(graphs, dtype=np.float32)
    if graphs.ndim != 6:
        raise ValueError(f"sparse_from_dense: expected [B, 2, L, K, T, T], got {graphs.shape}.")
    lengths = ([graphs.shape[-1]] * graphs.shape[0] if mask is None
               else np.asarray(mask).astype(bool).sum(axis=1))
    return pad_entries([example_entries(g, n, top_k)[0] for g, n in zip(graphs, lengths)])


def _sparse_dense_matmul(values, rows, cols, num_rows, dense, sorted_rows):
    from keras import backend

    if backend.backend() == "tensorflow" and sorted_rows:
        import tensorflow as tf

        # Sorted segment sum: 4x faster than tf.sparse or a scattered sum here (15 vs
        # 64 / 80 ms for 234k entries x 50 on CPU). Zero-weight entries are dropped first:
        # `GraphTransfer`'s chained product passes every entry with the other layers' weights
        # zeroed, and batches carry padding, so this halves the gathered rows there (a
        # subsequence of sorted ids stays sorted). A zero-weight sentinel on the last row
        # makes the output exactly `num_rows` long (segment_sum stops at the largest id).
        kept = tf.not_equal(values, 0)
        values, rows, cols = (tf.boolean_mask(t, kept) for t in (values, rows, cols))
        last = tf.reshape(tf.cast(num_rows, rows.dtype) - 1, (1,))
        rows = tf.concat([rows, last], axis=0)
        cols = tf.concat([cols, tf.zeros((1,), cols.dtype)], axis=0)
        values = tf.concat([values, tf.zeros((1,), values.dtype)], axis=0)
        gathered = tf.gather(dense, cols) * tf.expand_dims(values, -1)
        return tf.math.segment_sum(gathered, rows)
    if backend.backend() == "tensorflow":
        import tensorflow as tf

        # tf.sparse: O(nnz * D) without materialising the [nnz, D] gathered rows that
        # take + segment_sum would (270 MB per batch for the paper's 48 graphs at T 400);
        # its gradient w.r.t. `dense` is the same product with the sparse matrix transposed.
        indices = tf.stack([tf.cast(rows, tf.int64), tf.cast(cols, tf.int64)], axis=1)
        matrix = tf.sparse.SparseTensor(
            indices, values, tf.stack([tf.cast(num_rows, tf.int64), tf.shape(dense, tf.int64)[0]]))
        return tf.sparse.sparse_dense_matmul(matrix, dense)
    gathered = ops.take(dense, cols, axis=0) * ops.expand_dims(values, -1)
    return ops.segment_sum(gathered, rows, num_segments=num_rows, sorted=sorted_rows)


def sparse_rows_matmul(values, rows, cols, num_rows, dense, sorted_rows=False):
    """`out[r] = Σ_e values[e] * dense[cols[e]]` over the entries `e` with `rows[e] == r`.

    The product of a sparse `[num_rows, R]` matrix (given by its entries; duplicates add
    up) with a dense `[R, D]` one, `O(entries * D)`.

    Args:
        values: float `[E]`; rows, cols: int `[E]`; num_rows: int (may be a tensor);
        dense: `[R, D]`.
        sorted_rows: the caller guarantees `rows` is non-decreasing (faster path;
            TensorFlow raises if it is not).

    Returns:
        `[num_rows, D]`.

    Example:

    >>> out = sparse_rows_matmul(np.array([2.0, 1.0], "float32"), np.array([0, 0]),
    ...                          np.array([1, 0]), 2, np.eye(2, dtype="float32"))
    >>> ops.convert_to_numpy(out).tolist()
    [[1.0, 2.0], [0.0, 0.0]]
    """
    values = ops.convert_to_tensor(values)
    dense = ops.convert_to_tensor(dense)
    dtype = dense.dtype
    # tf.sparse has no half-precision CPU kernel: mixed-precision features go through float32.
    compute = dtype if dtype in ("float32", "float64") else "float32"
    out = _sparse_dense_matmul(ops.cast(values, compute), rows, cols, num_rows,
                               ops.cast(dense, compute), sorted_rows)
    return ops.cast(out, dtype)
