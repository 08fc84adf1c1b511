"""bf16 mixed precision vs fp32: train-step tokens/s, and the loss curve over a stated budget.

1. Throughput: `GLoMoPretrainer(dtype="mixed_bfloat16")` vs fp32 at `--config` (default
   `paper`, T = 128), same batch, interleaved rounds in one process. Under the mixed policy the
   weights stay fp32; the CNNs, projections, GRUs and the tied-softmax matmul run in bf16; the
   graphs (squared scores) and the logits/cross-entropy are fp32 (the model casts them).
2. Loss curves: the `tiny` config on the planted synthetic language (`glomo pretrain --corpus
   synthetic`'s generator), Adam 3e-3, batch 16, `--curve-steps` steps, fp32 and bf16 for each
   of `--seeds`; the plot (`bench/mixed_precision_loss.png`) and the final losses (mean of the
   last 20 steps) show whether the bf16 gap is within the seed-to-seed spread.

The two parts are two sections of BENCHMARKS.md; the throughput one is named after the CPU
class (with or without bf16 instructions), so a run on one class leaves the other's figures.

    python bench/mixed_precision.py --config paper --batch 2 --curve-steps 300 --seeds 0,1
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from bench.report import cpu_flag_set, cpu_flags, markdown_table, write_section  # noqa: E402
from glomo_tf.configs import GLoMoConfig  # noqa: E402
from glomo_tf.models.glomo_pretrainer import GLoMoPretrainer  # noqa: E402
from glomo_tf.training.synthetic_corpus import make_language  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
POLICIES = ("float32", "mixed_bfloat16")


def throughput(config_name, length, batch, rounds):
    config = GLoMoConfig.named(config_name, sequence_length=length)
    ids = np.random.RandomState(0).randint(0, config.vocabulary_size, (batch, length)).astype("int32")
    models = {}
    for policy in POLICIES:
        keras.utils.set_random_seed(0)
        model = GLoMoPretrainer(config, seed=0, dtype=policy)
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.2, global_clipnorm=0.25))
        model.train_on_batch(ids)
        models[policy] = model
    for model in models.values():
        model.train_on_batch(ids)
    samples = {policy: [] for policy in POLICIES}
    for _ in range(rounds):
        for policy, model in models.items():
            start = time.perf_counter()
            float(np.asarray(model.train_on_batch(ids)))
            samples[policy].append(time.perf_counter() - start)
    speedups = [a / b for a, b in zip(samples["float32"], samples["mixed_bfloat16"])]
    return {p: statistics.median(v) for p, v in samples.items()}, statistics.median(speedups)


def synthetic_batches(config, batch, steps, seed):
    language = make_language(config, seed=0)
    index = {word: i for i, word in enumerate(["<unk>"] + list(language.words))}
    documents, _ = language.sample(batch * steps, seed=1000 + seed)
    ids = np.array([[index.get(w, 0) for w in doc[: config.sequence_length]] for doc in documents], "int32")
    return ids.reshape(steps, batch, -1), len(index)


def loss_curve(policy, seed, steps, batch):
    config = GLoMoConfig.tiny()
    data, vocabulary = synthetic_batches(config, batch, steps, seed)
    config = GLoMoConfig.tiny(vocabulary_size=max(vocabulary, 2))
    keras.utils.set_random_seed(seed)
    model = GLoMoPretrainer(config, seed=seed, dtype=policy)
    model.compile(optimizer=keras.optimizers.Adam(3e-3, global_clipnorm=1.0))
    return [float(model.train_on_batch(data[s])) for s in range(steps)]


def loss_curve_report(seeds, steps, batch, png=None):
    """Trains fp32 and bf16 side by side per seed; plots the curves to `png` (if given) and
    returns the markdown part."""
    curves = {(p, s): loss_curve(p, s, steps, batch) for s in seeds for p in POLICIES}
    # Short runs (a smoke test) still get a curve and a final figure: windows shrink to fit.
    tail, width = min(20, steps), min(10, steps)
    finals = {key: float(np.mean(curve[-tail:])) for key, curve in curves.items()}
    if png:
        plot_curves(curves, width, png)
    rows = [[p, s, f"{curves[(p, s)][0]:.3f}", f"{finals[(p, s)]:.3f}"] for s in seeds for p in POLICIES]
    gaps = [abs(finals[("float32", s)] - finals[("mixed_bfloat16", s)]) for s in seeds]
    spread = np.ptp([finals[("float32", s)] for s in seeds]) if len(seeds) > 1 else float("nan")
    return (
        f"Loss curves: `tiny` on the planted synthetic language, Adam 3e-3 (clipnorm 1), batch {batch}, "
        f"{steps} steps per run (budget: {steps * batch} windows of 32 tokens), "
        f"plot `bench/mixed_precision_loss.png`.\n\n"
        + markdown_table(["policy", "seed", "first loss", f"final loss (last {tail} steps)"], rows)
        + f"\n\n|fp32 − bf16| final loss per seed: {', '.join(f'{g:.3f}' for g in gaps)}; "
        f"fp32 seed-to-seed spread: {spread:.3f}."
    )


def plot_curves(curves, width, png):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for (policy, seed), curve in curves.items():
        smooth = np.convolve(curve, np.ones(width) / width, mode="valid")
        ax.plot(np.arange(len(smooth)) + width, smooth, label=f"{policy}, seed {seed}",
                linestyle="-" if policy == "float32" else "--")
    ax.set_xlabel("step")
    ax.set_ylabel(f"training loss ({width}-step mean)")
    ax.set_title("GLoMo tiny on the planted language: fp32 vs bf16")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def bf16_matmul_ratio(size=2048, repeats=5, rounds=3):
    """Median over rounds of (bf16 matmul FLOP/s ÷ fp32 matmul FLOP/s), interleaved."""
    from bench.pretrain_throughput import matmul_timer

    timers = {dtype: matmul_timer(size, dtype) for dtype in ("float32", "bfloat16")}
    return statistics.median(
        timers["float32"](repeats) / timers["bfloat16"](repeats) for _ in range(rounds))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="paper")
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--curve-steps", type=int, default=300)
    parser.add_argument("--curve-batch", type=int, default=16)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--matmul-size", type=int, default=2048, help="side of the ceiling's square matmul")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.curve_steps < 0 or args.curve_batch < 1 or args.rounds < 1 or args.batch < 1 or args.matmul_size < 1:
        parser.error("--curve-steps must be >= 0 (0: no loss curves); --curve-batch, --rounds, --batch, --matmul-size >= 1")
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        parser.error(f"--seeds must be integers separated by commas, got {args.seeds!r}")
    if args.skip_throughput and not args.curve_steps:
        parser.error("nothing to measure: --skip-throughput with --curve-steps 0")

    parts = []
    if not args.skip_throughput:
        times, speedup = throughput(args.config, args.length, args.batch, args.rounds)
        matmul_ratio = bf16_matmul_ratio(args.matmul_size)
        tokens = args.batch * args.length
        parts.append(
            f"Throughput, `{args.config}` config, T = {args.length}, batch = {args.batch}, SGD, median of "
            f"{args.rounds} interleaved rounds:\n\n" + markdown_table(
                ["policy", "tokens/s", "s/step"],
                [[p, f"{tokens / t:,.1f}", f"{t:.2f}"] for p, t in times.items()],
            ) + f"\n\nbf16 ÷ fp32 tokens/s: **{speedup:.2f}x** (median of per-round ratios; target ≥ 1.6x). "
            f"Ceiling in this process: a {args.matmul_size}² bf16 matmul runs at {matmul_ratio:.2f}x the fp32 one's FLOP/s. "
            f"CPU flags ({cpu_flags()}).\n"
        )

    if args.curve_steps:
        parts.append(loss_curve_report(seeds, args.curve_steps, args.curve_batch,
                                       None if args.no_write else os.path.join(HERE, "mixed_precision_loss.png")))
    print("\n\n".join(parts))
    if args.no_write:
        return
    if not args.skip_throughput:
        # The speed-up is a property of the CPU: a machine without bf16 instructions emulates
        # bf16, and its figure goes beside, not over, one measured with them.
        native = bool({"avx512_bf16", "amx_bf16"} & (cpu_flag_set() or set()))
        write_section("mixed_precision" if native else "mixed_precision_without_bf16_instructions",
                      "bf16 mixed precision vs fp32" + ("" if native else
                                                        " (a CPU without bf16 instructions)"),
                      parts[0])
    if args.curve_steps:
        write_section("mixed_precision_loss", "bf16 mixed precision vs fp32: loss curves", parts[-1])


if __name__ == "__main__":
    main()
