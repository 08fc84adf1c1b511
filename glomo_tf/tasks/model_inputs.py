"""The text inputs of the task models: tokens, mask and graphs, from the module or a cache."""

import keras

from glomo_tf.layers.sparse_graphs import SPARSE_KEYS
from glomo_tf.tasks.module_tokens import ModuleTokens
from glomo_tf.tasks.task_datasets import graph_input_name

GRAPH_INPUTS = ("module", "cached", "propagated")
GRAPH_TRANSFERS = ("embeddings", "rnn")


def text_input(name, graphs, transfer, graph_inputs="module", max_length=None):
    """One string input of a task model and what the encoder reads from it.

    - `transfer` "none"/"uniform": tokens and mask from the module's tokenizer only
      (`ModuleTokens`); no graph is computed.
    - GLoMo modes with `graph_inputs="module"`: the `GLoMoGraphs` layer computes the
      dense graphs of every batch inside the model (text in, nothing else needed).
    - GLoMo modes with `graph_inputs="cached"`: the graphs are four more model inputs
      (`{name}_graph_values`, ..., `[B, N]`), fed from a `GraphCache` by
      `task_datasets.task_dataset`.
    - GLoMo on embeddings with `graph_inputs="propagated"`: the candidates `Γ^c H` are one
      more input (`{name}_graph_propagated`, float16 `[B, T, 2, C, D]`), fed from a
      `PropagatedCache`.

    Args:
        name: the input's name (`"text"`, `"premise"`, `"context"`, ...).
        graphs: the `GLoMoGraphs` layer of the module.
        transfer: the transfer mode.
        graph_inputs: `"module"`, `"cached"` or `"propagated"`.
        max_length: tokens kept (the cache's T; default the module's `max_length`).

    Returns:
        `(inputs, tokens, mask, graphs)`: a dict of `keras.Input`s, string tokens
        `[B, T]`, int mask `[B, T]`, and dense graphs, the sparse dict, the propagated
        dict, or None.
    """
    if graph_inputs not in GRAPH_INPUTS:
        raise ValueError(f"graph_inputs must be one of {GRAPH_INPUTS}, got {graph_inputs!r}.")
    text = keras.Input(shape=(), dtype="string", name=name)
    inputs = {name: text}
    if transfer in GRAPH_TRANSFERS and graph_inputs == "module":
        out = graphs(text)
        return inputs, out["tokens"], out["mask"], out["graphs"]
    out = ModuleTokens(graphs, max_length=max_length, name=f"{name}_tokens")(text)
    sparse = None
    if transfer in GRAPH_TRANSFERS and graph_inputs == "propagated":
        if transfer != "embeddings":
            raise ValueError("graph_inputs='propagated' holds candidates of fixed features: "
                             f"only transfer='embeddings', got {transfer!r}.")
        key = graph_input_name(name, "propagated")
        inputs[key] = keras.Input(shape=(None, 2, None, None), dtype="float16", name=key)
        return inputs, out["tokens"], out["mask"], {"propagated": inputs[key]}
    if transfer in GRAPH_TRANSFERS:
        sparse = {key: keras.Input(shape=(None,), dtype="float32" if key == "values" else "int32",
                                   name=graph_input_name(name, key)) for key in SPARSE_KEYS}
        inputs.update({graph_input_name(name, key): tensor for key, tensor in sparse.items()})
    return inputs, out["tokens"], out["mask"], sparse


def transfer_encoder(config, graphs, name="encoder"):
    """The `TransferEncoder` of a `FinetuneConfig` (L and K from the module)."""
    from glomo_tf.tasks.transfer_encoder import TransferEncoder

    return TransferEncoder(
        config.hidden_dim, transfer=config.transfer, num_mixtures=config.num_mixtures,
        hierarchical=config.hierarchical, token_conditioned=config.token_conditioned,
        dropout=config.dropout, seed=config.seed, num_graph_layers=graphs.num_layers,
        num_heads=graphs.num_heads, name=name)
