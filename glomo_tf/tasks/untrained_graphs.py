"""The untrained-predictor ablation: a module's shape and tokenizer, a randomly initialised predictor.

`UntrainedGraphSource(graph_module, seed)` tokenizes with the pretrained module but computes
graphs with a fresh `GLoMoPretrainer` of the module's `model_config` (embedding and both
graph predictors at their initialisation, BatchNorm at its initial statistics: mean 0,
variance 1, used in inference mode), so a transfer run on it differs from the GLoMo run
only in the predictor's weights: what pretraining adds. It has what `build_graph_cache`
needs (`config`, `vocabulary`, `variables`, `tokenize`, `graphs_from_ids`); its cache
identity carries `untrained_seed`.

`UntrainedGLoMoGraphs` is the same ablation as a `GLoMoGraphs` layer: dense graphs inside
the model every step, for modules whose rows are too dense to cache at the task's length
(`graph_cache=False`).
"""

import os

import keras
import numpy as np
import tensorflow as tf

from glomo_tf.transfer.glomo_graphs import GLoMoGraphs


class UntrainedGraphSource:
    """Graphs of a randomly initialised predictor shaped like `graph_module`'s.

    Args:
        graph_module: a loaded `GraphModule` (shape, tokenizer and vocabulary).
        seed: int seed of the initialisation.

    Example:

    ```python
    source = UntrainedGraphSource(load_graph_module("saved_models/glomo_wiki"), seed=0)
    source.graphs_from_ids([[3, 4, 5]], [[1, 1, 1]])["graphs"]   # [1, 2, L, K, 3, 3]
    ```
    """

    def __init__(self, graph_module, seed=0):
        from glomo_tf.configs import GLoMoConfig
        from glomo_tf.models.glomo_pretrainer import GLoMoPretrainer

        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"UntrainedGraphSource: seed must be an int, got {seed!r}.")
        self.graph_module = graph_module
        self.config = dict(graph_module.config)
        self.vocabulary = list(graph_module.vocabulary)
        self.path = os.fspath(graph_module.path)
        self.seed = int(seed)
        self.identity_extra = {"untrained_seed": self.seed}
        self.model = GLoMoPretrainer(GLoMoConfig.from_dict(self.config["model_config"]),
                                     seed=self.seed)
        self.model.trainable = False
        self._graphs = tf.function(
            lambda ids, mask: self.model.predict_graphs(
                {"token_ids": ids, "padding_mask": mask > 0}, training=False),
            input_signature=[tf.TensorSpec([None, None], tf.int32)] * 2)
        self._graphs(tf.ones((1, 2), tf.int32), tf.ones((1, 2), tf.int32))

    @property
    def max_length(self):
        return self.config["max_length"]

    @property
    def variables(self):
        """What the graphs read: the embedding and both graph predictors (BatchNorm included)."""
        model = self.model
        layers = [model.embedding] + [model.graph_predictors[d] for d in ("forward", "backward")]
        return [v for layer in layers for v in layer.variables]

    def tokenize(self, text):
        return self.graph_module.tokenize(text)

    def word_char_spans(self, texts):
        return self.graph_module.word_char_spans(texts)

    def graphs_from_ids(self, ids, mask=None):
        ids = tf.convert_to_tensor(ids, tf.int32)
        mask = tf.ones_like(ids) if mask is None else tf.cast(mask, tf.int32)
        ids = ids[:, : self.max_length] * mask[:, : self.max_length]
        return {"graphs": tf.cast(self._graphs(ids, mask[:, : self.max_length]), tf.float32)}


@keras.saving.register_keras_serializable(package="glomo_tf")
class UntrainedGLoMoGraphs(GLoMoGraphs):
    """`GLoMoGraphs` of a module's tokenizer with an untrained predictor's graphs.

    The layer form of `UntrainedGraphSource` (same `seed`, same graphs), for the
    untrained-predictor ablation without a graph cache. The predictor is not a Keras
    weight of the layer: a saved downstream model stores `handle` and `seed` and rebuilds
    the same initialisation on load.

    Args:
        handle: a module path, bundled module name or TF-Hub handle (its shape and
            tokenizer are used; its predictor weights are not).
        seed: int seed of the predictor's initialisation.
        graph_module: optional, `handle`'s module already loaded (as for `GLoMoGraphs`).
        **kwargs: `keras.layers.Layer` arguments.

    Call arguments:
        inputs: text, `tf.string [B]` (or `[B, 1]`), or ids `{"ids", "mask"}` as for
            `GLoMoGraphs`; pre-split words (`{"tokens": ...}`) are not supported.

    Returns:
        As `GLoMoGraphs`: for text `{"tokens", "ids", "mask": [B, T], "graphs":
        float32 [B, 2, L, K, T, T]}`, for ids `{"graphs"}`.

    Example:

    ```python
    text = keras.Input(shape=(), dtype="string")
    out = UntrainedGLoMoGraphs("saved_models/glomo_wiki", seed=0)(text)
    ```
    """

    def __init__(self, handle, seed=0, graph_module=None, **kwargs):
        super().__init__(handle, graph_module=graph_module, **kwargs)
        self.seed = seed
        self.source = UntrainedGraphSource(self._graph_module, seed=seed)

    def call(self, inputs):
        if isinstance(inputs, dict) and "tokens" in inputs:
            raise ValueError("UntrainedGLoMoGraphs takes text or ids, not pre-split tokens.")
        if isinstance(inputs, dict):
            ids, mask = self._split_ids(inputs)
            return {"graphs": tf.stop_gradient(self.source.graphs_from_ids(ids, mask)["graphs"])}
        outputs = dict(self.module.tokenize(self._as_text(inputs)))
        outputs["graphs"] = self.source.graphs_from_ids(outputs["ids"], outputs["mask"])["graphs"]
        return {key: tf.stop_gradient(outputs[key]) for key in ("tokens", "ids", "mask", "graphs")}

    def get_config(self):
        config = super().get_config()
        config["seed"] = self.seed
        return config
