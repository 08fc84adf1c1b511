"""The SQuAD model: BiDAF-style reader over the graph module's tokens."""

import keras
from keras import ops

from glomo_tf.tasks.character_cnn import CharacterCNN
from glomo_tf.tasks.model_inputs import text_input, transfer_encoder
from glomo_tf.tasks.trilinear_attention import TrilinearAttention

NEG_LOGIT = -1e9


def _masked_logits(logits, mask):
    logits = ops.squeeze(ops.cast(logits, "float32"), -1)
    return ops.where(ops.cast(mask, "bool"), logits, ops.full_like(logits, NEG_LOGIT))


def build_squad_model(config, graphs, features, graph_inputs="module"):
    """Builds the BiDAF-style SQuAD reader of a `FinetuneConfig`.

    Context and question separately (their graphs computed separately):
    `[word features; CharacterCNN]` → shared `TransferEncoder` (transfer on the
    embeddings, or with `transfer="rnn"` on the BiGRU states: the next layer reads
    `[states; g]`). Then trilinear bi-attention → Dense(ReLU) → a residual
    self-attention block (BiGRU → trilinear self-attention → Dense(ReLU), added) →
    start pointer (BiGRU, Dense(1)) and end pointer (BiGRU over `[x; start states]`,
    Dense(1)), as in the released model. Logits at padded context positions are
    `-1e9`. Spans (≤ `max_span_length`) are decoded outside the model
    (`squad_spans.best_span`).

    Args:
        config: `FinetuneConfig`.
        graphs: a `GLoMoGraphs` layer.
        features: a layer from string tokens `[B, T]` to `[B, T, D]`.
        graph_inputs: `"module"` or `"cached"` (inputs `context_graph_*`,
            `question_graph_*`; see `model_inputs.text_input`).

    Returns:
        A `keras.Model` from `{"context": string [B], "question": string [B]}` (+ the
        cached graphs) to
        `{"start": [B, Tc], "end": [B, Tc]}` logits (float32).

    Example:

    ```python
    model = build_squad_model(FinetuneConfig(task="squad", transfer="rnn"),
                              GLoMoGraphs("module"), glove)
    out = model({"context": tf.constant(["The cat sat ."]),
                 "question": tf.constant(["Who sat ?"])})
    ```
    """
    hidden = config.hidden_dim
    inputs = {}
    chars = CharacterCNN(config.char_dim, config.char_filters, config.char_width,
                         config.max_chars, name="chars")
    encoder = transfer_encoder(config, graphs)
    dropout = keras.layers.Dropout(config.dropout, seed=config.seed)
    encoded, masks = {}, {}
    limits = {"context": config.max_context_tokens, "question": config.max_question_tokens}
    for name in ("context", "question"):
        named, tokens, mask, text_graphs = text_input(
            name, graphs, config.transfer, graph_inputs,
            max_length=min(limits[name], graphs.max_length))
        inputs.update(named)
        embedded = ops.concatenate([features(tokens), chars(tokens)], axis=-1)
        encoded[name] = encoder(embedded, graphs=text_graphs, mask=mask)
        masks[name] = mask
    c_mask, q_mask = masks["context"], masks["question"]
    c_real = ops.cast(c_mask, "bool")
    attended = TrilinearAttention(name="bi_attention")(
        encoded["context"], encoded["question"], context_mask=c_mask, query_mask=q_mask)
    x = keras.layers.Dense(2 * hidden, activation="relu", name="attention_projection")(
        dropout(attended))

    def bigru(name):
        return keras.layers.Bidirectional(
            keras.layers.GRU(hidden, return_sequences=True, seed=config.seed), name=name)

    s = bigru("self_attention_rnn")(dropout(x), mask=c_real)
    s = TrilinearAttention(self_attention=True, name="self_attention")(s, context_mask=c_mask)
    s = keras.layers.Dense(2 * hidden, activation="relu", name="self_attention_projection")(
        dropout(s))
    x = x + s
    start_states = bigru("start_rnn")(dropout(x), mask=c_real)
    start = keras.layers.Dense(1, name="start_logits")(
        dropout(ops.concatenate([x, start_states], axis=-1)))
    end_states = bigru("end_rnn")(
        dropout(ops.concatenate([x, start_states], axis=-1)), mask=c_real)
    end = keras.layers.Dense(1, name="end_logits")(
        dropout(ops.concatenate([x, end_states], axis=-1)))
    outputs = {"start": _masked_logits(start, c_mask), "end": _masked_logits(end, c_mask)}
    return keras.Model(inputs, outputs, name="squad_reader")
