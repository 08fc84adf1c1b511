"""`glomo` — the command line, a thin argparse layer over the Python API.

Subcommands live next to the code they drive; this module only finds them. A subcommand
module has
- `add_parser(subparsers)`: adds its parser(s) with `subparsers.add_parser(name, ...)` and
  calls `set_defaults(func=run, command=name)`;
- `run(args)`: does the work and returns an exit code (None means 0).
Every subcommand also gets `--verbose` and `--debug` (added here).
To add one, append its module to `SUBCOMMAND_MODULES`. Modules that do not exist yet are
skipped, so the list can name subcommands that other packages are still writing.

Errors: bad input (`ValueError`, `FileNotFoundError`, argparse errors) exits with code 2
and one line on stderr, `glomo <command>: error: <what is wrong>`; `--debug` shows the
traceback instead. Keep heavy imports (TensorFlow) inside `run`, so `glomo --help` is quick
and input checks that need no TensorFlow fail fast.

Output: only the program's own lines; TensorFlow's start-up and info logs are kept back
(`glomo_tf.startup_logs`) unless `--verbose` or `--debug` is given.
"""

import argparse
import importlib
import os
import sys

from glomo_tf import startup_logs

PROG = "glomo"
SUBCOMMAND_MODULES = (
    "glomo_tf.training.pretrain_command",  # pretrain
    "glomo_tf.export.commands",  # export, graphs
    "glomo_tf.tasks.commands",  # finetune
    "glomo_tf.tuning.commands",  # tune
    "glomo_tf.demo.commands",  # demo
    "glomo_tf.presets_command",  # presets
    "glomo_tf.evaluation.commands",  # evaluate
)
USAGE_ERROR = 2


class UsageError(ValueError):
    """Bad command-line input; reported as one line with exit code 2."""


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is a single stderr line (plus exit code 2)."""

    def error(self, message):
        self.exit(USAGE_ERROR, _printable(f"{self.prog}: error: {message} (see {self.prog} --help)\n"))


_DEBUG_HELP = "show the full traceback on errors instead of one line (implies --verbose)"
_VERBOSE_HELP = "let TensorFlow's start-up and info logs through"
_SHARED_FLAGS = (("--verbose", _VERBOSE_HELP), ("--debug", _DEBUG_HELP))


def _load_subcommands(subparsers):
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name and name.startswith(error.name):
                continue  # Not written yet.
            raise
        module.add_parser(subparsers)
    for subparser in subparsers.choices.values():
        for flag, text in _SHARED_FLAGS:
            if flag not in subparser._option_string_actions:
                # SUPPRESS: an unset sub-option must not overwrite `glomo --debug COMMAND`.
                subparser.add_argument(flag, action="store_true", default=argparse.SUPPRESS, help=text)


def build_parser():
    """The `glomo` parser with every available subcommand."""
    parser = _OneLineParser(
        prog=PROG,
        description="GLoMo: pretrain a relational-graph predictor on unlabeled text and transfer "
                    "its graphs to downstream tasks (Keras 3 / TensorFlow).",
        epilog=f"Run '{PROG} COMMAND --help' for the options of a command.",
    )
    for flag, text in _SHARED_FLAGS:
        parser.add_argument(flag, action="store_true", help=text)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_OneLineParser)
    _load_subcommands(subparsers)
    return parser


def _printable(text):
    # Undecodable command-line bytes reach Python as lone surrogates (surrogateescape);
    # echoed back in an error message they would make the error itself fail to print.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _one_line(error):
    text = " ".join(str(error).split())
    if isinstance(error, KeyError):
        text = text.strip("'\"")
    return _printable(text) or type(error).__name__


def main(argv=None):
    """Entry point of the `glomo` console script and `python -m glomo_tf`; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error already printed as one line
        return exit_.code if isinstance(exit_.code, int) else USAGE_ERROR
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return USAGE_ERROR
    if not (args.verbose or args.debug):
        startup_logs.silence()
    try:
        code = args.func(args)
    except (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError) as error:
        if args.debug:
            raise
        print(f"{PROG} {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `glomo presets NAME | head`: the reader left; not an error of ours
        try:  # what is left in the buffer goes nowhere, instead of failing again at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 141
    return 0 if code is None else int(code)


if __name__ == "__main__":
    sys.exit(main())
