import numpy as np
import pytest

from glomo_tf.layers.graph_predictor import (
    GraphPredictor, bidirectional_graphs, keep_live_entries, topk_count)
from tests.layer_test_case import run_layer_test

SMALL = dict(num_layers=2, num_heads=3, head_dim=4, cnn_layers=2, kernel_size=3)


def _inputs(batch=2, length=7, dim=6, seed=0):
    return np.random.RandomState(seed).randn(batch, length, dim).astype("float32")


def _numpy_graphs(layer, x, mask):
    """The spec's formulas in numpy, from the layer's own weights (inference-mode BatchNorm)."""
    def cnn(stack, h):
        for conv, norm in zip(stack.convs, stack.norms):
            h = h * mask[..., None]
            w, b = np.asarray(conv.kernel), np.asarray(conv.bias)
            k = w.shape[0]
            padded = np.concatenate([np.zeros((h.shape[0], k - 1, h.shape[2])), h], axis=1)
            h = sum(padded[:, i:i + h.shape[1]] @ w[i] for i in range(k)) + b
            h = (h - np.asarray(norm.moving_mean)) / np.sqrt(np.asarray(norm.moving_variance) + norm.epsilon)
            h = np.maximum(h * np.asarray(norm.gamma) + np.asarray(norm.beta), 0)
        return h

    def heads(dense, h):
        y = h @ np.asarray(dense.kernel) + np.asarray(dense.bias)
        b, t = y.shape[:2]
        return y.reshape(b, t, layer.num_layers, layer.num_heads, layer.head_dim).transpose(0, 2, 3, 1, 4)

    k = heads(layer.key_dense, cnn(layer.key_cnn, x))
    q = heads(layer.query_dense, cnn(layer.query_cnn, x))
    s = np.einsum("blkih,blkjh->blkij", q, k)
    t = x.shape[1]
    allowed = np.tril(np.ones((t, t)), -1)[None] * mask[:, :, None] * mask[:, None, :]
    allowed = allowed[:, None, None]
    if layer.sparse_mode in (4, 5, 6):
        theta = np.einsum("blkih,lh->blki", q, np.asarray(layer.threshold_kernel))
        theta = theta + np.asarray(layer.threshold_bias)[None, :, None, None]
        if layer.sparse_mode in (5, 6):
            # theta_i capped at the row's third-largest allowed score (below all of them
            # when the row has fewer than three); mode 6 also raises it to the ninth-largest.
            for idx in np.ndindex(*s.shape[:-1]):
                row = s[idx][allowed[(idx[0], 0, 0, idx[3])] > 0]
                if row.size:
                    cap = np.sort(row)[-3] if row.size >= 3 else row.min() - 1.0
                    theta[idx] = min(theta[idx], cap)
                    if layer.sparse_mode == 6 and row.size >= 9:
                        theta[idx] = max(theta[idx], np.sort(row)[-9])
        g = np.maximum(s - theta[..., None], 0) ** 2
    elif layer.sparse_mode == 0:
        g = s ** 2
    elif layer.sparse_mode == 1:
        g = np.maximum(s, 0) ** 2
    elif layer.sparse_mode == 2:
        g = np.maximum(s - np.asarray(layer.layer_bias)[None, :, None, None, None], 0) ** 2
    else:
        k_top = topk_count(layer.topk_rate, t)
        g = np.zeros_like(s)
        for idx in np.ndindex(*s.shape[:-1]):
            row_allowed = allowed[(idx[0], 0, 0, idx[3])] > 0
            vals = np.where(row_allowed, s[idx] ** 2, -1.0)
            kth = np.sort(vals)[t - k_top]
            g[idx] = np.where(vals >= kth, s[idx] ** 2, 0.0)
    g = g * allowed
    return g / (g.sum(-1, keepdims=True) + layer.epsilon)


