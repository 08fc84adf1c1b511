"""`CharacterCNN`: BiDAF's character-level word features, on string tokens."""

import keras
import tensorflow as tf
from keras import ops

from glomo_tf.features.elmo_bilm import tokens_to_character_ids

# Byte ids + word markers + padding, shifted by 1 (0 = padding token): 1..261.
NUM_CHARACTER_IDS = 262


@keras.saving.register_keras_serializable(package="glomo_tf")
class CharacterCNN(keras.layers.Layer):
    """Character embedding → Conv1D over each token's characters → ReLU → max over time.

    Characters are the token's UTF-8 bytes between begin/end-of-word markers, cut to
    `max_chars` (the ELMo character ids, `tokens_to_character_ids`), so any token,
    whatever the vocabulary, gets a vector. The padding token `""` gives zeros.
    TensorFlow backend only (string input).

    Args:
        char_dim: character embedding size.
        filters: number of convolution filters (the output size).
        width: convolution width (`<= max_chars`).
        max_chars: characters per token, markers included.
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        tokens: string `[B, T]`, padded with `""`.

    Returns:
        float `[B, T, filters]`.

    Weights: `embeddings` `[262, char_dim]`, `kernel` `[width, char_dim, filters]`,
    `bias` `[filters]`.

    Example:

    >>> layer = CharacterCNN(char_dim=4, filters=6, width=3, max_chars=8)
    >>> tuple(layer(tf.constant([["the", "cat", ""]])).shape)
    (1, 3, 6)
    """

    def __init__(self, char_dim=8, filters=32, width=5, max_chars=16, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("char_dim", char_dim), ("filters", filters), ("width", width),
                            ("max_chars", max_chars)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"CharacterCNN: `{name}` must be a positive int, got {value!r}.")
        if max_chars < max(width, 3):
            raise ValueError(
                f"CharacterCNN: `max_chars` ({max_chars}) must be >= max(width, 3) = "
                f"{max(width, 3)}.")
        self.char_dim = char_dim
        self.filters = filters
        self.width = width
        self.max_chars = max_chars

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            name="embeddings", shape=(NUM_CHARACTER_IDS, self.char_dim),
            initializer=keras.initializers.RandomUniform(-0.1, 0.1))
        self.kernel = self.add_weight(
            name="kernel", shape=(self.width, self.char_dim, self.filters),
            initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def call(self, tokens):
        tokens = tf.convert_to_tensor(tokens)
        if tokens.dtype != tf.string:
            raise ValueError(f"CharacterCNN expects string tokens, got {tokens.dtype.name}.")
        ids = tokens_to_character_ids(tokens, self.max_chars)  # [B, T, C]
        batch, steps = ops.shape(ids)[0], ops.shape(ids)[1]
        flat = ops.reshape(ids, (-1, self.max_chars))
        chars = ops.take(self.embeddings, flat, axis=0)
        conv = ops.conv(chars, self.kernel, strides=1, padding="valid") + self.bias
        pooled = ops.max(ops.relu(conv), axis=1)
        real = ops.cast(ops.reshape(tokens != "", (-1, 1)), pooled.dtype)
        return ops.reshape(pooled * real, (batch, steps, self.filters))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update({"char_dim": self.char_dim, "filters": self.filters,
                       "width": self.width, "max_chars": self.max_chars})
        return config
