"""`tf.data` pipelines of the downstream tasks: texts, targets and, for GLoMo modes, cached graphs.

The graphs come from caches built once per split and input: each batch of example indices
is turned into padded arrays (one `numpy_function` call per batch, prefetched, so it
overlaps with the training step) under the input names the task models declare: a
`GraphCache`'s sparse graphs as `{name}_graph_values`, `_slots`, `_rows`, `_cols`
(`graph_inputs="cached"`), a `PropagatedCache`'s candidates as `{name}_graph_propagated`
(`graph_inputs="propagated"`).

A batch is padded to its longest text (the models tokenize inside), so one long review
makes the whole batch pay for 400 tokens, and a dense GLoMo graph for 400² entries. With
`length_buckets` the training batches are drawn from buckets of similar length instead
(`tf.data`'s `bucket_by_sequence_length`, boundaries at quantiles of the texts' character
counts, which track their token counts): far less padding, the same examples per epoch.

The pipeline turns tf.data's autotuning off and prefetches 2 batches. With it on, on a
2-core machine, one-epoch `fit` calls in a row (how `bench/downstream_step.py` times
epochs) lasted near 10 ms x 2^k (5.12, 10.24, 20.48 s...) and varied 2x; off, they are
steady. A single many-epoch `fit`, as `glomo finetune` runs, is as fast either way
(`bench/data_autotune.py`).
"""

import numpy as np


def graph_input_name(name, key):
    """The model input holding `key` (`values`, `slots`, `rows`, `cols`, `propagated`) of
    input `name`."""
    return f"{name}_graph_{key}"


def check_cache_alignment(cache, texts, name):
    """Raises `ValueError` unless `cache` holds exactly `texts`' examples, in order."""
    if len(cache) != len(texts) or not np.array_equal(cache.source_index, np.arange(len(texts))):
        raise ValueError(
            f"graph cache {cache.path} for {name!r} holds {len(cache)} of {len(texts)} examples "
            f"(skipped: {cache.counts}); the task's examples must be filtered first so every "
            "transfer mode trains on the same ones.")


def text_lengths(texts):
    """Characters per example, summed over the inputs (premise + hypothesis, ...): `[N]`."""
    columns = [np.fromiter((len(t) for t in values), dtype=np.int64, count=len(values))
               for values in texts.values()]
    return np.sum(columns, axis=0) if columns else np.zeros(0, np.int64)


def length_bucket_boundaries(lengths, buckets):
    """Increasing bucket boundaries splitting `lengths` into about `buckets` equal shares.

    `bucket_by_sequence_length` puts length l in bucket i where
    `boundaries[i - 1] <= l < boundaries[i]`; repeated quantiles (many equal lengths)
    collapse, so there may be fewer buckets than asked for.
    """
    if isinstance(buckets, bool) or not isinstance(buckets, int) or buckets < 1:
        raise ValueError(f"length_buckets must be a positive int, got {buckets!r}.")
    lengths = np.asarray(lengths)
    if buckets == 1 or lengths.size == 0:
        return []
    quantiles = np.quantile(lengths, np.arange(1, buckets) / buckets)
    return sorted({int(q) + 1 for q in quantiles})


def task_dataset(texts, targets, batch_size, caches=None, shuffle_seed=None, repeat=False,
                 length_buckets=None, autotune=False):
    """A batched `tf.data.Dataset` of `(inputs, targets)`.

    Args:
        texts: dict input name → list of str (one entry per example).
        targets: array `[N]` or dict of arrays.
        batch_size: examples per batch.
        caches: optional dict input name → `GraphCache` or `PropagatedCache` of that
            input's texts (in the same order); adds what it holds to every batch.
        shuffle_seed: shuffle (reshuffled every epoch) with this seed; None keeps order.
        repeat: repeat forever (for several validations per epoch).
        length_buckets: None (or 1) batches examples in (shuffled) order; an int k > 1
            draws each batch from one of about k buckets of similar text length (after
            shuffling, so which examples share a batch still changes every epoch). Every
            example is still seen once per epoch; a bucket's last batch may be short.
        autotune: keep tf.data's autotuning (TensorFlow's default) and an AUTOTUNE
            prefetch; False (default) prefetches 2 batches with autotuning off. Only the
            speed differs, never the batches.

    Returns:
        the dataset; string inputs are `[B]`, sparse graphs `[B, N]`, propagated
        candidates `[B, T, 2, C, D]`.
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
    boundaries = []
    if length_buckets:   # validation and test sets never bucket: no lengths to count
        lengths = text_lengths(texts)
        boundaries = length_bucket_boundaries(lengths, length_buckets)
    if boundaries:
        names = list(texts)

        def length(batch, _):
            return tf.add_n([tf.strings.length(batch[name]) for name in names])

        ds = ds.bucket_by_sequence_length(
            length, boundaries, [batch_size] * (len(boundaries) + 1))
        if not repeat:
            # Known, so Keras sizes the first epoch's progress bar and does not warn that
            # the data ran out: every bucket ends in one short batch at most.
            per_bucket = np.bincount(np.digitize(lengths, boundaries),
                                     minlength=len(boundaries) + 1)
            ds = ds.apply(tf.data.experimental.assert_cardinality(
                int(np.sum(-(-per_bucket // batch_size)))))
    else:
        ds = ds.batch(batch_size)

    def attach(batch, batch_targets):
        batch = dict(batch)
        index = batch.pop("_index")
        for name, cache in caches.items():
            spec = cache.batch_spec

            def arrays(indices, cache=cache, spec=spec):
                out = cache.batch(indices)
                return tuple(out[key] for key, _, _ in spec)

            parts = tf.numpy_function(arrays, [index], [tf.as_dtype(d) for _, d, _ in spec],
                                      stateful=False)
            for (key, _, rank), part in zip(spec, parts):
                part.set_shape([None] * rank)
                batch[graph_input_name(name, key)] = part
        return batch, batch_targets

    ds = ds.map(attach)
    if autotune:
        return ds.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(2).with_options(options)
