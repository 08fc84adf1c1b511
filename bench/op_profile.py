"""Where a step's time goes, from the TensorFlow profiler: op types and model parts.

Traces `--steps` steps with `tf.profiler.experimental` (the trace stays in `--logdir`, for
TensorBoard's profile plugin) and sums the time of every TF op event on the executor threads
by op type and by the part of the model its name scope names. Two ops can run at once (2
inter-op threads), so the total of op time exceeds the wall time: the shares are the figure.

- `--what train`: one `GLoMoPretrainer` train step (`train_on_batch`, SGD) at `--config`.
- `--what downstream`: the GLoMo-on-embeddings classifier step of `bench/downstream_step.py`
  (frozen `--config` predictor's graphs + transfer + BiGRU + self-attention, Adam).
- `--what downstream-cached`: the same classifier as `glomo finetune` builds it, on one batch
  of real IMDB training reviews cut to `--length` module tokens, reading the graph cache of
  module `--graphs` (sparse propagation, no predictor in the step); `--transfer none` profiles
  the feature-only step on the same batch, for the part-by-part comparison.

"Matmul-class" ops (MatMul, BatchMatMul, Einsum, Conv2D and their gradients and fused
forms) run near the machine's matmul rate; the rest is memory-bound work whose FLOPs are not
counted, so the matmul-class share bounds the FLOP utilisation a step can reach.

    python bench/op_profile.py --what train --config small --batch 32
    python bench/op_profile.py --what downstream --config small --batch 16 --length 400
    python bench/op_profile.py --what downstream-cached --graphs saved_models/glomo_wiki --length 400
"""

import argparse
import collections
import glob
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench.report import markdown_table, write_section  # noqa: E402
from glomo_tf.configs import GLoMoConfig  # noqa: E402
from glomo_tf.models.glomo_pretrainer import GLoMoPretrainer  # noqa: E402

MATMUL_CLASS = ("MatMul", "BatchMatMul", "Einsum", "Conv2D")
# First match wins: scope substrings -> part of the model.
PARTS = (
    ("sparse_categorical_crossentropy", "softmax cross-entropy"),
    ("SparseSoftmaxCrossEntropy", "softmax cross-entropy"),
    ("graph_predictor", "graph predictors"),
    ("feature_predictor", "feature predictors"),
    ("decoder", "context decoders"),
    ("graph_transfer", "graph transfer"),
    ("bigru", "BiGRU"),
    ("glomo_graphs", "module tokenizer"),
    ("glove", "GloVe lookup"),
    ("self_attention", "self-attention"),
    ("sgd/", "optimizer"),
    ("adam/", "optimizer"),
    ("glomo_pretrainer", "embedding, tied-softmax matmul, gathers"),
)


def canonical_op_type(op_type):
    """The op type without oneDNN's kernel prefix (`_MklNativeFusedMatMul` -> `_FusedMatMul`).

    Which kernels TF picks depends on the CPU (oneDNN on AVX-512 machines renames MatMul to
    `_MklMatMul`, ...); without the prefix, profiles of different machines compare row by row.
    """
    for prefix in ("_MklNative", "_Mkl"):
        if op_type.startswith(prefix):
            rest = op_type[len(prefix):]
            return rest if rest and not rest.startswith("Fused") else "_" + rest
    return op_type


def is_matmul_class(op_type):
    return any(op_type.lstrip("_").startswith(kind) or kind in op_type for kind in MATMUL_CLASS)


def part_of(op_name):
    for needle, part in PARTS:
        if needle in op_name:
            return part
    return "other"


def op_times(logdir):
    """{(op name, op type): seconds} summed over the executor threads of the newest trace.

    Op types are `canonical_op_type`s (no oneDNN prefix).
    """
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    paths = sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True),
                   key=os.path.getmtime)
    if not paths:
        raise RuntimeError(f"the profiler wrote no trace under {logdir}")
    space = xplane_pb2.XSpace()
    with open(paths[-1], "rb") as f:
        space.ParseFromString(f.read())
    totals = collections.Counter()
    for plane in space.planes:
        if plane.name != "/host:CPU":
            continue
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                # TF op events are "scope/name:OpType"; the executor's ("ExecutorState::Process")
                # and Eigen's events wrap them.
                if ":" in name and "::" not in name:
                    op_name, op_type = name.rsplit(":", 1)
                    totals[(op_name, canonical_op_type(op_type))] += event.duration_ps / 1e12
    return totals


def train_step(args):
    config = GLoMoConfig.named(args.config, sequence_length=args.length)
    ids = np.random.RandomState(0).randint(0, config.vocabulary_size,
                                           (args.batch, args.length)).astype("int32")
    model = GLoMoPretrainer(config, seed=0, dtype=args.policy)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.2, global_clipnorm=0.25))
    return lambda: float(np.asarray(model.train_on_batch(ids)))


def downstream_step(args):
    from bench.downstream_step import Classifier, imdb_shaped_batch

    config = GLoMoConfig.named(args.config)
    pretrainer = GLoMoPretrainer(config, seed=0)
    pretrainer.trainable = False
    batch, labels = imdb_shaped_batch(config, args.batch, args.length)
    keras.utils.set_random_seed(0)
    model = Classifier("embeddings", pretrainer)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return lambda: float(np.asarray(model.train_on_batch(batch, labels)))


