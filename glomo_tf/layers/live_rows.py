"""The share of graph rows that carry mass ("live" rows), per direction, layer and head.

A mode-4 row dies when every allowed score is below its threshold θ_i: it then sums to 0,
passes no message and gets no gradient. A row is counted when it is a real position that
has at least one allowed column (forward: i > 0, backward: i < n - 1, n = the sequence's
length); it is live when it sums to 1 (> 0.5, since live rows are normalised).
"""

from keras import ops


def live_row_fractions(graphs, padding_mask=None):
    """Live-row fraction of each graph, over a batch.

    Args:
        graphs: `[B, 2, L, K, T, T]` (both directions, backward in input order, as the
            exported module returns them).
        padding_mask: `[B, T]`, 1/True on real positions; default all real.

    Returns:
        float32 `[2, L, K]`: live rows ÷ counted rows (0 where no row is counted).

    Example:
    ```python
    fractions = live_row_fractions(model.predict_graphs(ids))   # [2, L, K]
    float(ops.mean(fractions))
    ```
    """
    graphs = ops.convert_to_tensor(graphs, "float32")
    length = ops.shape(graphs)[-1]
    if padding_mask is None:
        real = ops.ones((ops.shape(graphs)[0], length), "float32")
    else:
        real = ops.cast(ops.convert_to_tensor(padding_mask), "float32")
    count = ops.sum(real, axis=1, keepdims=True)
    position = ops.cast(ops.arange(length), "float32")[None, :]
    # Forward rows need an earlier real unit, backward rows a later one.
    counted = ops.stack([real * ops.cast(position > 0, "float32"),
                         real * ops.cast(position < count - 1, "float32")], axis=1)  # [B, 2, T]
    live = ops.cast(ops.sum(graphs, axis=-1) > 0.5, "float32")                    # [B, 2, L, K, T]
    counted = counted[:, :, None, None, :]
    live_count = ops.sum(live * counted, axis=(0, 4))
    total = ops.sum(counted * ops.ones_like(live), axis=(0, 4))
    return ops.where(total > 0, live_count / ops.maximum(total, 1.0), 0.0)
