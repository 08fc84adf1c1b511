"""A downstream task whose label depends on planted long-range relations.

Documents use the words of a `PlantedLanguage` (the language the graph module was pretrained
on) and hold two dependencies of one class (see `make_planted_task`). Label 1: each answer
follows the marker of its own trigger, as the language says; label 0: the two answers are
swapped. Both labels have the same words and the same local windows, so the label can only
be read from the relation between distant words. (An earlier version replaced one answer by
another; a pooled local model learned it to ~99% from 8000 examples, since max-pooling local
detectors can test "trigger k and answer(k) both present".)

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
    """`(texts, labels)`: two same-class dependencies per document, answers swapped in half.

    Each document holds, in this order and apart from fillers,

        opener trigger(c, k1) ... marker(c) answer ... opener trigger(c, k2) ... marker(c) answer

    with `k1 != k2` and trigger-to-marker distances drawn as in the language. Label 1: each
    answer is its own trigger's (`answer(c, k1)` first, `answer(c, k2)` second); label 0:
    the two answers are swapped. Both versions hold the same words, the same bigrams and
    the same local windows (only fillers next to them differ), so a model that
    pools local features, however cleverly, sees the same evidence in both; what tells
    them apart is which trigger the *first* marker refers to, 4 or more words back. In the
    forward direction the first marker can only read the first trigger (the second comes
    later), so a graph edge marker -> its trigger settles it.
    """
    rng = np.random.default_rng(seed)
    length = language.document_length
    low, high = language.min_distance, language.max_distance
    # At least two fillers at each end and between the two dependencies: no window of the
    # classifier's width-3 convolution then holds a dependency word next to the zero
    # padding ("this trigger comes first") or the first answer next to the second trigger
    # (a local match test). Without these margins feature-only reached ~75% (measured).
    # Documents too short for that (under 2 * min_distance + 12 words: test sizes) get
    # smaller margins and distances, and there the label may be readable locally.
    margin = 2
    while margin > 0 and 2 * low + 6 + 3 * margin > length:
        margin -= 1
    low = min(low, (length - 6 - 3 * margin) // 2)
    if low < 1:
        raise ValueError(
            f"Documents of {length} words are too short for two dependencies; need >= 8 words."
        )
    high = max(low, min(high, length - 6 - 3 * margin - low))
    texts, labels = [], []
    for _ in range(num_examples):
        while True:
            d1, d2 = (int(d) for d in rng.integers(low, high + 1, size=2))
            slack = length - (d1 + d2 + 6) - 3 * margin
            if slack >= 0:
                break
        start = margin + int(rng.integers(0, slack + 1))
        gap = margin + int(rng.integers(0, slack - (start - margin) + 1))
        tokens = [language.fillers[i] for i in rng.integers(len(language.fillers), size=length)]
        c = int(rng.integers(language.num_classes))
        k1, k2 = (int(k) for k in rng.choice(language.triggers_per_class, size=2, replace=False))
        label = int(rng.random() < 0.5)
        answers = [language.answers[c, k1], language.answers[c, k2]]
        if label == 0:
            answers.reverse()
        j1 = start + 1
        j2 = j1 + d1 + 2 + gap + 1
        for j, d, k, answer in ((j1, d1, k1, answers[0]), (j2, d2, k2, answers[1])):
            tokens[j - 1], tokens[j] = language.opener, language.triggers[c, k]
            tokens[j + d], tokens[j + d + 1] = language.markers[c], answer
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


@keras.saving.register_keras_serializable(package="glomo_tf")
class MaskedConv1D(keras.layers.Conv1D):
    """`Conv1D` that reads real positions only and passes the padding mask on.

    Padded rows are zeroed before the convolution, so a window at the end of a short text
    sees zeros, not whatever the layer before left at padded positions; the output keeps the
    input's mask (Keras' `Conv1D` drops it, with a warning).

    Args:
        *args, **kwargs: those of `keras.layers.Conv1D`.

    Call arguments:
        inputs: float `[B, T, C]`.
        mask: optional `[B, T]` (1/True = real), usually the Keras mask of `inputs`.

    Returns:
        `[B, T', filters]`, as `Conv1D` (`T' = T` with `padding="same"`).

    Example:

    >>> x = keras.ops.ones((1, 3, 1))
    >>> conv = MaskedConv1D(1, 3, padding="same", use_bias=False, kernel_initializer="ones")
    >>> conv(x, mask=keras.ops.convert_to_tensor([[True, True, False]])).numpy()[0, :, 0].tolist()
    [2.0, 2.0, 1.0]
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is not None:
            inputs = inputs * ops.cast(mask, inputs.dtype)[..., None]
        return super().call(inputs)


class _MaskedMaxPool(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # Takes the mask as an argument and pools the time axis away: no mask to pass on.
        self.supports_masking = True

    def compute_mask(self, x, mask=None):
        return None

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
    x = MaskedConv1D(config.conv_filters, 3, padding="same", activation="relu",
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
