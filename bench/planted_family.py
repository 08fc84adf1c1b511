"""Planted-parent recovery on a family of planted languages of other shapes than
`glomo_tf.data.synthetic`'s, pretrained from a plain text file with the defaults a user gets.

For each shape (`glomo_tf.data.planted_family`): write a corpus of lines (one line = one
document) and its gold parents, pretrain with `glomo_tf.training.pretraining.pretrain`
exactly as `glomo pretrain --corpus FILE --config tiny --steps N` does (the configs come from
the command's own `resolve_configs`; validation on the last 2% of the lines), export the
graph module, and score its forward graphs on fresh held-out lines, whole (longer than T
where the shape says so): layer/head chosen on the first half, recovery reported on the
second half, beside the rule "read the most recent trigger (any class)" and the same
predictor at its initialisation (`export_untrained_like`, the run's seed). Writes the
"planted_family" section of BENCHMARKS.md.

A variant changes the training settings, to find why a shape fails: `default` is the
command's defaults; otherwise `key=value[,key=value]` over `PretrainConfig` fields and
`sequence_length` (as `glomo pretrain --sequence-length`), e.g. `sequence_length=64`,
`window_stride=16` or `steps=8000` (overriding `--steps` for that variant). "Pairs in a
window" counts the training pairs whose trigger, cue and partner lie in one training
window with the cue at a position where the loss is taken (0..T-D-1): the pairs a window
lets the model learn from.

    python bench/planted_family.py --steps 2000
    python bench/planted_family.py --shapes issue48 --variants default sequence_length=64
"""

import argparse
import dataclasses
import json
import math
import os
import shutil
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from bench.report import markdown_table, write_section  # noqa: E402
from glomo_tf.data.planted_family import (  # noqa: E402
    FamilyShape,
    PlantedFamily,
    most_recent_trigger_graphs,
)

SHAPES = {
    # The language: 48-word lines, 2-4 crossing pairs, distances 4-20.
    "issue48": FamilyShape(line_length=48, pairs_per_line=(2, 4), num_classes=4,
                           distance=(4, 20), crossing=True),
    # Lines three windows of tiny long, about as many pairs per word as issue48.
    "long96": FamilyShape(line_length=96, pairs_per_line=(3, 6), num_classes=6,
                          distance=(4, 20), crossing=True),
    # Eight classes (so a line's classes are a sample of them).
    "classes8": FamilyShape(line_length=48, pairs_per_line=(2, 4), num_classes=8,
                            distance=(4, 20), crossing=True),
    # Few pairs, all far: distances 12-20.
    "far20": FamilyShape(line_length=48, pairs_per_line=(1, 2), num_classes=4,
                         distance=(12, 20), crossing=True),
    # issue48 without crossing (nested or disjoint arcs only).
    "nested48": FamilyShape(line_length=48, pairs_per_line=(2, 4), num_classes=4,
                            distance=(4, 20), crossing=False),
}
DEFAULT_SHAPES = ("issue48", "long96", "classes8", "far20")
MODEL = "tiny"
_GRAPH_BATCH = 50


def parse_variant(text):
    """`"default"` → {}; `"key=value,key=value"` → dict (values parsed as JSON, else str)."""
    from glomo_tf.configs import PretrainConfig

    if text == "default":
        return {}
    known = {f.name for f in dataclasses.fields(PretrainConfig)} | {"sequence_length"}
    overrides = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or key not in known:
            raise ValueError(f"bad variant item {item!r}: expected KEY=VALUE with KEY one of "
                             f"{sorted(known)}")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def configs(steps, overrides):
    """(GLoMoConfig, PretrainConfig) of `glomo pretrain --config tiny --steps steps`, with
    a variant's overrides."""
    from glomo_tf.configs import GLoMoConfig, PretrainConfig
    from glomo_tf.training.pretrain_command import resolve_configs

    model_config, train_config = resolve_configs(MODEL, argparse.Namespace(steps=steps))
    overrides = dict(overrides)
    if "sequence_length" in overrides:
        model_config = GLoMoConfig.from_dict(
            {**model_config.to_dict(), "sequence_length": overrides.pop("sequence_length")})
    train_config = PretrainConfig.from_dict({**train_config.to_dict(), **overrides})
    return model_config, train_config


def training_lines(num_lines):
    """How many of the corpus' first lines `pretrain` trains on (the rest validates)."""
    from glomo_tf.training.pretraining import VALIDATION_FRACTION

    return num_lines - min(num_lines - 1, max(1, math.ceil(num_lines * VALIDATION_FRACTION)))


