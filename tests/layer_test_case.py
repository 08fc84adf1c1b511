"""The shared checks every glomo_tf layer test runs (after keras-hub's `run_layer_test`)."""

import os

import keras
import numpy as np


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_data,
    expected_output_shape,
    expected_num_trainable_weights,
    expected_num_non_trainable_weights=0,
    call_kwargs=None,
    tmp_path=None,
    training=None,
):
    """Builds `layer_cls(**init_kwargs)`, calls it and checks shape, weight counts and serialisation.

    `input_data` is a tensor or a tuple of positional tensors. The layer is also wrapped in a
    functional model that is saved to `.keras` and loaded back: the loaded model must give the
    same outputs.
    """
    call_kwargs = dict(call_kwargs or {})
    if training is not None:
        call_kwargs["training"] = training
    inputs = input_data if isinstance(input_data, tuple) else (input_data,)
    layer = layer_cls(**init_kwargs)
    output = layer(*inputs, **call_kwargs)
    assert tuple(output.shape) == tuple(expected_output_shape)
    assert len(layer.trainable_weights) == expected_num_trainable_weights
    assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights

    # get_config / from_config gives an equivalent layer.
    config = layer.get_config()
    clone = layer_cls.from_config(config)
    assert clone.get_config() == config

    # A `.keras` round trip of a model holding the layer keeps weights and outputs.
    symbolic = [keras.Input(shape=np.shape(x)[1:], dtype=keras.backend.standardize_dtype(np.asarray(x).dtype))
                for x in inputs]
    model = keras.Model(symbolic, layer_cls(**init_kwargs)(*symbolic, **call_kwargs))
    expected = model.predict([np.asarray(x) for x in inputs], verbose=0)
    if tmp_path is not None:
        path = os.path.join(str(tmp_path), "layer.keras")
        model.save(path)
        restored = keras.models.load_model(path)
        actual = restored.predict([np.asarray(x) for x in inputs], verbose=0)
        np.testing.assert_allclose(actual, expected, atol=1e-6)
    return layer, output
