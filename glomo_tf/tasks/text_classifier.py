"""The IMDB / SST-2 model: raw text → module graphs + features → BiGRU → self-attention → pool → classes."""

import keras

from glomo_tf.tasks.masked_pooling import MaskedPooling
from glomo_tf.tasks.model_inputs import text_input, transfer_encoder
from glomo_tf.tasks.trilinear_attention import TrilinearAttention


def build_text_classifier(config, graphs, features, num_classes=2, graph_inputs="module"):
    """Builds the text classifier of a `FinetuneConfig`.

    Text `[B]` → `graphs` (a `GLoMoGraphs` layer: tokens, mask, graphs) → `features`
    of the tokens → `TransferEncoder` (the transfer mode) → trilinear self-attention
    (every paper baseline has self-attention) → masked mean+max pooling → dropout →
    Dense(ReLU) → Dense(`num_classes`) logits.

    Args:
        config: `FinetuneConfig` (`transfer`, `hidden_dim`, `dropout`, `num_mixtures`,
            `seed`).
        graphs: a `GLoMoGraphs` layer.
        features: a layer from string tokens `[B, T]` to `[B, T, D]`.
        num_classes: number of classes.
        graph_inputs: `"module"` (graphs computed in the model) or `"cached"` (the
            sparse graphs are inputs `text_graph_*`, see `model_inputs.text_input`).

    Returns:
        A `keras.Model` from `{"text": string [B]}` (+ the cached graphs) to logits
        `[B, num_classes]`.

    Example:

    ```python
    model = build_text_classifier(FinetuneConfig(transfer="embeddings"),
                                  GLoMoGraphs("module"), glove_layer)
    model(tf.constant(["a fine film ."]))   # [1, 2] logits
    ```
    """
    inputs, tokens, mask, text_graphs = text_input(
        "text", graphs, config.transfer, graph_inputs,
        max_length=min(config.max_tokens, graphs.max_length))
    h = features(tokens)
    encoded = transfer_encoder(config, graphs)(h, graphs=text_graphs, mask=mask)
    attended = TrilinearAttention(self_attention=True, name="self_attention")(
        encoded, context_mask=mask)
    pooled = MaskedPooling(name="pooling")(attended, mask=mask)
    x = keras.layers.Dropout(config.dropout, seed=config.seed)(pooled)
    x = keras.layers.Dense(config.hidden_dim, activation="relu", name="hidden")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name=f"{config.task}_classifier")
