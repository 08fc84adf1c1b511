"""Where a GLoMo train step spends its time: a timing breakdown by stage (forward + backward).

Each stage is timed as its own `tf.function` (forward and gradient, no optimizer) on the same
batch, interleaved round by round with the full `train_on_batch` step, and reported as a share
of that step's median time. The stages are cumulative prefixes of the network, so their
differences attribute the time:

- `graphs`: embedding + both `GraphPredictor`s (CNNs, projections, scores, normalisation);
- `graphs + features`: ... + both `FeaturePredictor`s (messages, GRU cells);
- `tied softmax + loss`: only the two tied-softmax matmuls and the cross-entropy, on hidden
  states of the decoder's shape;
- `forward + backward`: the whole loss and its gradient, no optimizer;
- `train step`: `train_on_batch` (adds gradient clipping and the SGD update of every weight,
  the 100k x d embedding included).

    python bench/step_breakdown.py --config paper --batch 8
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
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402

from bench.report import markdown_table, write_section  # noqa: E402
from glomo_tf.configs import GLoMoConfig  # noqa: E402
from glomo_tf.models.glomo_pretrainer import DIRECTIONS, GLoMoPretrainer  # noqa: E402


def stage_functions(model, ids):
    c = model.glomo_config
    weights = [v.value for v in model.trainable_variables]
    rows = ids.shape[0] * c.num_sampled_positions * c.context_length
    hidden = tf.random.stateless_normal((rows, c.hidden_dim), (0, 1)) * 0.1
    targets = tf.random.stateless_uniform((rows,), (0, 2), 0, c.vocabulary_size, dtype=tf.int32)

    def graphs_loss(with_features):
        e = model.embed(ids)
        total = 0.0
        for direction in DIRECTIONS:
            x = ops.flip(e, 1) if direction == "backward" else e
            g = model.graph_predictors[direction](x, None, training=True)
            if with_features:
                total += ops.sum(model.feature_predictors[direction](x, g))
            else:
                total += ops.sum(g * g)
        return total

    def softmax_loss():
        total = 0.0
        for _ in DIRECTIONS:
            logits = ops.cast(model.embedding(hidden, reverse=True), "float32")
            total += ops.mean(ops.sparse_categorical_crossentropy(targets, logits, from_logits=True))
        return total

    def full_loss():
        return model.compute_loss(ids, y_pred=model(ids, training=True))

    def gradient_of(loss_fn):
        @tf.function(jit_compile=bool(model.jit_compile))
        def step():
            with tf.GradientTape() as tape:
                loss = loss_fn()
            grads = tape.gradient(loss, weights, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            return loss, tf.add_n([tf.reduce_sum(tf.convert_to_tensor(g)[..., :1]) for g in grads])

        return step

    return {
        "graphs": gradient_of(lambda: graphs_loss(False)),
        "graphs + features": gradient_of(lambda: graphs_loss(True)),
        "tied softmax + loss": gradient_of(softmax_loss),
        "forward + backward": gradient_of(full_loss),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="paper")
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jit", action="store_true", help="compile every stage with XLA")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    config = GLoMoConfig.named(args.config, sequence_length=args.length)
    keras.utils.set_random_seed(0)
    model = GLoMoPretrainer(config, seed=0)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.2, global_clipnorm=0.25),
                  jit_compile=args.jit)
    ids = tf.constant(np.random.RandomState(0).randint(0, config.vocabulary_size, (args.batch, args.length)),
                      tf.int32)
    stages = stage_functions(model, ids)

    def train_step():
        return model.train_on_batch(ids)

    timers = dict(stages, **{"train step": train_step})
    for _ in range(2):  # trace / compile; a second call, since the first after another trace can retrace
        for fn in timers.values():
            fn()
    samples = {name: [] for name in timers}
    for _ in range(args.rounds):
        for name, fn in timers.items():
            start = time.perf_counter()
            result = fn()
            np.asarray(result[0] if isinstance(result, tuple) else result)
            samples[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(v) for name, v in samples.items()}
    total = medians["train step"]
    rows = [[name, f"{seconds:.3f}", f"{100 * seconds / total:.0f}%"] for name, seconds in medians.items()]
    derived = {
        "graph predictors (both directions)": medians["graphs"],
        "feature predictors": medians["graphs + features"] - medians["graphs"],
        "tied softmax + cross-entropy": medians["tied softmax + loss"],
        "decoders, gathers, rest": medians["forward + backward"] - medians["graphs + features"]
        - medians["tied softmax + loss"],
        "optimizer (clip + SGD update)": total - medians["forward + backward"],
    }
    rows_derived = [[name, f"{seconds:.3f}", f"{100 * seconds / total:.0f}%"] for name, seconds in derived.items()]
    body = (
        f"`{args.config}` config, T = {args.length}, batch = {args.batch}, fp32, jit_compile={args.jit}; "
        f"medians of {args.rounds} interleaved rounds (contended machine: shares, not absolute times, "
        "are the figure to read).\n\nMeasured stages (cumulative):\n\n"
        + markdown_table(["stage", "s", "share of train step"], rows)
        + "\n\nAttributed (differences of the stages):\n\n"
        + markdown_table(["part", "s", "share of train step"], rows_derived)
    )
    print(body)
    if not args.no_write:
        write_section(f"step_breakdown_{args.config}", f"Train-step breakdown ({args.config})", body)


if __name__ == "__main__":
    main()
