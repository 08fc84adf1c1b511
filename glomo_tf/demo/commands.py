"""`glomo demo`: the README's main command (see `glomo_tf.demo.run`)."""

import os

from glomo_tf.presets import resolve_module


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "demo",
        help="pretrain on the embedded planted language, export, transfer: a table of accuracies",
        description="No download, no data: uses the bundled module glomo_planted_tiny "
                    "(or pretrains one with --pretrain), reports how well its graphs recover the "
                    "planted parents, then trains the same downstream classifier feature-only, with "
                    "a uniform graph and with GLoMo graphs, and prints their test accuracies.",
    )
    parser.add_argument("--out", default="glomo_demo", help="output directory (default glomo_demo)")
    parser.add_argument("--module", default=None,
                        help="use this graph module (a directory or a bundled module's name, "
                             "see glomo presets) instead of glomo_planted_tiny")
    parser.add_argument("--pretrain", action="store_true",
                        help="pretrain a fresh tiny module (about 2-3 minutes) instead of the bundled one")
    parser.add_argument("--pretrain-steps", type=int, default=None, help="steps of that pretraining")
    parser.add_argument("--epochs", type=int, default=None, help="downstream epochs per model")
    parser.add_argument("--train-examples", type=int, default=None)
    parser.add_argument("--test-examples", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no Keras progress lines")
    parser.set_defaults(func=run, command="demo")
    return parser


def run(args):
    module = None if args.module is None else resolve_module(args.module)
    if module is not None and not os.path.isdir(module):
        raise FileNotFoundError(f"Graph module not found: {module}")
    overrides = {
        "pretrain_steps": args.pretrain_steps, "epochs": args.epochs,
        "train_examples": args.train_examples, "test_examples": args.test_examples,
    }
    for name, value in overrides.items():
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}.")
    from glomo_tf.demo.run import DemoConfig, run_demo

    config = DemoConfig(seed=args.seed, **{k: v for k, v in overrides.items() if v is not None})
    run_demo(args.out, module=module, pretrain=args.pretrain, config=config,
             progress=not args.quiet)
    return 0