@pytest.mark.parametrize("mode,extra", [(0, 0), (1, 0), (2, 1), (3, 0), (4, 2), (5, 2), (6, 2)])
def test_layer_basics(mode, extra, tmp_path):
    # Two CNNs (2 blocks x 4 trainable, 2 moving stats each) + key/query Dense (2 each) + mode weights.
    run_layer_test(
        GraphPredictor,
        dict(SMALL, sparse_mode=mode),
        _inputs(),
        expected_output_shape=(2, 2, 3, 7, 7),
        expected_num_trainable_weights=2 * 8 + 4 + extra,
        expected_num_non_trainable_weights=8,
        tmp_path=tmp_path if mode in (4, 5, 6) else None,
    )


@pytest.mark.parametrize("mode", [0, 1, 2, 3, 4, 5, 6])
def test_matches_numpy_reference(mode):
    layer = GraphPredictor(**dict(SMALL, sparse_mode=mode, topk_rate=1.0))
    x = _inputs(length=14)  # rows with more than 8 allowed columns, for mode 6's cap
    mask = np.array([[1] * 14, [1] * 6 + [0] * 8], dtype="float32")
    layer(x, padding_mask=mask)
    if mode == 2:
        layer.layer_bias.assign(np.array([0.5, -0.25], dtype="float32"))
    got = np.asarray(layer(x, padding_mask=mask, training=False))
    np.testing.assert_allclose(got, _numpy_graphs(layer, x.astype("float64"), mask), atol=2e-5)


def _hand_graph(length, threshold_kernel, threshold_bias, sparse_mode=4):
    """One layer, one head of size 1, identity-like CNN on x_i = i + 1: k_j = j + 1,
    q_i = i + 1, s_ij = (i+1)(j+1), theta_i = threshold_kernel (i+1) + threshold_bias.
    Returns the `[T, T]` graph."""
    layer = GraphPredictor(num_layers=1, num_heads=1, head_dim=1, cnn_layers=1, kernel_size=1,
                           sparse_mode=sparse_mode)
    x = np.arange(1, length + 1, dtype="float32").reshape(1, length, 1)
    layer(x)
    for stack in (layer.key_cnn, layer.query_cnn):
        stack.convs[0].kernel.assign(np.ones((1, 1, 1), "float32"))
        stack.norms[0].epsilon = 0.0
    layer.key_dense.kernel.assign(np.ones((1, 1), "float32"))
    layer.query_dense.kernel.assign(np.ones((1, 1), "float32"))
    layer.threshold_kernel.assign(np.array([[threshold_kernel]], "float32"))
    layer.threshold_bias.assign(np.array([threshold_bias], "float32"))
    return np.asarray(layer(x, training=False))[0, 0, 0]


def test_hand_computed_affinity():
    g = _hand_graph(3, 1.0, 0.5)
    # k_j = j+1, q_i = i+1, s_ij = (i+1)(j+1), theta_i = (i+1) + 0.5.
    # row 1: j=0: relu(2 - 2.5) = 0 -> empty row; row 2: j=0: relu(3-3.5)=0, j=1: relu(6-3.5)^2.
    expected = np.array([[0, 0, 0], [0, 0, 0], [0, 1, 0]], dtype="float32")
    np.testing.assert_allclose(g, expected, atol=1e-6)


@pytest.mark.parametrize("mode", [0, 1, 3, 4, 5, 6])
def test_causal_rows_and_sums(mode):
    layer = GraphPredictor(**dict(SMALL, sparse_mode=mode))
    x = _inputs(length=10)
    mask = np.array([[1] * 10, [1] * 4 + [0] * 6])
    g = np.asarray(layer(x, padding_mask=mask))
    assert np.all(np.triu(np.ones((10, 10))) * g == 0), "a unit saw itself or the future"
    sums = g.sum(-1)
    assert np.all(np.isclose(sums, 1, atol=1e-5) | np.isclose(sums, 0, atol=1e-7))
    assert np.all(g[1, :, :, 4:, :] == 0) and np.all(g[1, :, :, :, 4:] == 0), "padding leaked"
    assert np.all(np.isfinite(g))
    if mode in (5, 6):
        # Every real row with a past is live, and at least min(2, i) of its entries are.
        real = sums[0, :, :, 1:]
        np.testing.assert_allclose(real, 1, atol=1e-5)
        assert np.all((g[0, :, :, 2:] > 0).sum(-1) >= 2)
    if mode == 6:
        assert np.all((g > 0).sum(-1) <= 8)
    if mode in (0, 3):
        # Squared scores are positive unless they are all zero (the CNN's ReLU can silence
        # a query or every earlier key): every other row with a past has weight.
        queries, keys = (np.asarray(t) for t in layer.queries_and_keys(x, mask))
        scores = np.einsum("lkih,lkjh->lkij", queries[0], keys[0])
        live = (np.abs(scores) * np.tril(np.ones((10, 10)), -1)).sum(-1)[:, :, 1:] > 0
        assert live.mean() > 0.5
        np.testing.assert_allclose(sums[0, :, :, 1:][live], 1, atol=1e-5)


