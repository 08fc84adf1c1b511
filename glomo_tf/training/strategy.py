"""Picks the `tf.distribute` strategy a pretraining run is built and trained under.

`tf.distribute` (not `keras.distribution`) because the TensorFlow trainer of Keras 3 runs
`model.fit` under a strategy's scope with per-replica loss scaling, and that is the path
that supports TPUs and multi-worker training with TensorFlow today.
"""

import json
import os

STRATEGIES = ("auto", "cpu", "mirrored", "multiworker", "tpu")


def make_strategy(name="auto", tpu=None):
    """Returns a `tf.distribute.Strategy` by name.

    Args:
        name: one of
            - `"auto"`: `MirroredStrategy` over every local GPU if there is at least one,
              else the default (single-device, CPU) strategy;
            - `"cpu"`: the default strategy, on CPU even when GPUs are visible;
            - `"mirrored"`: `MirroredStrategy` over all local GPUs (or, without GPUs,
              all logical CPU devices);
            - `"multiworker"`: `MultiWorkerMirroredStrategy`, cluster read from the
              `TF_CONFIG` environment variable;
            - `"tpu"`: `TPUStrategy` on the TPU at `tpu`.
        tpu: TPU name or address (`grpc://10.0.0.2:8470`, or `"local"` on a TPU VM);
            only for `name="tpu"`.

    Returns:
        A `tf.distribute.Strategy`; build and compile the model inside its `scope()`.

    Raises:
        ValueError: for an unknown name, `tpu` given without `name="tpu"`, `"tpu"`
            without an address, or `"multiworker"` without a valid `TF_CONFIG`.

    Example:
    >>> strategy = make_strategy("cpu")
    >>> strategy.num_replicas_in_sync
    1
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; expected one of {STRATEGIES}.")
    if tpu is not None and name != "tpu":
        raise ValueError(f"A TPU address ({tpu!r}) only makes sense with strategy 'tpu', not {name!r}.")
    import tensorflow as tf  # Here, so that `glomo --help` does not load TensorFlow.

    if name == "auto":
        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            return tf.distribute.MirroredStrategy([d.name for d in gpus])
        return tf.distribute.get_strategy()
    if name == "cpu":
        return tf.distribute.OneDeviceStrategy("/cpu:0")
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        # NCCL needs GPUs; on CPU replicas the reduction is a plain copy-and-add.
        cross_device_ops = None if devices[0].device_type == "GPU" else tf.distribute.ReductionToOneDevice()
        return tf.distribute.MirroredStrategy([d.name for d in devices], cross_device_ops=cross_device_ops)
    if name == "multiworker":
        _check_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    if not tpu:
        raise ValueError("Strategy 'tpu' needs the TPU's name or address (--tpu ADDR, or 'local' on a TPU VM).")
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def _check_tf_config():
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ValueError(
            "Strategy 'multiworker' needs the TF_CONFIG environment variable "
            '(e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}}).'
        )
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON: {error}.") from None
    if not isinstance(config, dict) or "cluster" not in config or "task" not in config:
        raise ValueError("TF_CONFIG must hold a 'cluster' and a 'task' entry.")
    task = config["task"]
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ValueError("TF_CONFIG's 'task' must hold a 'type' and an 'index'.")
    workers = config["cluster"].get(task["type"]) if isinstance(config["cluster"], dict) else None
    if not workers or not 0 <= int(task["index"]) < len(workers):
        raise ValueError(
            f"TF_CONFIG's task {task['type']}:{task['index']} is not in its cluster {config['cluster']}."
        )


def is_multi_worker(strategy):
    """True for a `MultiWorkerMirroredStrategy` that really spans several workers."""
    import tensorflow as tf

    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and strategy.extended._in_multi_worker_mode())


def fit_logs_for_multi_worker(model, strategy):
    """Lets `model.fit`/`evaluate` run under a multi-worker strategy (Keras 3 on TF).

    Keras 3's TensorFlow trainer reduces every log value of a multi-worker step with
    `strategy.reduce("MEAN", value, axis=0)`, which fails on the scalar a metric returns
    ("Invalid reduction dimension 0 for input with 0 dimensions", tensorflow#72388).
    Giving each replica's log values the shape `[1]` makes that reduction the mean over
    the replicas, a scalar again. Other strategies are left alone.
    """
    if not is_multi_worker(strategy):
        return model
    from keras import ops

    def as_vectors(logs):
        return {name: ops.reshape(value, (1,)) for name, value in logs.items()}

    train_step, test_step = model.train_step, model.test_step
    model.train_step = lambda data: as_vectors(train_step(data))
    model.test_step = lambda data: as_vectors(test_step(data))
    return model
