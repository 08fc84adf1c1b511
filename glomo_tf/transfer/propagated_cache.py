"""Propagated features computed once: for GLoMo on frozen embeddings, per example, on disk.

`GraphTransfer` mixes, per token, the candidates `Γ^c H`: every graph `G^l` and product
`Λ^l` of every head and direction applied to the features `H`. When the predictor is
frozen (always, downstream) and the features are too (GloVe), those products depend only
on the tokens, so they are computed once per example (`build_propagated_cache`) and read
back every epoch (`PropagatedCache.batch`) as `GraphTransfer`'s `{"propagated": P}`.
Only the mixtures, the gate and the rest of the model train on them: the same model as
with the graphs, to the storage precision (float16 by default: relative error ≤ 2^-11
per number, measured in `tests/transfer/propagated_cache_test.py`).

Why not the graphs: a mode-5 module's rows are nearly dense (glomo_wiki_30m: 116 live entries
per row on IMDB at T 400), so a sparse graph cache cannot pay (`graph_cache.DENSE_ROWS`),
while the products are `2 C D` numbers per token whatever the rows' density: 2,400 for
L 2, K 8 and 50-d GloVe (4.7 KB in float16), where the dense graphs are `2 L K T` per
token (12,800 at T 400). They are written straight to a memory-mapped file, so a cache
larger than memory can be built.

A cache is a directory, written atomically as `graph_cache`'s are:

- `manifest.json`: format version, the module's identity (`graph_cache.module_identity`),
  the features' identity (`features_identity`), the settings (`max_tokens`,
  `hierarchical`, `value_dtype`, `candidates`, `dim`), the texts' SHA-256, counts
  (`kept`, `truncated`, `empty`, `all_unknown`, as `graph_cache`), tokens, build seconds;
- `propagated.npy` (`[tokens, 2, C, D]`, all kept examples' tokens concatenated),
  `offsets.npy` (int64 `[E + 1]`, token offsets), `lengths.npy`, `source_index.npy`.

A cache is only used with the module, features, settings and texts it was built from:
`PropagatedCache.open` raises `GraphCacheMismatch` naming both sides otherwise.

Example:

```python
module = load_graph_module("saved_models/glomo_wiki")
glove, _ = glove_features(words=task_words)
cache, built = open_or_build_propagated_cache(module, glove, texts, "cache/imdb-train",
                                              max_tokens=400)
cache.batch([0, 1, 2])["propagated"]        # float16 [3, T, 2, C, 50]
```
"""

from __future__ import annotations

import hashlib
import json
import os
import time

import numpy as np

from glomo_tf.transfer.graph_cache import (
    MANIFEST,
    GraphCacheMismatch,
    _variables_sha256,
    cache_directory_writer,
    check_identity,
    check_settings_and_texts,
    kept_examples,
    length_sorted_batches,
    module_identity,
    read_cache_directory,
    texts_sha256,
    tokenize_all,
    write_manifest,
)

FORMAT_VERSION = 1
ARRAYS = ("propagated", "offsets", "lengths", "source_index")
VALUE_DTYPES = ("float16", "float32")


def features_identity(layer):
    """What a propagated cache is keyed by on the features' side: dict `class`, `config`
    (without the layer's name) and `weights_sha256`, plus `vocabulary_sha256` for a layer
    with a `lookup` (GloVe: the words its vectors belong to).

    Raises:
        ValueError: the layer has trainable weights (its features, hence the products,
            would change during training: no cache can hold them).
    """
    if not layer.built:
        import tensorflow as tf

        layer(tf.constant([[""]]))  # a features layer reads string tokens; weights on build
    if layer.trainable_weights:
        raise ValueError(
            f"a propagated cache needs frozen features, but {layer.name!r} has "
            f"{len(layer.trainable_weights)} trainable weights; use the graph cache or "
            "dense graphs in the model instead.")
    config = {k: v for k, v in layer.get_config().items() if k not in ("name", "trainable")}
    identity = {"class": type(layer).__name__,
                "config": json.loads(json.dumps(config, sort_keys=True, default=str)),
                "weights_sha256": _variables_sha256(layer.weights)}
    lookup = getattr(layer, "lookup", None)
    if lookup is not None and hasattr(lookup, "get_vocabulary"):
        words = "\n".join(str(w) for w in lookup.get_vocabulary())
        identity["vocabulary_sha256"] = hashlib.sha256(words.encode("utf-8")).hexdigest()
    return identity


