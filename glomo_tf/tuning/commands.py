"""`glomo tune`: the command-line face of `glomo_tf.tuning.search.tune`.

For the CLI's subcommand registry: `add_parser(subparsers)` adds `tune`, `run(args)` runs it
and returns the exit status (0; 1 when the search stopped on failing trials or no trial
completed). Settings are checked before TensorFlow is imported.
"""

import argparse

from glomo_tf.argument_types import positive_int
from glomo_tf.training.strategy import STRATEGIES
from glomo_tf.tuning.search import TASKS, TRANSFER_MODES, TUNERS


def add_parser(subparsers):
    """Adds `tune` to the `glomo` subcommands; returns its parser."""
    parser = subparsers.add_parser(
        "tune",
        help="search hyper-parameters with keras-tuner (pretraining or downstream transfer)",
        description=(
            "Searches the downstream transfer settings (mixtures, hierarchical products, token "
            "conditioning, dropout, learning rate) of a task, or the pretraining network "
            "(d, L, K, head size, sparse mode, CNN depth, D, optimiser, learning rate) with "
            "keras-tuner. Writes DIR/PROJECT/ (PROJECT = TASK_TRANSFER, or pretrain): the "
            "tuner's state (for --resume), logs/ (TensorBoard, one folder per trial), "
            "best_config.json (for glomo finetune/pretrain --config), best_hyperparameters.json "
            "and trials.md, the summary table it prints."),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--task", required=True, choices=TASKS,
                        help="synthetic = the planted-relations task of glomo demo (CPU-fast); "
                             "pretrain = the pretraining network")
    parser.add_argument("--tuner", default="random", choices=TUNERS, help="keras-tuner oracle")
    parser.add_argument("--max-trials", type=positive_int, default=10,
                        help="trials in total (a resumed search counts the ones it already ran)")
    parser.add_argument("--directory", required=True, metavar="DIR", help="search directory")
    parser.add_argument("--resume", action="store_true",
                        help="continue the search in DIR: run only its remaining trials "
                             "(without it, an existing search of the same task/transfer is replaced)")
    parser.add_argument("--transfer", default="glomo", choices=TRANSFER_MODES,
                        help="downstream transfer mode, fixed for the search (none = feature-only "
                             "baseline; glomo = GLoMo graphs on the embeddings)")
    parser.add_argument("--graphs", default=None, metavar="MODULE",
                        help="graph module (downstream tasks; synthetic: default the bundled one)")
    parser.add_argument("--epochs", type=positive_int, default=2,
                        help="epochs per trial (hyperband: the most a trial gets)")
    parser.add_argument("--steps-per-epoch", type=positive_int, default=None,
                        help="batches per epoch (default: one pass; pretrain: 100)")
    parser.add_argument("--batch-size", type=positive_int, default=None)
    parser.add_argument("--max-train", type=positive_int, default=None,
                        help="training examples (downstream; synthetic default 1000)")
    parser.add_argument("--max-validation", type=positive_int, default=None,
                        help="validation examples, held out of the training data "
                             "(NLI: its validation split; default 1000, synthetic 500)")
    parser.add_argument("--strategy", default=None, choices=STRATEGIES,
                        help="tf.distribute strategy every trial runs under (keras-tuner's "
                             "distribution_strategy); downstream tasks need a single replica")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-failures", type=positive_int, default=3,
                        dest="max_consecutive_failed_trials",
                        help="stop after this many failing trials in a row")
    parser.add_argument("--executions-per-trial", type=positive_int, default=1)
    parser.add_argument("--space", default=None, metavar="JSON|FILE",
                        help="search-space overrides, e.g. '{\"dropout\": {\"max\": 0.3}, "
                             "\"num_mixtures\": [1, 2]}' (see glomo_tf/tuning/search_space.py)")
    parser.add_argument("--config", default=None, metavar="NAME|FILE",
                        help="base config of what is not searched: pretrain: tiny|small|paper|FILE "
                             "(default tiny); imdb/sst2/nli/squad: a FinetuneConfig JSON file")
    parser.add_argument("--features", default=None, choices=("glove", "elmo"))
    parser.add_argument("--glove", default=None, metavar="PATH")
    parser.add_argument("--data-dir", default=None, help="data folder (default GLOMO_DATA_DIR)")
    parser.add_argument("--corpus", default="synthetic", metavar="PATH|synthetic",
                        help="pretrain: the corpus")
    parser.add_argument("--validation-corpus", default=None, metavar="PATH")
    parser.add_argument("--validation-steps", type=positive_int, default=5,
                        help="pretrain: validation batches")
    parser.add_argument("--max-vocab", type=positive_int, default=None)
    parser.add_argument("--run-eagerly", action="store_true",
                        help="no tf.function tracing (tiny runs and debugging)")
    parser.add_argument("--quiet", action="store_true", help="no per-trial progress")
    parser.set_defaults(func=run, command="tune")
    return parser


def config_from_args(args):
    """The `TuneConfig` of parsed `glomo tune` arguments (validated, no TensorFlow)."""
    from glomo_tf.tuning.search import TuneConfig
    from glomo_tf.tuning.search_space import parse_space

    return TuneConfig(
        task=args.task, tuner=args.tuner, max_trials=args.max_trials, directory=args.directory,
        resume=args.resume, transfer=args.transfer, graphs=args.graphs, epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch, batch_size=args.batch_size,
        max_train=args.max_train, max_validation=args.max_validation, strategy=args.strategy,
        seed=args.seed, max_consecutive_failed_trials=args.max_consecutive_failed_trials,
        executions_per_trial=args.executions_per_trial, space=parse_space(args.space),
        config=args.config, features=args.features, glove=args.glove, data_dir=args.data_dir,
        corpus=args.corpus, validation_corpus=args.validation_corpus,
        validation_steps=args.validation_steps, max_vocab=args.max_vocab,
        run_eagerly=args.run_eagerly, verbose=0 if args.quiet else 1)


def run(args):
    """Runs `glomo tune`; returns 0, or 1 when no trial completed."""
    import sys

    config = config_from_args(args)
    from glomo_tf.tuning.search import SearchFailedError, tune

    try:
        result = tune(config)
    except SearchFailedError as error:
        print(f"glomo tune: {error}", file=sys.stderr)
        return 1
    print(result.table())
    print(f"\n{result.trials_run} trial(s) run now, {len(result.trials)} in the search; "
          f"TensorBoard: tensorboard --logdir {result.log_dir}")
    if result.best_config_path is None:
        print("glomo tune: no trial completed; no best config written.", file=sys.stderr)
        return 1
    command = "pretrain" if config.task == "pretrain" else "finetune"
    print(f"best trial {result.best_trial_id}: {result.objective} {result.best_score:.4f}; "
          f"config for glomo {command} --config: {result.best_config_path}")
    return 0