def downstream_cached_step(args):
    from bench.downstream_step import build, training_subset
    from glomo_tf.tasks.finetune import _graphs_layer
    from glomo_tf.tasks.task_datasets import task_dataset
    from glomo_tf.tasks.token_features import glove_features
    from glomo_tf.transfer.graph_cache import build_graph_cache

    graphs = _graphs_layer(os.path.abspath(args.graphs))
    module = graphs._graph_module
    data = training_subset(module, args.batch, args.length)
    texts = data.texts["text"]
    # The one profiled batch is fetched (and so copied out of the cache) before the cache goes.
    with tempfile.TemporaryDirectory(prefix="glomo_op_profile_cache_") as workdir:
        caches = None
        if args.transfer != "none":
            path = os.path.join(workdir, "cache")
            caches = {"text": build_graph_cache(module, texts, path, args.length)}
        inputs, targets = next(iter(task_dataset({"text": texts}, data.labels, args.batch,
                                                 caches=caches)))
    glove = glove_features(None, words=data.vocabulary)[0]
    model = build(args.transfer, args.transfer, "cached", graphs, lambda: glove, args.length)
    return lambda: model.train_on_batch(inputs, targets)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--what", default="train", choices=["train", "downstream", "downstream-cached"])
    parser.add_argument("--config", default="small")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--policy", default="float32", help="dtype policy (train only)")
    parser.add_argument("--steps", type=int, default=2, help="profiled steps")
    parser.add_argument("--logdir", default=None, help="where the trace goes (default: a temp dir)")
    parser.add_argument("--top", type=int, default=12, help="op types listed (the rest summed)")
    parser.add_argument("--graphs", default=os.path.join(ROOT, "saved_models", "glomo_wiki"),
                        help="downstream-cached: the module")
    parser.add_argument("--transfer", default="embeddings", choices=["embeddings", "rnn", "none"],
                        help="downstream-cached: the transfer profiled")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    steps = {"train": train_step, "downstream": downstream_step,
             "downstream-cached": downstream_cached_step}
    step = steps[args.what](args)
    for _ in range(2):
        step()  # trace, then one step with warm caches
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    unprofiled = (time.perf_counter() - start) / args.steps
    logdir = args.logdir or tempfile.mkdtemp(prefix="glomo_op_profile_")
    tf.profiler.experimental.start(logdir)
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    profiled = (time.perf_counter() - start) / args.steps
    tf.profiler.experimental.stop()

    totals = op_times(logdir)
    total = sum(totals.values())
    by_type, by_part = collections.Counter(), collections.Counter()
    for (op_name, op_type), seconds in totals.items():
        by_type[op_type] += seconds
        by_part[part_of(op_name)] += seconds
    matmul = sum(s for t, s in by_type.items() if is_matmul_class(t))

    def share(seconds):
        return f"{100 * seconds / total:.1f}%"

    per_step = args.steps
    type_rows = [[f"`{t}`", "yes" if is_matmul_class(t) else "", f"{s / per_step:.3f}", share(s)]
                 for t, s in by_type.most_common(args.top)]
    rest = total - sum(s for _, s in by_type.most_common(args.top))
    type_rows.append([f"{len(by_type) - args.top} other op types", "", f"{rest / per_step:.3f}", share(rest)])
    part_rows = [[p, f"{s / per_step:.3f}", share(s)] for p, s in by_part.most_common()]
    module_name = os.path.relpath(os.path.abspath(args.graphs), ROOT)
    what = {
        "train": f"`GLoMoPretrainer` train step, `{args.config}`, batch {args.batch} x T "
                 f"{args.length}, {args.policy}, SGD",
        "downstream": f"GLoMo-on-embeddings downstream step (bench/downstream_step.py), frozen "
                      f"`{args.config}` predictor, batch {args.batch} x T {args.length}, Adam",
        "downstream-cached": f"IMDB classifier step as `glomo finetune` builds it, transfer "
                             f"`{args.transfer}`, graphs of `{module_name}` read from its graph "
                             f"cache (every live entry), one batch of {args.batch} real IMDB "
                             f"training reviews cut to {args.length} module tokens, Adam",
    }[args.what]
    body = (
        f"{what}. {args.steps} profiled steps after 2 warm-up steps; step time "
        f"{unprofiled:.3f} s unprofiled, {profiled:.3f} s while tracing. Op time is summed over "
        f"the executor threads ({total / per_step:.3f} s per step: ops of the two inter-op "
        f"threads overlap), so read the shares.\n\n"
        f"**Matmul-class ops: {share(matmul)} of op time**; the rest is memory-bound "
        f"(elementwise, copies, reductions, gathers, the softmax).\n\n"
        + markdown_table(["op type", "matmul-class", "s per step", "share"], type_rows)
        + "\n\nBy part of the model (name scopes; gradients count with their forward op's part):\n\n"
        + markdown_table(["part", "s per step", "share"], part_rows)
        + f"\n\nTrace: `{args.logdir or 'a temporary directory'}` (TensorBoard, profile plugin).\n"
    )
    print(body)
    if not args.no_write:
        if args.what == "downstream-cached":
            name = f"op_profile_downstream_cached_{args.transfer}_{os.path.basename(module_name)}"
            title = f"Op profile: downstream step, cached graphs ({args.transfer}, {os.path.basename(module_name)})"
        else:
            name = f"op_profile_{args.what}_{args.config}" + ("" if args.policy == "float32" else f"_{args.policy}")
            title = (f"Op profile: {args.what} step ({args.config}, {args.policy})"
                     if args.what == "train" else f"Op profile: downstream step ({args.config})")
        write_section(name, title, body)


if __name__ == "__main__":
    main()
