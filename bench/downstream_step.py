"""Downstream cost of GLoMo: the graph-augmented train step ÷ the feature-only train step.

IMDB-shaped batches (`--batch` reviews of `--length` tokens, the last ~quarter of some reviews
padded) through the text classifier's trainable part as `build_text_classifier` assembles it:
`TransferEncoder` (BiGRU, hidden 64) → trilinear self-attention → masked mean+max pooling →
Dense → 2 logits, Adam. Features are 50-d (GloVe-sized) token vectors.

- feature-only: `transfer="none"`; no graphs are computed.
- GLoMo `embeddings` / `rnn`: the frozen pretrained network's graphs (`predict_graphs` of a
  `--config` GLoMoPretrainer, no gradient, as the exported module computes them) +
  `TransferEncoder(transfer=...)`.
- graphs alone: that forward pass by itself (default path and the plain per-direction one).
- one pass over the graphs: `x * c` on a float32 tensor of the graphs' shape, read once and
  written once: the unit of memory traffic that the graphs cost. Graph work is a few FLOPs
  per entry, so its time is close to (passes x this); the GLoMo step's extra time divided
  by it says how many graph-sized passes the step makes.

All variants are timed interleaved in one process (medians of per-round ratios), for each
of `--lengths` (the graphs grow as T^2, the feature-only step as T).

    python bench/downstream_step.py --config small --batch 16 --lengths 64,128,256,400
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


FEATURE_ONLY = "feature-only (none)"
VARIANTS = {FEATURE_ONLY: None, "GLoMo embeddings": "embeddings", "GLoMo rnn": "rnn"}
GRAPHS_ONLY = "graphs alone (frozen predictor, forward)"
GRAPHS_PLAIN = "graphs alone, plain path (fused=False: per direction, flipped and stacked)"
ONE_PASS = "one pass over a graphs-sized tensor"


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


def imdb_shaped_batch(config, batch_size, length, seed=0):
    """Token ids, padding mask and 50-d features of `batch_size` reviews (lengths 3/4 T..T)."""
    rng = np.random.RandomState(seed)
    lengths = rng.randint(length * 3 // 4, length + 1, batch_size)
    mask = np.arange(length)[None] < lengths[:, None]
    batch = {
        "token_ids": (rng.randint(1, config.vocabulary_size, (batch_size, length)) * mask).astype("int32"),
        "padding_mask": mask,
        "features": (rng.normal(size=(batch_size, length, 50)) * mask[..., None]).astype("float32"),
    }
    return batch, rng.randint(0, 2, batch_size)


def measure(config, pretrainer, plain, batch_size, length, rounds):
    """Median seconds and median per-round ratio to the feature-only step, per variant."""
    import tensorflow as tf

    batch, labels = imdb_shaped_batch(config, batch_size, length)
    models = {}
    for name, transfer in VARIANTS.items():
        keras.utils.set_random_seed(0)
        model = Classifier(transfer or "none", pretrainer if transfer else None)
        model.compile(optimizer=keras.optimizers.Adam(1e-3),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.train_on_batch(batch, labels)
        models[name] = model
    for model in models.values():
        model.train_on_batch(batch, labels)
    graph_inputs = {"token_ids": batch["token_ids"], "padding_mask": batch["padding_mask"]}
    # The graphs themselves are returned (not reduced inside the function), as the module does.
    graphs_only = tf.function(lambda: pretrainer.predict_graphs(graph_inputs))
    graphs_plain = tf.function(lambda: plain.predict_graphs(graph_inputs))
    reference = np.asarray(graphs_only())
    np.testing.assert_allclose(reference, np.asarray(graphs_plain()), atol=1e-5)
    graph_sized = tf.constant(reference)
    one_pass = tf.function(lambda: graph_sized * 1.0001)
    steps = {name: (lambda m=model: float(np.asarray(m.train_on_batch(batch, labels))))
             for name, model in models.items()}
    steps[GRAPHS_ONLY] = lambda: graphs_only().numpy()
    steps[GRAPHS_PLAIN] = lambda: graphs_plain().numpy()
    steps[ONE_PASS] = lambda: one_pass().numpy()
    for step in steps.values():
        step()
    samples = {name: [] for name in steps}
    names = list(steps)
    for round_index in range(rounds):
        # Rotate the order: a variant timed right after the biggest step pays for the memory
        # that step freed (measured: +0.25 s on the graphs alone), so no variant may
        # always follow it.
        start_at = round_index % len(names)
        for name in names[start_at:] + names[:start_at]:
            start = time.perf_counter()
            steps[name]()
            samples[name].append(time.perf_counter() - start)
    base = samples[FEATURE_ONLY]
    return {name: (statistics.median(times),
                   statistics.median([t / b for t, b in zip(times, base)]))
            for name, times in samples.items()}, reference.nbytes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="small", help="the pretrained network's config")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lengths", default="64,128,256,400", help="comma list of T")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    config = GLoMoConfig.named(args.config)
    pretrainer = GLoMoPretrainer(config, seed=0)
    pretrainer.trainable = False
    plain = GLoMoPretrainer(config, seed=0, fused=False)
    plain.set_weights(pretrainer.get_weights())
    rows = []
    for length in [int(t) for t in args.lengths.split(",")]:
        results, nbytes = measure(config, pretrainer, plain, args.batch, length, args.rounds)
        extra = results["GLoMo embeddings"][0] - results[FEATURE_ONLY][0]
        rows.append([length, f"{nbytes / 2 ** 20:,.0f}", f"{results[FEATURE_ONLY][0]:.3f}"]
                    + [f"{results[name][1]:.2f}x" for name in list(VARIANTS)[1:] + [GRAPHS_ONLY, GRAPHS_PLAIN, ONE_PASS]]
                    + [f"{extra / results[ONE_PASS][0]:.1f}"])
        print(rows[-1], flush=True)
    body = (
        f"IMDB-shaped batches: {args.batch} reviews x T tokens (lengths 3/4 T to T, rest padded), "
        f"50-d features, encoder hidden 64, Adam; graphs from a frozen `{args.config}` "
        f"GLoMoPretrainer (L {config.num_layers}, K {config.num_heads}, both directions). Medians of "
        f"{args.rounds} interleaved rounds per T (the order rotated every round); every ratio is the "
        "median of per-round (time ÷ feature-only step). Graphs alone: the `[B, 2, L, K, T, T]` "
        "graphs returned, default path (both directions in one pass, `bidirectional_graphs`) and "
        "plain path (per direction, flipped and stacked). One pass: `x * c` over a float32 tensor "
        "of the graphs' shape (read + write once), the memory-traffic unit of the graphs. "
        "Target ≤ 1.3x (GLoMo embeddings).\n\n"
        + markdown_table(["T", "graphs MiB", "feature-only s/step", "GLoMo embeddings ÷",
                          "GLoMo rnn ÷", "graphs alone ÷", "graphs alone, plain path ÷",
                          "one pass over graphs ÷", "GLoMo extra time in passes"], rows)
    )
    print(body)
    if not args.no_write:
        write_section("downstream_step", "Downstream step cost: GLoMo-augmented vs feature-only", body)


if __name__ == "__main__":
    main()
