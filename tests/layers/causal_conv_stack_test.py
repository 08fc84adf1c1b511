import numpy as np
import pytest

from glomo_tf.layers.causal_conv_stack import CausalConvStack
from tests.layer_test_case import run_layer_test


def test_layer_basics(tmp_path):
    # Per block: conv kernel + bias, BN gamma + beta (trainable), BN moving mean + variance.
    run_layer_test(
        CausalConvStack,
        dict(num_layers=2, kernel_size=3),
        np.random.rand(2, 7, 4).astype("float32"),
        expected_output_shape=(2, 7, 4),
        expected_num_trainable_weights=8,
        expected_num_non_trainable_weights=4,
        tmp_path=tmp_path,
    )


def test_hand_computed_causal_conv():
    layer = CausalConvStack(num_layers=1, kernel_size=2)
    x = np.array([[[1.0], [2.0], [-3.0], [4.0]]], dtype="float32")
    layer(x)
    conv, norm = layer.convs[0], layer.norms[0]
    # kernel[k] multiplies x[t - 1 + k]: y_t = 2 x_{t-1} - x_t + 0.5.
    conv.kernel.assign(np.array([[[2.0]], [[-1.0]]], dtype="float32"))
    conv.bias.assign(np.array([0.5], dtype="float32"))
    mask = np.array([[1, 1, 0, 1]])
    out = np.asarray(layer(x, padding_mask=mask, training=False))[0, :, 0]
    x_masked = np.array([1.0, 2.0, 0.0, 4.0])
    prev = np.concatenate([[0.0], x_masked[:-1]])
    expected = np.maximum(2 * prev - x_masked + 0.5, 0) / np.sqrt(1 + norm.epsilon)
    np.testing.assert_allclose(out, expected, rtol=1e-5)


def test_no_information_from_the_future():
    layer = CausalConvStack(num_layers=3, kernel_size=3)
    x = np.random.RandomState(0).randn(1, 12, 4).astype("float32")
    y = x.copy()
    y[:, 8:] = 5.0
    a = np.asarray(layer(x, training=False))
    b = np.asarray(layer(y, training=False))
    np.testing.assert_allclose(a[:, :8], b[:, :8], atol=1e-6)
    assert not np.allclose(a[:, 8:], b[:, 8:])


def test_batch_statistics_ignore_padding():
    layer = CausalConvStack(num_layers=2, kernel_size=3)
    rng = np.random.RandomState(1)
    x = rng.randn(2, 6, 4).astype("float32")
    padded = np.concatenate([x, rng.randn(2, 5, 4).astype("float32") * 100], axis=1)
    mask = np.concatenate([np.ones((2, 6)), np.zeros((2, 5))], axis=1)
    a = np.asarray(layer(x, training=True))
    b = np.asarray(layer(padded, padding_mask=mask, training=True))
    np.testing.assert_allclose(a, b[:, :6], atol=1e-4)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_layers"):
        CausalConvStack(num_layers=0)