def _cues_and_windows(parents, sequence_length, train_config):
    """Trigger and cue positions, the stride and the last window start, where the windows
    are cut: in the concatenated lines (stream) or in each line (documents)."""
    T = sequence_length
    N, L = parents.shape
    cue_line, cue = np.nonzero(parents >= 0)
    trigger = parents[cue_line, cue].astype(np.int64)
    cue = cue.astype(np.int64)
    if train_config.windows == "stream":
        stride = train_config.window_stride or T
        offset = cue_line.astype(np.int64) * L
        trigger, cue, total = trigger + offset, cue + offset, N * L
    else:
        stride = train_config.window_stride or T // 2
        total = L
    return trigger, cue, stride, (total - T) // stride * stride if total >= T else -1


def _starts_between(low, high, stride, last):
    """How many window starts (multiples of `stride` in [0, last]) lie in [low, high]."""
    low, high = np.maximum(low, 0), np.minimum(high, last)
    return np.maximum(0, high // stride - (low + stride - 1) // stride + 1) * (high >= low)


def window_statistics(parents, sequence_length, context_length, train_config):
    """What the training windows (first epoch) make of the pairs of the training lines.

    Returns `{"pairs_whole": share of the pairs that some window holds whole,
    "cue_rows_with_trigger": share of the (window, cue) rows where the loss is taken
    whose trigger is in that window}`, or None with a stride jitter. The loss is taken at
    window positions 0..T-D-1 (the partner, right after the cue, is then predicted).
    The first figure is coverage of the corpus; the second is what a training row sees:
    a cue row without its trigger has an unpredictable partner. Stream windows: every
    `stride` tokens over the concatenated lines; document windows: every `stride`
    (default T // 2) tokens inside each line, before the released recipe's per-batch
    crop (which only shortens them); lines shorter than T give none.
    """
    if train_config.window_stride_jitter:
        return None
    trigger, cue, stride, last = _cues_and_windows(parents, sequence_length, train_config)
    first_loss_start = cue - (sequence_length - context_length - 1)
    rows = _starts_between(first_loss_start, cue, stride, last)
    learnable = _starts_between(first_loss_start, trigger, stride, last)
    return {"pairs_whole": float((learnable > 0).mean()),
            "cue_rows_with_trigger": float(learnable.sum() / max(rows.sum(), 1))}


def forward_graphs(module, lines):
    """Forward graphs `[N, L, K, T, T]` of whole lines, checked to keep the words whole."""
    graphs = []
    for begin in range(0, len(lines), _GRAPH_BATCH):
        batch = lines[begin:begin + _GRAPH_BATCH]
        out = module.graphs([" ".join(line) for line in batch])
        tokens = [[t.decode("utf-8") for t in row] for row in out["tokens"].numpy()]
        if tokens != [list(line) for line in batch]:
            raise ValueError("The module's tokenizer does not keep the planted words whole.")
        graphs.append(np.asarray(out["graphs"])[:, 0])
    return np.concatenate(graphs)


def select_and_score(graphs, parents):
    """(recovery on the second half of the layer/head best on the first half, (l, k))."""
    from glomo_tf.data.synthetic import parent_recovery

    half = len(parents) // 2
    chosen = parent_recovery(graphs[:half], parents[:half]).best_layer_head
    scored = parent_recovery(graphs[half:], parents[half:], layer_head=chosen)
    return scored.selected_recovery, tuple(int(x) for x in chosen)


def run_one(name, shape, variant, args, out):
    """Pretrains, exports and scores one (shape, variant); returns a dict of results."""
    from glomo_tf.data.synthetic import parent_recovery
    from glomo_tf.evaluation.untrained_module import export_untrained_like
    from glomo_tf.export.graph_module import export_from_checkpoint, load_graph_module
    from glomo_tf.training.callbacks import current_learning_rate
    from glomo_tf.training.pretraining import pretrain

    overrides = parse_variant(variant)
    model_config, train_config = configs(args.steps, overrides)
    if args.curve_every:
        # Keep every checkpoint, to score some of them (it changes nothing in training).
        train_config = dataclasses.replace(
            train_config, keep_checkpoints=train_config.steps // train_config.checkpoint_every + 2)
    family = PlantedFamily(shape, seed=args.seed)
    if shape.num_words > model_config.vocabulary_size - 1:
        raise ValueError(f"shape {name} has {shape.num_words} words, more than {MODEL}'s "
                         f"vocabulary keeps ({model_config.vocabulary_size - 1}).")
    if os.path.exists(out):
        shutil.rmtree(out)  # this script's own run directory of the same shape and variant
    os.makedirs(out)
    corpus = os.path.join(out, "train.txt")
    family.write_corpus(corpus, args.lines, seed=args.seed + 1)
    _, parents = family.sample(args.lines, seed=args.seed + 1)
    windows = window_statistics(parents[:training_lines(args.lines)],
                                model_config.sequence_length, model_config.context_length,
                                train_config) or {}

    start = time.perf_counter()
    result = pretrain(corpus, os.path.join(out, "run"), model_config, train_config,
                      progress=False)
    pretrain_seconds = time.perf_counter() - start
    module_path = export_from_checkpoint(os.path.join(out, "run"), os.path.join(out, "module"))
    untrained_path = export_untrained_like(module_path, os.path.join(out, "untrained"),
                                           seed=train_config.seed)
    module = load_graph_module(module_path)
    missing = sorted(set(family.words) - set(module.vocabulary))
    if missing:
        raise ValueError(f"{len(missing)} planted words are not in the vocabulary: {missing[:3]}")

    test_lines, test_parents = family.sample(args.test_lines, seed=args.seed + 1000)
    trained, layer_head = select_and_score(forward_graphs(module, test_lines), test_parents)
    untrained, untrained_head = select_and_score(
        forward_graphs(load_graph_module(untrained_path), test_lines), test_parents)
    half = args.test_lines // 2
    scored_half = test_parents[half:]
    rule = parent_recovery(most_recent_trigger_graphs(family.is_trigger(test_lines[half:])),
                           scored_half)
    curve = {}
    if args.curve_every:
        from glomo_tf.training.checkpoints import CheckpointManager

        for step, path in CheckpointManager(result.checkpoint_dir).checkpoints():
            if step % args.curve_every == 0 or step == result.final_step:
                directory = os.path.join(out, "curve_module")
                export_from_checkpoint(os.path.join(out, "run"), directory, checkpoint=path)
                curve[step] = select_and_score(
                    forward_graphs(load_graph_module(directory), test_lines), test_parents)[0]
                shutil.rmtree(directory)
    final_rate = current_learning_rate(result.model)
    halvings = round(math.log2(train_config.learning_rate / final_rate))
    # One fit epoch = g steps (pretraining's schedule); the lr logged at each epoch's end.
    g = math.gcd(train_config.validate_every, train_config.checkpoint_every)
    rates = result.history.get("learning_rate", [])
    lowered_by = [(e + 1) * g for e in range(1, len(rates)) if rates[e] < rates[e - 1]]
    return {
        "shape": name,
        "variant": variant,
        "sequence_length": model_config.sequence_length,
        "windows": train_config.windows,
        "steps": result.final_step,
        "stopped": result.stopped,
        "learning_rate": [train_config.learning_rate, final_rate],
        "halvings": halvings,
        "lr_lowered_by_step": lowered_by,
        "history": {k: [float(v) for v in vs] for k, vs in result.history.items()},
        "val_loss": result.history.get("val_loss", [None])[-1],
        "pretrain_seconds": pretrain_seconds,
        "pairs_whole": windows.get("pairs_whole"),
        "cue_rows_with_trigger": windows.get("cue_rows_with_trigger"),
        "recovery": trained,
        "layer_head": layer_head,
        "untrained": untrained,
        "untrained_layer_head": untrained_head,
        "most_recent_trigger": rule.best_recovery,
        "chance": rule.chance,
        "scored_rows": rule.num_dependent_rows,
        "curve": curve,
    }


def _percent(value):
    return "n/a" if value is None else f"{100 * value:.1f}%"


def shapes_table(names):
    rows = []
    for name in names:
        s = SHAPES[name]
        rows.append([name, s.line_length, f"{s.pairs_per_line[0]}–{s.pairs_per_line[1]}",
                     s.num_classes, f"{s.distance[0]}–{s.distance[1]}",
                     "yes" if s.crossing else "no (nested/disjoint)", s.num_words])
    return markdown_table(["shape", "words per line", "pairs per line", "classes", "distance",
                           "crossing", "vocabulary"], rows)


def results_table(results):
    rows = []
    for r in results:
        start, end = r["learning_rate"]
        lr = f"{start:g} → {end:.3g} ({r['halvings']} halvings)"
        if r["lr_lowered_by_step"]:
            lr += ", lowered by steps " + ", ".join(str(s) for s in r["lr_lowered_by_step"])
        rows.append([r["shape"], r["variant"], r["sequence_length"],
                     f"{r['steps']} ({r['stopped']})", lr, f"{r['pretrain_seconds']:.0f}",
                     _percent(r["pairs_whole"]), _percent(r["cue_rows_with_trigger"]),
                     f"**{_percent(r['recovery'])}** ({r['layer_head'][0]}, {r['layer_head'][1]})",
                     _percent(r["most_recent_trigger"]), _percent(r["untrained"]),
                     _percent(r["chance"])])
    return markdown_table(
        ["shape", "variant", "T", "steps (stopped)", "learning rate", "pretrain (s)",
         "pairs whole in a window", "cue rows with their trigger", "recovery (layer, head)",
         "most recent trigger", "untrained", "chance"], rows)


def curve_table(results):
    steps = sorted({int(s) for r in results for s in r["curve"]})
    rows = [[r["shape"], r["variant"]] + [_percent(r["curve"].get(s)) for s in steps]
            for r in results]
    return ("\nRecovery (head chosen on the first half) of the checkpoints, by step:\n\n"
            + markdown_table(["shape", "variant"] + [str(s) for s in steps], rows) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="pretraining steps per run")
    parser.add_argument("--shapes", default=",".join(DEFAULT_SHAPES),
                        help=f"comma-separated, of {', '.join(SHAPES)}")
    parser.add_argument("--variants", nargs="+", default=["default"],
                        help="'default' (the command's defaults) or KEY=VALUE[,KEY=VALUE]")
    parser.add_argument("--lines", type=int, default=4000, help="lines of each training corpus")
    parser.add_argument("--test-lines", type=int, default=400,
                        help="fresh lines scored (half select the head, half are scored)")
    parser.add_argument("--seed", type=int, default=0,
                        help="the language's words and the run's seed (data order, init)")
    parser.add_argument("--out", default=os.path.join("~", "runs", "planted_family"))
    parser.add_argument("--curve-every", type=int, default=0, metavar="N",
                        help="also score the checkpoints of every N steps (0: only the last)")
    parser.add_argument("--section", default="planted_family")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    names = [s for s in args.shapes.split(",") if s]
    unknown = [s for s in names if s not in SHAPES]
    if not names or unknown:
        parser.error(f"--shapes: unknown {unknown} (known: {', '.join(SHAPES)})")
    for number, minimum in (("steps", 1), ("lines", 2), ("test_lines", 4), ("curve_every", 0)):
        if getattr(args, number) < minimum:
            parser.error(f"--{number.replace('_', '-')} must be >= {minimum}")
    try:
        for variant in args.variants:
            configs(args.steps, parse_variant(variant))
    except ValueError as error:
        parser.error(f"--variants: {error}")
    out = os.path.expanduser(args.out)

    results, start = [], time.perf_counter()
    for name in names:
        for variant in args.variants:
            tag = name if variant == "default" else f"{name}-{variant.replace(',', '-')}"
            results.append(run_one(name, SHAPES[name], variant, args, os.path.join(out, tag)))
            print(json.dumps(results[-1]), flush=True)
    from glomo_tf.files.atomic_write import write_json

    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, f"{args.section}.json"), results)
    minutes = (time.perf_counter() - start) / 60
    body = (
        f"`glomo pretrain --corpus FILE --config {MODEL} --steps {args.steps}` (the API, "
        f"`pretrain`, with the command's configs; variants change only what they name, "
        f"steps included) on "
        f"a plain text file of {args.lines} planted lines per shape (one line = one document; "
        f"validation on the last 2%), seed {args.seed}. Graphs of the exported module on "
        f"{args.test_lines} fresh whole lines: forward layer/head chosen on the first half, "
        f"recovery of the cue → trigger parents on the other half; the rule \"most recent "
        f"trigger (any class)\" and the untrained predictor (same seed, head chosen the same "
        f"way) on that half. Pairs whole in a window: training pairs that some training "
        f"window (first epoch) holds with the cue where the loss is taken (positions "
        f"0..T-D-1); cue rows with their trigger: of the (window, cue) rows where the loss "
        f"is taken, those whose trigger is in the window (the others cannot predict their "
        f"partner). Pretrain wall time on 2 shared cores, niced "
        f"beside another job; {minutes:.0f} minutes in all.\n\n"
        + shapes_table(names) + "\n\n" + results_table(results) + "\n"
        + (curve_table(results) if args.curve_every else "")
    )
    print(body)
    if not args.no_write:
        write_section(args.section, "Planted-parent recovery on a family of planted languages "
                      "(plain text, `tiny` defaults)", body)
    return results


if __name__ == "__main__":
    main()
