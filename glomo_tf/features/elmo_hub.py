"""`ElmoHubEmbedding`: ELMo from a TF-Hub module (google/elmo/3 layout) as a Keras 3 layer.

`hub.KerasLayer` does not work inside Keras 3 models, and the ELMo modules are in
the TF1 Hub format, so this layer calls `tensorflow_hub.load(handle)` itself and
runs the module's `tokens` signature:

- inputs: `tokens` (string `[B, T]`, padding = `""`) and `sequence_len` (int32 `[B]`);
- outputs used: `word_emb` `[B, T, D_w]`, `lstm_outputs1` / `lstm_outputs2`
  `[B, T, D]` (`D = 2 * D_w`: forward and backward concatenated) and `elmo`
  (the module's own fixed mix).

The module is frozen: its outputs sit behind `tf.stop_gradient` (TF1 modules
loaded in TF2 expose no trainable variables to Keras anyway; the stop makes that
explicit and keeps gradients out of the imported graph). TensorFlow backend only.
"""

from __future__ import annotations

import os

import keras

from glomo_tf.features.scalar_mix import ScalarMix

_LAYER_OUTPUTS = ("word_emb", "lstm_outputs1", "lstm_outputs2")
_REQUIRED_OUTPUTS = _LAYER_OUTPUTS + ("elmo",)
_OUTPUT_MODES = ("mix", "layers", "elmo")


class _Unsaved:
    """Holds the loaded module out of Keras' and TF's attribute tracking.

    The module's variables belong to the module (re-loaded from `handle`), not to
    this layer: they must not be saved in the `.keras` file or counted as weights.
    """

    def __init__(self, value):
        self.value = value


