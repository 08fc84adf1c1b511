"""`glomo pretrain`: the command-line face of `glomo_tf.training.pretraining.pretrain`.

Inputs are checked before TensorFlow is imported where that is possible (configs, paths,
an empty corpus, an `--out` that already holds a run), so mistakes fail in a second.
"""

import argparse
import os
import signal
import sys

from glomo_tf.argument_types import non_negative_int, positive_float, positive_int
from glomo_tf.configs import (
    PRECISIONS,
    SPLITTING,
    WINDOWS,
    GLoMoConfig,
    PretrainConfig,
    load_configs,
)
from glomo_tf.training.strategy import STRATEGIES
from glomo_tf.training.synthetic_corpus import SYNTHETIC

NAMED_CONFIGS = ("tiny", "small", "paper")
# flag dest -> PretrainConfig field
_TRAIN_OVERRIDES = {
    "steps": "steps",
    "batch_size": "batch_size",
    "lr": "learning_rate",
    "optimizer": "optimizer",
    "seed": "seed",
    "checkpoint_every": "checkpoint_every",
    "validate_every": "validate_every",
    "validation_steps": "validation_steps",
    "keep_checkpoints": "keep_checkpoints",
    "log_every": "log_every",
    "image_every": "image_every",
    "on_nan": "on_nan",
    "precision": "precision",
    "windows": "windows",
    "window_stride": "window_stride",
    "window_stride_jitter": "window_stride_jitter",
    "splitting": "splitting",
}


def add_parser(subparsers):
    """Adds `pretrain` to the `glomo` subcommands."""
    parser = subparsers.add_parser(
        "pretrain",
        help="pretrain the graph predictor on unlabeled text (or the synthetic language)",
        description=(
            "Pretrains GLoMo: builds the vocabulary, cuts the corpus into windows and trains both "
            "directions with the context-prediction loss. OUT receives config.json, vocab.txt, "
            "checkpoints/ (the last few, atomic, resumable) and logs/ (TensorBoard: loss, val_loss, "
            "learning rate, tokens/s, graph heatmaps). Validation uses --validation-corpus, or else "
            "the last 2% of the corpus' documents. SIGTERM or Ctrl-C stops it cleanly: the batch "
            "in progress completes, a checkpoint of the step reached is written, and the exit "
            "status is 128 + the signal's number; --resume continues exactly from there."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--corpus", required=True, metavar="PATH|synthetic", nargs="+",
                        help="text corpus (several: their documents are interleaved): a file (.txt, .xz, .gz, .bz2), a directory or a tar archive "
                             "(plain lines, WikiText, PTB, WikiExtractor or IMDB layout, detected), or "
                             "'synthetic' for the planted-dependency language")
    parser.add_argument("--config", default="tiny", metavar="tiny|small|paper|FILE.json",
                        help="model preset, or a JSON file written by save_configs / glomo tune "
                             "(its 'train' section, if any, sets the training defaults)")
    parser.add_argument("--out", required=True, metavar="DIR", help="run directory")
    parser.add_argument("--steps", type=positive_int, default=None,
                        help="total optimizer steps (with --resume: the new total)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its newest good checkpoint, at the same step "
                             "and data position")
    parser.add_argument("--strategy", choices=STRATEGIES, default="auto",
                        help="tf.distribute strategy: auto = all local GPUs, else CPU; multiworker reads "
                             "TF_CONFIG; tpu needs --tpu")
    parser.add_argument("--tpu", default=None, metavar="ADDR",
                        help="TPU name or grpc:// address for --strategy tpu ('local' on a TPU VM)")
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help="global batch size (split over replicas)")
    parser.add_argument("--lr", type=positive_float, default=None,
                        help="initial learning rate (ignored on --resume: the checkpoint's is kept)")
    parser.add_argument("--optimizer", choices=("sgd", "adam"), default=None,
                        help="sgd = released recipe (momentum 0.2, global clipnorm 0.25); adam")
    parser.add_argument("--seed", type=int, default=None,
                        help="seeds initialisation, data order and position sampling")
    parser.add_argument("--checkpoint-every", type=positive_int, default=None,
                        help="steps between checkpoints")
    parser.add_argument("--keep-checkpoints", type=positive_int, default=None,
                        help="how many recent checkpoints to keep")
    parser.add_argument("--validate-every", type=positive_int, default=None,
                        help="steps between validations (the lr is halved after --plateau-patience "
                             "validations without improvement)")
    parser.add_argument("--validation-steps", type=positive_int, default=None,
                        help="batches per validation")
    parser.add_argument("--log-every", type=positive_int, default=None,
                        help="steps between TensorBoard scalars (loss, lr, tokens/s)")
    parser.add_argument("--image-every", type=non_negative_int, default=None,
                        help="steps between graph heatmap images in TensorBoard (0 = never)")
    parser.add_argument("--sequence-length", type=int, default=None, metavar="T",
                        help="window length T (overrides the config's)")
    parser.add_argument("--max-vocab", type=int, default=None,
                        help="words kept in the vocabulary besides <unk> (default: the config's "
                             "vocabulary_size - 1)")
    parser.add_argument("--vocab-documents", type=positive_int, default=None, metavar="N",
                        help="build the vocabulary from the first N training documents only "
                             "(default: all)")
    parser.add_argument("--validation-corpus", default=None, metavar="PATH",
                        help="held-out corpus for validation (default: the last 2%% of --corpus)")
    parser.add_argument("--format", default="auto", dest="corpus_format",
                        choices=("auto", "lines", "paragraphs", "ptb", "wikitext", "wikiextractor", "imdb"),
                        help="how the corpus is split into documents")
    parser.add_argument("--on-nan", choices=("stop", "skip"), default=None,
                        help="on a non-finite loss: stop (keep the last good checkpoint; exit code 1) or "
                             "skip the batch (rewind to the last checkpoint, replay, skip it) "
                             "[default: the config's, stop]")
    parser.add_argument("--precision", choices=PRECISIONS, default=None,
                        help="compute dtype policy (default float32); mixed_bfloat16 is faster "
                             "only where the hardware has bf16 matmuls")
    parser.add_argument("--windows", choices=WINDOWS, default=None,
                        help="stream: fixed windows over the concatenated documents; documents: "
                             "the released recipe, windows inside documents with batch lengths "
                             "int(T*1.4^u), u in [-2, 0] [default: the config's]")
    parser.add_argument("--window-stride", type=positive_int, default=None,
                        help="tokens between window starts (released: 100 with T 200)")
    parser.add_argument("--window-stride-jitter", type=non_negative_int, default=None,
                        help="each stride drawn from stride +- this (released: 10)")
    parser.add_argument("--splitting", choices=SPLITTING, default=None,
                        help="word rule: english (raw text, PTB/UD words), whitespace (already "
                             "tokenized corpora: WikiText, PTB) [default: english]")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run, command="pretrain")
    return parser


