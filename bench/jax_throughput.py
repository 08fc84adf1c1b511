"""GLoMoPretrainer on the JAX backend (GPU/TPU or CPU): train-step tokens/s and MFU.

The model's maths is `keras.ops`, so the same `GLoMoPretrainer` runs under JAX. This script
needs only `jax`, `keras` and `numpy` (no TensorFlow): on a machine without keras-hub, the one
keras-hub class the model uses (`ReversibleEmbedding`, a plain subclass of keras' own) is
taken from keras. Each round times a bf16 matmul of `--matmul-size` and the jitted train step
(`jit_compile=True`, SGD), interleaved; MFU = hand-counted step FLOPs (`bench/flops.py`) /
step time / `--peak-tflops` (default: H100 SXM dense bf16, 989 TFLOP/s), and the measured
matmul rate is reported beside it.

    KERAS_BACKEND=jax python bench/jax_throughput.py --config paper --batch 64 --dtype mixed_bfloat16
    KERAS_BACKEND=jax python bench/jax_throughput.py --config tiny --batch 8 --dtype float32 \
        --matmul-size 512 --steps 3 --rounds 2 --peak-tflops 0 --no-write  # CPU check (seconds)
"""

import argparse
import os
import statistics
import sys
import time
import types

os.environ["KERAS_BACKEND"] = "jax"
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

try:
    import keras_hub  # noqa: F401,E402
except ImportError:  # A device with a pure-Python keras only.
    sys.modules["keras_hub"] = types.SimpleNamespace(
        layers=types.SimpleNamespace(ReversibleEmbedding=keras.layers.ReversibleEmbedding)
    )

from bench import flops  # noqa: E402
from glomo_tf.configs import GLoMoConfig  # noqa: E402
from glomo_tf.models.glomo_pretrainer import GLoMoPretrainer  # noqa: E402

H100_BF16_DENSE_TFLOPS = 989.0


def matmul_seconds(size, dtype, repeats=10):
    a = jnp.ones((size, size), dtype)
    b = jnp.ones((size, size), dtype)
    f = jax.jit(lambda x, y: jnp.sum(jnp.matmul(x, y, preferred_element_type=jnp.float32)))
    f(a, b).block_until_ready()
    start = time.perf_counter()
    for _ in range(repeats):
        out = f(a, b)
    out.block_until_ready()
    return (time.perf_counter() - start) / repeats


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="paper")
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--dtype", default="mixed_bfloat16", help="keras dtype policy (float32, mixed_bfloat16)")
    parser.add_argument("--steps", type=int, default=10, help="train steps per timing sample")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--matmul-size", type=int, default=8192)
    parser.add_argument("--peak-tflops", type=float, default=H100_BF16_DENSE_TFLOPS,
                        help="peak for MFU; 0 = use the measured matmul rate")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    keras.config.set_dtype_policy(args.dtype)
    config = GLoMoConfig.named(args.config, sequence_length=args.length)
    keras.utils.set_random_seed(0)
    model = GLoMoPretrainer(config, seed=0)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.2, global_clipnorm=0.25), jit_compile=True)
    ids = np.random.RandomState(0).randint(0, config.vocabulary_size, (args.batch, args.length)).astype("int32")
    first = float(model.train_on_batch(ids))
    model.train_on_batch(ids)
    matmul_dtype = jnp.bfloat16 if "bfloat16" in args.dtype else jnp.float32

    step_times, matmul_rates = [], []
    for _ in range(args.rounds):
        seconds = matmul_seconds(args.matmul_size, matmul_dtype)
        matmul_rates.append(2 * args.matmul_size ** 3 / seconds)
        start = time.perf_counter()
        for _ in range(args.steps):
            loss = model.train_on_batch(ids)
        float(np.asarray(loss))
        step_times.append((time.perf_counter() - start) / args.steps)
    seconds = statistics.median(step_times)
    count = flops.glomo_train_flops(config, args.batch, args.length, fused=model.fused)
    rate = count / seconds
    matmul_rate = statistics.median(matmul_rates)
    peak = args.peak_tflops * 1e12 if args.peak_tflops else matmul_rate
    device = jax.devices()[0]
    body = (
        f"JAX {jax.__version__}, keras {keras.__version__}, device `{device.device_kind}` ({device.platform}); "
        f"`{args.config}` config, T = {args.length}, batch = {args.batch}, dtype policy `{args.dtype}`, "
        f"jitted train step (SGD + clipnorm), median of {args.rounds} rounds x {args.steps} steps; "
        f"first-step loss {first:.3f}.\n\n"
        f"| tokens/s | s/step | MFLOP/token | achieved TFLOP/s | {args.matmul_size}² matmul TFLOP/s | "
        f"MFU (vs {peak / 1e12:.0f} TFLOP/s) | share of the matmul rate |\n|---|---|---|---|---|---|---|\n"
        f"| {args.batch * args.length / seconds:,.0f} | {seconds:.4f} | {count / (args.batch * args.length) / 1e6:.1f} "
        f"| {rate / 1e12:.3f} | {matmul_rate / 1e12:.3f} | {100 * rate / peak:.1f}% | {100 * rate / matmul_rate:.1f}% |"
    )
    print(body)
    if not args.no_write:
        from bench.report import write_section

        write_section(f"jax_throughput_{device.platform}", f"JAX backend throughput ({device.platform})", body)


if __name__ == "__main__":
    main()
