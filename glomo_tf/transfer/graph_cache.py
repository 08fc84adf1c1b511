"""Graphs computed once: a per-example, on-disk cache of a frozen module's sparse graphs.

The graph predictor is frozen, so a sequence's graphs depend only on its tokens: they are
computed once per example (`build_graph_cache`) and read back every epoch
(`GraphCache.batch`), as the sparse entries of `glomo_tf.layers.sparse_graphs` (every live
entry by default: exact; or at most `top_k` per row, renormalised).

A cache is a directory, written under a temporary name beside its target and renamed into
place once complete (an existing cache is replaced only then):

- `manifest.json`: format version, the module's identity (`module_identity`: vocabulary
  SHA-256, SHA-256 of the graph variables, tokenizer settings, max_length, L, K), the
  settings (`max_tokens`, `top_k`, `value_dtype`), the SHA-256 of the examples' texts,
  counts (`kept`, `truncated`, `empty`, `all_unknown`), entry statistics, build seconds;
- `values.npy` (float32 or float16), `slots.npy` (uint8), `rows.npy`, `cols.npy` (int16):
  the entries of all examples, concatenated; `offsets.npy` (int64 `[E + 1]`);
  `lengths.npy` (int32 tokens per kept example); `source_index.npy` (int32: the kept
  example's position in the texts given).

Bad input: a text with no module token is skipped (`"empty"`), one whose tokens are all
`<unk>` too (`"all_unknown"`); one longer than `max_tokens` keeps its first `max_tokens`
tokens (`"truncated"`). All are counted in the manifest.

A cache is only used with the module, tokenizer, settings and texts it was built from:
`GraphCache.open` raises `GraphCacheMismatch` naming both sides otherwise.

Example:

```python
module = load_graph_module("saved_models/glomo_wiki")
cache = open_or_build_graph_cache(module, texts, "cache/imdb-train", max_tokens=400)
batch = cache.batch([0, 1, 2])       # {"values", "slots", "rows", "cols"}: [3, N]
```
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import uuid

import numpy as np

from glomo_tf.layers.sparse_graphs import SPARSE_KEYS, example_entries, pad_entries

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ARRAYS = ("values", "slots", "rows", "cols", "offsets", "lengths", "source_index")
VALUE_DTYPES = ("float32", "float16")


# Past this many live entries per graph row on average, the sparse products cost more than
# the dense T x T ones they replace and the cache outgrows memory: glomo_wiki_30m (sparse mode 5)
# averages 116 on IMDB at T 400, 7.3 GB per 1,000 reviews, and training on 200 of them ran
# out of 24 GB (BENCHMARKS.md "downstream_cache").
DENSE_ROWS = 32


class GraphCacheMismatch(ValueError):
    """A cache built from another module, tokenizer, settings or examples."""


class GraphCacheTooDense(ValueError):
    """The module's graph rows hold too many live entries for a sparse cache to pay."""


