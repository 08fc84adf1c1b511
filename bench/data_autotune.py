"""tf.data autotuning on or off: wall seconds of `glomo finetune`'s training.

`task_dataset` used to end in `prefetch(tf.data.AUTOTUNE)` with TensorFlow's default
options (autotuning on). On this 2-core machine, `bench/downstream_step.py`'s one-epoch
`fit` calls over such a pipeline came out near 10 ms x 2^k (2.56, 5.12, 10.24, 20.48,
81.92 s) or 81.92 + 60 s, whatever the model, and varied 2x between rounds: the pattern
of tf.data's autotuning thread, which sleeps 10 ms, then twice as long each time, up to
60 s. `task_dataset` now turns autotuning off and prefetches 2 batches (`autotune=False`),
which made those timings steady. Does it matter for real training too?

This script times, side by side in one process, the task's classifier exactly as
`glomo finetune` builds it (feature-only: GloVe 6B 50d -> BiGRU 64 -> trilinear
self-attention -> pooling -> Dense), trained `--epochs` epochs with validation on a fixed
subset of the task's training texts, fed by `task_dataset(autotune=True)` (the old
pipeline) and `task_dataset()` (the new one). Each round trains a fresh model per
pipeline, the order alternating between rounds; every ratio is the median over rounds of
(autotune-on seconds / the same round's autotune-off seconds).

    python bench/data_autotune.py --task sst2 --examples 4000 --epochs 4 --rounds 3
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.downstream_step import TASK_TEXTS, build, training_subset  # noqa: E402
from bench.report import markdown_table, write_section  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402

PIPELINES = {"autotune on (before)": True, "autotune off, prefetch 2 (now)": False}


class EpochTimer(keras.callbacks.Callback):
    """Wall seconds of every epoch (training and validation), `on_epoch_begin` to `_end`."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._began = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._began)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=sorted(TASK_TEXTS), default="sst2")
    parser.add_argument("--graphs", default=os.path.join(ROOT, "saved_models", "glomo_wiki"))
    parser.add_argument("--examples", type=int, default=4000)
    parser.add_argument("--max-tokens", type=int, default=None, help="default: IMDB 400, SST-2 64")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch (tracing) is reported apart")
    max_tokens = args.max_tokens or (400 if args.task == "imdb" else 64)

    from glomo_tf.tasks.finetune import _graphs_layer
    from glomo_tf.tasks.task_data import hold_out
    from glomo_tf.tasks.task_datasets import task_dataset
    from glomo_tf.tasks.token_features import glove_features

    graphs = _graphs_layer(os.path.abspath(args.graphs))
    data = training_subset(graphs._graph_module, args.examples, max_tokens, task=args.task)
    texts, labels = np.asarray(data.texts["text"], dtype=object), np.asarray(data.labels)
    train, validation = hold_out(len(texts), 0.1)
    glove_layer = glove_features(None, words=data.vocabulary)[0]

    def datasets(autotune):
        return (task_dataset({"text": list(texts[train])}, labels[train], args.batch,
                             shuffle_seed=0, autotune=autotune),
                task_dataset({"text": list(texts[validation])}, labels[validation], args.batch,
                             autotune=autotune))

    totals = {name: [] for name in PIPELINES}
    epochs = {name: [] for name in PIPELINES}
    names = list(PIPELINES)
    for round_index in range(args.rounds):
        for name in names[round_index % 2:] + names[:round_index % 2]:
            model = build(name, "none", "cached", graphs, lambda: glove_layer, max_tokens,
                          task=args.task)
            fit_data, validation_data = datasets(PIPELINES[name])
            timer = EpochTimer()
            began = time.perf_counter()
            model.fit(fit_data, validation_data=validation_data, epochs=args.epochs,
                      callbacks=[timer], verbose=0)
            totals[name].append(time.perf_counter() - began)
            epochs[name].append(timer.seconds)
            print(name, f"{totals[name][-1]:.1f}s", [f"{s:.2f}" for s in timer.seconds],
                  flush=True)

    off = names[1]
    rows = []
    for name in names:
        later = [s for run in epochs[name] for s in run[1:]]
        ratio = statistics.median(t / o for t, o in zip(totals[name], totals[off]))
        rows.append([name, f"{statistics.median(totals[name]):.1f}",
                     f"{statistics.median(later):.2f}",
                     "; ".join(", ".join(f"{s:.2f}" for s in run) for run in epochs[name]),
                     f"{ratio:.2f}x"])
    body = (
        f"{len(train)} {TASK_TEXTS[args.task]} for training and {len(validation)} for "
        f"validation (a fixed random subset of the training split), at most {max_tokens} "
        f"module tokens, batch {args.batch}; the feature-only classifier of `glomo finetune` "
        f"(GloVe 6B 50d, BiGRU 64, Adam), `fit` for {args.epochs} epochs with validation, a "
        f"fresh model per run; {args.rounds} rounds, the order alternating.\n\n"
        + markdown_table(["pipeline", "fit s (median)", "epoch s after the first (median)",
                          "epoch s per run", "fit s ÷ autotune off"], rows)
    )
    print(body)
    if not args.no_write:
        write_section(f"data_autotune_{args.task}",
                      f"tf.data autotuning on or off: finetune epochs ({args.task})", body)


if __name__ == "__main__":
    main()
