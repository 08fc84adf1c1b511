"""Composing GLoMo layers in your own Keras model.

`GraphPredictor` and `FeaturePredictor` (from `glomo_tf.layers`) are ordinary Keras 3
layers: this script puts them in a small functional model of its own,

    token ids -> Embedding -> GraphPredictor -> graphs [B, L, K, T, T]
                      \\-------------------> FeaturePredictor(features, graphs) -> f^L
    f^L at the last position -> Dense -> 2 logits,

and trains it end to end on a toy task that needs a relation between two positions:
"does the last token occur earlier in the sequence?". The graph row of the last token may
only read earlier tokens (the predictor is causal), so the answer has to travel along the
predicted graph. The script prints the test accuracy, how much of the last row's graph mass
lands on an earlier copy of the last token (against what a uniform row would put there), then
saves the model as `.keras`, reloads it and checks that it predicts the same.

Run (the defaults take a few minutes on 2 CPU cores):

    python examples/compose_layers.py

Tiny settings (smoke test, under a minute):

    python examples/compose_layers.py --examples 64 --epochs 1 --length 8 --eager
"""

import argparse
import os
import tempfile

import numpy as np


def make_repeat_task(num_examples, length, vocabulary_size, seed):
    """Ids `[N, length]` (1..V-1) and labels: 1 if the last id also occurs earlier."""
    if vocabulary_size <= length:
        raise ValueError("--vocabulary must exceed --length, so a last token can be new.")
    rng = np.random.default_rng(seed)
    ids = np.zeros((num_examples, length), "int32")
    labels = rng.integers(0, 2, num_examples).astype("int32")
    for n in range(num_examples):
        # Distinct earlier tokens keep "occurs earlier" a single position to find.
        ids[n, :-1] = rng.choice(np.arange(1, vocabulary_size), length - 1, replace=False)
        if labels[n]:
            ids[n, -1] = rng.choice(ids[n, :-1])
        else:
            unseen = np.setdiff1d(np.arange(1, vocabulary_size), ids[n, :-1])
            ids[n, -1] = rng.choice(unseen)
    return ids, labels


def build_model(length, vocabulary_size, hidden_dim, num_layers, num_heads, seed):
    """The functional model: embedding, GLoMo graphs and features, a classifier head."""
    import keras

    from glomo_tf.layers import FeaturePredictor, GraphPredictor

    ids = keras.Input(shape=(length,), dtype="int32", name="token_ids")
    embeddings = keras.layers.Embedding(
        vocabulary_size, hidden_dim,
        embeddings_initializer=keras.initializers.RandomUniform(-0.1, 0.1, seed=seed),
        name="embedding",
    )(ids)
    graphs = GraphPredictor(num_layers=num_layers, num_heads=num_heads, head_dim=hidden_dim,
                            cnn_layers=1, name="graph_predictor")(embeddings)
    features = FeaturePredictor(num_heads=num_heads, name="feature_predictor")(
        embeddings, graphs)
    last = features[:, -1]  # the only row whose graph can see the whole sequence
    logits = keras.layers.Dense(2, name="logits")(last)
    return keras.Model(ids, logits, name="repeat_detector")


def mass_on_copy(graphs, ids):
    """Mean graph mass that the last row puts on an earlier copy of the last token."""
    last_row = graphs[:, :, :, -1, :]  # [B, L, K, T]
    is_copy = (ids[:, :-1] == ids[:, -1:]).astype("float32")  # [B, T-1]
    mass = (last_row[..., :-1] * is_copy[:, None, None]).sum(-1)  # [B, L, K]
    return float(mass.max(axis=(1, 2)).mean())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=3000, help="training examples")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--length", type=int, default=12, help="tokens per sequence, T")
    parser.add_argument("--vocabulary", type=int, default=32, help="ids 1..V-1 are used")
    parser.add_argument("--hidden-dim", type=int, default=32)
    parser.add_argument("--layers", type=int, default=2, help="graph layers, L")
    parser.add_argument("--heads", type=int, default=2, help="graphs per layer, K")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eager", action="store_true",
                        help="run training steps eagerly (quicker than tracing them when "
                             "there are only a handful, as in the smoke test)")
    parser.add_argument("--out", default=None,
                        help="where to write repeat_detector.keras (default: a temporary dir)")
    args = parser.parse_args(argv)
    if args.examples < 2 or args.length < 2:
        parser.error("--examples and --length must be at least 2")

    import keras

    keras.utils.set_random_seed(args.seed)
    train_x, train_y = make_repeat_task(args.examples, args.length, args.vocabulary, args.seed)
    test_x, test_y = make_repeat_task(max(args.examples // 4, 32), args.length,
                                      args.vocabulary, args.seed + 1)

    model = build_model(args.length, args.vocabulary, args.hidden_dim, args.layers,
                        args.heads, args.seed)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        run_eagerly=args.eager,
    )
    print(f"{model.name}: {model.count_params():,} parameters")
    model.fit(train_x, train_y, batch_size=32, epochs=args.epochs, shuffle=False, verbose=2)

    logits = model.predict(test_x, batch_size=256, verbose=0)
    accuracy = float((logits.argmax(-1) == test_y).mean())
    print(f"test accuracy: {100 * accuracy:.1f}% (chance 50%)")
    # A second model over the same layers reads the graphs out (no copy of the weights).
    graph_probe = keras.Model(model.input, model.get_layer("graph_predictor").output)
    copies = test_y == 1
    graphs = graph_probe.predict(test_x[copies], batch_size=256, verbose=0)
    uniform = 1.0 / (args.length - 1)
    print(f"graph mass of the last row on the earlier copy: "
          f"{mass_on_copy(graphs, test_x[copies]):.3f} "
          f"(a uniform row: {uniform:.3f})")

    out_dir = args.out or tempfile.mkdtemp(prefix="glomo-compose-")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "repeat_detector.keras")
    model.save(path)
    # The glomo_tf layers are registered serializables: importing glomo_tf.layers (done
    # by build_model above) is all `load_model` needs to rebuild them.
    reloaded = keras.saving.load_model(path)
    again = reloaded.predict(test_x, batch_size=256, verbose=0)
    difference = float(np.abs(again - logits).max())
    if difference > 1e-5:
        raise SystemExit(f"reloaded model differs: max |delta logits| = {difference}")
    print(f"saved and reloaded {path}: same predictions (max |delta| {difference:.1e})")


if __name__ == "__main__":
    main()
