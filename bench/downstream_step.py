"""Downstream cost of GLoMo with graphs computed once: cache build, disk size, epoch time ÷ feature-only.

(`--mode synthetic` keeps the earlier measurement: the dense-graph train step on random
IMDB-shaped batches per T, section `downstream_step`.)

Real IMDB reviews (a fixed random subset of the training split, `--examples`, cut to
`--max-tokens` module tokens) through the IMDB text classifier exactly as `glomo finetune`
builds it (`build_text_classifier`: GloVe 6B 50d → `TransferEncoder` (BiGRU 64) →
trilinear self-attention → pooling → Dense → 2 logits, Adam), fed by `task_dataset`:

- the graph cache: `build_graph_cache` over the subset (every live entry, exact; and,
  with `--top-k`, at most k per row): build seconds and bytes per 1,000 examples, entries
  per graph row;
- epochs, one after another in one process, for feature-only (`transfer="none"`),
  GLoMo on embeddings and GLoMo on RNN states reading the cached sparse graphs, and (with
  `--dense`) GLoMo on embeddings computing the dense graphs inside the model every step
  (the path before the cache). The first epoch of each (tracing, warm-up) is not timed;
  then `--rounds` rounds, the variants' order rotated every round; each ratio is the
  median over rounds of (epoch seconds ÷ the same round's feature-only epoch).
- with `--buckets K`, the same variants again with training batches drawn from K
  buckets of similar length (`task_dataset(length_buckets=K)`, as `glomo finetune
  --length-buckets K`), each ratio still to the plain feature-only epoch; `--no-cache`
  skips the cache (and its variants) to time only that;
- with `--propagated`, the propagated cache too (`build_propagated_cache`, float16: every
  candidate graph applied to the GloVe vectors, once per review; build seconds and bytes
  per 1,000 examples) and GLoMo on embeddings trained on it (`glomo finetune
  --propagated-cache`).

    nice -n 15 python bench/downstream_step.py --graphs saved_models/glomo_wiki \\
        --examples 1000 --max-tokens 400 --rounds 3 --dense
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.report import markdown_table, write_section  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from glomo_tf.tasks.masked_pooling import MaskedPooling  # noqa: E402
from glomo_tf.tasks.transfer_encoder import TransferEncoder  # noqa: E402
from glomo_tf.tasks.trilinear_attention import TrilinearAttention  # noqa: E402

FEATURE_ONLY = "feature-only"
VARIANTS = {FEATURE_ONLY: ("none", "cached"),
            "GLoMo embeddings, cached sparse graphs": ("embeddings", "cached"),
            "GLoMo RNN states, cached sparse graphs": ("rnn", "cached")}
DENSE = "GLoMo embeddings, dense graphs in the model (no cache)"
PROPAGATED = "GLoMo embeddings, cached propagated candidates (float16)"
TASK_TEXTS = {"imdb": "IMDB training reviews", "sst2": "SST-2 training sentences"}


# --- Synthetic mode (`--mode synthetic`): the dense-graph step on IMDB-shaped random batches,
# the measurement before the cache; also used by bench/op_profile.py (`Classifier`).
SYNTHETIC_FEATURE_ONLY = "feature-only (none)"
SYNTHETIC_VARIANTS = {SYNTHETIC_FEATURE_ONLY: None, "GLoMo embeddings": "embeddings", "GLoMo rnn": "rnn"}
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


def measure_synthetic(config, pretrainer, plain, batch_size, length, rounds):
    """Median seconds and median per-round ratio to the feature-only step, per variant."""
    import tensorflow as tf

    batch, labels = imdb_shaped_batch(config, batch_size, length)
    models = {}
    for name, transfer in SYNTHETIC_VARIANTS.items():
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
    base = samples[SYNTHETIC_FEATURE_ONLY]
    return {name: (statistics.median(times),
                   statistics.median([t / b for t, b in zip(times, base)]))
            for name, times in samples.items()}, reference.nbytes



# --- IMDB mode (default): graphs computed once into a GraphCache.

def directory_bytes(path):
    return sum(os.path.getsize(os.path.join(folder, name))
               for folder, _, names in os.walk(path) for name in names)


def training_subset(graph_module, count, max_tokens, data_dir=None, task="imdb"):
    from glomo_tf.tasks.task_data import load_task_splits, prepare_text_examples

    texts, labels, skipped = load_task_splits(task, data_dir)["train"]
    return prepare_text_examples(graph_module, texts, labels, 2, max_tokens, limit=count,
                                 skipped=skipped)


def cache_rows(graph_module, texts, max_tokens, top_ks, workdir):
    from glomo_tf.transfer.graph_cache import build_graph_cache

    rows, caches = [], {}
    for top_k in top_ks:
        path = os.path.join(workdir, f"cache-k{top_k}")
        started = time.perf_counter()
        cache = build_graph_cache(graph_module, texts, path, max_tokens, top_k=top_k)
        seconds = time.perf_counter() - started
        stats = cache.manifest["stats"]
        per_k = 1000.0 / len(cache)
        rows.append([
            "all live (exact)" if top_k is None else f"top {top_k}",
            len(cache), f"{seconds * per_k:.1f}", f"{directory_bytes(path) * per_k / 2 ** 20:.1f}",
            f"{stats['entries_per_row']:.2f}", stats["max_live"],
            f"{stats['dropped_mass_per_row']:.2e}"])
        caches[top_k] = cache
        print(rows[-1], flush=True)
    return rows, caches


def propagated_row(graph_module, glove_layer, texts, max_tokens, workdir):
    from glomo_tf.transfer.propagated_cache import build_propagated_cache

    path = os.path.join(workdir, "propagated")
    started = time.perf_counter()
    cache = build_propagated_cache(graph_module, glove_layer, texts, path, max_tokens)
    seconds = time.perf_counter() - started
    per_k = 1000.0 / len(cache)
    row = [len(cache), f"{cache.manifest['tokens'] / len(cache):.0f}",
           f"{2 * cache.candidates * cache.dim:,}", f"{seconds * per_k:.1f}",
           f"{directory_bytes(path) * per_k / 2 ** 20:.1f}"]
    print(row, flush=True)
    return row, cache


def build(name, transfer, graph_inputs, graphs, glove, max_tokens, seed=0, task="imdb"):
    import keras

    from glomo_tf.tasks.finetune import build_model
    from glomo_tf.tasks.finetune_config import FinetuneConfig

    keras.utils.set_random_seed(seed)
    config = FinetuneConfig(task=task, transfer=transfer, max_tokens=max_tokens, seed=seed)
    inputs = "cached" if graph_inputs.startswith("cached") else graph_inputs
    return build_model(config, graphs, glove(), inputs)


def synthetic_main(args):
    """The dense-graph step cost on synthetic batches (section `downstream_step`)."""
    from glomo_tf.configs import GLoMoConfig
    from glomo_tf.models.glomo_pretrainer import GLoMoPretrainer


    config = GLoMoConfig.named(args.config)
    pretrainer = GLoMoPretrainer(config, seed=0)
    pretrainer.trainable = False
    plain = GLoMoPretrainer(config, seed=0, fused=False)
    plain.set_weights(pretrainer.get_weights())
    rows = []
    for length in [int(t) for t in args.lengths.split(",")]:
        results, nbytes = measure_synthetic(config, pretrainer, plain, args.batch, length, args.rounds)
        extra = results["GLoMo embeddings"][0] - results[SYNTHETIC_FEATURE_ONLY][0]
        rows.append([length, f"{nbytes / 2 ** 20:,.0f}", f"{results[SYNTHETIC_FEATURE_ONLY][0]:.3f}"]
                    + [f"{results[name][1]:.2f}x" for name in list(SYNTHETIC_VARIANTS)[1:] + [GRAPHS_ONLY, GRAPHS_PLAIN, ONE_PASS]]
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("imdb", "synthetic"), default="imdb",
                        help="imdb: the cache on real reviews (default); synthetic: the dense "
                             "step on random IMDB-shaped batches, per T (--config, --lengths)")
    parser.add_argument("--config", default="small", help="synthetic: the predictor's config")
    parser.add_argument("--lengths", default="64,128,256,400", help="synthetic: comma list of T")
    parser.add_argument("--graphs", default=os.path.join(ROOT, "saved_models", "glomo_wiki"))
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--max-tokens", type=int, default=400)
    parser.add_argument("--batch", type=int, default=None, help="default 32 (synthetic 16)")
    parser.add_argument("--rounds", type=int, default=None, help="default 3 (synthetic 10)")
    parser.add_argument("--top-k", type=int, default=None,
                        help="also build a cache of at most k entries per row")
    parser.add_argument("--dense", action="store_true", help="also time the no-cache path")
    parser.add_argument("--no-exact-epochs", action="store_true",
                        help="build the exact cache (its size is reported) but do not train on "
                             "it: with dense-ish rows its sparse products outgrow memory")
    parser.add_argument("--task", choices=sorted(TASK_TEXTS), default="imdb",
                        help="imdb mode: the classification task whose training texts are timed")
    parser.add_argument("--buckets", type=int, default=None, metavar="K",
                        help="also time every variant with length-bucketed batches (K buckets)")
    parser.add_argument("--no-cache", action="store_true",
                        help="build no graph cache: time feature-only and --dense only")
    parser.add_argument("--no-rnn", action="store_true", help="skip GLoMo on RNN states")
    parser.add_argument("--propagated", action="store_true",
                        help="also build the propagated cache and time GLoMo on embeddings "
                             "trained on it")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--section", default="downstream_cache",
                        help="BENCHMARKS.md section (imdb mode), so a second module's figures sit "
                             "beside the first's instead of replacing them")
    args = parser.parse_args(argv)
    if args.mode == "synthetic":
        args.batch, args.rounds = args.batch or 16, args.rounds or 10
        return synthetic_main(args)
    args.batch, args.rounds = args.batch or 32, args.rounds or 3

    from glomo_tf.tasks.finetune import _graphs_layer
    from glomo_tf.tasks.task_datasets import task_dataset
    from glomo_tf.tasks.token_features import glove_features

    graphs = _graphs_layer(os.path.abspath(args.graphs))
    module = graphs._graph_module
    started = time.perf_counter()
    data = training_subset(module, args.examples, args.max_tokens, task=args.task)
    print(f"data: {len(data)} examples in {time.perf_counter() - started:.0f}s", flush=True)
    texts = data.texts["text"]
    workdir = tempfile.mkdtemp(prefix="downstream_step-")
    try:
        top_ks = [] if args.no_cache else [None] + ([args.top_k] if args.top_k else [])
        build_rows, caches = cache_rows(module, texts, args.max_tokens, top_ks, workdir)
        glove_layer = glove_features(None, words=data.vocabulary)[0]
        propagated_rows, propagated = [], None
        if args.propagated:
            row, propagated = propagated_row(module, glove_layer, texts, args.max_tokens,
                                             workdir)
            propagated_rows.append(row)
        variants = ({FEATURE_ONLY: VARIANTS[FEATURE_ONLY]} if args.no_exact_epochs or args.no_cache
                    else dict(VARIANTS))
        if args.no_rnn:
            variants = {k: v for k, v in variants.items() if v[0] != "rnn"}
        if args.top_k and not args.no_cache:
            variants[f"GLoMo embeddings, cached top {args.top_k} per row"] = ("embeddings", "cached-top-k")
        if args.propagated:
            variants[PROPAGATED] = ("embeddings", "propagated")
        if args.dense:
            variants[DENSE] = ("embeddings", "module")
        bucketings = [None] + ([args.buckets] if args.buckets else [])
        epochs = {}
        for buckets in bucketings:
            for name, (transfer, graph_inputs) in variants.items():
                model = build(name, transfer, graph_inputs, graphs, lambda: glove_layer,
                              args.max_tokens, task=args.task)
                caches_for = None
                if graph_inputs == "propagated":
                    caches_for = {"text": propagated}
                elif transfer != "none" and graph_inputs.startswith("cached"):
                    caches_for = {"text": caches[args.top_k if graph_inputs == "cached-top-k" else None]}
                dataset = task_dataset({"text": texts}, data.labels, args.batch,
                                       caches=caches_for, shuffle_seed=0, length_buckets=buckets)
                label = name if buckets is None else f"{name}, {buckets} length buckets"
                epochs[label] = (model, dataset)
        for name, (model, dataset) in epochs.items():   # first epoch: tracing, not timed
            model.fit(dataset, epochs=1, shuffle=False, verbose=0)
        samples = {name: [] for name in epochs}
        names = list(epochs)
        for round_index in range(args.rounds):
            start_at = round_index % len(names)
            for name in names[start_at:] + names[:start_at]:
                model, dataset = epochs[name]
                began = time.perf_counter()
                model.fit(dataset, epochs=1, shuffle=False, verbose=0)
                samples[name].append(time.perf_counter() - began)
                print(name, f"{samples[name][-1]:.1f}s", flush=True)
        base = samples[FEATURE_ONLY]
        epoch_rows = [[name, f"{statistics.median(times):.1f}",
                       f"{statistics.median([t / b for t, b in zip(times, base)]):.2f}x"]
                      for name, times in samples.items()]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    config = module.config
    body = (
        f"Module `{os.path.relpath(os.path.abspath(args.graphs), ROOT)}` (L {config['num_layers']}, "
        f"K {config['num_heads']}, both directions: {2 * config['num_layers'] * config['num_heads']} "
        f"graphs per token). {len(texts)} {TASK_TEXTS[args.task]} (fixed random subset), at most "
        f"{args.max_tokens} module tokens (mean {statistics.mean(len(t.split()) for t in texts):.0f} "
        f"words), batch {args.batch}, GloVe 6B 50d, BiGRU 64, Adam.\n\n"
        + ("" if not build_rows else
           "Graph cache (`build_graph_cache`, float32 values, uint8 slot + int16 row/column per "
           "entry); the dropped mass is per graph row, before renormalising (rows sum to 1):\n\n"
           + markdown_table(["entries kept", "examples", "build s / 1k examples",
                             "disk MiB / 1k examples", "entries per graph row",
                             "most live per row", "dropped mass per row"], build_rows)
           + "\n\n")
        + ("" if not propagated_rows else
           "Propagated cache (`build_propagated_cache`: every candidate graph G^l, Λ^l of "
           "every head and direction applied to the GloVe vectors, float16, per token):\n\n"
           + markdown_table(["examples", "tokens per example", "numbers per token",
                             "build s / 1k examples", "disk MiB / 1k examples"],
                            propagated_rows)
           + "\n\n")
        + (f"Length buckets: the training batches drawn from {args.buckets} buckets of similar "
           "length (`glomo finetune --length-buckets`), the same reviews per epoch.\n\n"
           if args.buckets else "")
        + f"Epoch seconds after the first (medians of {args.rounds} rounds, order rotated every "
        "round); ratio = median of per-round (epoch ÷ feature-only epoch). Target ≤ 1.3x for GLoMo "
        "on embeddings:\n\n"
        + markdown_table(["variant", "epoch s", "÷ feature-only"], epoch_rows)
    )
    print(body)
    if not args.no_write:
        write_section(args.section, "Downstream cost: graphs computed once vs feature-only",
                      body)


if __name__ == "__main__":
    main()
