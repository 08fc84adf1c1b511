"""`GatedLinear`: the gate that fuses graph-propagated features in GLoMo transfer."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="glomo_tf")
class GatedLinear(keras.layers.Layer):
    """A linear map modulated by a learned sigmoid gate.

    `y = (x W + b) * sigmoid(x W_g + b_g)`, applied to the last axis. GLoMo's
    transfer step uses it to squeeze `[h_i; s_1 (M^1 H)_i; ...]` back to the
    feature size: the gate lets each unit decide, per feature, how much of the
    graph-propagated context to let through.

    Args:
        units: positive int, size of the output's last axis.
        use_bias: whether the value and the gate carry a bias (`b`, `b_g`).
        kernel_initializer: initializer for `W` and `W_g`.
        bias_initializer: initializer for `b` and `b_g`.
        kernel_regularizer: optional regularizer for `W` and `W_g`.
        bias_regularizer: optional regularizer for `b` and `b_g`.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: tensor `[..., D_in]` (any rank >= 2; the last axis must be
            known at build time).

    Returns:
        Tensor `[..., units]`.

    Weights: `kernel` `[D_in, units]`, `gate_kernel` `[D_in, units]` and, with
    `use_bias`, `bias` `[units]` and `gate_bias` `[units]`.

    Example:

    >>> layer = GatedLinear(4)
    >>> y = layer(keras.ops.ones((2, 7, 10)))
    >>> tuple(y.shape)
    (2, 7, 4)
    """

    def __init__(
        self,
        units,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(
                f"GatedLinear: `units` must be a positive int, got {units!r}."
            )
        self.units = units
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(
                "GatedLinear: inputs must have rank >= 2 with a known last "
                f"axis, got shape {tuple(input_shape)}."
            )
        input_dim = input_shape[-1]
        self.kernel = self.add_weight(
            name="kernel",
            shape=(input_dim, self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.gate_kernel = self.add_weight(
            name="gate_kernel",
            shape=(input_dim, self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
            )
            self.gate_bias = self.add_weight(
                name="gate_bias",
                shape=(self.units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
            )
        else:
            self.bias = None
            self.gate_bias = None

    def call(self, inputs):
        value = ops.matmul(inputs, self.kernel)
        gate = ops.matmul(inputs, self.gate_kernel)
        if self.use_bias:
            value = value + self.bias
            gate = gate + self.gate_bias
        return value * ops.sigmoid(gate)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
                "kernel_regularizer": keras.regularizers.serialize(
                    self.kernel_regularizer
                ),
                "bias_regularizer": keras.regularizers.serialize(
                    self.bias_regularizer
                ),
            }
        )
        return config
