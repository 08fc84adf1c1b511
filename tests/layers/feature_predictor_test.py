import numpy as np
import pytest

from glomo_tf.layers.feature_predictor import FeaturePredictor
from tests.layer_test_case import run_layer_test


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _numpy_gru(cell, x, h):
    # keras GRUCell, reset_after=True: gates ordered [z, r, candidate].
    w, u, b = (np.asarray(v) for v in (cell.kernel, cell.recurrent_kernel, cell.bias))
    n = h.shape[-1]
    xw = x @ w + b[0]
    hu = h @ u + b[1]
    z = _sigmoid(xw[:, :n] + hu[:, :n])
    r = _sigmoid(xw[:, n:2 * n] + hu[:, n:2 * n])
    c = np.tanh(xw[:, 2 * n:] + r * hu[:, 2 * n:])
    return z * h + (1 - z) * c


def _random_graphs(batch, layers, heads, length, seed=0):
    g = np.random.RandomState(seed).rand(batch, layers, heads, length, length)
    g = g * np.tril(np.ones((length, length)), -1)
    return (g / (g.sum(-1, keepdims=True) + 1e-16)).astype("float32")


def test_layer_basics(tmp_path):
    x = np.random.rand(2, 5, 8).astype("float32")
    run_layer_test(
        FeaturePredictor,
        dict(num_heads=2),
        (x, _random_graphs(2, 3, 2, 5)),
        expected_output_shape=(2, 5, 8),
        expected_num_trainable_weights=3,
        tmp_path=tmp_path,
    )


def test_matches_numpy_reference():
    layer = FeaturePredictor(num_heads=2)
    x = np.random.RandomState(3).randn(2, 5, 4).astype("float32")
    graphs = _random_graphs(2, 2, 2, 5, seed=4)
    got = np.asarray(layer(x, graphs))
    f = x.astype("float64")
    for l in range(2):
        heads = f.reshape(2, 5, 2, 2)
        m = np.einsum("bkij,bjkh->bikh", graphs[:, l], heads).reshape(2, 5, 4)
        inputs = np.concatenate([m * f, m], -1).reshape(-1, 8)
        f = _numpy_gru(layer.cell, inputs, f.reshape(-1, 4)).reshape(2, 5, 4)
    np.testing.assert_allclose(got, f, atol=1e-5)


def test_hand_computed_messages():
    # One head; G row 2 reads units 0 and 1 half each: m_2 = (f_0 + f_1) / 2.
    layer = FeaturePredictor(num_heads=1)
    x = np.array([[[2.0], [4.0], [8.0]]], dtype="float32")
    graphs = np.zeros((1, 1, 1, 3, 3), "float32")
    graphs[0, 0, 0, 2, :2] = 0.5
    layer(x, graphs)
    # Zero the recurrent path and make z = sigmoid(0) = 0.5, candidate = tanh(x . [1, 1]).
    layer.cell.kernel.assign(np.array([[0, 0, 1], [0, 0, 1]], "float32"))
    layer.cell.recurrent_kernel.assign(np.zeros((1, 3), "float32"))
    layer.cell.bias.assign(np.zeros((2, 3), "float32"))
    out = np.asarray(layer(x, graphs))[0, :, 0]
    m = np.array([0.0, 0.0, 3.0])
    expected = 0.5 * x[0, :, 0] + 0.5 * np.tanh(m * x[0, :, 0] + m)
    np.testing.assert_allclose(out, expected, rtol=1e-5)


def test_returns_every_layer():
    layer = FeaturePredictor(num_heads=2)
    outs = layer(np.ones((1, 4, 4), "float32"), _random_graphs(1, 3, 2, 4), return_all_layers=True)
    assert len(outs) == 3 and all(tuple(o.shape) == (1, 4, 4) for o in outs)


def test_rejects_wrong_shapes():
    layer = FeaturePredictor(num_heads=3)
    with pytest.raises(ValueError, match="divisible"):
        layer(np.ones((1, 4, 4), "float32"), _random_graphs(1, 1, 3, 4))
    layer = FeaturePredictor(num_heads=2)
    with pytest.raises(ValueError, match=r"\[batch, L, K, T, T\]"):
        layer(np.ones((1, 4, 4), "float32"), np.ones((1, 2, 4, 4), "float32"))


def test_positions_compute_the_last_layer_at_those_positions_only():
    layer = FeaturePredictor(num_heads=2)
    x = np.random.RandomState(1).normal(size=(2, 6, 4)).astype("float32")
    graphs = _random_graphs(2, 3, 2, 6)
    positions = np.array([4, 0, 4, 2], "int32")  # with repeats, as sampled with replacement
    full = layer(x, graphs, return_all_layers=True)
    sampled = layer(x, graphs, return_all_layers=True, positions=positions)
    for a, b in zip(full[:-1], sampled[:-1]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)
    assert tuple(sampled[-1].shape) == (2, 4, 4)
    np.testing.assert_allclose(np.asarray(full[-1])[:, positions], np.asarray(sampled[-1]), rtol=1e-5, atol=1e-6)
