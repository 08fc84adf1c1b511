"""Downstream cost of GLoMo: the graph-augmented train step ÷ the feature-only train step.

IMDB-shaped batches (`--batch` reviews of `--length` tokens, the last ~quarter of some reviews
padded) through the text classifier's trainable part as `build_text_classifier` assembles it:
`TransferEncoder` (BiGRU, hidden 64) → trilinear self-attention → masked mean+max pooling →
Dense → 2 logits, Adam. Features are 50-d (GloVe-sized) token vectors.

- feature-only: `transfer="none"`; no graphs are computed.
- GLoMo `embeddings` / `rnn`: the frozen pretrained network's graphs (`predict_graphs` of a
  `--config` GLoMoPretrainer, no gradient, as the exported module computes them) +
  `TransferEncoder(transfer=...)`.

All variants are timed interleaved in one process (medians of per-round ratios).

    python bench/downstream_step.py --config small --batch 16 --length 400
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from bench.report import markdown_table, write_section  # noqa: E402
from glomo_tf.configs import GLoMoConfig  # noqa: E402
from glomo_tf.models.glomo_pretrainer import GLoMoPretrainer  # noqa: E402
from glomo_tf.tasks.masked_pooling import MaskedPooling  # noqa: E402
from glomo_tf.tasks.transfer_encoder import TransferEncoder  # noqa: E402
from glomo_tf.tasks.trilinear_attention import TrilinearAttention  # noqa: E402


GRAPHS_ONLY = "of which: graphs alone (frozen predictor, forward)"
GRAPHS_PLAIN = "graphs alone, plain path (fused=False: per direction, flipped and stacked)"


class Classifier(keras.Model):
    def __init__(self, transfer, pretrainer=None, hidden_dim=64, **kwargs):
        super().__init__(**kwargs)
        self.pretrainer = pretrainer
        self.encoder = TransferEncoder(hidden_dim, transfer=transfer, name="encoder")
        self.attention = TrilinearAttention(self_attention=True, name="self_attention")
        self.pooling = MaskedPooling(name="pooling")
        self.hidden = keras.layers.Dense(hidden_dim, activation="relu")
        self.logits = keras.layers.Dense(2)

    def call(self, inputs, training=False):
        mask = inputs["padding_mask"]
        graphs = None
        if self.pretrainer is not None:
            graphs = ops.stop_gradient(self.pretrainer.predict_graphs(
                {"token_ids": inputs["token_ids"], "padding_mask": mask}))
        x = self.encoder(inputs["features"], graphs=graphs, mask=mask, training=training)
        x = self.attention(x, context_mask=mask)
        return self.logits(self.hidden(self.pooling(x, mask=mask)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="small", help="the pretrained network's config")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    config = GLoMoConfig.named(args.config)
    pretrainer = GLoMoPretrainer(config, seed=0)
    pretrainer.trainable = False
    rng = np.random.RandomState(0)
    lengths = rng.randint(args.length * 3 // 4, args.length + 1, args.batch)
    mask = np.arange(args.length)[None] < lengths[:, None]
    batch = {
        "token_ids": (rng.randint(1, config.vocabulary_size, (args.batch, args.length)) * mask).astype("int32"),
        "padding_mask": mask,
        "features": (rng.normal(size=(args.batch, args.length, 50)) * mask[..., None]).astype("float32"),
    }
    labels = rng.randint(0, 2, args.batch)
    variants = {"feature-only (none)": None, "GLoMo embeddings": "embeddings", "GLoMo rnn": "rnn"}
    models = {}
    for name, transfer in variants.items():
        keras.utils.set_random_seed(0)
        model = Classifier(transfer or "none", pretrainer if transfer else None)
        model.compile(optimizer=keras.optimizers.Adam(1e-3),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.train_on_batch(batch, labels)
        models[name] = model
    for model in models.values():
        model.train_on_batch(batch, labels)
    # Where the extra time goes: the frozen predictor's forward pass alone (what every GLoMo
    # step pays before the transfer layers), timed in the same rounds.
    import tensorflow as tf

    graph_inputs = {"token_ids": batch["token_ids"], "padding_mask": batch["padding_mask"]}
    plain = GLoMoPretrainer(config, seed=0, fused=False)
    plain.set_weights(pretrainer.get_weights())
    # The graphs themselves are returned (not reduced inside the function), as the module does.
    graphs_only = tf.function(lambda: pretrainer.predict_graphs(graph_inputs))
    graphs_plain = tf.function(lambda: plain.predict_graphs(graph_inputs))
    np.testing.assert_allclose(np.asarray(graphs_only()), np.asarray(graphs_plain()), atol=1e-5)
    steps = {name: (lambda m=model: float(np.asarray(m.train_on_batch(batch, labels))))
             for name, model in models.items()}
    steps[GRAPHS_ONLY] = lambda: graphs_only().numpy()
    steps[GRAPHS_PLAIN] = lambda: graphs_plain().numpy()
    samples = {name: [] for name in steps}
    names = list(steps)
    for round_index in range(args.rounds):
        # Rotate the order: a variant timed right after the biggest step pays for the memory
        # that step freed (measured: +0.25 s on the graphs alone), so no variant may
        # always follow it.
        start_at = round_index % len(names)
        for name in names[start_at:] + names[:start_at]:
            step = steps[name]
            start = time.perf_counter()
            step()
            samples[name].append(time.perf_counter() - start)
    base = samples["feature-only (none)"]
    rows = []
    for name, times in samples.items():
        ratio = statistics.median([t / b for t, b in zip(times, base)])
        rows.append([name, f"{statistics.median(times):.3f}", f"{ratio:.2f}x"])
    body = (
        f"IMDB-shaped batch: {args.batch} reviews x {args.length} tokens (lengths {args.length * 3 // 4}-{args.length}, "
        f"rest padded), 50-d features, encoder hidden 64, Adam; graphs from a frozen `{args.config}` "
        f"GLoMoPretrainer (L {config.num_layers}, K {config.num_heads}, both directions). Medians of "
        f"{args.rounds} interleaved rounds (the order rotated every round); ratio = median of per-round (step ÷ feature-only step). "
        f"The graphs-alone rows return the `[B, 2, L, K, T, T]` graphs, default (both directions "
        f"in one pass, `bidirectional_graphs`) and plain path. Target ≤ 1.3x.\n\n"
        + markdown_table(["variant", "s/step", "÷ feature-only"], rows)
    )
    print(body)
    if not args.no_write:
        write_section("downstream_step", "Downstream step cost: GLoMo-augmented vs feature-only", body)


if __name__ == "__main__":
    main()
