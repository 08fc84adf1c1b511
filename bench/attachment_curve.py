"""Does syntax emerge, and when? Directed attachment on UD English-EWT of every checkpoint
of one or more pretraining runs, written to BENCHMARKS.md ("attachment_curve").

Each checkpoint is exported to a temporary module and scored by `evaluate_module`
(`glomo evaluate`'s API: heads and offsets chosen on the treebank's first half, scored
on its second half; live rows over all of it). A run keeps only its newest checkpoints,
so the results are kept in `RUN/attachment_curve.json` (one entry per step) and a
checkpoint already scored is not scored again: run this while the runs go on, and the
curve grows from what each call found. Step 0 is the run's predictor at its random
initialisation (the untrained baseline of `glomo evaluate`).

    python bench/attachment_curve.py --run ~/runs/glomo_wiki --run ~/runs/glomo_wiki_live2
"""

import argparse
import json
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import report  # noqa: E402

RESULTS_FILE = "attachment_curve.json"


def load_results(run):
    path = os.path.join(run, RESULTS_FILE)
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return {int(step): entry for step, entry in json.load(f).items()}


def save_results(run, results):
    from glomo_tf.files.atomic_write import write_json

    write_json(os.path.join(run, RESULTS_FILE), {str(s): results[s] for s in sorted(results)})


def summarize(result):
    """The figures of one `evaluate_module` result that the curve tracks."""
    methods = result["methods"]
    glomo = methods["glomo"]
    won = sum(r["heads_beat_offsets"] for r in result["relations"])
    either = sum(r["direction_beats_offsets"] for r in result["relations"])
    return {
        "combined": glomo["combined"],
        "forward": glomo["forward"]["score"],
        "backward": glomo["backward"]["score"],
        "offsets": methods["offsets"]["combined"],
        "live_rows": result["live_rows"]["overall"],
        "live_columns": result["live_rows"]["live_columns"]["overall"],
        "top1_weight": result["live_rows"]["top1_weight"]["overall"],
        "relations_won": f"{won}/{len(result['relations'])}",
        "head_to_dependent": methods["glomo_dependents"]["combined"],
        "relations_won_either": f"{either}/{len(result['relations'])}",
    }


def score_new_checkpoints(run, treebank, max_sentences=None, every=None):
    """Scores the run's checkpoints (and step 0) not yet in its results file; returns all.
    With `every`, only steps that are multiples of it."""
    from glomo_tf.evaluation.evaluate import evaluate_module
    from glomo_tf.evaluation.untrained_module import export_untrained_like
    from glomo_tf.export.graph_module import export_from_checkpoint
    from glomo_tf.training.checkpoints import CheckpointManager

    results = load_results(run)
    manager = CheckpointManager(os.path.join(run, "checkpoints"))
    pending = [(s, p) for s, p in manager.checkpoints()
               if s not in results and (not every or s % every == 0)]
    val_losses = manager.validation_losses()
    with tempfile.TemporaryDirectory(prefix="glomo-curve-") as work:
        for step, path in pending:
            module = export_from_checkpoint(run, os.path.join(work, f"step-{step}"), checkpoint=path)
            result = evaluate_module(module, treebank, max_sentences=max_sentences,
                                     untrained_seed=None, work_dir=work)
            results[step] = dict(summarize(result), val_loss=val_losses.get(step))
            if 0 not in results:
                untrained = export_untrained_like(module, os.path.join(work, "untrained"), seed=0)
                results[0] = dict(summarize(evaluate_module(
                    untrained, treebank, max_sentences=max_sentences, untrained_seed=None)),
                    val_loss=None)
            save_results(run, results)
            print(f"{run}: step {step}: attachment {results[step]['combined']:.1%}, "
                  f"live rows {results[step]['live_rows']:.1%}", flush=True)
    return results


