"""`glomo export` and `glomo graphs`: the command-line face of this package.

For the CLI's subcommand registry (`glomo_tf.cli`, which also prints errors as one line):
`add_parser(subparsers)` adds both subcommands (each parser's `func` default is `run`),
`run(args)` executes a parsed command and returns the exit status.
"""

import argparse
import os

from glomo_tf.presets import resolve_module

COMMANDS = ("export", "graphs")
# = graph_module.DEFAULT_MAX_LENGTH, repeated so that `glomo --help` needs no TensorFlow.
DEFAULT_MAX_LENGTH = 512


def _indices(value):
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated 0-based indices like 0,2; got {value!r}") from None


def add_parser(subparsers):
    """Adds `export` and `graphs` to an `argparse` subparsers object; returns the parsers."""
    export = subparsers.add_parser(
        "export", help="export a pretraining run's graph predictors as a SavedModel/TF-Hub module",
        description="Writes ONE SavedModel directory (graph predictors, embedding, tokenizer, "
                    "vocabulary) from a pretraining run directory, atomically.")
    export.add_argument("run_dir", help="pretraining out_dir (config.json, vocab.txt, checkpoints/)")
    export.add_argument("out", nargs="?", default=None,
                        help="module directory to write (replaced atomically); or --out DIR")
    export.add_argument("--out", dest="out_option", default=None, metavar="DIR",
                        help="the same as the positional OUT")
    export.add_argument("--max-length", type=int, default=DEFAULT_MAX_LENGTH,
                        help="longest sequence the module returns; longer text is truncated")
    export.add_argument("--checkpoint", default=None,
                        help="latest (the default), best (lowest validation loss), a step "
                             "number, a ckpt-N directory, a .weights.h5 or a .keras file")
    export.set_defaults(func=run, command="export")

    graphs = subparsers.add_parser(
        "graphs", help="draw a module's graphs for some text as heatmaps",
        description="Heatmaps per direction x layer x head with the tokens as tick labels.")
    graphs.add_argument("module", help="graph module directory, or a bundled module's name "
                                       "(glomo presets)")
    graphs.add_argument("text", help="the text to draw graphs for")
    graphs.add_argument("--out", default="graphs.png", help="PNG to write (default graphs.png)")
    graphs.add_argument("--layers", type=_indices, default=None, help="0-based, e.g. 0,2")
    graphs.add_argument("--heads", type=_indices, default=None, help="0-based, e.g. 0,1")
    graphs.set_defaults(func=run, command="graphs")
    return export, graphs


def _export_target(args):
    """The module directory of `glomo export RUN OUT` or `glomo export RUN --out OUT`."""
    positional, option = args.out, getattr(args, "out_option", None)
    if positional is None and option is None:
        raise ValueError("the module directory to write is missing: give OUT or --out DIR.")
    if positional is not None and option is not None and positional != option:
        raise ValueError(f"two module directories given, {positional!r} and --out "
                         f"{option!r}; give one.")
    return option if positional is None else positional


def run(args):
    """Runs a parsed `export` or `graphs` command; returns 0."""
    if args.command == "export":
        # Checked before TensorFlow is imported, so a typo fails in a second.
        if not os.path.isdir(args.run_dir):
            raise FileNotFoundError(f"Pretraining run directory not found: {args.run_dir}")
        out = _export_target(args)
        if args.max_length < 1:
            raise ValueError(f"--max-length must be >= 1, got {args.max_length}.")
        from glomo_tf.export.graph_module import export_graph_module
        from glomo_tf.export.run_checkpoint import load_run

        model, tokenizer, checkpoint = load_run(args.run_dir, checkpoint=args.checkpoint)
        export_graph_module(model, tokenizer, out, max_length=args.max_length)
        print(f"Exported {checkpoint} -> {out}")
        return 0
    if args.command == "graphs":
        module = resolve_module(args.module)
        if not os.path.isdir(module):
            raise FileNotFoundError(f"GLoMo graph module directory not found: {module}")
        from glomo_tf.export.graph_rendering import render_graphs

        render_graphs(module, args.text, args.out, layers=args.layers, heads=args.heads)
        print(f"Wrote {args.out}")
        return 0
    raise ValueError(f"Unknown command {args.command!r}; expected one of {COMMANDS}.")

