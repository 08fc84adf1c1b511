"""Train-step throughput of GLoMoPretrainer vs a same-size Transformer LM, and FLOP utilisation.

Everything is measured in one process, interleaved (GLoMo steps, Transformer steps, repeat), so
the ratio survives a noisy shared machine. Utilisation = hand-counted FLOPs per step (see
bench/flops.py) / step time / the FLOP rate of a large fp32 matmul timed in the same run.

    python bench/pretrain_throughput.py --configs small,paper --length 128
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


def matmul_flops_per_second(size=2048, repeats=10):
    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    step = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    step().numpy()
    times = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            step().numpy()
        times.append((time.perf_counter() - start) / repeats)
    return 2 * size ** 3 / min(times)


def step_timer(model, ids):
    model.train_on_batch(ids)  # trace and compile

    def run(steps):
        start = time.perf_counter()
        for _ in range(steps):
            loss = model.train_on_batch(ids)
        float(np.asarray(loss))
        return (time.perf_counter() - start) / steps

    return run


def measure(config_name, length, batch, steps, rounds, jit):
    config = GLoMoConfig.named(config_name, sequence_length=length)
    ids = np.random.RandomState(0).randint(0, config.vocabulary_size, (batch, length)).astype("int32")
    timers = {}
    for name, cls in (("GLoMo", GLoMoPretrainer), ("Transformer LM", TransformerLM)):
        keras.utils.set_random_seed(0)
        model = cls(config, seed=0)
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.2, global_clipnorm=0.25),
                      jit_compile=jit)
        timers[name] = step_timer(model, ids)
    samples = {name: [] for name in timers}
    for _ in range(rounds):
        for name, run in timers.items():
            samples[name].append(run(steps))
    counts = {
        "GLoMo": flops.glomo_train_flops(config, batch, length),
        "Transformer LM": flops.transformer_train_flops(config, batch, length),
    }
    return {name: (statistics.median(samples[name]), counts[name]) for name in timers}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="small,paper")
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="train steps per timing sample")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved samples per model")
    parser.add_argument("--jit", default="auto", choices=["auto", "true", "false"])
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    jit = {"auto": "auto", "true": True, "false": False}[args.jit]

    peak = matmul_flops_per_second()
    rows = []
    for name in args.configs.split(","):
        results = measure(name, args.length, args.batch, args.steps, args.rounds, jit)
        base_time = results["Transformer LM"][0]
        for model_name, (seconds, count) in results.items():
            tokens = args.batch * args.length / seconds
            rate = count / seconds
            rows.append([
                name, model_name, f"{tokens:,.0f}", f"{seconds:.3f}",
                f"{count / (args.batch * args.length) / 1e6:.1f}", f"{rate / 1e9:.1f}",
                f"{100 * rate / peak:.0f}%", f"{base_time / seconds:.2f}",
            ])
        print(rows[-2:], flush=True)
    body = (
        f"Train step (forward + backward + SGD update), T = {args.length}, batch = {args.batch}, fp32, "
        f"`jit_compile={args.jit}`. Reference: fp32 2048x2048 matmul at {peak / 1e9:.1f} GFLOP/s in the same "
        "process. FLOPs per token are hand-counted matmul FLOPs (`bench/flops.py`); GLoMo counts both "
        "directions. Speed ratio = Transformer step time / this model's step time (> 1: faster).\n\n"
        + markdown_table(
            ["config", "model", "tokens/s", "s/step", "MFLOP/token", "GFLOP/s", "utilisation", "speed vs Transformer"],
            rows,
        )
    )
    if not args.no_write:
        write_section("pretrain_throughput", "Pretraining throughput: GLoMo vs Transformer LM", body)
    else:
        print(body)


if __name__ == "__main__":
    main()
