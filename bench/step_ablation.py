"""What each shortcut of the fused train step buys: the step with one shortcut undone at a time.

Every variant is the default `GLoMoPretrainer` (fused) with earlier code put back, cumulatively,
timed interleaved in one process (medians of per-round ratios to the default step):

1. default: the current fused step.
2. `einsum` tied softmax: the logits as Keras's `einsum("nd,vd->nv", h, E)`, which on TF is
   `matmul(h, transpose(E))`: the transpose's gradient is a [V, d] pass per step.
3. + loss on split logits: the per-direction cross-entropy on `split(logits, 2)`, which
   copies [2N, D, V] (and its gradient concatenates it back).
4. + indexed graph layers: the feature predictor reads `graphs[:, l]`, whose gradient is a
   zero-filled [B, L, K, T, T] per layer, summed.

The numbers of all variants agree (the shortcuts are tested against the plain step in
`tests/models/fused_step_test.py`); only time differs.

    python bench/step_ablation.py --configs small,paper --batch 32,4
"""

import argparse
import os
import statistics
import sys
import types

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from bench.pretrain_throughput import step_timer  # noqa: E402
from bench.report import markdown_table, write_section  # noqa: E402
from glomo_tf.configs import GLoMoConfig  # noqa: E402
from glomo_tf.models.glomo_pretrainer import DIRECTIONS, GLoMoPretrainer  # noqa: E402


class EinsumTiedSoftmax(GLoMoPretrainer):
    def _tied_logits(self, hidden):
        kernel = ops.cast(self.embedding.embeddings, hidden.dtype)
        steps, dim = ops.shape(hidden)[1], ops.shape(hidden)[2]
        flat = ops.einsum("nd,vd->nv", ops.reshape(hidden, (-1, dim)), kernel)
        return ops.cast(ops.reshape(flat, (-1, steps, ops.shape(kernel)[0])), "float32")


class SplitLogitsLoss(EinsumTiedSoftmax):
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if y_pred is None:
            y_pred = self(x, training=training)
        losses = [self.loss_fn(y_pred[d]["targets"], y_pred[d]["logits"], y_pred[d]["weights"])
                  for d in DIRECTIONS]
        return 0.5 * losses[0] + 0.5 * losses[1]


def _indexed_layers_call(self, features, graphs, return_all_layers=False, positions=None):
    batch, length, hidden_dim = ops.shape(features)[0], ops.shape(features)[1], features.shape[-1]
    head_size = hidden_dim // self.num_heads
    graphs = ops.cast(graphs, features.dtype)
    f, outputs, num_layers = features, [], graphs.shape[1]
    for layer in range(num_layers):
        g, f_rows = graphs[:, layer], f
        if positions is not None and layer == num_layers - 1:
            g = ops.take(g, positions, axis=2)
            f_rows = ops.take(f, positions, axis=1)
        rows = ops.shape(f_rows)[1]
        sliced = ops.reshape(f, (batch, length, self.num_heads, head_size))
        messages = ops.reshape(ops.einsum("bkij,bjkh->bikh", g, sliced), (batch, rows, hidden_dim))
        cell_inputs = ops.concatenate([messages * f_rows, messages], axis=-1)
        state, _ = self.cell(ops.reshape(cell_inputs, (-1, 2 * hidden_dim)),
                             [ops.reshape(f_rows, (-1, hidden_dim))])
        f = ops.reshape(state, (batch, rows, hidden_dim))
        outputs.append(f)
    return outputs if return_all_layers else f


def indexed_graph_layers(config, seed):
    model = SplitLogitsLoss(config, seed=seed)
    for predictor in model.feature_predictors.values():
        predictor.call = types.MethodType(_indexed_layers_call, predictor)
    return model


VARIANTS = {
    "default (fused)": lambda c: GLoMoPretrainer(c, seed=0),
    "einsum tied softmax": lambda c: EinsumTiedSoftmax(c, seed=0),
    "+ loss on split logits": lambda c: SplitLogitsLoss(c, seed=0),
    "+ indexed graph layers": lambda c: indexed_graph_layers(c, 0),
}


def measure(config_name, batch, length, rounds, steps):
    config = GLoMoConfig.named(config_name, sequence_length=length)
    ids = np.random.RandomState(0).randint(0, config.vocabulary_size, (batch, length)).astype("int32")
    models, timers = {}, {}
    for name, make in VARIANTS.items():
        model = make(config)
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.2, global_clipnorm=0.25))
        timers[name] = step_timer(model, ids)
        timers[name](1)  # a second warm-up step
        models[name] = model
    losses = {name: float(np.asarray(model.test_on_batch(ids))) for name, model in models.items()}
    samples = {name: [] for name in models}
    for _ in range(rounds):
        for name, run in timers.items():
            samples[name].append(run(steps))
    base = samples["default (fused)"]
    return {name: (statistics.median(times), statistics.median([t / b for t, b in zip(times, base)]),
                   losses[name]) for name, times in samples.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="small,paper")
    parser.add_argument("--batch", default="32,4", help="one per config, or one for all")
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=2, help="train steps per timing sample")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    configs = args.configs.split(",")
    batches = [int(b) for b in args.batch.split(",")]
    batches = batches * len(configs) if len(batches) == 1 else batches
    rows = []
    for name, batch in zip(configs, batches):
        for variant, (seconds, ratio, loss) in measure(name, batch, args.length, args.rounds,
                                                       args.steps).items():
            rows.append([name, batch, variant, f"{seconds:.3f}", f"{ratio:.3f}x", f"{loss:.6f}"])
            print(rows[-1], flush=True)
    body = (
        f"Train step (SGD, fp32, T = {args.length}) with the fused step's shortcuts undone one "
        f"at a time, cumulatively (see the script's docstring); {args.steps} steps per sample, "
        f"medians of {args.rounds} interleaved rounds in one process. Slowdown = median of "
        "per-round (variant ÷ default). The evaluation loss of every variant is printed to show "
        "they compute the same thing (same seed, same batch).\n\n"
        + markdown_table(["config", "batch", "variant", "s/step", "slowdown vs default",
                          "evaluation loss"], rows)
    )
    print(body)
    if not args.no_write:
        write_section("step_ablation", "Fused train step: what each shortcut buys", body)


if __name__ == "__main__":
    main()
