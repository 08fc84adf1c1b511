"""Peak memory and train-step time of GLoMoPretrainer vs window length T.

Graphs are `[B, L, K, T, T]` per direction, so memory and time grow as T² once T is large.
Each T runs in a fresh process (peak RSS is per process): build the model, run warm-up
steps, then time `--steps` train steps and a fixed fp32 2048² matmul in the same process;
the step time is reported both in seconds and in units of that matmul (less sensitive to the
shared machine's load). Peak memory = the process's peak resident set size (`ru_maxrss`),
which includes TensorFlow itself (~0.5-1 GiB) and the model's weights and optimizer state.
Writes `bench/sequence_length.png` and a BENCHMARKS.md section.

    python bench/sequence_length.py --config paper --batch 1 --lengths 128,256,512,1024
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
HERE = os.path.join(ROOT, "bench")


def worker(config_name, length, batch, steps):
    import keras
    import numpy as np
    import tensorflow as tf

    from glomo_tf.configs import GLoMoConfig
    from glomo_tf.models.glomo_pretrainer import GLoMoPretrainer

    config = GLoMoConfig.named(config_name, sequence_length=length)
    keras.utils.set_random_seed(0)
    model = GLoMoPretrainer(config, seed=0)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.2, global_clipnorm=0.25))
    ids = np.random.RandomState(0).randint(0, config.vocabulary_size, (batch, length)).astype("int32")
    model.train_on_batch(ids)
    model.train_on_batch(ids)
    a = tf.random.normal((2048, 2048))
    matmul = tf.function(lambda: tf.reduce_sum(tf.matmul(a, a)))
    matmul().numpy()
    step_times, matmul_times = [], []
    for _ in range(steps):
        start = time.perf_counter()
        float(np.asarray(model.train_on_batch(ids)))
        step_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        matmul().numpy()
        matmul_times.append(time.perf_counter() - start)
    step, unit = float(np.median(step_times)), float(np.median(matmul_times))
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux
    print("RESULT " + json.dumps(dict(length=length, batch=batch, step=step, matmuls=step / unit,
                                      peak_gib=peak_gib)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="paper")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--lengths", default="128,256,512,1024")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per length (median)")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.worker is not None:
        return worker(args.config, args.worker, args.batch, args.steps)

    results = []
    for length in [int(t) for t in args.lengths.split(",")]:
        done = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--config", args.config, "--batch", str(args.batch),
             "--steps", str(args.steps), "--worker", str(length)],
            capture_output=True, text=True, cwd=ROOT,
        )
        lines = [l for l in done.stdout.splitlines() if l.startswith("RESULT ")]
        if done.returncode or not lines:
            results.append(dict(length=length, batch=args.batch, error=done.stderr.strip().splitlines()[-1:]))
        else:
            results.append(json.loads(lines[-1][len("RESULT "):]))
        print(results[-1], flush=True)

    ok = [r for r in results if "error" not in r]
    if ok:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
        lengths = [r["length"] for r in ok]
        left.plot(lengths, [r["peak_gib"] for r in ok], "o-")
        left.axhline(24, color="grey", linestyle=":", label="24 GiB")
        left.set_xscale("log", base=2)
        left.set_xlabel("T")
        left.set_ylabel("peak RSS (GiB)")
        left.legend()
        right.plot(lengths, [r["matmuls"] for r in ok], "o-")
        right.set_xscale("log", base=2)
        right.set_yscale("log")
        right.set_xlabel("T")
        right.set_ylabel("step time (x 2048² fp32 matmul)")
        fig.suptitle(f"GLoMo {args.config}, batch {args.batch}, fp32, CPU")
        fig.tight_layout()
        fig.savefig(os.path.join(HERE, "sequence_length.png"), dpi=100)

    from bench.report import markdown_table, write_section

    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["length"], r["batch"], "failed: " + " ".join(r["error"]), "", "", ""])
        else:
            tokens = r["batch"] * r["length"]
            rows.append([r["length"], r["batch"], f"{r['peak_gib']:.2f}", f"{r['step']:.2f}",
                         f"{r['matmuls']:.0f}", f"{tokens / r['step']:,.1f}"])
    body = (
        f"`{args.config}` config, fp32, batch {args.batch}, one fresh process per T; median of {args.steps} timed "
        "steps after 2 warm-up steps. Peak RSS includes TensorFlow and the weights/optimizer state "
        "(the 100k x 512 embedding, its gradient and momentum). Plot: `bench/sequence_length.png`. "
        "Shared 2-core machine: the step time in matmul units is the steadier figure.\n\n"
        + markdown_table(["T", "batch", "peak RSS (GiB)", "s/step", "step ÷ 2048² matmul", "tokens/s"], rows)
    )
    print(body)
    if not args.no_write:
        write_section(f"sequence_length_{args.config}", f"Memory and step time vs T ({args.config})", body)


if __name__ == "__main__":
    main()