def _check_arguments(max_tokens, value_dtype):
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, (int, np.integer)) \
            or max_tokens < 1:
        raise ValueError(f"build_propagated_cache: max_tokens must be a positive int, got "
                         f"{max_tokens!r}.")
    if value_dtype not in VALUE_DTYPES:
        raise ValueError(f"build_propagated_cache: value_dtype must be one of {VALUE_DTYPES}, "
                         f"got {value_dtype!r}.")


def build_propagated_cache(source, features, texts, path, max_tokens, hierarchical=True,
                           value_dtype="float16", batch_size=16):
    """Computes every example's propagated candidates once and writes the cache `path`.

    Args:
        source: a loaded `GraphModule` (or an `UntrainedGraphSource`): tokenizer and graphs.
        features: a frozen Keras layer from string tokens `[B, T]` to `[B, T, D]` (the
            task model's own features layer, e.g. `GloVeEmbedding`).
        texts: list of str.
        path: the cache directory (replaced atomically if it exists and is a cache).
        max_tokens: longest sequence kept (at most the module's `max_length`); longer
            texts are truncated, counted.
        hierarchical: the candidates include the products `Λ^l` (as the task model's
            `GraphTransfer`; the two must agree).
        value_dtype: "float16" (half the bytes) or "float32" (exact).
        batch_size: examples per graph computation (sorted by length: little padding).

    Returns:
        the `PropagatedCache`.
    """
    import tensorflow as tf

    from glomo_tf.layers.graph_transfer import GraphTransfer, num_graph_candidates

    _check_arguments(max_tokens, value_dtype)
    started = time.time()
    texts = list(texts)
    feature_key = features_identity(features)
    cap = int(min(max_tokens, source.config["max_length"]))
    lengths, ids, tokens = tokenize_all(source, texts, with_tokens=True)
    kept, counts = kept_examples(lengths, ids, cap, source.config["max_length"])
    layers, heads = source.config["num_layers"], source.config["num_heads"]
    transfer = GraphTransfer(hierarchical=hierarchical, num_graph_layers=layers,
                             num_heads=heads)
    candidates = num_graph_candidates(layers, heads, hierarchical)
    dim = int(features(tf.constant([[""]])).shape[-1])
    stored = np.array([min(lengths[i], cap) for i in kept], np.int64)
    offsets = np.concatenate([[0], np.cumsum(stored)]).astype(np.int64)
    position = {index: k for k, index in enumerate(kept)}
    with cache_directory_writer(path) as work:
        # Written in place, batch by batch: IMDB's train set is ~23 GB in float16.
        values = np.lib.format.open_memmap(
            os.path.join(work, "propagated.npy"), mode="w+", dtype=value_dtype,
            shape=(int(offsets[-1]), 2, candidates, dim))
        for chunk, batch_ids, batch_mask in length_sorted_batches(kept, lengths, ids, cap,
                                                                  batch_size):
            words = np.full(batch_ids.shape, b"", dtype=object)
            for b, i in enumerate(chunk):
                n = int(batch_mask[b].sum())
                words[b, :n] = tokens[i][:n]
            graphs = source.graphs_from_ids(batch_ids, batch_mask)["graphs"]
            h = tf.cast(features(tf.constant(words)), tf.float32)
            products = transfer.propagate(h, graphs, batch_mask > 0)  # [b, 2, w, C, D]
            products = np.transpose(np.asarray(products), (0, 2, 1, 3, 4))
            for b, i in enumerate(chunk):
                begin, end = offsets[position[i]], offsets[position[i] + 1]
                values[begin:end] = products[b, : end - begin]
        values.flush()
        del values
        for name, array in (("offsets", offsets), ("lengths", stored.astype(np.int32)),
                            ("source_index", np.array(kept, np.int32))):
            np.save(os.path.join(work, f"{name}.npy"), array)
        nbytes = sum(os.path.getsize(os.path.join(work, f"{name}.npy")) for name in ARRAYS)
        write_manifest(work, {
            "format_version": FORMAT_VERSION,
            "module": module_identity(source),
            "features": feature_key,
            "settings": {"max_tokens": cap, "hierarchical": bool(hierarchical),
                         "value_dtype": value_dtype, "candidates": candidates, "dim": dim},
            "texts_sha256": texts_sha256(texts),
            "examples": len(texts),
            "counts": counts,
            "tokens": int(offsets[-1]),
            "build_seconds": round(time.time() - started, 3),
            "nbytes": int(nbytes),
        })
    return PropagatedCache(path)


