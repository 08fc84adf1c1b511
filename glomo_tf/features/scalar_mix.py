"""`ScalarMix`: a learned, softmax-normalised weighted sum of layers, times a scale."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="glomo_tf")
class ScalarMix(keras.layers.Layer):
    """`gamma * sum_k softmax(w)_k * layer_k` over a stack of same-shaped layers.

    This is how ELMo's layers are consumed downstream (Peters et al. 2018, eq. 1;
    the released GLoMo SQuAD model uses it on ELMo's 3 layers): one scalar logit
    per layer, softmax-normalised so the mix stays a convex combination, and one
    learned scale `gamma` that lets the task rescale the whole vector. With the
    default zero logits the mix starts as the plain mean of the layers.

    Args:
        axis: the layer axis when the input is a single stacked tensor
            (default 1, as in ELMo's `[B, L, T, D]` output). Ignored when the
            input is a list of tensors.
        initial_logits: optional list of floats, one per layer, for `w`
            (default: all zeros, i.e. an equal-weight mean).
        initial_scale: initial value of `gamma` (default 1.0).
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        inputs: either a tensor with the layers stacked on `axis`
            (`[B, L, T, D]` for `axis=1`), or a list/tuple of `L` tensors of
            one shape (`[B, T, D]` each).

    Returns:
        The mix, with the layer axis removed: `[B, T, D]` in both cases.

    Weights: `layer_logits` `[L]` (the `w` before the softmax) and `scale` `[]`
    (`gamma`).

    Example:

    >>> mix = ScalarMix()
    >>> y = mix(keras.ops.ones((2, 3, 5, 8)))
    >>> tuple(y.shape)
    (2, 5, 8)
    """

    def __init__(self, axis=1, initial_logits=None, initial_scale=1.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"ScalarMix: `axis` must be an int, got {axis!r}.")
        self.axis = axis
        self.initial_logits = (
            None if initial_logits is None else [float(v) for v in initial_logits]
        )
        self.initial_scale = float(initial_scale)
        self.num_layers = None

    def _layer_count_and_shape(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and input_shape and isinstance(
            input_shape[0], (list, tuple)
        ):
            shapes = [tuple(s) for s in input_shape]
            if len({len(s) for s in shapes}) != 1:
                raise ValueError(
                    f"ScalarMix: all layers must have the same rank, got {shapes}."
                )
            return len(shapes), shapes[0]
        shape = tuple(input_shape)
        if len(shape) < 2:
            raise ValueError(
                f"ScalarMix: a stacked input needs rank >= 2, got shape {shape}."
            )
        axis = self.axis % len(shape)
        if shape[axis] is None:
            raise ValueError(
                f"ScalarMix: the layer axis {self.axis} must be known, got shape "
                f"{shape}."
            )
        return shape[axis], shape[:axis] + shape[axis + 1 :]

    def build(self, input_shape):
        num_layers, _ = self._layer_count_and_shape(input_shape)
        if num_layers < 1:
            raise ValueError("ScalarMix: needs at least one layer to mix.")
        if self.initial_logits is not None and len(self.initial_logits) != num_layers:
            raise ValueError(
                f"ScalarMix: `initial_logits` has {len(self.initial_logits)} "
                f"values but the input has {num_layers} layers."
            )
        self.num_layers = num_layers
        logits_init = (
            keras.initializers.Zeros()
            if self.initial_logits is None
            else keras.initializers.Constant(self.initial_logits)
        )
        self.layer_logits = self.add_weight(
            name="layer_logits", shape=(num_layers,), initializer=logits_init
        )
        self.scale = self.add_weight(
            name="scale",
            shape=(),
            initializer=keras.initializers.Constant(self.initial_scale),
        )

    def call(self, inputs):
        weights = ops.softmax(self.layer_logits)
        if isinstance(inputs, (list, tuple)):
            if len(inputs) != self.num_layers:
                raise ValueError(
                    f"ScalarMix: built for {self.num_layers} layers, got "
                    f"{len(inputs)}."
                )
            mixed = weights[0] * inputs[0]
            for k in range(1, len(inputs)):
                mixed = mixed + weights[k] * inputs[k]
        else:
            axis = self.axis % len(inputs.shape)
            # Broadcast the weights along the layer axis, then sum it away.
            shape = [1] * len(inputs.shape)
            shape[axis] = self.num_layers
            weights = ops.reshape(ops.cast(weights, inputs.dtype), shape)
            mixed = ops.sum(inputs * weights, axis=axis)
        return ops.cast(self.scale, mixed.dtype) * mixed

    def compute_output_shape(self, input_shape):
        return self._layer_count_and_shape(input_shape)[1]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "axis": self.axis,
                "initial_logits": self.initial_logits,
                "initial_scale": self.initial_scale,
            }
        )
        return config
