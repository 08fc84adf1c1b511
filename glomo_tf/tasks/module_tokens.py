"""`ModuleTokens`: a graph module's tokenizer alone, as a Keras layer (no graphs computed)."""

import keras

from glomo_tf.transfer.glomo_graphs import GLoMoGraphs


@keras.saving.register_keras_serializable(package="glomo_tf")
class ModuleTokens(keras.layers.Layer):
    """Text → the module's tokens and mask, truncated to `max_length`; no graph is computed.

    The token side of `GLoMoGraphs` for models whose graphs come from elsewhere (a
    `GraphCache` in the input pipeline) or that need none (feature-only and uniform
    baselines): their steps no longer pay for the frozen predictor.

    Args:
        graphs: a `GLoMoGraphs` layer, or a module path / TF-Hub handle.
        max_length: keep at most this many tokens (None: the module's `max_length`).
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        text: `tf.string [B]` (or `[B, 1]`).

    Returns:
        `{"tokens": string [B, T], "mask": int32 [B, T]}`, T the longest sequence of
        the batch after truncation, at least 1.

    Example:

    ```python
    text = keras.Input(shape=(), dtype="string")
    out = ModuleTokens("saved_models/glomo_wiki", max_length=400)(text)
    ```
    """

    def __init__(self, graphs, max_length=None, **kwargs):
        kwargs["trainable"] = False
        super().__init__(**kwargs)
        if max_length is not None and (isinstance(max_length, bool)
                                       or not isinstance(max_length, int) or max_length < 1):
            raise ValueError(
                f"ModuleTokens: `max_length` must be a positive int or None, got {max_length!r}.")
        self.graphs = graphs if isinstance(graphs, GLoMoGraphs) else GLoMoGraphs(graphs)
        self.max_length = max_length or self.graphs.max_length
        self.supports_jit = False
        self.built = True

    def call(self, text):
        outputs = self.graphs.module.tokenize(self.graphs._as_text(text))
        # At least one column, as the module guarantees (`[:, :n]` keeps it).
        return {"tokens": outputs["tokens"][:, : self.max_length],
                "mask": outputs["mask"][:, : self.max_length]}

    def compute_output_spec(self, text):
        batch = text.shape[0]
        return {"tokens": keras.KerasTensor((batch, None), "string"),
                "mask": keras.KerasTensor((batch, None), "int32")}

    def get_config(self):
        config = super().get_config()
        config.update({"graphs": self.graphs.handle, "max_length": self.max_length})
        config.pop("trainable", None)
        return config


__all__ = ["ModuleTokens"]
