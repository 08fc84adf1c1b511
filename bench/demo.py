"""Measures `glomo demo` end to end: pretraining time, planted-parent recovery and the three
downstream accuracies (feature-only / uniform graph / GLoMo graphs), over several seeds of the
downstream models. Writes the "glomo demo" section of BENCHMARKS.md.

    python bench/demo.py [--pretrain-steps 1000] [--seeds 0,1,2] [--out runs/bench_demo]
        [--ship saved_models/glomo_planted_tiny]

With `--ship`, the freshly pretrained module is copied there (the bundled module of the demo).
"""

import argparse
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from bench.report import markdown_table, write_section  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrain-steps", type=int, default=1000)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", default="runs/bench_demo")
    parser.add_argument("--ship", default=None)
    args = parser.parse_args(argv)

    from glomo_tf.demo.run import TRANSFER_NAMES, DemoConfig, pretrain_module, run_demo

    os.makedirs(args.out, exist_ok=True)
    start = time.perf_counter()
    module = pretrain_module(args.out, args.pretrain_steps, seed=0, progress=False)
    pretrain_seconds = time.perf_counter() - start
    results, demo_seconds = [], []
    for seed in (int(s) for s in args.seeds.split(",")):
        start = time.perf_counter()
        results.append(run_demo(os.path.join(args.out, f"seed{seed}"), module=module,
                                config=DemoConfig(seed=seed), progress=False))
        demo_seconds.append(time.perf_counter() - start)
    rows = []
    for transfer, name in TRANSFER_NAMES.items():
        values = 100 * np.array([r.accuracies[transfer] for r in results])
        rows.append([name, f"{values.mean():.1f} ± {values.std():.1f}",
                     " / ".join(f"{v:.1f}" for v in values)])
    gain = 100 * np.array([r.accuracies["graphs"] - r.accuracies["none"] for r in results])
    recovery = results[0]
    body = (
        f"`tiny` pretrained for {args.pretrain_steps} steps on the embedded planted language "
        f"in {pretrain_seconds:.0f} s wall (2 shared cores, other jobs running: wall times are "
        f"upper bounds), exported, then the downstream classifier of `glomo demo` trained with "
        f"the demo's default budget for each of {len(results)} seeds "
        f"(median {np.median(demo_seconds):.0f} s per seed for the three models, recovery and "
        f"heatmap).\n\n"
        f"Planted-parent recovery of the forward graphs (layer {recovery.layer_head[0]}, head "
        f"{recovery.layer_head[1]}, chosen on held-out documents): "
        f"**{100 * recovery.recovery:.1f}%** (chance {100 * recovery.recovery_chance:.1f}%).\n\n"
        + markdown_table(["transfer", "test accuracy, mean ± std", "per seed"], rows)
        + f"\n\nGLoMo graphs − feature only: **{gain.mean():+.1f} ± {gain.std():.1f} points**.\n"
    )
    write_section("demo", "glomo demo: planted relations, three transfers", body)
    if args.ship:
        if os.path.exists(args.ship):
            shutil.rmtree(args.ship)
        shutil.copytree(module, args.ship)
        write_model_card(args.ship, args, pretrain_seconds, recovery, rows, gain)
        print(f"Shipped {module} -> {args.ship}")


def write_model_card(path, args, pretrain_seconds, recovery, rows, gain):
    """MODEL_CARD.md of the shipped demo module: data, config, steps, loss, what it scores."""
    import json

    from glomo_tf.configs import load_configs
    from glomo_tf.training.step_log import read_step_log
    from glomo_tf.training.synthetic_corpus import TRAIN_DOCUMENTS

    with open(os.path.join(path, "assets", "glomo_module.json")) as f:
        config = json.load(f)
    model = config["model_config"]
    _, train = load_configs(os.path.join(args.out, "pretrain", "config.json"))
    rows_logged = read_step_log(os.path.join(args.out, "pretrain", "losses.tsv"))
    last = [loss for _, loss, status in rows_logged[-100:] if status == "ok"]
    name = os.path.basename(os.path.normpath(path))
    table = "\n".join(f"| {r[0]} | {r[1]} |" for r in rows)
    card = f"""# {name}

The graph module `glomo demo` uses (format_version 1, see `saved_models/README.md`):
`tiny` pretrained by `bench/demo.py` on the embedded planted-dependency language
(`glomo_tf/training/synthetic_corpus.py`, language seed 0, {TRAIN_DOCUMENTS} training documents of
{model["sequence_length"]} words), exactly what `glomo pretrain --corpus synthetic --config tiny
--steps {args.pretrain_steps}` trains. It knows only that language's {config["vocabulary_size"] - 1} words.

| | |
|---|---|
| model | d {model["hidden_dim"]}, L {model["num_layers"]}, K {model["num_heads"]}, head {model["head_dim"]}, {model["cnn_layers"]} CNN layers, D {model["context_length"]}, sparse mode {model["sparse_mode"]}, T {model["sequence_length"]}, {model["num_sampled_positions"]} sampled positions |
| training | {args.pretrain_steps} steps, batch {train.batch_size}, {train.optimizer} lr {train.learning_rate:g}, seed {train.seed} |
| wall time | {pretrain_seconds:.0f} s on a shared 2-core CPU |
| training loss, mean of the last 100 steps | {sum(last) / len(last):.3f} nats/token |
| planted-parent recovery | {100 * recovery.recovery:.1f}% (forward layer {recovery.layer_head[0]}, head {recovery.layer_head[1]}, chosen on held-out documents; chance {100 * recovery.recovery_chance:.1f}%) |

Downstream planted-relations task (`glomo demo` budget, test accuracy over seeds {args.seeds}):

| transfer | accuracy |
|---|---|
{table}

GLoMo graphs − feature only: {gain.mean():+.1f} ± {gain.std():.1f} points.

Command: `python bench/demo.py --pretrain-steps {args.pretrain_steps} --seeds {args.seeds} --ship {path}`
(section "glomo demo" of `BENCHMARKS.md`).
"""
    with open(os.path.join(path, "MODEL_CARD.md"), "w") as f:
        f.write(card)


if __name__ == "__main__":
    main()
