"""Train-step throughput of GLoMoPretrainer vs a same-size Transformer LM, and FLOP utilisation.

Everything is measured in one process, interleaved (GLoMo steps, Transformer steps, repeat), so
the ratio survives a noisy shared machine. Utilisation = hand-counted FLOPs per step (see
bench/flops.py) / step time / the FLOP rate of a large fp32 matmul timed in the same run.

    python bench/pretrain_throughput.py --configs small,paper --batch 32,4 --length 128
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
import tensorflow as tf  # noqa: E402

from bench import flops  # noqa: E402
from bench.report import markdown_table, write_section  # noqa: E402
from bench.transformer_lm import TransformerLM  # noqa: E402
from glomo_tf.configs import GLoMoConfig  # noqa: E402
from glomo_tf.models.glomo_pretrainer import GLoMoPretrainer  # noqa: E402


def matmul_timer(size=2048, dtype="float32"):
    """Seconds of one `size`^2 matmul in `dtype`, as a timer like the models' (2 size^3 FLOPs)."""
    a = tf.cast(tf.random.normal((size, size)), dtype)
    b = tf.cast(tf.random.normal((size, size)), dtype)
    step = tf.function(lambda: tf.reduce_sum(tf.cast(tf.matmul(a, b), "float32")))
    step().numpy()

    def run(repeats):
        start = time.perf_counter()
        for _ in range(repeats):
            step().numpy()
        return (time.perf_counter() - start) / repeats

    return run


def step_timer(model, ids):
    model.train_on_batch(ids)  # trace and compile

    def run(steps):
        start = time.perf_counter()
        for _ in range(steps):
            loss = model.train_on_batch(ids)
        float(np.asarray(loss))
        return (time.perf_counter() - start) / steps

    return run


MODELS = {
    "GLoMo": lambda c: GLoMoPretrainer(c, seed=0),
    "GLoMo plain (fused=False)": lambda c: GLoMoPretrainer(c, seed=0, fused=False),
    "Transformer LM": lambda c: TransformerLM(c, seed=0),
}


def train_flops(name, config, batch, length):
    if name.startswith("GLoMo"):
        return flops.glomo_train_flops(config, batch, length, fused="plain" not in name)
    return flops.transformer_train_flops(config, batch, length)


def measure(config_name, length, batch, steps, rounds, jit, models, matmul_size):
    """Median step time and median utilisation (per-round ratio to the matmul) per model."""
    config = GLoMoConfig.named(config_name, sequence_length=length)
    ids = np.random.RandomState(0).randint(0, config.vocabulary_size, (batch, length)).astype("int32")
    timers = {"matmul": matmul_timer(matmul_size)}
    for name in models:
        keras.utils.set_random_seed(0)
        model = MODELS[name](config)
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.2, global_clipnorm=0.25),
                      jit_compile=jit)
        timers[name] = step_timer(model, ids)
    for run in timers.values():
        run(1)  # a second warm-up: a model's first step after another was built can retrace
    samples = {name: [] for name in timers}
    for _ in range(rounds):
        # Interleaved, the matmul included: each round's ratios see the same contention.
        for name, run in timers.items():
            samples[name].append(run(steps if name != "matmul" else 5))
    peak_rates = [2 * matmul_size ** 3 / s for s in samples["matmul"]]
    results = {}
    for name in models:
        count = train_flops(name, config, batch, length)
        utilisation = [count / s / peak for s, peak in zip(samples[name], peak_rates)]
        speed = [base / s for s, base in zip(samples[name], samples[models[-1]])]
        results[name] = dict(seconds=statistics.median(samples[name]), flops=count,
                             utilisation=statistics.median(utilisation), speed=statistics.median(speed))
    return results, statistics.median(peak_rates)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="small,paper")
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--batch", default="32,4",
                        help="batch per config (comma list aligned with --configs, or one value)")
    parser.add_argument("--steps", type=int, default=2, help="train steps per timing sample")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved samples per model")
    parser.add_argument("--jit", default="false", choices=["auto", "true", "false"],
                        help="jit_compile for every model (auto = off on CPU)")
    parser.add_argument("--models", default=",".join(MODELS),
                        help="comma list from: " + ", ".join(MODELS) + " (the last one is the baseline)")
    parser.add_argument("--matmul-size", type=int, default=2048)
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    jit = {"auto": "auto", "true": True, "false": False}[args.jit]
    configs = args.configs.split(",")
    batches = [int(b) for b in args.batch.split(",")]
    batches = batches * len(configs) if len(batches) == 1 else batches
    if len(batches) != len(configs):
        parser.error("--batch needs one value or one per config")
    models = args.models.split(",")
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        parser.error(f"unknown models {unknown}")

    rows, peaks = [], []
    for name, batch in zip(configs, batches):
        results, peak = measure(name, args.length, batch, args.steps, args.rounds, jit, models,
                                args.matmul_size)
        peaks.append(f"{name}: {peak / 1e9:.1f}")
        base = results[models[-1]]
        for model_name, r in results.items():
            rows.append([
                name, batch, model_name, f"{batch * args.length / r['seconds']:,.0f}", f"{r['seconds']:.3f}",
                f"{r['flops'] / (batch * args.length) / 1e6:.1f}", f"{r['flops'] / r['seconds'] / 1e9:.1f}",
                f"{100 * r['utilisation']:.0f}%", f"{r['speed']:.2f}",
                f"{r['utilisation'] / base['utilisation']:.2f}",
            ])
            print(rows[-1], flush=True)
    body = (
        f"Train step (forward + backward + SGD update), T = {args.length}, fp32, `jit_compile={args.jit}`, "
        f"{args.steps} steps per sample, median of {args.rounds} interleaved rounds. Reference: fp32 "
        f"{args.matmul_size}² matmul timed in every round (median GFLOP/s: {'; '.join(peaks)}); utilisation is "
        "the median over rounds of (model FLOP/s ÷ that round's matmul FLOP/s). FLOPs per token are "
        "hand-counted matmul FLOPs (`bench/flops.py`, checked op by op against the traced TF graph in "
        "`tests/bench/flops_test.py`); GLoMo counts both directions, and the fused step's count is what it "
        "runs (last feature layer at the sampled positions only). Speed = baseline step time ÷ this "
        f"model's step time; utilisation ratio = this model's ÷ the baseline's ({models[-1]}). The machine "
        "is shared (2 cores, other jobs running): absolute figures are noisy, the same-round ratios less so.\n\n"
        + markdown_table(
            ["config", "batch", "model", "tokens/s", "s/step", "MFLOP/token", "GFLOP/s", "utilisation",
             "speed vs baseline", "utilisation ratio"],
            rows,
        )
    )
    if not args.no_write:
        suffix = "_".join(configs) + ("" if args.jit == "false" else f"_jit_{args.jit}")
        write_section(f"pretrain_throughput_{suffix}",
                      f"Pretraining throughput: GLoMo vs Transformer LM ({', '.join(configs)}"
                      + ("" if args.jit == "false" else f", jit_compile={args.jit}") + ")", body)
    else:
        print(body)


if __name__ == "__main__":
    main()
