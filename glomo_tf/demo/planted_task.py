"""A downstream task whose label depends on planted long-range relations.

Documents come from a `PlantedLanguage` (the language the graph module was pretrained on).
Label 1: every answer follows the marker of its own trigger, as the language says. Label 0:
one answer is replaced by another answer of the same class, so it no longer matches the
trigger planted 4-40 words earlier. Word frequencies are the same in both classes (the
replacement is drawn from the same answers), so the label can only be read from the
relation between two distant words.

The classifier is deliberately local: embeddings -> transfer -> Conv1D(kernel 3) -> masked
max-pool -> Dense. It sees at most three neighbouring words at once, so any long-range
information has to come through the transfer layer: GLoMo graphs, the uniform graph, or
nothing (feature-only). The three are the same model but for `GraphTransfer(mode=...)`.
"""

import dataclasses

import keras
import numpy as np
from keras import ops

from glomo_tf.data.synthetic import PlantedLanguage
from glomo_tf.layers.graph_transfer import GraphTransfer

TRANSFERS = ("none", "uniform", "graphs")


def make_planted_task(language: PlantedLanguage, num_examples: int, seed: int = 0):
    """`(texts, labels)`: documents of `language`, half of them with one answer corrupted.

    Documents without any planted dependency are redrawn (their label would be meaningless).
    """
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    while len(texts) < num_examples:
        tokens, parents = language.sample_document(rng)
        markers = np.flatnonzero(parents >= 0)
        if markers.size == 0:
            continue
        label = int(rng.random() < 0.5)
        if label == 0:
            i = int(rng.choice(markers))
            c, k = np.argwhere(language.triggers == tokens[parents[i]])[0]
            wrong = [a for a in language.answers[c] if a != language.answers[c, k]]
            tokens[i + 1] = wrong[int(rng.integers(len(wrong)))]
        texts.append(" ".join(tokens))
        labels.append(label)
    return texts, np.asarray(labels, dtype="int32")


@dataclasses.dataclass
class PlantedClassifierConfig:
    """Size of the downstream classifier (same for every transfer mode).

    `num_mixtures`, `hierarchical` and `token_conditioned` are `GraphTransfer`'s (used by
    mode "graphs" only); `glomo tune --task synthetic` searches over them.
    """

    embedding_dim: int = 32
    conv_filters: int = 64
    dropout: float = 0.0
    num_mixtures: int = 2
    learning_rate: float = 3e-3
    hierarchical: bool = True
    token_conditioned: bool = True


class _MaskedMaxPool(keras.layers.Layer):
    def call(self, x, mask):
        keep = ops.cast(mask, x.dtype)[..., None]
        # Inputs are ReLU outputs (>= 0), so zeroing padded rows cannot win the max.
        return ops.max(x * keep, axis=1)


def build_planted_classifier(graph_layer, transfer="graphs", config=None, seed=0):
    """Text -> P(relations intact), reading tokens, mask and graphs from `graph_layer`.

    Args:
        graph_layer: a `GLoMoGraphs` layer (the frozen pretrained module).
        transfer: "none" (feature-only), "uniform" or "graphs".
        config: `PlantedClassifierConfig`.
        seed: initialisation seed.
    """
    if transfer not in TRANSFERS:
        raise ValueError(f"`transfer` must be one of {TRANSFERS}, got {transfer!r}.")
    config = config or PlantedClassifierConfig()
    init = keras.initializers.GlorotUniform(seed=seed)
    text = keras.Input(shape=(), dtype="string", name="text")
    module = graph_layer(text)
    features = keras.layers.Embedding(
        graph_layer.vocabulary_size, config.embedding_dim,
        embeddings_initializer=keras.initializers.RandomUniform(-0.1, 0.1, seed=seed),
        name="word_features",
    )(module["ids"])
    x = GraphTransfer(
        mode=transfer, num_mixtures=config.num_mixtures, hierarchical=config.hierarchical,
        token_conditioned=config.token_conditioned, dropout=config.dropout, seed=seed,
        kernel_initializer=init, name="transfer",
    )(features, graphs=module["graphs"] if transfer == "graphs" else None, mask=module["mask"])
    x = keras.layers.Conv1D(config.conv_filters, 3, padding="same", activation="relu",
                            kernel_initializer=init, name="local_conv")(x)
    x = _MaskedMaxPool(name="pool")(x, module["mask"])
    logits = keras.layers.Dense(2, kernel_initializer=init, name="logits")(x)
    model = keras.Model(text, logits, name=f"planted_classifier_{transfer}")
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model
