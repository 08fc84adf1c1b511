"""Downstream transfer benchmark: feature-only vs uniform vs GLoMo graphs, several seeds, real data.

For each task (IMDB, SST-2, NLI reduced-v1, SQuAD reduced-v1) every transfer mode is trained
with the SAME `FinetuneConfig` except `transfer` (so the baseline is not tuned worse) and the
same seeds, on GloVe 6B 50d features, through `glomo_tf.tasks.finetune`. The budget is
CPU-sized: a fixed random training subset (the same for every mode and seed), short
maximum lengths and 1-2 epochs (see `BUDGETS`); the sections state it.

Runs are appended to `--results` (JSON lines, one per task/mode/seed/budget) as they finish,
and the task's section of BENCHMARKS.md is rewritten after every run, so partial results
land if the job is stopped; a rerun skips what is already in the results file.

    python bench/transfer.py --tasks sst2,imdb --seeds 0,1,2 --graphs saved_models/glomo_wiki_tiny
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
    "sst2": dict(max_train=4000, max_eval=None, max_tokens=64, epochs=2),
    "imdb": dict(max_train=800, max_eval=500, max_tokens=64, epochs=2),
    "nli": dict(max_train=4000, max_eval=1000, max_tokens=48, epochs=2),
    "squad": dict(max_train=1500, max_eval=500, max_context_tokens=160,
                  max_question_tokens=40, epochs=2),
}
MODES = {"sst2": ("none", "uniform", "embeddings"), "imdb": ("none", "uniform", "embeddings"),
         "nli": ("none", "uniform", "embeddings"),
         "squad": ("none", "uniform", "embeddings", "rnn")}
MODE_NAMES = {"none": "feature only", "uniform": "uniform graph",
              "embeddings": "GLoMo on embeddings", "rnn": "GLoMo on RNN states"}
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
READS_GRAPHS = ("embeddings", "rnn")


def module_name(graphs):
    return os.path.basename(os.path.normpath(graphs))


def budget_key(task, budget):
    text = json.dumps({"task": task, **budget}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def matching_runs(results, key, graphs):
    """Runs of this budget; GLoMo-mode runs only from this module."""
    return [r for r in results if r["key"] == key
            and (r["transfer"] not in READS_GRAPHS or r.get("graphs") == module_name(graphs))]


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


def task_section(task, runs, budget, graphs, seeds):
    metrics = METRICS[task]
    by_mode = {mode: sorted((r for r in runs if r["transfer"] == mode), key=lambda r: r["seed"])
               for mode in MODES[task]}
    base = {r["seed"]: r for r in by_mode["none"]}
    header = ["transfer", "seeds"] + [f"{m} (mean ± std)" for m in metrics] + \
             [f"Δ{metrics[-1]} vs feature-only (paired by seed)", "per seed", "s/run"]
    if task in PAPER:
        header += ["paper", "paper Δ"]
    rows = []
    for mode, mode_runs in by_mode.items():
        values = {m: [r[m] for r in mode_runs] for m in metrics}
        key = metrics[-1]
        deltas = [r[key] - base[r["seed"]][key] for r in mode_runs if r["seed"] in base]
        delta = "–" if mode == "none" or not deltas else (
            f"{statistics.mean(deltas):+.2f}" + (f" ± {statistics.stdev(deltas):.2f}" if len(deltas) > 1 else ""))
        row = [MODE_NAMES[mode], len(mode_runs)] + [_mean_std(values[m]) for m in metrics] + [
            delta, ", ".join(f"{v:.1f}" for v in values[key]),
            f"{statistics.mean(r['seconds'] for r in mode_runs):.0f}" if mode_runs else "–"]
        if task in PAPER:
            paper = PAPER[task].get(mode)
            row.append(" / ".join(f"{paper[m]:.2f}" for m in metrics) if paper else "–")
            row.append(f"{paper[key] - PAPER[task]['none'][key]:+.2f}" if paper and mode != "none" else "–")
        rows.append(row)
    first = next((r for r in runs), None)
    lines = [
        f"Mean ± sample std over seeds {seeds} (done so far: {len(runs)} of {len(seeds) * len(MODES[task])} runs). "
        f"Every mode uses the same FinetuneConfig except `transfer`: GloVe 6B 50d (frozen), BiGRU 64/direction, "
        f"trilinear self-attention, dropout 0.2, Adam 1e-3, batch 32; graphs from `{os.path.relpath(graphs, ROOT)}` "
        f"(feature-only and uniform use only its tokenizer, not the graphs). {PAPER_NOTE[task]}.",
        "",
        "Budget (CPU-sized, NOT the paper's): " + ", ".join(f"{k}={v}" for k, v in budget.items())
        + (f"; {first['train_examples']} training / {first['eval_examples']} evaluation examples used" if first else "")
        + ".",
        "",
        markdown_table(header, rows),
        "",
        "s/run: wall seconds of one run (data preparation, training, evaluation) on a 2-core CPU shared "
        "with other jobs; it varies with their load, so it is not a cost comparison between modes.",
    ]
    if first is not None:
        lines += ["", "Bad input and truncation (counts of the first run; identical for every run, the "
                  "subsets are fixed): " + (", ".join(f"{k} {v}" for k, v in sorted(first["skipped"].items()))
                                            or "none") + "."]
        extra = {k: first[k] for k in ("glove_coverage", "validation_accuracy") if k in first}
        if "glove_coverage" in extra:
            lines.append(f"GloVe coverage of the module's tokens: {100 * extra['glove_coverage']:.1f}%.")
        if task == "nli":
            val = {mode: [r.get("validation_accuracy") for r in by_mode[mode]] for mode in by_mode}
            lines.append("Validation accuracy (MNLI dev-matched first half, subset of the same size): " + "; ".join(
                f"{MODE_NAMES[m]} {_mean_std([v for v in vals if v is not None])}" for m, vals in val.items()) + ".")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="sst2,imdb,nli,squad")
    parser.add_argument("--modes", default=None, help="comma list (default: all of the task's)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--graphs", default=os.path.join(ROOT, "saved_models", "glomo_wiki_tiny"))
    parser.add_argument("--results", default=os.path.join(ROOT, "runs", "transfer", "results.jsonl"))
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: rewrite the tasks' sections from the results file")
    args = parser.parse_args()

    import glomo_tf.datasets.squad as squad_data
    import glomo_tf.tasks.task_data as task_data
    from glomo_tf.tasks.finetune import finetune

    # The raw splits do not change between runs: read each data set once per process
    # (reading the IMDB tarball alone takes minutes on the shared CPU). finetune imports
    # these functions at call time, so the cached versions are the ones it uses.
    task_data.load_task_splits = functools.lru_cache(maxsize=None)(task_data.load_task_splits)
    squad_data.load_squad_protocol = functools.lru_cache(maxsize=None)(squad_data.load_squad_protocol)

    seeds = [int(s) for s in args.seeds.split(",")]
    tasks = [t for t in args.tasks.split(",") if t]
    os.makedirs(os.path.dirname(args.results), exist_ok=True)
    for task in tasks:
        if task not in BUDGETS:
            raise SystemExit(f"unknown task {task!r}; expected one of {sorted(BUDGETS)}")
        budget = BUDGETS[task]
        key = budget_key(task, budget)
        modes = args.modes.split(",") if args.modes else MODES[task]
        if args.report_only:
            runs = matching_runs(read_results(args.results), key, args.graphs)
            if runs and not args.no_write:
                write_section(f"transfer_{task}", f"Transfer: {TITLES[task]}",
                              task_section(task, runs, budget, args.graphs, seeds))
            continue
        for seed in seeds:
            for mode in modes:
                done = [r for r in matching_runs(read_results(args.results), key, args.graphs)
                        if r["transfer"] == mode and r["seed"] == seed]
                if done:
                    continue
                started = time.time()
                overrides = {k: v for k, v in budget.items() if k not in ("max_train", "max_eval", "epochs")}
                metrics = finetune(task, "glove", mode, args.graphs, epochs=budget["epochs"],
                                   batch_size=32, max_examples=budget["max_train"],
                                   max_eval=budget["max_eval"], seed=seed, **overrides)
                metrics.pop("config", None)
                metrics["key"] = key
                metrics["graphs"] = module_name(args.graphs)
                metrics["wall"] = time.time() - started
                with open(args.results, "a", encoding="utf-8") as f:
                    f.write(json.dumps(metrics, sort_keys=True) + "\n")
                shown = {k: metrics.get(k) for k in ("task", "transfer", "seed", "accuracy",
                                                     "exact_match", "f1", "seconds")}
                print(json.dumps(shown), flush=True)
                runs = matching_runs(read_results(args.results), key, args.graphs)
                body = task_section(task, runs, budget, args.graphs, seeds)
                if args.no_write:
                    print(body, flush=True)
                else:
                    write_section(f"transfer_{task}", f"Transfer: {TITLES[task]}", body)


if __name__ == "__main__":
    main()
