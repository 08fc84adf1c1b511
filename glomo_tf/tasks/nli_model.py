"""The NLI model: a shared transfer encoder per sentence, ESIM soft alignment, pooling, 3 classes."""

import keras
from keras import ops

from glomo_tf.tasks.masked_pooling import MaskedPooling
from glomo_tf.tasks.soft_alignment import SoftAlignment
from glomo_tf.tasks.model_inputs import text_input, transfer_encoder
from glomo_tf.tasks.trilinear_attention import TrilinearAttention


def build_nli_model(config, graphs, features, num_classes=3, graph_inputs="module"):
    """Builds an ESIM-like NLI classifier of a `FinetuneConfig`.

    Premise and hypothesis go through the same layers separately (their graphs are
    computed separately, each over its own tokens): `graphs` → `features` →
    `TransferEncoder` → trilinear self-attention. Then ESIM: soft alignment with
    enhancement `[a; ã; a − ã; a ⊙ ã]`, a shared Dense(ReLU) projection, a shared
    composition BiGRU, masked mean+max pooling of both, `[v_a; v_b]` → dropout →
    Dense(tanh) → Dense(`num_classes`) logits.

    Args:
        config: `FinetuneConfig`.
        graphs: a `GLoMoGraphs` layer.
        features: a layer from string tokens `[B, T]` to `[B, T, D]`.
        num_classes: 3 (entailment, neutral, contradiction).
        graph_inputs: `"module"` or `"cached"` (inputs `premise_graph_*`,
            `hypothesis_graph_*`; see `model_inputs.text_input`).

    Returns:
        A `keras.Model` from `{"premise": string [B], "hypothesis": string [B]}` to
        logits `[B, num_classes]`.

    Example:

    ```python
    model = build_nli_model(FinetuneConfig(task="nli"), GLoMoGraphs("module"), glove)
    model({"premise": tf.constant(["A man sleeps ."]),
           "hypothesis": tf.constant(["A person rests ."])})   # [1, 3]
    ```
    """
    inputs = {}
    encoder = transfer_encoder(config, graphs)
    self_attention = TrilinearAttention(self_attention=True, name="self_attention")
    encoded, masks = [], []
    for name in ("premise", "hypothesis"):
        named, tokens, mask, sentence_graphs = text_input(
            name, graphs, config.transfer, graph_inputs,
            max_length=min(config.max_tokens, graphs.max_length))
        inputs.update(named)
        h = encoder(features(tokens), graphs=sentence_graphs, mask=mask)
        encoded.append(self_attention(h, context_mask=mask))
        masks.append(mask)
    aligned = SoftAlignment(name="alignment")(encoded[0], encoded[1], masks[0], masks[1])
    projection = keras.layers.Dense(config.hidden_dim, activation="relu", name="projection")
    composition = keras.layers.Bidirectional(
        keras.layers.GRU(config.hidden_dim, return_sequences=True, seed=config.seed),
        name="composition")
    pooling = MaskedPooling(name="pooling")
    dropout = keras.layers.Dropout(config.dropout, seed=config.seed)
    pooled = []
    for x, mask in zip(aligned, masks):
        real = ops.cast(mask, "bool")
        composed = composition(dropout(projection(x)), mask=real)
        pooled.append(pooling(composed, mask=real))
    x = dropout(ops.concatenate(pooled, axis=-1))
    x = keras.layers.Dense(config.hidden_dim, activation="tanh", name="hidden")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name="nli_classifier")