class PropagatedCache:
    """A propagated cache directory opened for reading (arrays memory-mapped).

    Attributes:
        path, manifest (dict), counts, lengths (int32 `[E]`), source_index (int32 `[E]`),
        max_tokens, candidates (C), dim (D), value_dtype.

    Use `PropagatedCache.open(path, source, features, ...)` to check it first.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self.manifest, self._arrays = read_cache_directory(
            self.path, ARRAYS, FORMAT_VERSION, what="propagated cache")
        settings = self.manifest["settings"]
        self.counts = dict(self.manifest["counts"])
        self.lengths = np.asarray(self._arrays["lengths"])
        self.source_index = np.asarray(self._arrays["source_index"])
        self.max_tokens = settings["max_tokens"]
        self.candidates, self.dim = settings["candidates"], settings["dim"]
        self.value_dtype = settings["value_dtype"]
        expected = (int(self._arrays["offsets"][-1]), 2, self.candidates, self.dim)
        if self._arrays["propagated"].shape != expected:
            raise ValueError(
                f"propagated cache {self.path} is damaged: propagated.npy has shape "
                f"{self._arrays['propagated'].shape}, the manifest and offsets say {expected}. "
                "Delete it to rebuild.")

    @classmethod
    def open(cls, path, source, features, max_tokens=None, hierarchical=None,
             value_dtype=None, texts=None):
        """Opens `path`, refusing (`GraphCacheMismatch`, naming both sides) a cache of another
        module, tokenizer or features, other settings (those given), or other texts."""
        cache = cls(path)
        check_identity(cache.path, cache.manifest["module"], module_identity(source))
        built, now = cache.manifest["features"], features_identity(features)
        if built != now:
            raise GraphCacheMismatch(
                f"propagated cache {cache.path} was built from other features: built from "
                f"{json.dumps(built, sort_keys=True)}; now used with "
                f"{json.dumps(now, sort_keys=True)}. Delete it or use another cache path.")
        wanted = {}
        if max_tokens is not None:
            wanted["max_tokens"] = int(min(max_tokens, source.config["max_length"]))
        if hierarchical is not None:
            wanted["hierarchical"] = bool(hierarchical)
        if value_dtype is not None:
            wanted["value_dtype"] = value_dtype
        check_settings_and_texts(f"propagated cache {cache.path}", cache.manifest, wanted,
                                 texts)
        return cache

    def __len__(self):
        return len(self.lengths)

    @property
    def nbytes(self):
        """Bytes of the cache's arrays (without the manifest and .npy headers)."""
        return int(sum(a.nbytes for a in self._arrays.values()))

    @property
    def batch_spec(self):
        """(key, dtype, rank) of what `batch` returns: the model input it feeds."""
        return (("propagated", self.value_dtype, 5),)

    def example(self, index):
        """`[n, 2, C, D]` of kept example `index` (position in the cache, not the texts)."""
        begin, end = self._arrays["offsets"][index], self._arrays["offsets"][index + 1]
        return np.asarray(self._arrays["propagated"][begin:end])

    def batch(self, indices):
        """`{"propagated": [len(indices), T, 2, C, D]}`, zero-padded to the longest."""
        parts = [self.example(int(i)) for i in np.asarray(indices).reshape(-1)]
        width = max((len(p) for p in parts), default=0)
        out = np.zeros((len(parts), width, 2, self.candidates, self.dim), self.value_dtype)
        for b, part in enumerate(parts):
            out[b, : len(part)] = part
        return {"propagated": out}


def open_or_build_propagated_cache(source, features, texts, path, max_tokens,
                                   hierarchical=True, value_dtype="float16", batch_size=16):
    """`PropagatedCache.open` when `path` holds a cache (which must match), else builds one.

    Returns:
        `(cache, built)`: the cache and whether it was built by this call.
    """
    texts = list(texts)
    if os.path.isfile(os.path.join(os.fspath(path), MANIFEST)):
        return PropagatedCache.open(path, source, features, max_tokens=max_tokens,
                                    hierarchical=hierarchical, value_dtype=value_dtype,
                                    texts=texts), False
    return build_propagated_cache(source, features, texts, path, max_tokens,
                                  hierarchical=hierarchical, value_dtype=value_dtype,
                                  batch_size=batch_size), True
