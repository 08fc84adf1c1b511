"""`GLoMoGraphs`: an exported graph module as a frozen Keras 3 layer."""

import os

import keras
import tensorflow as tf
import tensorflow_hub as hub
import tensorflow_text  # noqa: F401  (registers the module's tokenizer ops before loading)

from glomo_tf.export.graph_module import (
    VOCAB_FILENAME,
    GraphModule,
    load_graph_module,
    read_module_config,
)
from glomo_tf.presets import resolve_module

ID_KEYS = (("token_ids", "padding_mask"), ("ids", "mask"))


def _resolve(handle):
    """A local directory for a path, a preset name or a TF-Hub handle (URLs are downloaded
    and cached)."""
    handle = resolve_module(handle)
    if os.path.exists(handle) or "://" not in handle:
        return handle
    return hub.resolve(handle)


@keras.saving.register_keras_serializable(package="glomo_tf")
class GLoMoGraphs(keras.layers.Layer):
    """Graphs of a pretrained GLoMo module (see `glomo_tf.export.graph_module`), frozen.

    A thin layer around `tf.saved_model.load` (`hub.KerasLayer` fails inside Keras 3 models
    and `keras.layers.TFSMLayer` breaks Adam). The loaded module is tracked by the layer, so
    its weights stay alive and travel with a TF SavedModel of the downstream model; they are
    not Keras weights of the layer (a `.keras` file stores only the handle, and the module is
    reloaded from it), never trainable, and the outputs sit behind `tf.stop_gradient`.
    The layer runs eagerly or in `tf.function` on the TensorFlow backend; string ops and
    lookup tables do not compile with XLA, so `supports_jit` is False.

    Under a multi-replica `tf.distribute` strategy, Keras 3.15's `fit` averages the first
    input batch across replicas to build the model, which fails for strings ("Value for
    attr 'T' of string is not in the list of allowed values"). There, tokenize in the input
    pipeline, `dataset.map(lambda text, y: (layer.tokenize(text), y))`, and feed the
    model `{"ids", "mask"}` (one replica, the default strategy, takes text directly).

    Args:
        handle: path of a module directory, the name of a bundled module (`glomo presets`;
            stored as the name, so a saved model reloads it on any install), or a TF-Hub
            handle (URL).
        graph_module: optional, the `GraphModule` of `handle` already loaded
            (`load_graph_module`), so a caller that holds one does not load it again. It
            must be the module `handle` names; the config stores only `handle`.

    Call arguments:
        inputs: either text, `tf.string [B]` (or `[B, 1]`); or a dict of ids and mask,
            `{"token_ids": int [B, T], "padding_mask": [B, T]}` (`{"ids", "mask"}` also);
            or words a task has split itself, `{"tokens": tf.string [B, T]}` padded with
            `""` (the module's `graphs_from_tokens`: its normalisation and vocabulary, no
            splitting, so the graphs' positions are the task's words).

    Returns:
        For text and tokens: `{"tokens": string [B, T], "ids": int32 [B, T], "mask": int32
        [B, T], "graphs": float32 [B, 2, L, K, T, T]}`; for ids: `{"graphs": ...}`. T is
        the longest sequence of the batch, truncated to the module's `max_length`, at
        least 1. Direction 0 is forward (j < i), 1 backward in input order (j > i).

    Example:
    ```python
    text = keras.Input(shape=(), dtype="string")
    layer = GLoMoGraphs.from_preset("glomo_planted_tiny")  # or GLoMoGraphs(path)
    out = layer(text)
    features = keras.layers.Embedding(layer.vocabulary_size, 16)(out["ids"])
    ```
    """

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """The layer of a bundled module by name (keras-hub's convention).

        Args:
            preset: a name `glomo_tf.presets.list_presets()` knows (`glomo presets`), or,
                as keras-hub allows, a module path or TF-Hub handle.
            **kwargs: `keras.layers.Layer` arguments (`name`, ...).

        Raises:
            glomo_tf.presets.UnknownPresetError (a `ValueError`): an unknown name; the
            message lists the known ones.
        """
        return cls(preset, **kwargs)

    def __init__(self, handle, graph_module=None, **kwargs):
        kwargs["trainable"] = False
        super().__init__(**kwargs)
        self.handle = os.fspath(handle)
        self.supports_jit = False
        path = _resolve(self.handle)
        if not os.path.isdir(path):
            raise FileNotFoundError(f"GLoMo graph module not found: {self.handle}")
        if graph_module is None:
            graph_module = load_graph_module(path)
        elif not isinstance(graph_module, GraphModule):
            raise TypeError(f"GLoMoGraphs: graph_module must be a GraphModule (load_graph_module), "
                            f"got {type(graph_module).__name__}.")
        elif os.path.realpath(graph_module.path) != os.path.realpath(path):
            # A saved downstream model reloads from `handle`: it must be this module.
            raise ValueError(f"GLoMoGraphs: graph_module was loaded from {graph_module.path}, "
                             f"but handle {self.handle!r} names {path}.")
        self._graph_module = graph_module
        # Tracked (a trackable attribute of a TF-backend layer), so a TF checkpoint or
        # SavedModel of the downstream model includes the module and its variables.
        self.module = graph_module.module
        config = graph_module.config
        self.num_layers = config["num_layers"]
        self.num_heads = config["num_heads"]
        self.max_length = config["max_length"]
        self.vocabulary_size = config["vocabulary_size"]
        self.built = True

    @property
    def vocabulary(self):
        """The module's vocabulary, index = id."""
        return list(self._graph_module.vocabulary)

    @property
    def module_config(self):
        return dict(self._graph_module.config)

    @property
    def module_variables(self):
        """The module's (frozen) tf.Variables."""
        return self._graph_module.variables

    def tokenize(self, text):
        """Text `[B]` → `{"ids": int32 [B, T], "mask": int32 [B, T]}` (for `tf.data`)."""
        outputs = self.module.tokenize(self._as_text(text))
        return {"ids": outputs["ids"], "mask": outputs["mask"]}

    def _split_ids(self, inputs):
        for ids_key, mask_key in ID_KEYS:
            if ids_key in inputs:
                ids = tf.convert_to_tensor(inputs[ids_key])
                mask = inputs.get(mask_key)
                mask = tf.ones_like(ids, tf.int32) if mask is None else tf.convert_to_tensor(mask)
                break
        else:
            raise ValueError(
                "GLoMoGraphs expects text or a dict with 'token_ids' (+ 'padding_mask'), "
                f"'ids' (+ 'mask') or 'tokens'; got keys {sorted(inputs)}."
            )
        if not ids.dtype.is_integer or ids.shape.rank != 2:
            raise ValueError(
                f"GLoMoGraphs: ids must be integers [batch, T]; got {ids.dtype.name} {ids.shape}.")
        return tf.cast(ids, tf.int32), tf.cast(mask, tf.int32)

    def _as_text(self, inputs):
        text = tf.convert_to_tensor(inputs)
        if text.dtype != tf.string:
            raise ValueError(
                f"GLoMoGraphs expects text as tf.string [batch] (or ids in a dict); got dtype "
                f"{text.dtype.name}."
            )
        if text.shape.rank == 2 and text.shape[1] == 1:
            text = text[:, 0]
        if text.shape.rank != 1:
            raise ValueError(
                f"GLoMoGraphs expects text of shape [batch] or [batch, 1]; got {text.shape}.")
        return text

    def _as_tokens(self, tokens):
        if isinstance(tokens, tf.RaggedTensor):
            tokens = tokens.to_tensor(default_value="")
        tokens = tf.convert_to_tensor(tokens)
        if tokens.dtype != tf.string or tokens.shape.rank != 2:
            raise ValueError(
                "GLoMoGraphs expects {'tokens': tf.string [batch, T]} (words padded with ''); "
                f"got dtype {tokens.dtype.name}, shape {tokens.shape}.")
        return tokens

    def call(self, inputs):
        if isinstance(inputs, dict) and "tokens" in inputs:
            tokens = self._as_tokens(inputs["tokens"])
            if self._graph_module.has_token_function:
                outputs = self.module.graphs_from_tokens(tokens)
            else:
                outputs = self._graph_module.graphs_from_tokens(tokens)
            return {key: tf.stop_gradient(outputs[key])
                    for key in ("tokens", "ids", "mask", "graphs")}
        if isinstance(inputs, dict):
            ids, mask = self._split_ids(inputs)
            outputs = self.module.graphs_from_ids(ids, mask)
            return {"graphs": tf.stop_gradient(outputs["graphs"])}
        outputs = self.module.graphs(self._as_text(inputs))
        return {key: tf.stop_gradient(outputs[key])
                for key in ("tokens", "ids", "mask", "graphs")}

    def _graph_shape(self, batch, length):
        return (batch, 2, self.num_layers, self.num_heads, length, length)

    def compute_output_spec(self, inputs):
        if isinstance(inputs, dict) and "tokens" in inputs:
            tokens = inputs["tokens"]
            if tokens.dtype != "string" or len(tokens.shape) != 2:
                raise ValueError(
                    "GLoMoGraphs expects {'tokens': tf.string [batch, T]}; got dtype "
                    f"{tokens.dtype}, shape {tokens.shape}.")
            batch, length = tokens.shape
            if length is not None:
                length = max(1, min(length, self.max_length))
            return {
                "tokens": keras.KerasTensor((batch, length), "string"),
                "ids": keras.KerasTensor((batch, length), "int32"),
                "mask": keras.KerasTensor((batch, length), "int32"),
                "graphs": keras.KerasTensor(self._graph_shape(batch, length), "float32"),
            }
        if isinstance(inputs, dict):
            ids = next((inputs[k] for k, _ in ID_KEYS if k in inputs), None)
            if ids is None:
                self._split_ids(inputs)  # raises the error naming the expected keys
            batch, length = ids.shape[0], ids.shape[1]
            if length is not None:
                length = max(1, min(length, self.max_length))
            return {"graphs": keras.KerasTensor(self._graph_shape(batch, length), "float32")}
        batch = inputs.shape[0]
        return {
            "tokens": keras.KerasTensor((batch, None), "string"),
            "ids": keras.KerasTensor((batch, None), "int32"),
            "mask": keras.KerasTensor((batch, None), "int32"),
            "graphs": keras.KerasTensor(self._graph_shape(batch, None), "float32"),
        }

    def get_config(self):
        config = super().get_config()
        config["handle"] = self.handle
        config.pop("trainable", None)
        return config


def module_vocabulary(handle):
    """The vocabulary of a module (a path, TF-Hub handle, `GraphModule` or `GLoMoGraphs`)."""
    if isinstance(handle, (GLoMoGraphs, GraphModule)):
        return list(handle.vocabulary)
    path = _resolve(handle)
    read_module_config(path)
    with open(os.path.join(path, "assets", VOCAB_FILENAME), encoding="utf-8") as f:
        return f.read().split("\n")[:-1]
