"""Sparse graph entries: layout, top-k with renormalisation, padding, the gathered product."""

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from glomo_tf.layers.sparse_graphs import (
    example_entries,
    is_sparse_graphs,
    pad_entries,
    sparse_from_dense,
    sparse_rows_matmul,
)
from tests.layers.graph_transfer_test import causal_graphs


def _dense_from_entries(entries, layers, heads, steps):
    dense = np.zeros((2 * layers * heads, steps, steps), np.float32)
    for v, s, i, j in zip(entries["values"], entries["slots"], entries["rows"], entries["cols"]):
        dense[s, i, j] += v
    return dense.reshape(2, layers, heads, steps, steps)


def test_entries_round_trip_and_order():
    rng = np.random.default_rng(0)
    graphs = causal_graphs(rng, 1, 3, 2, 6, [5])[0]
    graphs[graphs < 0.15] = 0.0
    entries, stats = example_entries(graphs, length=5)
    np.testing.assert_array_equal(_dense_from_entries(entries, 3, 2, 6), graphs)
    assert stats["rows"] == 2 * 3 * 2 * 5 and stats["dropped"] == 0
    assert stats["max_live"] == int((graphs > 0).sum(-1).max())
    # Sorted by (direction, row, layer, head, column).
    slots = entries["slots"].astype(int)
    keys = list(zip(slots // 6, entries["rows"], (slots // 2) % 3, slots % 2, entries["cols"]))
    assert keys == sorted(keys)
    assert entries["slots"].dtype == np.uint8 and entries["rows"].dtype == np.int16


def test_top_k_keeps_the_largest_and_renormalises():
    graphs = np.zeros((2, 1, 1, 4, 4), np.float32)
    graphs[0, 0, 0, 3, :3] = [0.5, 0.3, 0.2]
    graphs[0, 0, 0, 2, :2] = [0.6, 0.4]
    entries, stats = example_entries(graphs, top_k=2)
    dense = _dense_from_entries(entries, 1, 1, 4)
    np.testing.assert_allclose(dense[0, 0, 0, 3, :3], [0.625, 0.375, 0.0])
    np.testing.assert_allclose(dense[0, 0, 0, 2, :2], [0.6, 0.4])  # nothing dropped there
    assert stats["dropped"] == 1 and stats["dropped_mass"] == pytest.approx(0.2)


def test_padding_and_batch_layout():
    rng = np.random.default_rng(1)
    graphs = causal_graphs(rng, 2, 1, 1, 4, [4, 2])
    batch = sparse_from_dense(graphs, mask=np.array([[1, 1, 1, 1], [1, 1, 0, 0]]))
    assert is_sparse_graphs(batch) and not is_sparse_graphs(graphs)
    assert {k: v.shape for k, v in batch.items()} == {k: (2, 12) for k in batch}
    # Example 1 has 2 entries (forward 1 <- 0, backward 0 <- 1); the rest is padding.
    assert (batch["rows"][1, 2:] == -1).all() and (batch["values"][1, 2:] == 0).all()
    assert pad_entries([])["values"].shape == (0, 1)


@pytest.mark.parametrize("sorted_rows", [True, False])
def test_sparse_rows_matmul_matches_dense(sorted_rows):
    rng = np.random.default_rng(2)
    rows = np.sort(rng.integers(0, 6, 20)).astype("int32")
    cols = rng.integers(0, 4, 20).astype("int32")
    values = rng.normal(size=20).astype("float32")
    dense = rng.normal(size=(4, 3)).astype("float32")
    matrix = np.zeros((7, 4), np.float32)
    np.add.at(matrix, (rows, cols), values)
    out = ops.convert_to_numpy(sparse_rows_matmul(values, rows, cols, 7, dense, sorted_rows))
    np.testing.assert_allclose(out, matrix @ dense, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("zeroed", ["some", "all"])
def test_sorted_product_with_zero_weight_entries(zeroed):
    # The sorted path drops zero-weight entries before gathering; the product and its
    # gradient must not change, even when nothing is left but the output's length.
    rng = np.random.default_rng(3)
    rows = np.sort(rng.integers(0, 6, 20)).astype("int32")
    cols = rng.integers(0, 4, 20).astype("int32")
    values = rng.normal(size=20).astype("float32")
    values[::3 if zeroed == "some" else 1] = 0.0
    dense = tf.constant(rng.normal(size=(4, 3)).astype("float32"))
    matrix = np.zeros((7, 4), np.float32)
    np.add.at(matrix, (rows, cols), values)
    with tf.GradientTape() as tape:
        tape.watch(dense)
        out = sparse_rows_matmul(values, rows, cols, 7, dense, sorted_rows=True)
        loss = tf.reduce_sum(out * np.arange(21, dtype="float32").reshape(7, 3))
    np.testing.assert_allclose(out.numpy(), matrix @ dense.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tf.convert_to_tensor(tape.gradient(loss, dense)).numpy(),
                               matrix.T @ np.arange(21, dtype="float32").reshape(7, 3),
                               rtol=1e-5, atol=1e-5)


def test_sorted_product_refuses_unsorted_rows():
    with pytest.raises(tf.errors.InvalidArgumentError, match="increasing|sorted"):
        sparse_rows_matmul(np.ones(2, "float32"), np.array([1, 0], "int32"),
                           np.array([0, 0], "int32"), 2, np.ones((1, 2), "float32"),
                           sorted_rows=True)


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match=r"\[2, L, K, T, T\]"):
        example_entries(np.zeros((1, 1, 1, 3, 3)))
    with pytest.raises(ValueError, match="length"):
        example_entries(np.zeros((2, 1, 1, 3, 3)), length=4)
    with pytest.raises(ValueError, match=r"\[B, 2, L, K, T, T\]"):
        sparse_from_dense(np.zeros((2, 1, 1, 3, 3)))