def resolve_configs(config, args=None):
    """`(GLoMoConfig, PretrainConfig)` from `--config` and the override flags in `args`."""
    if config in NAMED_CONFIGS:
        model_config = GLoMoConfig.named(config)
        train_config = PretrainConfig.for_model(config)
    elif config.endswith(".json") or os.path.exists(config):
        model_config, train_config = load_configs(config)
        train_config = train_config or PretrainConfig()
    else:
        raise ValueError(f"Unknown config {config!r}: expected one of {', '.join(NAMED_CONFIGS)} or a JSON file.")
    if args is None:
        return model_config, train_config
    overrides = {field: getattr(args, flag) for flag, field in _TRAIN_OVERRIDES.items()
                 if getattr(args, flag, None) is not None}
    train_config = PretrainConfig.from_dict({**train_config.to_dict(), **overrides})
    if getattr(args, "sequence_length", None) is not None:
        if args.sequence_length < 2:
            raise ValueError(f"--sequence-length must be >= 2 (a window needs a unit and its context), "
                             f"got {args.sequence_length}.")
        model_config = GLoMoConfig.from_dict({**model_config.to_dict(), "sequence_length": args.sequence_length})
    return model_config, train_config


def _check_inputs(args):
    from glomo_tf.data.text_readers import CorpusReader
    from glomo_tf.training.checkpoints import CheckpointManager

    for flag, path in [("--corpus", c) for c in args.corpus] + [
            ("--validation-corpus", args.validation_corpus)]:
        if path is None or (flag == "--corpus" and path == SYNTHETIC):
            continue
        if not os.path.exists(path):
            raise FileNotFoundError(f"{flag} {path} does not exist.")
        # The first document is enough to know the corpus is not empty (raises otherwise).
        next(iter(CorpusReader(path, format=args.corpus_format)), None)
    if args.tpu is not None and args.strategy != "tpu":
        raise ValueError("--tpu is only used with --strategy tpu.")
    if args.strategy == "tpu" and not args.tpu:
        raise ValueError("--strategy tpu needs --tpu ADDR.")
    if args.max_vocab is not None and args.max_vocab < 2:
        raise ValueError(f"Vocabulary too small: --max-vocab must be >= 2, got {args.max_vocab}.")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise NotADirectoryError(f"--out {args.out} exists and is not a directory.")
    existing = CheckpointManager(os.path.join(args.out, "checkpoints")).peek()
    if args.resume and existing is None:
        raise FileNotFoundError(f"--resume: no checkpoint to resume in {os.path.join(args.out, 'checkpoints')}.")


def run(args):
    """Runs `glomo pretrain`; returns 0, 1 when training stopped on a NaN loss, or 128 + the
    signal's number after a clean stop on SIGTERM / SIGINT (the shell's convention, so a
    script chaining `glomo export` after it does not export a run it meant to finish)."""
    model_config, train_config = resolve_configs(args.config, args)
    _check_inputs(args)

    from glomo_tf.training.pretraining import pretrain
    from glomo_tf.training.strategy import make_strategy

    strategy = make_strategy(args.strategy, tpu=args.tpu)
    result = pretrain(
        args.corpus if len(args.corpus) > 1 else args.corpus[0], args.out, model_config, train_config,
        resume=args.resume, strategy=strategy, validation_corpus=args.validation_corpus,
        progress=not args.quiet, max_vocab=args.max_vocab, corpus_format=args.corpus_format,
        vocabulary_documents=args.vocab_documents,
    )
    val = result.history.get("val_loss")
    summary = [f"step {result.final_step}", f"stopped: {result.stopped}"]
    if val:
        summary.append(f"val_loss {val[-1]:.4f}")
    if result.skipped_steps:
        summary.append(f"skipped steps {result.skipped_steps}")
    print(f"glomo pretrain: {', '.join(summary)}; checkpoint {result.checkpoint_path}; "
          f"TensorBoard: tensorboard --logdir {result.log_dir}")
    if result.stopped == "nan":
        print(f"glomo pretrain: error: non-finite loss at step {result.final_step}; training stopped, "
              f"the last good checkpoint is kept ({result.checkpoint_path or 'none'}). Resume with --resume "
              "and a lower --lr, or pass --on-nan skip.", file=sys.stderr)
        return 1
    if result.stopped == "signal":
        print(f"glomo pretrain: stopped by {result.stop_signal} at step {result.final_step}; "
              f"checkpoint {result.checkpoint_path}; continue with the same command and --resume.",
              file=sys.stderr)
        return 128 + signal.Signals[result.stop_signal].value
    return 0