def test_hand_computed_live_entries():
    # Mode 5 caps theta at the third-largest allowed score, or below the smallest when a
    # row has fewer than three allowed columns; mode 4 would leave every row empty here.
    g = _hand_graph(4, 10.0, 0.0, sparse_mode=5)
    # s_ij = (i+1)(j+1); theta_i = 10 (i+1) is above all of them.
    # row 1: one column (s=2): cap = 2 - 1 -> relu(1)^2 -> 1.
    # row 2: s = 3, 6: cap = 3 - 1 = 2 -> 1, 16 -> 1/17, 16/17.
    # row 3: s = 4, 8, 12: cap = 4 (third largest) -> 0, 16, 64 -> 0, 0.2, 0.8.
    expected = np.array([[0, 0, 0, 0], [1, 0, 0, 0], [1 / 17, 16 / 17, 0, 0],
                         [0, 0.2, 0.8, 0]], dtype="float32")
    np.testing.assert_allclose(g, expected, atol=1e-6)


def test_keep_live_entries_leaves_rows_over_their_threshold_alone():
    d = np.array([[[1.0, 2.0, -1.0, 3.0], [-5.0, -1.0, -2.0, -3.0], [0.0, 0.0, 0.0, 0.0]]],
                 "float32")
    allowed = np.array([[[1, 1, 1, 1], [1, 1, 1, 0], [0, 0, 0, 0]]], "float32")
    out = np.asarray(keep_live_entries(d, allowed))
    np.testing.assert_allclose(out[0, 0], d[0, 0])               # already live: unchanged
    np.testing.assert_allclose(out[0, 1], d[0, 1] + 5.0)         # third largest allowed: -5
    assert np.all(np.isfinite(out))                              # no allowed column: finite


def test_hand_computed_entry_cap():
    # Mode 6 with theta_i = -100, below every score: mode 5 would keep all of a row's
    # entries; mode 6 raises theta_i to the ninth-largest allowed score, so row 10 (ten
    # allowed columns, s_10j = 11 (j + 1)) keeps the eight above s = 22: j = 2..9.
    g = _hand_graph(11, 0.0, -100.0, sparse_mode=6)
    weights = (11 * np.arange(3, 11) - 22.0) ** 2
    expected = np.zeros(11)
    expected[2:10] = weights / weights.sum()
    np.testing.assert_allclose(g[10], expected, atol=1e-6)
    # A row with at most 8 allowed columns keeps them all, as in mode 5.
    row = (8 * np.arange(1, 8) + 100.0) ** 2
    np.testing.assert_allclose(g[7, :7], row / row.sum(), atol=1e-6)
    assert (g[1:] > 0).sum(-1).max() == 8


def test_keep_live_entries_caps_rows_at_most_entries():
    d = np.array([[[4.0, 1.0, 3.0, 2.0], [-4.0, -1.0, -3.0, -2.0]]], "float32")
    out = np.asarray(keep_live_entries(d, np.ones((1, 2, 4), "float32"), most=2))
    np.testing.assert_allclose(out[0, 0], [2.0, -1.0, 1.0, 0.0])   # raised by the 3rd: 2
    np.testing.assert_allclose(out[0, 1], [-1.0, 2.0, 0.0, 1.0])   # lowered by the 3rd: -3
    with pytest.raises(ValueError, match="most"):
        keep_live_entries(d, np.ones((1, 2, 4), "float32"), keep=3, most=2)