def _variables_sha256(variables):
    digest = hashlib.sha256()
    for variable in variables:
        value = np.ascontiguousarray(np.asarray(variable))
        digest.update(f"{value.dtype.str}{value.shape};".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


_IDENTITIES = {}


def module_identity(source):
    """What a cache is keyed by: dict `name`, `vocabulary_sha256`, `variables_sha256`,
    `tokenizer` (settings incl. `max_length`), `num_layers`, `num_heads` (+ `untrained_seed`
    for an `UntrainedGraphSource`).

    `source` is a loaded `GraphModule` or anything with the same `config`, `vocabulary`,
    `variables` and `graphs_from_ids` (see `glomo_tf.tasks.untrained_graphs`).
    """
    cached = _IDENTITIES.get(id(source))
    if cached is not None and cached[0] is source:
        return dict(cached[1])
    config = source.config
    vocabulary_sha = config.get("vocabulary_sha256") or hashlib.sha256(
        "".join(f"{t}\n" for t in source.vocabulary).encode("utf-8")).hexdigest()
    identity = {
        "name": os.path.basename(os.path.normpath(getattr(source, "path", "") or "module")),
        "vocabulary_sha256": vocabulary_sha,
        "variables_sha256": _variables_sha256(source.variables),
        "tokenizer": dict(config.get("tokenizer", {}), max_length=config["max_length"]),
        "num_layers": config["num_layers"],
        "num_heads": config["num_heads"],
    }
    identity.update(getattr(source, "identity_extra", {}))
    _IDENTITIES[id(source)] = (source, identity)
    return dict(identity)


def texts_sha256(texts):
    """SHA-256 of a list of texts (in order), for matching a cache to its examples."""
    digest = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def check_settings_and_texts(what, manifest, wanted, texts=None):
    """Raises `GraphCacheMismatch` when a cache's manifest differs from the `wanted`
    settings or was built from other `texts` (None: not checked); `what` names the cache."""
    settings = manifest["settings"]
    differ = {k: (settings.get(k), v) for k, v in wanted.items() if settings.get(k) != v}
    if differ:
        raise GraphCacheMismatch(
            f"{what} was built with other settings (built, wanted): {differ}. Delete it or "
            "use another cache path.")
    if texts is not None:
        texts = list(texts)
        if texts_sha256(texts) != manifest["texts_sha256"]:
            raise GraphCacheMismatch(
                f"{what} was built for other examples ({manifest['examples']} texts, sha256 "
                f"{manifest['texts_sha256'][:12]}; given {len(texts)} texts, sha256 "
                f"{texts_sha256(texts)[:12]}). Delete it or use another cache path.")


def _describe(identity):
    return (f"module {identity.get('name')!r} (vocabulary {identity['vocabulary_sha256'][:12]}, "
            f"variables {identity['variables_sha256'][:12]}"
            + (f", untrained seed {identity['untrained_seed']}" if "untrained_seed" in identity
               else "") + f"), tokenizer {json.dumps(identity['tokenizer'], sort_keys=True)}")


def compared_identity(identity):
    """What of a `module_identity` makes two modules the same: all but the directory name
    (reported, not compared: a copied or renamed module is the same)."""
    return {k: v for k, v in identity.items() if k != "name"}


def check_identity(path, built, current):
    """Raises `GraphCacheMismatch` naming both when `built` (a manifest's) and `current`
    differ in their `compared_identity`."""
    built_, current_ = compared_identity(built), compared_identity(current)
    differ = {k for k in set(built_) | set(current_) if built_.get(k) != current_.get(k)}
    if not differ:
        return
    what = "tokenizer" if differ == {"tokenizer"} else "module"
    raise GraphCacheMismatch(
        f"graph cache {path} was built from another {what}: built from {_describe(built)}; "
        f"now used with {_describe(current)}. Delete it or use another cache path.")


def tokenize_all(source, texts, batch_size=256, with_tokens=False):
    """`(lengths, ids[, tokens])`: every text's token count, ids (int32 `[n]`) and, if asked,
    token strings (object `[n]`) under `source`'s tokenizer (its `max_length` applies)."""
    lengths, ids, tokens = [], [], []
    for begin in range(0, len(texts), batch_size):
        chunk = list(texts[begin: begin + batch_size])
        out = source.tokenize(chunk)
        chunk_ids = out["ids"].numpy()
        chunk_lengths = out["mask"].numpy().sum(axis=1)
        chunk_tokens = out["tokens"].numpy() if with_tokens else chunk_ids
        for row, words, length in zip(chunk_ids, chunk_tokens, chunk_lengths):
            lengths.append(int(length))
            ids.append(row[: int(length)].astype(np.int32))
            if with_tokens:
                tokens.append(words[: int(length)])
    return (lengths, ids, tokens) if with_tokens else (lengths, ids)


def kept_examples(lengths, ids, cap, max_length):
    """`(kept, counts)`: the indices of the examples a cache keeps, and `kept`, `truncated`,
    `empty`, `all_unknown` counts (the module doc's bad-input rule)."""
    counts = {"kept": 0, "truncated": 0, "empty": 0, "all_unknown": 0}
    kept = []
    for index, (length, row) in enumerate(zip(lengths, ids)):
        if length == 0:
            counts["empty"] += 1
            continue
        if not np.any(row):
            counts["all_unknown"] += 1
            continue
        # Filling the module's own max_length means the module may have cut it already.
        if length > cap or length >= max_length:
            counts["truncated"] += 1
        kept.append(index)
    counts["kept"] = len(kept)
    return kept, counts


def length_sorted_batches(kept, lengths, ids, cap, batch_size):
    """Yields `(chunk, ids [b, w], mask [b, w])` over `kept`, shortest first (little padding)."""
    order = sorted(kept, key=lambda i: lengths[i])
    for begin in range(0, len(order), batch_size):
        chunk = order[begin: begin + batch_size]
        width = min(cap, max(lengths[i] for i in chunk))
        batch_ids = np.zeros((len(chunk), width), np.int32)
        batch_mask = np.zeros((len(chunk), width), np.int32)
        for b, i in enumerate(chunk):
            n = min(lengths[i], cap)
            batch_ids[b, :n] = ids[i][:n]
            batch_mask[b, :n] = 1
        yield chunk, batch_ids, batch_mask


def read_cache_directory(path, arrays, format_version, what="graph cache"):
    """`(manifest, {name: memory-mapped array})` of a cache directory, checked: a missing,
    unreadable or other-version manifest, or a missing array, raises naming the file."""
    path = os.fspath(path)
    manifest_path = os.path.join(path, MANIFEST)
    if not os.path.isfile(manifest_path):
        raise FileNotFoundError(f"{what} not found: {manifest_path} does not exist.")
    try:
        with open(manifest_path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{what} manifest {manifest_path} is not valid JSON: {e}") from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != format_version:
        raise ValueError(
            f"{what} {path} has format_version "
            f"{manifest.get('format_version') if isinstance(manifest, dict) else None!r}"
            f"; this version reads {format_version}. Delete it to rebuild.")
    loaded = {}
    for name in arrays:
        file = os.path.join(path, f"{name}.npy")
        if not os.path.isfile(file):
            raise FileNotFoundError(f"{what} {path} is incomplete: {file} missing.")
        loaded[name] = np.load(file, mmap_mode="r")
    return manifest, loaded


@contextlib.contextmanager
def cache_directory_writer(path):
    """Yields a new temporary directory beside `path` to write a cache into.

    On a clean exit (the caller must have written `manifest.json` into it, last) it
    replaces `path` in one rename; a cache already there is dropped only then, and a
    `path` holding anything but a cache is refused (ValueError), before and after the
    work. On an error the temporary directory is removed and `path` is untouched.
    """
    path = os.path.abspath(os.fspath(path))

    def refuse_non_cache():
        if os.path.exists(path) and not os.path.isfile(os.path.join(path, MANIFEST)):
            raise ValueError(
                f"{path} exists and is not a graph cache (no {MANIFEST}); refusing to "
                "replace it.")

    refuse_non_cache()
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    work = os.path.join(parent, f".{os.path.basename(path)}.tmp-{uuid.uuid4().hex[:8]}")
    os.makedirs(work)
    try:
        yield work
        if not os.path.isfile(os.path.join(work, MANIFEST)):
            raise RuntimeError(f"cache written to {work} without its {MANIFEST}")
        refuse_non_cache()
        old = None
        if os.path.exists(path):
            old = f"{path}.old-{uuid.uuid4().hex[:8]}"
            os.replace(path, old)
        os.replace(work, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if os.path.isdir(work):
            shutil.rmtree(work, ignore_errors=True)


def write_manifest(directory, manifest):
    """Writes `manifest.json` (last: a directory without one is never taken for a cache)."""
    with open(os.path.join(directory, MANIFEST), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)


def write_cache_directory(path, arrays, manifest):
    """Writes `arrays` (`name.npy` each) and `manifest.json` to `path` atomically
    (`cache_directory_writer`)."""
    with cache_directory_writer(path) as work:
        for name, array in arrays.items():
            np.save(os.path.join(work, f"{name}.npy"), array)
        write_manifest(work, manifest)
    return os.path.abspath(os.fspath(path))


def build_graph_cache(source, texts, path, max_tokens, top_k=None, value_dtype="float32",
                      batch_size=16, max_entries_per_row=None):
    """Computes the graphs of `texts` once and writes them to the cache directory `path`.

    Args:
        source: a loaded `GraphModule` (or an `UntrainedGraphSource`).
        texts: list of str.
        path: the cache directory (replaced atomically if it exists and is a cache).
        max_tokens: longest sequence kept (the cache's T; at most the module's
            `max_length`); longer texts are truncated, counted.
        top_k: at most this many entries per row (None: every live one, exact).
        value_dtype: "float32" (exact) or "float16" (half the value bytes; relative
            error ≤ 2^-11 per entry).
        batch_size: examples per graph computation (sorted by length, so padding is small).
        max_entries_per_row: stop with `GraphCacheTooDense` (nothing written) as soon as
            the entries kept so far average more than this per graph row (None: no
            limit). Examples are processed shortest first, so the check only gets
            stricter as the build goes on.

    Returns:
        the `GraphCache`.
    """
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, (int, np.integer)) \
            or max_tokens < 1:
        raise ValueError(f"build_graph_cache: max_tokens must be a positive int, got "
                         f"{max_tokens!r}.")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer))
                              or top_k < 1):
        raise ValueError(f"build_graph_cache: top_k must be a positive int or None, got "
                         f"{top_k!r}.")
    if value_dtype not in VALUE_DTYPES:
        raise ValueError(f"build_graph_cache: value_dtype must be one of {VALUE_DTYPES}, got "
                         f"{value_dtype!r}.")
    started = time.time()
    texts = list(texts)
    cap = int(min(max_tokens, source.config["max_length"]))
    lengths, ids = tokenize_all(source, texts)
    kept, counts = kept_examples(lengths, ids, cap, source.config["max_length"])
    entries = {}
    stats = {"rows": 0, "max_live": 0, "dropped": 0, "dropped_mass": 0.0}
    stored = done = 0
    for chunk, batch_ids, batch_mask in length_sorted_batches(kept, lengths, ids, cap,
                                                              batch_size):
        done += len(chunk)
        graphs = np.asarray(source.graphs_from_ids(batch_ids, batch_mask)["graphs"])
        for b, i in enumerate(chunk):
            n = int(batch_mask[b].sum())
            entries[i], example_stats = example_entries(graphs[b], n, top_k)
            stats["rows"] += example_stats["rows"]
            stats["max_live"] = max(stats["max_live"], example_stats["max_live"])
            stats["dropped"] += example_stats["dropped"]
            stats["dropped_mass"] += example_stats["dropped_mass"]
            stored += len(entries[i]["values"])
        if max_entries_per_row is not None and stored > max_entries_per_row * stats["rows"]:
            raise GraphCacheTooDense(
                f"the module's graph rows hold {stored / stats['rows']:.0f} live entries on "
                f"average (after {done} of {len(kept)} examples, the shortest "
                f"first; more than {max_entries_per_row}): a sparse cache of them would cost "
                "more than the dense graphs. Keep fewer per row (top_k; glomo finetune "
                "--graph-top-k K) or compute the graphs in the model (--no-graph-cache).")
    sizes = np.array([len(entries[i]["values"]) for i in kept], np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    def joined(key, dtype):
        parts = [entries[i][key] for i in kept]
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    arrays = {"values": joined("values", value_dtype), "slots": joined("slots", np.uint8),
              "rows": joined("rows", np.int16), "cols": joined("cols", np.int16),
              "offsets": offsets,
              "lengths": np.array([min(lengths[i], cap) for i in kept], np.int32),
              "source_index": np.array(kept, np.int32)}
    total = int(offsets[-1])
    stats["entries"] = total
    stats["entries_per_row"] = total / max(stats["rows"], 1)
    stats["dropped_mass_per_row"] = stats["dropped_mass"] / max(stats["rows"], 1)
    manifest = {
        "format_version": FORMAT_VERSION,
        "module": module_identity(source),
        "settings": {"max_tokens": cap, "top_k": None if top_k is None else int(top_k),
                     "value_dtype": value_dtype},
        "texts_sha256": texts_sha256(texts),
        "examples": len(texts),
        "counts": counts,
        "stats": stats,
        "build_seconds": round(time.time() - started, 3),
        "nbytes": int(sum(a.nbytes for a in arrays.values())),
    }
    write_cache_directory(path, arrays, manifest)
    return GraphCache(path)


class GraphCache:
    """A graph cache directory opened for reading (arrays memory-mapped).

    Attributes:
        path, manifest (dict), counts (kept/truncated/empty/all_unknown), lengths
        (int32 `[E]`), source_index (int32 `[E]`), num_layers, num_heads, max_tokens.

    Use `GraphCache.open(path, source, ...)` to check it against a module first.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self.manifest, self._arrays = read_cache_directory(self.path, ARRAYS, FORMAT_VERSION)
        self.counts = dict(self.manifest["counts"])
        self.lengths = np.asarray(self._arrays["lengths"])
        self.source_index = np.asarray(self._arrays["source_index"])
        self.num_layers = self.manifest["module"]["num_layers"]
        self.num_heads = self.manifest["module"]["num_heads"]
        self.max_tokens = self.manifest["settings"]["max_tokens"]

    @classmethod
    def open(cls, path, source, max_tokens=None, top_k="any", value_dtype=None, texts=None):
        """Opens `path`, refusing (`GraphCacheMismatch`) a cache of another module or
        tokenizer (both named), other settings, or other texts.

        `max_tokens`, `value_dtype`, `texts`: checked when given; `top_k`: checked unless
        "any" (None means "every live entry").
        """
        cache = cls(path)
        check_identity(cache.path, cache.manifest["module"], module_identity(source))
        wanted = {}
        if max_tokens is not None:
            wanted["max_tokens"] = int(min(max_tokens, source.config["max_length"]))
        if top_k != "any":
            wanted["top_k"] = top_k
        if value_dtype is not None:
            wanted["value_dtype"] = value_dtype
        check_settings_and_texts(f"graph cache {cache.path}", cache.manifest, wanted, texts)
        return cache

    def __len__(self):
        return len(self.lengths)

    @property
    def nbytes(self):
        """Bytes of the cache's arrays on disk (without the manifest and .npy headers)."""
        return int(sum(a.nbytes for a in self._arrays.values()))

    def entries(self, index):
        """The entries of kept example `index` (position in the cache, not in the texts)."""
        begin, end = self._arrays["offsets"][index], self._arrays["offsets"][index + 1]
        return {key: np.asarray(self._arrays[key][begin:end]) for key in SPARSE_KEYS}

    # (key, dtype, rank) of what `batch` returns: the model inputs it feeds.
    batch_spec = (("values", "float32", 2), ("slots", "int32", 2), ("rows", "int32", 2),
                  ("cols", "int32", 2))

    def batch(self, indices):
        """Padded sparse graphs of these kept examples: dict of `[len(indices), N]` arrays
        (`values` float32, indices int32), as `GraphTransfer` takes them."""
        return pad_entries([self.entries(int(i)) for i in np.asarray(indices).reshape(-1)])


def open_or_build_graph_cache(source, texts, path, max_tokens, top_k=None,
                              value_dtype="float32", batch_size=16, max_entries_per_row=None):
    """`GraphCache.open` when `path` holds a cache (which must match), else builds one.

    Returns:
        `(cache, built)`: the cache and whether it was built by this call.
    """
    texts = list(texts)
    if os.path.isfile(os.path.join(os.fspath(path), MANIFEST)):
        return GraphCache.open(path, source, max_tokens=max_tokens, top_k=top_k,
                               value_dtype=value_dtype, texts=texts), False
    return build_graph_cache(source, texts, path, max_tokens, top_k=top_k,
                             value_dtype=value_dtype, batch_size=batch_size,
                             max_entries_per_row=max_entries_per_row), True
