import math

import keras
import numpy as np
import pytest

from glomo_tf.layers.gated_linear import GatedLinear


def run_layer_test(
    init_kwargs, input_shape, expected_output_shape, expected_num_weights
):
    """Builds `GatedLinear(**init_kwargs)`, calls it, checks shape and weights."""
    layer = GatedLinear(**init_kwargs)
    inputs = np.random.default_rng(0).normal(size=input_shape).astype("float32")
    outputs = layer(inputs)
    assert tuple(outputs.shape) == expected_output_shape
    assert tuple(layer.compute_output_shape(input_shape)) == expected_output_shape
    assert len(layer.trainable_weights) == expected_num_weights
    assert len(layer.non_trainable_weights) == 0
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(outputs)))
    return layer


@pytest.mark.parametrize(
    "init_kwargs, input_shape, expected_output_shape, expected_num_weights",
    [
        ({"units": 3}, (2, 5), (2, 3), 4),
        ({"units": 4}, (2, 7, 10), (2, 7, 4), 4),
        ({"units": 1}, (2, 3, 4, 6), (2, 3, 4, 1), 4),
        ({"units": 3, "use_bias": False}, (2, 5, 6), (2, 5, 3), 2),
    ],
)
def test_shapes_and_weight_counts(
    init_kwargs, input_shape, expected_output_shape, expected_num_weights
):
    layer = run_layer_test(
        init_kwargs, input_shape, expected_output_shape, expected_num_weights
    )
    units, input_dim = init_kwargs["units"], input_shape[-1]
    expected_params = 2 * input_dim * units + (2 * units if layer.use_bias else 0)
    assert layer.count_params() == expected_params


def test_hand_set_weights():
    layer = GatedLinear(2)
    layer.build((None, 3))
    layer.kernel.assign([[1.0, 0.0], [2.0, -1.0], [0.0, 1.0]])
    layer.bias.assign([0.5, 0.0])
    layer.gate_kernel.assign([[0.0, 1.0], [0.0, 0.0], [0.0, 0.0]])
    layer.gate_bias.assign([0.0, -1.0])
    x = np.array([[1.0, 1.0, 2.0]], "float32")
    # value = [1 + 2 + 0.5, -1 + 2] = [3.5, 1]; gate = sigmoid([0, 1 - 1])
    expected = np.array([[3.5 * 0.5, 1.0 * 0.5]])
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(x)), expected, rtol=1e-6
    )

    layer.gate_bias.assign([2.0, 0.0])
    sig = lambda z: 1.0 / (1.0 + math.exp(-z))  # noqa: E731
    expected = np.array([[3.5 * sig(2.0), 1.0 * sig(1.0)]])
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(x)), expected, rtol=1e-6
    )


def test_saved_model_round_trip(tmp_path):
    inputs = keras.Input(shape=(None, 6))
    outputs = GatedLinear(3, name="gate")(inputs)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(1).normal(size=(2, 4, 6)).astype("float32")
    before = model.predict(x, verbose=0)
    path = str(tmp_path / "gated.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    assert isinstance(restored.get_layer("gate"), GatedLinear)
    np.testing.assert_allclose(restored.predict(x, verbose=0), before, rtol=1e-6)


def test_config_round_trip():
    layer = GatedLinear(5, use_bias=False, kernel_initializer="ones")
    clone = GatedLinear.from_config(layer.get_config())
    assert clone.units == 5 and clone.use_bias is False
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(clone(np.ones((1, 2), "float32"))),
        np.full((1, 5), 2.0 * (1.0 / (1.0 + math.exp(-2.0)))),
        rtol=1e-6,
    )


@pytest.mark.parametrize("units", [0, -3, 2.5, True, None])
def test_bad_units(units):
    with pytest.raises(ValueError, match="units"):
        GatedLinear(units)


def test_unknown_input_dim():
    with pytest.raises(ValueError, match="last axis"):
        GatedLinear(2).build((None, None))
