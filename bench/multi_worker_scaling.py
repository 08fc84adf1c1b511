"""Data-parallel scaling with `MultiWorkerMirroredStrategy`: 1 worker vs N local workers.

Starts N worker processes on loopback ports, each with its own `TF_CONFIG`, exactly as on N
machines; every worker trains `GLoMoPretrainer` with `model.fit` on a fixed per-worker batch
(global batch = N x per-worker batch, sharded per worker with `AutoShardPolicy.DATA`), and
reports its time for `--steps` steps after a warm-up. Global tokens/s and the scaling
efficiency (N-worker tokens/s ÷ (N x 1-worker tokens/s)) follow.

On one machine the local workers share its cores, so this measures the strategy's overhead
(collective all-reduce of every gradient over gRPC, the 100k x d embedding included at the
`paper` config) rather than a speed-up: with C cores and N workers each gets C/N of them.

    python bench/multi_worker_scaling.py --config tiny --workers 2 --batch 8 --steps 20
"""

import argparse
import json
import os
import socket
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def worker(config_name, batch, steps, length):
    import time

    import keras
    import numpy as np
    import tensorflow as tf

    from glomo_tf.configs import GLoMoConfig
    from glomo_tf.models.glomo_pretrainer import GLoMoPretrainer
    from glomo_tf.training.strategy import fit_logs_for_multi_worker

    multi = bool(os.environ.get("TF_CONFIG"))
    strategy = tf.distribute.MultiWorkerMirroredStrategy() if multi else tf.distribute.get_strategy()
    config = GLoMoConfig.named(config_name, sequence_length=length)
    global_batch = batch * strategy.num_replicas_in_sync
    ids = np.random.RandomState(0).randint(0, config.vocabulary_size, (global_batch, length)).astype("int32")
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = tf.data.Dataset.from_tensor_slices(ids).repeat().batch(global_batch).with_options(options)
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = GLoMoPretrainer(config, seed=0)
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.2, global_clipnorm=0.25))
    fit_logs_for_multi_worker(model, strategy)
    model.fit(dataset, steps_per_epoch=3, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    print("RESULT " + json.dumps(dict(replicas=strategy.num_replicas_in_sync, seconds=seconds,
                                      tokens_per_second=steps * global_batch * length / seconds)))


def _ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _run(args, workers):
    command = [sys.executable, os.path.abspath(__file__), "--worker", "--config", args.config,
               "--batch", str(args.batch), "--steps", str(args.steps), "--length", str(args.length)]
    env = {**os.environ, "PYTHONPATH": ROOT}
    env.pop("TF_CONFIG", None)
    addresses = [f"127.0.0.1:{p}" for p in _ports(workers)]
    processes = []
    for i in range(workers):
        if workers > 1:
            env = {**env, "TF_CONFIG": json.dumps({"cluster": {"worker": addresses},
                                                   "task": {"type": "worker", "index": i}})}
        processes.append(subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))
    results = []
    for p in processes:
        out, err = p.communicate()
        lines = [l for l in out.splitlines() if l.startswith("RESULT ")]
        if p.returncode or not lines:
            raise RuntimeError(err[-2000:])
        results.append(json.loads(lines[-1][len("RESULT "):]))
    # Every worker waits on the same all-reduces: the slowest one's time is the cluster's.
    return max(results, key=lambda r: r["seconds"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="tiny")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8, help="per-worker batch")
    parser.add_argument("--length", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2, help="alternating 1-worker / N-worker runs")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.config, args.batch, args.steps, args.length)

    import statistics

    single, multi = [], []
    for _ in range(args.rounds):
        single.append(_run(args, 1)["tokens_per_second"])
        multi.append(_run(args, args.workers)["tokens_per_second"])
    one, many = statistics.median(single), statistics.median(multi)
    from bench.report import markdown_table, write_section

    body = (
        f"`{args.config}` config, T = {args.length}, per-worker batch {args.batch}, {args.steps} timed `fit` steps "
        f"after 3 warm-up steps, medians of {args.rounds} alternating runs. All workers are local processes on "
        f"this {os.cpu_count()}-core machine (loopback gRPC), so they split the same cores: efficiency below "
        "1/N-per-core parity is the strategy's overhead, not a statement about N real machines.\n\n"
        + markdown_table(
            ["workers", "global batch", "global tokens/s", "scaling efficiency"],
            [[1, args.batch, f"{one:,.0f}", "1.00"],
             [args.workers, args.workers * args.batch, f"{many:,.0f}", f"{many / (args.workers * one):.2f}"]],
        )
    )
    print(body)
    if not args.no_write:
        write_section("multi_worker_scaling", "MultiWorkerMirroredStrategy scaling (local workers)", body)


if __name__ == "__main__":
    main()