def run_table(run, results, tokens_per_step):
    rows = []
    for step in sorted(results):
        r = results[step]
        loss = r.get("val_loss")
        rows.append([f"{step:,}" + (" (untrained)" if step == 0 else ""),
                     f"{step * tokens_per_step / 1e6:.2f}",
                     f"{loss:.3f}" if loss is not None else "-",
                     f"{r['forward']:.1%}", f"{r['backward']:.1%}", f"**{r['combined']:.1%}**",
                     f"{r['offsets']:.1%}", r["relations_won"],
                     # Entries scored before these were measured have none.
                     f"{r['head_to_dependent']:.1%}" if "head_to_dependent" in r else "-",
                     r.get("relations_won_either", "-"), f"{r['live_rows']:.1%}",
                     f"{r['live_columns']:.1%}" if "live_columns" in r else "-",
                     f"{r['top1_weight']:.2f}" if "top1_weight" in r else "-"])
    return report.markdown_table(
        ["step", "tokens (M)", "val loss", "best fwd head", "best bwd head", "heads combined",
         "fixed offsets", "relations won (of 10)", "head → dependent",
         "relations won, either direction", "live rows (UD)",
         "live columns (of allowed)", "top-1 weight"], rows)


def describe_run(run):
    from bench.pretrain_wiki import mean_window_length
    from glomo_tf.configs import load_configs

    model, train = load_configs(os.path.join(run, "config.json"))
    train = train.to_dict()
    per_step = train["batch_size"] * mean_window_length(train, model.sequence_length)
    text = (f"sparse mode {model.sparse_mode}, d {model.hidden_dim}, L {model.num_layers}, "
            f"K {model.num_heads}, T ≤ {model.sequence_length}, batch {train['batch_size']}, "
            f"{train['optimizer']} lr {train['learning_rate']}, {train['precision']}")
    return text, per_step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", action="append", required=True,
                        help="a pretraining run directory (repeat for several)")
    parser.add_argument("--treebank", default=None,
                        help="CoNLL-U file (default: UD English-EWT dev from the data folder, "
                        "or its download)")
    parser.add_argument("--max-sentences", type=int, default=None)
    # Each checkpoint costs about a minute of CPU, taken from the run being scored.
    parser.add_argument("--every", type=int, default=None, metavar="STEPS",
                        help="score only checkpoints at multiples of STEPS")
    parser.add_argument("--display-root", default="~/runs",
                        help="how the runs' parent directory is named in the report")
    parser.add_argument("--section", default="attachment_curve",
                        help="BENCHMARKS.md section to write (one per set of runs)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    # The runs first: a mistyped run must not cost a treebank download.
    for run in args.run:
        if not os.path.isfile(os.path.join(run, "config.json")):
            parser.error(f"not a pretraining run directory (no config.json): {run}")
    treebank = args.treebank
    if treebank is None:
        from glomo_tf.evaluation.treebank import fetch_ewt_dev

        treebank = os.fspath(fetch_ewt_dev(progress=False))
    if not os.path.isfile(treebank):
        parser.error(f"treebank not found: {treebank}")

    parts = []
    for run in args.run:
        results = score_new_checkpoints(run, treebank, args.max_sentences, args.every)
        text, per_step = describe_run(run)
        name = f"{args.display_root}/{os.path.basename(os.path.normpath(run))}"
        parts.append(f"Run `{name}` ({text}):\n\n" + run_table(run, results, per_step))
    body = (
        f"Treebank: `{os.path.basename(treebank)}`; each checkpoint's best forward "
        "and best backward head (and the best fixed offsets) chosen on the first half of the "
        "sentences and scored on the second half; a word counts when its side's graph row "
        "puts its top-1 on the gold head (an all-zero row is a miss). Relations won: of the "
        "10 most frequent relations, those where the best heads beat the best offsets. "
        "Head → dependent: the same, read the other way (the gold head's row puts its top-1 "
        "on the word); either direction: each relation read in the direction chosen on the "
        "first half. "
        "Live rows: rows with an allowed column that carry mass, over all the treebank's "
        "sentences; sparse modes 5 and 6 keep each row's two best entries, so their rows are "
        "live by construction: compare attachment, not live rows, across modes. Live columns: "
        "the share of a live row's allowed columns that carry weight; top-1 weight: the mean "
        "weight of a live row's largest entry (mode 6 keeps at most 8 entries per row).\n\n"
        + "\n\n".join(parts))
    print(body)
    if not args.no_write:
        report.write_section(args.section,
                             "Attachment on UD English-EWT over pretraining (real text)", body)


if __name__ == "__main__":
    main()
