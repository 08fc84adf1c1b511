"""`MaskedPooling`: mean and max over the real positions of a sequence."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="glomo_tf")
class MaskedPooling(keras.layers.Layer):
    """Concatenates the masked mean and the masked max over time.

    Padded positions take no part in either statistic. A sequence without any real
    position pools to zeros (a documented, finite result, not NaN/-inf), so an empty
    text cannot poison a batch.

    Args:
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        inputs: float `[B, T, D]`.
        mask: optional `[B, T]` (1/True = real). Default: all real.

    Returns:
        `[B, 2D]`: `[mean; max]`.

    Example:

    >>> x = keras.ops.convert_to_tensor([[[1.0], [3.0], [9.0]]])
    >>> MaskedPooling()(x, mask=keras.ops.convert_to_tensor([[1, 1, 0]])).numpy().tolist()
    [[2.0, 3.0]]
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"MaskedPooling: inputs must be [B, T, D] with D known, got {tuple(input_shape)}.")

    def call(self, inputs, mask=None):
        if mask is None:
            mask = ops.ones(ops.shape(inputs)[:2], "bool")
        real = ops.expand_dims(ops.cast(mask, "bool"), -1)
        real_f = ops.cast(real, inputs.dtype)
        count = ops.maximum(ops.sum(real_f, axis=1), 1.0)
        mean = ops.sum(inputs * real_f, axis=1) / count
        lowest = ops.full_like(inputs, -1e9)
        maximum = ops.max(ops.where(real, inputs, lowest), axis=1)
        any_real = ops.any(real, axis=1)
        maximum = ops.where(any_real, maximum, ops.zeros_like(maximum))
        return ops.concatenate([mean, maximum], axis=-1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        dim = input_shape[-1]
        return (input_shape[0], None if dim is None else 2 * dim)
