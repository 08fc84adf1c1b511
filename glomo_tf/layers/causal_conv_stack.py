import keras
from keras import ops


@keras.saving.register_keras_serializable(package="glomo_tf")
class CausalConvStack(keras.layers.Layer):
    """The key/query CNN of the graph predictor.

    `num_layers` x [causal Conv1D(kernel_size) -> BatchNorm -> ReLU]. Padded positions are
    zeroed at the input of every convolution, so a unit never reads padding (and, in the
    backward direction where the reversed padding comes first, padding acts exactly like the
    causal convolution's own zero padding). BatchNorm statistics are taken over real
    positions only; on TensorFlow they are synchronized over the replicas of a
    `tf.distribute` strategy (Keras computes masked statistics per replica, so with a
    padding mask they are the replica's own).

    Args:
        num_layers: int, number of conv blocks.
        kernel_size: int, width of each causal convolution.
        filters: int or None, output channels; None keeps the input width (as released).

    Call arguments:
        inputs: float tensor `[batch, T, d]`.
        padding_mask: optional `[batch, T]`, 1/True for real units.
        training: BatchNorm uses batch statistics when True, running ones otherwise.

    Returns:
        float tensor `[batch, T, filters]`; position t depends on inputs t-r..t only, with
        r = num_layers * (kernel_size - 1).

    Example:
    >>> stack = CausalConvStack(num_layers=2, kernel_size=3)
    >>> stack(keras.ops.ones((2, 5, 8))).shape
    (2, 5, 8)
    """

    def __init__(self, num_layers=4, kernel_size=3, filters=None, **kwargs):
        super().__init__(**kwargs)
        if num_layers < 1 or kernel_size < 1:
            raise ValueError(
                f"`num_layers` and `kernel_size` must be >= 1, got {num_layers}, {kernel_size}."
            )
        self.num_layers = num_layers
        self.kernel_size = kernel_size
        self.filters = filters
        self.supports_masking = False

    def build(self, inputs_shape):
        filters = self.filters or inputs_shape[-1]
        self.convs, self.norms = [], []
        shape = tuple(inputs_shape)
        for i in range(self.num_layers):
            conv = keras.layers.Conv1D(
                filters, self.kernel_size, padding="causal", dtype=self.dtype_policy,
                name=f"conv_{i}",
            )
            conv.build(shape)
            shape = shape[:-1] + (filters,)
            # Synchronized (TF only): under a multi-replica strategy the batch statistics
            # and the running ones are those of the global batch, the same on every
            # replica and worker, as in a single-device run of that batch.
            norm = keras.layers.BatchNormalization(
                synchronized=keras.backend.backend() == "tensorflow",
                dtype=self.dtype_policy, name=f"norm_{i}",
            )
            norm.build(shape)
            self.convs.append(conv)
            self.norms.append(norm)

    def call(self, inputs, padding_mask=None, training=None):
        x = inputs
        keep = None
        if padding_mask is not None:
            padding_mask = ops.cast(padding_mask, "bool")
            keep = ops.cast(padding_mask, x.dtype)[..., None]
        for conv, norm in zip(self.convs, self.norms):
            if keep is not None:
                x = x * ops.cast(keep, x.dtype)
            x = conv(x)
            x = norm(x, training=training, mask=padding_mask)
            x = ops.relu(x)
        return x

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape[:-1]) + (self.filters or inputs_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_layers=self.num_layers, kernel_size=self.kernel_size, filters=self.filters
        )
        return config
