"""Tuning a GraphTransfer-based classifier with keras-tuner.

A `keras_tuner.HyperModel` builds the planted-relations classifier of `glomo demo`
(`glomo_tf.demo.planted_task.build_planted_classifier`: GLoMo graphs -> word embeddings ->
`GraphTransfer` -> local convolution -> pooling) with three hyperparameters: the number of
graph mixtures per direction, the dropout of the transfer layer and the learning rate.
`keras_tuner.RandomSearch` tries `--trials` of them on the planted-relations task
(`make_planted_task`: the label depends on a relation between two distant words of the
planted language) and prints the best values.

The graph module: `--module PATH`, else the bundled `saved_models/glomo_planted_tiny`, else
one pretrained here with `glomo_tf.demo.run.pretrain_module` (several minutes on 2 CPU cores
for the default `--pretrain-steps`, the budget of `glomo demo --pretrain`). The graphs can
only help where the module has learned the planted relations (`glomo demo` prints its
parent recovery); with a module that has not, every trial stays near chance. A module
pretrained on another language still runs (its graphs then carry no planted relation),
which is what the smoke test does.

This script uses keras-tuner directly, so every step is in view. The `glomo tune` command
(`glomo_tf/tuning/`) packages the same idea, resumable and for every task: e.g.
`glomo tune --task synthetic --max-trials 6` searches this task, and `--task sst2` or
`--task pretrain` the real tasks and the pretraining config.

Run:

    python examples/tune_transfer.py
    python examples/tune_transfer.py --module saved_models/my_planted_module --trials 6

Tiny settings (smoke test, under a minute):

    python examples/tune_transfer.py --module PATH --examples 64 --epochs 1 --eager
"""

import argparse
import os
import tempfile

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUNDLED_MODULE = os.path.join(REPOSITORY, "saved_models", "glomo_planted_tiny")


def planted_language(graph_layer, seed):
    """The planted language the module's pretraining config implies (`glomo pretrain
    --corpus synthetic` generates it the same way)."""
    from glomo_tf.configs import GLoMoConfig
    from glomo_tf.training.synthetic_corpus import make_language

    config = GLoMoConfig.from_dict(graph_layer.module_config["model_config"])
    language = make_language(config, seed=seed)
    missing = set(language.words) - set(graph_layer.vocabulary)
    if missing:
        print(f"note: {len(missing)} planted words are not in the module's vocabulary: it "
              "was not pretrained on this language, so its graphs carry no planted relation")
    return language


def make_hypermodel(graph_layer, seed, eager):
    """A `keras_tuner.HyperModel` over the planted classifier's transfer settings."""
    import keras_tuner

    from glomo_tf.demo.planted_task import PlantedClassifierConfig, build_planted_classifier

    class PlantedClassifierHyperModel(keras_tuner.HyperModel):
        def build(self, hp):
            config = PlantedClassifierConfig(
                num_mixtures=hp.Int("num_mixtures", 1, 3),
                dropout=hp.Choice("dropout", [0.0, 0.1, 0.3]),
                learning_rate=hp.Float("learning_rate", 1e-3, 1e-2, sampling="log"),
            )
            model = build_planted_classifier(graph_layer, "graphs", config, seed=seed)
            if eager:
                model.compile(optimizer=model.optimizer, loss=model.loss,
                              metrics=["accuracy"], run_eagerly=True)
            return model

    return PlantedClassifierHyperModel(name="planted_classifier")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", default=None,
                        help="an exported graph module (default: the bundled one, or "
                             "pretrain one)")
    # The budgets of `glomo demo` (DemoConfig), whose task and classifier this tunes.
    parser.add_argument("--pretrain-steps", type=int, default=1000,
                        help="steps of `tiny` pretraining when no module is found")
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--examples", type=int, default=2000, help="training examples")
    parser.add_argument("--epochs", type=int, default=6, help="epochs per trial")
    parser.add_argument("--out", default=None,
                        help="directory for the tuner's trials (default: a temporary dir)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--language-seed", type=int, default=0,
                        help="seed the module's synthetic pretraining corpus used")
    parser.add_argument("--eager", action="store_true",
                        help="run training steps eagerly (quicker than tracing them when "
                             "there are only a handful, as in the smoke test)")
    args = parser.parse_args(argv)
    if args.trials < 1 or args.examples < 2 or args.epochs < 1:
        parser.error("--trials and --epochs must be positive, --examples at least 2")
    if args.module is not None and not os.path.isdir(args.module):
        parser.error(f"--module: no such directory: {args.module}")

    import keras
    import keras_tuner
    import tensorflow as tf

    from glomo_tf.demo.planted_task import make_planted_task
    from glomo_tf.transfer import GLoMoGraphs

    out_dir = args.out or tempfile.mkdtemp(prefix="glomo-tune-")
    module = args.module
    if module is None and os.path.isdir(BUNDLED_MODULE):
        module = BUNDLED_MODULE
    if module is None:
        from glomo_tf.demo.run import pretrain_module

        print(f"No module given or bundled: pretraining `tiny` for {args.pretrain_steps} "
              "steps on the planted language ...")
        module = pretrain_module(out_dir, args.pretrain_steps, args.language_seed)
    print(f"Graph module: {module}")
    graph_layer = GLoMoGraphs(module)  # loaded once, shared (frozen) by every trial
    language = planted_language(graph_layer, args.language_seed)

    keras.utils.set_random_seed(args.seed)
    train_texts, train_labels = make_planted_task(language, args.examples, args.seed)
    val_texts, val_labels = make_planted_task(language, max(args.examples // 4, 32),
                                              args.seed + 1)
    train = tf.data.Dataset.from_tensor_slices((train_texts, train_labels)).shuffle(
        len(train_texts), seed=args.seed).batch(32)
    val = tf.data.Dataset.from_tensor_slices((val_texts, val_labels)).batch(256)

    tuner = keras_tuner.RandomSearch(
        make_hypermodel(graph_layer, args.seed, args.eager),
        objective="val_accuracy",
        max_trials=args.trials,
        seed=args.seed,
        directory=out_dir,
        project_name="tune_transfer",
        overwrite=True,
    )
    tuner.search_space_summary()
    tuner.search(train, validation_data=val, epochs=args.epochs, verbose=2)

    best = tuner.oracle.get_best_trials(1)[0]
    print(f"trials run: {len(tuner.oracle.trials)}, written under {out_dir}/tune_transfer")
    print(f"best hyperparameters: {best.hyperparameters.values}")
    print(f"best val_accuracy: {100 * best.score:.1f}% (chance 50%)")


if __name__ == "__main__":
    main()
