"""`tf.data` pipelines of the downstream tasks: texts, targets and, for GLoMo modes, cached graphs.

The graphs come from `GraphCache`s built once per split and input (`glomo_tf.transfer.
graph_cache`): each batch of example indices is turned into padded sparse graphs (one
`numpy_function` call per batch, prefetched, so it overlaps with the training step) under
the input names `{name}_graph_values`, `_slots`, `_rows`, `_cols` that the task models
declare with `graph_inputs="cached"`.
"""

import numpy as np

from glomo_tf.layers.sparse_graphs import SPARSE_KEYS


def graph_input_name(name, key):
    """The model input holding `key` (`values`, `slots`, `rows`, `cols`) of input `name`."""
    return f"{name}_graph_{key}"


def check_cache_alignment(cache, texts, name):
    """Raises `ValueError` unless `cache` holds exactly `texts`' examples, in order."""
    if len(cache) != len(texts) or not np.array_equal(cache.source_index, np.arange(len(texts))):
        raise ValueError(
            f"graph cache {cache.path} for {name!r} holds {len(cache)} of {len(texts)} examples "
            f"(skipped: {cache.counts}); the task's examples must be filtered first so every "
            "transfer mode trains on the same ones.")


def task_dataset(texts, targets, batch_size, caches=None, shuffle_seed=None, repeat=False):
    """A batched `tf.data.Dataset` of `(inputs, targets)`.

    Args:
        texts: dict input name → list of str (one entry per example).
        targets: array `[N]` or dict of arrays.
        batch_size: examples per batch.
        caches: optional dict input name → `GraphCache` of that input's texts (in the
            same order); adds that input's sparse graphs to every batch.
        shuffle_seed: shuffle (reshuffled every epoch) with this seed; None keeps order.
        repeat: repeat forever (for several validations per epoch).

    Returns:
        the dataset; string inputs are `[B]`, sparse graphs `[B, N]`.
    """
    import tensorflow as tf

    caches = caches or {}
    count = len(next(iter(texts.values())))
    for name, cache in caches.items():
        check_cache_alignment(cache, texts[name], name)
    inputs = {name: np.asarray(values, dtype=object) for name, values in texts.items()}
    inputs["_index"] = np.arange(count, dtype=np.int64)
    ds = tf.data.Dataset.from_tensor_slices((inputs, targets))
    if shuffle_seed is not None:
        ds = ds.shuffle(max(count, 1), seed=shuffle_seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size)

    def attach(batch, batch_targets):
        batch = dict(batch)
        index = batch.pop("_index")
        for name, cache in caches.items():
            def sparse(indices, cache=cache):
                graphs = cache.batch(indices)
                return tuple(graphs[key] for key in SPARSE_KEYS)

            parts = tf.numpy_function(sparse, [index],
                                      [tf.float32, tf.int32, tf.int32, tf.int32],
                                      stateful=False)
            for key, part in zip(SPARSE_KEYS, parts):
                part.set_shape([None, None])
                batch[graph_input_name(name, key)] = part
        return batch, batch_targets

    return ds.map(attach).prefetch(tf.data.AUTOTUNE)
