"""`glomo evaluate MODULE --treebank FILE.conllu[.xz]`: a module's heads against gold syntax.

For the CLI's subcommand registry (`glomo_tf.cli`, which prints errors as one line with
exit code 2): `add_parser(subparsers)` adds the subcommand, `run(args)` executes it.
Paths and the treebank are checked, and the treebank parsed, before TensorFlow is
imported, so a typo or a corrupt file fails in a second.
"""

import os

from glomo_tf.argument_types import int_or_none, positive_int
from glomo_tf.presets import resolve_module

COMMAND = "evaluate"
# The registry name, accepted for --treebank: the staged copy, or downloaded.
EWT_DEV_NAME = "ud-english-ewt-dev"
CONFIG_FILENAME = "glomo_module.json"  # = graph_module.CONFIG_FILENAME, without TensorFlow


def add_parser(subparsers):
    """Adds `evaluate` to an `argparse` subparsers object; returns its parser."""
    parser = subparsers.add_parser(
        COMMAND, help="directed attachment of a module's graph heads on a CoNLL-U treebank",
        description="Scores every (direction, layer, head) of a graph module against the gold "
                    "heads of a treebank: a word with its head on the left must get the top-1 "
                    "of its forward graph row, one with its head on the right that of its "
                    "backward row. Heads are chosen on --select-on (default: the first half of "
                    "the treebank) and scored on the treebank (its second half), next to the "
                    "best fixed offsets, the module's predictor at random initialisation and, "
                    "per frequent relation, the best head against the best offset. Also the "
                    "live-row fraction of every head.")
    parser.add_argument("module", help="graph module directory, or a bundled module's name "
                                       "(glomo presets)")
    parser.add_argument("--treebank", required=True,
                        help=f"CoNLL-U file scored (.conllu, .xz, .gz), or {EWT_DEV_NAME} "
                             "(UD English-EWT r2.16 dev: the staged copy, else downloaded)")
    parser.add_argument("--select-on", default=None, metavar="FILE",
                        help="CoNLL-U file the heads and offsets are chosen on (default: the "
                             "first half of the treebank; then the second half is scored)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="write evaluation.json, evaluation.md and graphs.png there")
    parser.add_argument("--max-sentences", type=positive_int, default=None, metavar="N",
                        help="read at most N sentences of each file")
    parser.add_argument("--untrained-seed", type=int_or_none, default=0, metavar="SEED",
                        help="seed of the untrained-predictor baseline, or 'none' to skip it "
                             "(default 0)")
    parser.add_argument("--max-offset", type=positive_int, default=20,
                        help="the fixed-offset baseline tries distances 1..N (default 20)")
    parser.set_defaults(func=run, command=COMMAND)
    return parser


def _check_module(handle):
    path = resolve_module(handle)
    if "://" in path:
        raise ValueError(f"{handle}: glomo evaluate reads local module directories only.")
    if not os.path.exists(path):
        raise FileNotFoundError(f"graph module not found: {path}")
    if not os.path.isdir(path):
        raise ValueError(f"{path} is a file, not a GLoMo graph module directory "
                         "(a module is what 'glomo export' writes).")
    if not os.path.isfile(os.path.join(path, "assets", CONFIG_FILENAME)):
        if os.path.isfile(os.path.join(path, "config.json")) and \
                os.path.isdir(os.path.join(path, "checkpoints")):
            raise ValueError(f"{path} is a pretraining run directory, not a graph module; "
                             f"export it first: glomo export {path} MODULE_DIR")
        raise ValueError(f"{path} is not a GLoMo graph module (no assets/{CONFIG_FILENAME}).")
    return path


def _treebank_path(value):
    if value == EWT_DEV_NAME and not os.path.exists(value):
        from glomo_tf.evaluation.treebank import fetch_ewt_dev

        return os.fspath(fetch_ewt_dev())
    return value


def run(args):
    """Runs a parsed `evaluate` command; returns 0."""
    from glomo_tf.evaluation.treebank import read_conllu

    module_path = _check_module(args.module)
    if args.out is not None and os.path.exists(args.out) and not os.path.isdir(args.out):
        raise ValueError(f"--out {args.out} exists and is not a directory.")
    treebank = _treebank_path(args.treebank)
    sentences = read_conllu(treebank, max_sentences=args.max_sentences)
    selection = None
    if args.select_on is not None:
        selection = read_conllu(_treebank_path(args.select_on), max_sentences=args.max_sentences)
    elif len(sentences) < 2:
        raise ValueError(f"{treebank} has {len(sentences)} sentence: too few to split into a "
                         "selection half and a scored half; pass --select-on FILE.")

    from glomo_tf.evaluation.evaluate import evaluate_module, format_table
    from glomo_tf.export.graph_module import load_graph_module

    graph_module = load_graph_module(module_path)
    result = evaluate_module(graph_module, sentences, select_on=selection,
                             untrained_seed=args.untrained_seed, max_offset=args.max_offset)
    result["treebank"] = treebank
    result["select_on"] = args.select_on
    print(format_table(result))
    if args.out is not None:
        _write_outputs(graph_module, sentences, selection, result, args.out)
    return 0


def _write_outputs(graph_module, sentences, selection, result, out):
    from glomo_tf.evaluation.evaluate import to_markdown
    from glomo_tf.evaluation.plotting import example_sentence, plot_example
    from glomo_tf.evaluation.treebank import split_halves
    from glomo_tf.files.atomic_write import write_json, write_text

    os.makedirs(out, exist_ok=True)
    scored = sentences if selection is not None else split_halves(sentences)[1]
    example = scored[example_sentence(scored)]
    picture = os.path.join(out, "graphs.png")
    plot_example(graph_module, example, result, picture)
    result["picture"] = {"path": "graphs.png", "sent_id": example.sent_id,
                         "words": list(example.words)}
    write_json(os.path.join(out, "evaluation.json"), result)
    write_text(os.path.join(out, "evaluation.md"), "# glomo evaluate\n\n" + to_markdown(result)
               + "\n![graphs of one sentence with its gold arcs](graphs.png)\n")
    print(f"\nWrote {os.path.join(out, 'evaluation.json')}, evaluation.md and graphs.png.")