def test_mode_5_keeps_a_gradient_where_mode_4_has_none():
    import tensorflow as tf

    x = _inputs(batch=1, length=8)
    grads = {}
    for mode in (4, 5):
        layer = GraphPredictor(**dict(SMALL, sparse_mode=mode))
        layer(x)
        # Above every score, but not so far that float32 rounds s - theta into ties.
        layer.threshold_bias.assign(np.full((2,), 1e3, "float32"))
        with tf.GradientTape() as tape:
            g = layer(x, training=False)
            loss = tf.reduce_sum(g * np.random.RandomState(1).randn(*g.shape))
        grad = tape.gradient(loss, layer.query_dense.kernel)
        grads[mode] = 0.0 if grad is None else float(tf.reduce_sum(tf.abs(grad)))
        if mode == 4:
            assert float(tf.reduce_sum(g)) == 0.0                   # every row dead
        else:
            np.testing.assert_allclose(np.asarray(g).sum(-1)[..., 1:], 1, atol=1e-5)
    assert grads[4] == 0.0 and grads[5] > 0.0


def test_no_information_from_the_future():
    layer = GraphPredictor(**SMALL)
    x = _inputs(batch=1, length=12)
    y = x.copy()
    y[:, 7:] = 3.0
    a = np.asarray(layer(x, training=False))
    b = np.asarray(layer(y, training=False))
    np.testing.assert_allclose(a[..., :7, :], b[..., :7, :], atol=1e-6)


def test_padding_invariance():
    layer = GraphPredictor(**SMALL)
    x = _inputs(batch=1, length=6)
    padded = np.concatenate([x, np.full((1, 4, 6), 9.0, "float32")], axis=1)
    mask = np.array([[1] * 6 + [0] * 4])
    a = np.asarray(layer(x, training=False))
    b = np.asarray(layer(padded, padding_mask=mask, training=False))
    np.testing.assert_allclose(a, b[..., :6, :6], atol=1e-6)


def test_topk_count_is_clamped():
    assert topk_count(1.0, 16) == 4
    assert topk_count(0.01, 16) == 1
    assert topk_count(100.0, 16) == 16


def test_rejects_unknown_mode():
    with pytest.raises(ValueError, match="sparse_mode"):
        GraphPredictor(sparse_mode=7)


@pytest.mark.parametrize("mode", [0, 1, 2, 4, 5, 6])
def test_bidirectional_graphs_match_two_single_direction_calls(mode):
    forward = GraphPredictor(sparse_mode=mode, **SMALL)
    backward = GraphPredictor(sparse_mode=mode, **SMALL)
    x = _inputs(batch=2, length=9)
    mask = np.array([[1] * 9, [1] * 5 + [0] * 4])
    fw = np.asarray(forward(x, padding_mask=mask, training=False))
    bw = np.asarray(backward(x[:, ::-1], padding_mask=mask[:, ::-1], training=False))[..., ::-1, ::-1]
    both = np.asarray(bidirectional_graphs(forward, backward, x, mask, training=False))
    assert both.shape == (2, 2, 2, 3, 9, 9)
    np.testing.assert_allclose(both[:, 0], fw, atol=1e-6)
    np.testing.assert_allclose(both[:, 1], bw, atol=1e-6)
    # Backward rows read only later real units: strictly upper triangular, padding zero.
    assert np.all(np.tril(both[:, 1]) == 0)
    assert np.all(both[1, :, :, :, 5:] == 0) and np.all(both[1, ..., 5:] == 0)


def test_bidirectional_graphs_reject_topk_mode():
    with pytest.raises(ValueError, match="sparse mode"):
        bidirectional_graphs(GraphPredictor(sparse_mode=3, **SMALL),
                             GraphPredictor(sparse_mode=3, **SMALL), _inputs())
