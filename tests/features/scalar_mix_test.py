import math

import keras
import numpy as np
import pytest

from glomo_tf.features.scalar_mix import ScalarMix


def _run_layer_test(init_kwargs, inputs, expected_shape, expected_weights):
    """Builds `ScalarMix(**init_kwargs)`, checks output shape and weight counts."""
    layer = ScalarMix(**init_kwargs)
    out = layer(inputs)
    assert tuple(out.shape) == expected_shape
    assert len(layer.weights) == expected_weights
    assert len(layer.trainable_weights) == expected_weights
    return layer, out


def test_stacked_and_list_inputs_shapes_and_weights():
    x = np.random.default_rng(0).normal(size=(2, 3, 5, 4)).astype("float32")
    _run_layer_test({}, x, (2, 5, 4), 2)
    _run_layer_test({"axis": 0}, x, (3, 5, 4), 2)
    _run_layer_test({}, [x[:, k] for k in range(3)], (2, 5, 4), 2)


def test_default_is_the_mean_of_the_layers():
    x = np.random.default_rng(1).normal(size=(2, 3, 5, 4)).astype("float32")
    out = ScalarMix()(x)
    np.testing.assert_allclose(out, x.mean(axis=1), atol=1e-6)


def test_hand_set_weights():
    # softmax(log [1, 2, 1]) = [0.25, 0.5, 0.25]; gamma = 2.
    layer = ScalarMix(initial_logits=[0.0, math.log(2.0), 0.0], initial_scale=2.0)
    layers = [np.full((1, 2, 3), v, "float32") for v in (4.0, 8.0, -4.0)]
    out = layer(layers)
    expected = 2.0 * (0.25 * 4.0 + 0.5 * 8.0 + 0.25 * -4.0)  # = 8
    np.testing.assert_allclose(out, np.full((1, 2, 3), expected), atol=1e-5)
    stacked = layer(np.stack(layers, axis=1))
    np.testing.assert_allclose(stacked, out, atol=1e-5)


def test_keras_save_load_round_trip(tmp_path):
    inputs = keras.Input((3, None, 4))
    model = keras.Model(inputs, ScalarMix(initial_logits=[0.1, -0.2, 0.3], initial_scale=1.5)(inputs))
    x = np.random.default_rng(2).normal(size=(2, 3, 5, 4)).astype("float32")
    path = tmp_path / "mix.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_allclose(restored(x), model(x), atol=1e-6)
    assert restored.layers[-1].get_config()["initial_logits"] == pytest.approx([0.1, -0.2, 0.3])


def test_mixing_weights_receive_gradients():
    import tensorflow as tf

    layer = ScalarMix()
    x = np.random.default_rng(3).normal(size=(2, 3, 5, 4)).astype("float32")
    layer(x)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x * np.arange(1, 4, dtype="float32")[None, :, None, None]))
    grads = tape.gradient(loss, layer.trainable_variables)
    assert all(g is not None and float(tf.reduce_sum(tf.abs(g))) > 0 for g in grads)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="initial_logits"):
        ScalarMix(initial_logits=[0.0, 0.0])(np.zeros((1, 3, 2, 2), "float32"))
    layer = ScalarMix()
    layer([np.zeros((1, 2), "float32")] * 3)
    with pytest.raises(ValueError, match="3 layers"):
        layer([np.zeros((1, 2), "float32")] * 2)
    with pytest.raises(ValueError, match="axis"):
        ScalarMix(axis="1")