@keras.saving.register_keras_serializable(package="glomo_tf")
class ElmoHubEmbedding(keras.layers.Layer):
    """ELMo vectors from a TF-Hub module with the google/elmo/3 `tokens` signature.

    Layer 0 is `word_emb` duplicated to `2 * D_w`, the way the biLM itself
    presents its token layer (bilm-tf's `lm_embeddings`, `ElmoBiLM`), so the three
    layers have one width and can be mixed.

    Args:
        handle: a TF-Hub handle or local module path; kept in `get_config`, so a
            `.keras` file re-loads the module from it (only the mix weights are
            saved in the file).
        output_mode: `"mix"` (default): a `ScalarMix` of the 3 layers, `[B, T, D]`;
            `"layers"`: the 3 layers, `[B, 3, T, D]`; `"elmo"`: the module's own
            `elmo` output, `[B, T, D]`.
        signature: the signature to call (default `"tokens"`).
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        tokens: string `[B, T]`, right-padded with `""`.
        sequence_len: optional int `[B]`; default: the number of non-empty tokens
            in each row.

    Returns:
        float32 `[B, T, D]` (`"mix"`, `"elmo"`) or `[B, 3, T, D]` (`"layers"`);
        positions at or after `sequence_len` are 0.

    Example:

    ```python
    elmo = ElmoHubEmbedding("https://tfhub.dev/google/elmo/3")
    vectors = elmo(tf.constant([["the", "cat", "sat"], ["a", "dog", ""]]))
    # [2, 3, 1024]
    ```
    """

    def __init__(self, handle, output_mode="mix", signature="tokens", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(handle, (str, os.PathLike)) or not str(handle):
            raise ValueError(f"ElmoHubEmbedding: `handle` must be a non-empty str, got {handle!r}.")
        if output_mode not in _OUTPUT_MODES:
            raise ValueError(
                f"ElmoHubEmbedding: `output_mode` must be one of {_OUTPUT_MODES}, got "
                f"{output_mode!r}."
            )
        self.handle = os.fspath(handle)
        self.output_mode = output_mode
        self.signature = signature
        self._signature_fn, self.word_dim, self.layer_dim = self._load_signature()
        self.mix = ScalarMix(axis=1, name="scalar_mix") if output_mode == "mix" else None

    def _load_signature(self):
        import tensorflow_hub as hub

        handle = self.handle
        if "://" not in handle and not os.path.exists(handle):
            raise FileNotFoundError(f"ElmoHubEmbedding: no TF-Hub module at {handle!r}.")
        module = hub.load(handle)
        signatures = getattr(module, "signatures", None) or {}
        if self.signature not in signatures:
            raise ValueError(
                f"ElmoHubEmbedding: the module {handle!r} has no signature "
                f"{self.signature!r} (it has {sorted(signatures)}); an ELMo module "
                "with the google/elmo/3 layout is needed."
            )
        fn = signatures[self.signature]
        _, input_specs = fn.structured_input_signature
        missing_inputs = sorted({"tokens", "sequence_len"} - set(input_specs))
        if missing_inputs:
            raise ValueError(
                f"ElmoHubEmbedding: signature {self.signature!r} of {handle!r} lacks "
                f"the input(s) {missing_inputs} (it takes {sorted(input_specs)})."
            )
        outputs = fn.structured_outputs
        missing = sorted(set(_REQUIRED_OUTPUTS) - set(outputs))
        if missing:
            raise ValueError(
                f"ElmoHubEmbedding: signature {self.signature!r} of {handle!r} lacks "
                f"the output(s) {missing} (it has {sorted(outputs)})."
            )
        word_dim = outputs["word_emb"].shape[-1]
        layer_dim = outputs["lstm_outputs1"].shape[-1]
        if (
            word_dim is None
            or layer_dim is None
            or layer_dim != outputs["lstm_outputs2"].shape[-1]
            or layer_dim not in (word_dim, 2 * word_dim)
        ):
            raise ValueError(
                f"ElmoHubEmbedding: {handle!r} has layer widths word_emb={word_dim}, "
                f"lstm_outputs1={layer_dim}, lstm_outputs2="
                f"{outputs['lstm_outputs2'].shape[-1]}; expected lstm widths equal "
                "and twice (or equal to) the word_emb width."
            )
        # Keep the module object alive (the signature needs its variables) without
        # letting Keras/TF track it as part of this layer.
        self._module = _Unsaved(module)
        return _Unsaved(fn), int(word_dim), int(layer_dim)

    def build(self, tokens_shape, sequence_len_shape=None):
        if len(tuple(tokens_shape)) != 2:
            raise ValueError(
                f"ElmoHubEmbedding: `tokens` must be a string tensor [B, T], got shape "
                f"{tuple(tokens_shape)}."
            )
        if self.mix is not None:
            self.mix.build((tokens_shape[0], 3, tokens_shape[1], self.layer_dim))

    def call(self, tokens, sequence_len=None):
        import tensorflow as tf

        tokens = tf.convert_to_tensor(tokens)
        if tokens.dtype != tf.string:
            raise ValueError(f"ElmoHubEmbedding: `tokens` must be strings, got {tokens.dtype}.")
        if sequence_len is None:
            sequence_len = tf.reduce_sum(tf.cast(tf.not_equal(tokens, ""), tf.int32), axis=1)
        sequence_len = tf.cast(sequence_len, tf.int32)
        outputs = self._signature_fn.value(tokens=tokens, sequence_len=sequence_len)
        mask = tf.sequence_mask(sequence_len, tf.shape(tokens)[1], dtype=tf.float32)
        mask = tf.expand_dims(mask, -1)
        if self.output_mode == "elmo":
            return tf.stop_gradient(outputs["elmo"]) * mask
        layers = [tf.stop_gradient(outputs[name]) * mask for name in _LAYER_OUTPUTS]
        if self.word_dim != self.layer_dim:
            layers[0] = tf.concat([layers[0], layers[0]], axis=-1)
        stacked = tf.stack(layers, axis=1)
        if self.output_mode == "layers":
            return stacked
        return self.mix(stacked)

    def compute_output_shape(self, tokens_shape, sequence_len_shape=None):
        batch, steps = tuple(tokens_shape)
        if self.output_mode == "layers":
            return (batch, 3, steps, self.layer_dim)
        return (batch, steps, self.layer_dim)

    def compute_output_spec(self, tokens, sequence_len=None):
        return keras.KerasTensor(self.compute_output_shape(tokens.shape), dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update(
            {"handle": self.handle, "output_mode": self.output_mode, "signature": self.signature}
        )
        return config
