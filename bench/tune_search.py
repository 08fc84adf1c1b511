"""One real `glomo tune` search: downstream transfer settings on SST-2, best vs default.

The search (keras-tuner `RandomSearch`) tunes GLoMo's transfer hyper-parameters (mixtures,
hierarchical products, token conditioning, dropout, learning rate) on a validation set
held out of the SST-2 training data. Then the default `FinetuneConfig` and the best config
file the search wrote are each trained once more with the same budget through `finetune`
(the API behind `glomo finetune --config`) and scored on the SST-2 dev set, which the
search never saw. Everything runs in one process on the same machine.

    python bench/tune_search.py --graphs MODULE            # a graph module
    python bench/tune_search.py --export-from RUN_DIR      # export RUN_DIR's newest checkpoint first
"""

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.report import markdown_table, write_section  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--graphs", help="graph module directory")
    source.add_argument("--export-from", help="pretraining run directory to export first")
    parser.add_argument("--module-note", default="",
                        help="how the module was made, for the report")
    parser.add_argument("--task", default="sst2", choices=("sst2", "imdb", "nli"))
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--max-train", type=int, default=3200)
    parser.add_argument("--max-validation", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--directory", default=None, help="search directory (default: a temp dir)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the search")
    parser.add_argument("--seeds", default="0,1",
                        help="seeds of the best-vs-default retraining (comma-separated)")
    parser.add_argument("--resume", action="store_true",
                        help="reuse a finished search in --directory (only retrain best and default)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]

    from glomo_tf.tasks.finetune import finetune
    from glomo_tf.tasks.finetune_config import FinetuneConfig
    from glomo_tf.tuning.search import TuneConfig, tune

    work = args.directory or tempfile.mkdtemp(prefix="glomo-tune-bench-")
    graphs = args.graphs
    if args.export_from:
        from glomo_tf.export.graph_module import export_from_checkpoint

        graphs = export_from_checkpoint(args.export_from, os.path.join(work, "module"))
    started = time.time()
    result = tune(TuneConfig(task=args.task, tuner="random", transfer="glomo", graphs=graphs,
                             max_trials=args.trials, epochs=args.epochs,
                             batch_size=args.batch_size, max_train=args.max_train,
                             max_validation=args.max_validation, directory=work,
                             seed=args.seed, resume=args.resume, verbose=0))
    timing = os.path.join(result.project_dir, "search_seconds.json")
    if result.trials_run:
        with open(timing, "w") as f:
            json.dump({"seconds": time.time() - started, "trials": result.trials_run}, f)
    search_seconds = json.load(open(timing))["seconds"] if os.path.exists(timing) else float("nan")
    print(result.table())
    resumed = "" if result.trials_run else (
        " (measured when the search ran; this invocation reused the finished search and only "
        "retrained best and default)")

    # Best vs default: the same training budget, scored on the dev set.
    runs = {}
    for seed in seeds:  # interleaved, so both configs see the same machine load
        for name, config in (("default", FinetuneConfig()),
                             ("best", FinetuneConfig.from_json(result.best_config_path))):
            metrics = finetune(args.task, "glove", "embeddings", graphs, epochs=args.epochs,
                               batch_size=args.batch_size, max_examples=args.max_train,
                               seed=seed, config=config)
            runs.setdefault(name, (config, []))[1].append(metrics)
            print(name, seed, json.dumps({k: v for k, v in metrics.items() if k != "config"}))

    tuned = sorted(result.best_hyperparameters)
    rows = []
    for name, (config, metrics) in runs.items():
        accuracies = [m["accuracy"] for m in metrics]
        cells = [name] + [_fmt(getattr(config, k)) for k in tuned]
        cells += [" / ".join(f"{a:.2f}" for a in accuracies),
                  f"{sum(accuracies) / len(accuracies):.2f}"]
        rows.append(cells)
    trials_rows = [[t["trial_id"], t["status"].lower(),
                    "-" if t["score"] is None else f"{100 * t['score']:.2f}"]
                   + [_fmt(t["hyperparameters"].get(k, "")) for k in tuned]
                   for t in sorted(result.trials, key=lambda t: t["trial_id"])]
    default_metrics = runs["default"][1][0]
    body = f"""\
Search: keras-tuner RandomSearch, {args.trials} trials, transfer = GLoMo graphs on the
embeddings (`glomo tune --task {args.task} --transfer glomo`), GloVe 6B 50d features, each
trial trained for {args.epochs} epoch(s) on {args.max_train} training examples (batch
{args.batch_size}) and scored on {args.max_validation} other examples held out of the {args.task}
training set (objective `val_accuracy`). Search wall time {search_seconds:.0f} s{resumed}.
Graph module: `{os.path.basename(os.path.normpath(graphs))}` {args.module_note}

Trials (validation accuracy, %):

{markdown_table(["trial", "status", "val acc"] + tuned, trials_rows)}

Best vs default, each retrained with the same budget ({args.max_train} training
examples, {args.epochs} epoch(s)) by `finetune` (what `glomo finetune --config FILE` runs),
once per seed ({', '.join(map(str, seeds))}), and scored on the {default_metrics['eval_examples']}
examples of the {args.task} dev set, which the search never saw:

{markdown_table(["config"] + tuned + [f"dev accuracy % (seeds {args.seeds})", "mean"], rows)}

A small budget and {len(seeds)} seed(s): read the gap against the spread between seeds of
one config. Timings are not compared (a 2-core machine shared with other jobs).
"""
    write_section("tune_search", f"Hyper-parameter search: GLoMo transfer on {args.task}", body)


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


if __name__ == "__main__":
    main()
