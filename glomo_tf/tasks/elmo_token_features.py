"""`ElmoBiLMEmbedding`: ELMo vectors of string tokens from the Keras biLM, mixed."""

import keras
import tensorflow as tf

from glomo_tf.features.elmo_bilm import ElmoBiLM, tokens_to_character_ids
from glomo_tf.features.scalar_mix import ScalarMix


@keras.saving.register_keras_serializable(package="glomo_tf")
class ElmoBiLMEmbedding(keras.layers.Layer):
    """String tokens → ELMo character ids → frozen `ElmoBiLM` → `ScalarMix` of its layers.

    The Keras-3 counterpart of `ElmoHubEmbedding` for bilm-tf/allennlp weights
    (`options.json` + `lm_weights.hdf5`): no TF1 needed. The biLM is frozen (as
    released downstream); only the mix (`layer_logits`, `scale`) trains.

    Args:
        bilm: an `ElmoBiLM` (e.g. `ElmoBiLM.from_files(options, weights)`), or its
            config dict (when restoring from a `.keras` file; the weights come back
            from the file).
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        tokens: string `[B, T]`, padded with `""`.

    Returns:
        float `[B, T, 2 * projection_dim]`; padding tokens are 0.

    Example:

    ```python
    bilm = ElmoBiLM.from_files("options.json", "lm_weights.hdf5")
    vectors = ElmoBiLMEmbedding(bilm)(tf.constant([["the", "cat", ""]]))
    ```
    """

    def __init__(self, bilm, **kwargs):
        super().__init__(**kwargs)
        if isinstance(bilm, dict):
            bilm = keras.saving.deserialize_keras_object(bilm)
        if not isinstance(bilm, ElmoBiLM):
            raise ValueError(f"ElmoBiLMEmbedding: `bilm` must be an ElmoBiLM, got {bilm!r}.")
        self.bilm = bilm
        self.bilm.trainable = False
        self.mix = ScalarMix(axis=1, name="scalar_mix")

    def build(self, input_shape):
        chars = tuple(input_shape) + (self.bilm.max_characters_per_token,)
        if not self.bilm.built:
            self.bilm.build(chars)
        layers = self.bilm.num_layers + 1
        self.mix.build((input_shape[0], layers, input_shape[1], self.bilm.output_dim))

    def call(self, tokens):
        tokens = tf.convert_to_tensor(tokens)
        if tokens.dtype != tf.string:
            raise ValueError(
                f"ElmoBiLMEmbedding expects string tokens, got {tokens.dtype.name}.")
        ids = tokens_to_character_ids(tokens, self.bilm.max_characters_per_token)
        layers = tf.stop_gradient(self.bilm(ids)["lm_embeddings"])
        return self.mix(layers)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.bilm.output_dim,)

    def get_config(self):
        config = super().get_config()
        config["bilm"] = keras.saving.serialize_keras_object(self.bilm)
        return config
