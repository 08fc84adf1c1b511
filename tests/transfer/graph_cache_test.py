"""GraphCache: exact against the module's dense graphs, keyed and refused across modules and
tokenizers, bad input counted, written atomically."""

import functools
import json
import os

import numpy as np
import pytest

from glomo_tf.layers.sparse_graphs import sparse_from_dense
from glomo_tf.transfer.graph_cache import (
    GraphCache,
    GraphCacheMismatch,
    GraphCacheTooDense,
    build_graph_cache,
    module_identity,
    open_or_build_graph_cache,
)
from tests.export import tiny_module
from tests.export.tiny_module import MAX_LENGTH

TEXTS = ["The big red dog saw the cat , and it ran .",  # 12 tokens > MAX_LENGTH 8
         "a cat sat on the mat .", "", "zebra quokka", "dog", "the cat saw it"]


@functools.lru_cache(maxsize=None)
def _module(seed=0, lowercase=True):
    from glomo_tf.data.word_tokenizer import GLoMoWordTokenizer
    from glomo_tf.export.graph_module import export_graph_module, load_graph_module

    if seed == 0 and lowercase:
        return load_graph_module(tiny_module.exported_module()[1])
    path = os.path.join(os.path.dirname(tiny_module.exported_module()[1]),
                        f"module-{seed}-{lowercase}")
    export_graph_module(tiny_module.make_model(seed=seed),
                        GLoMoWordTokenizer(tiny_module.VOCABULARY, lowercase=lowercase), path,
                        max_length=MAX_LENGTH)
    return load_graph_module(path)


@pytest.fixture(scope="module")
def module():
    return _module()


def test_cache_equals_the_modules_dense_graphs(module, tmp_path):
    cache = build_graph_cache(module, TEXTS, tmp_path / "c", max_tokens=6, batch_size=2)
    assert cache.counts == {"kept": 4, "truncated": 2, "empty": 1, "all_unknown": 1}
    assert cache.source_index.tolist() == [0, 1, 4, 5]
    assert cache.lengths.tolist() == [6, 6, 1, 4]
    kept = [TEXTS[i] for i in cache.source_index]
    out = module.tokenize(kept)
    ids, mask = out["ids"].numpy()[:, :6], out["mask"].numpy()[:, :6]
    dense = module.graphs_from_ids(ids, mask)["graphs"].numpy()
    expected = sparse_from_dense(dense, mask)
    got = cache.batch(np.arange(len(cache)))
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)
    # Sorted by length and computed in batches of 2, yet identical: padding does not leak.
    assert cache.manifest["stats"]["dropped"] == 0
    assert cache.nbytes > 0 and cache.manifest["build_seconds"] >= 0


def test_top_k_and_float16_are_recorded(module, tmp_path):
    full = build_graph_cache(module, TEXTS, tmp_path / "full", max_tokens=8)
    small = build_graph_cache(module, TEXTS, tmp_path / "k1", max_tokens=8, top_k=1,
                              value_dtype="float16")
    assert small.manifest["settings"] == {"max_tokens": 8, "top_k": 1, "value_dtype": "float16"}
    assert small.manifest["stats"]["entries"] < full.manifest["stats"]["entries"]
    assert small.manifest["stats"]["dropped_mass"] > 0
    # Rows keep their sum: the single kept entry of a row carries the row's whole mass.
    batch = small.batch([0])
    real = batch["rows"][0] >= 0
    sums = {}
    for s, i, v in zip(batch["slots"][0][real], batch["rows"][0][real], batch["values"][0][real]):
        sums[(s, i)] = sums.get((s, i), 0.0) + v
    np.testing.assert_allclose(list(sums.values()), 1.0, rtol=2e-3)


def test_dense_rows_stop_the_build_before_anything_is_written(module, tmp_path):
    full = build_graph_cache(module, TEXTS, tmp_path / "full", max_tokens=8)
    per_row = full.manifest["stats"]["entries_per_row"]
    assert per_row > 1.0
    with pytest.raises(GraphCacheTooDense, match="--graph-top-k"):
        build_graph_cache(module, TEXTS, tmp_path / "dense", max_tokens=8,
                          max_entries_per_row=per_row / 2)
    assert not os.path.exists(tmp_path / "dense") and os.listdir(tmp_path) == ["full"]
    # At or above the average, or with top_k keeping one per row, it builds.
    build_graph_cache(module, TEXTS, tmp_path / "ok", max_tokens=8, max_entries_per_row=per_row)
    build_graph_cache(module, TEXTS, tmp_path / "k1", max_tokens=8, top_k=1,
                      max_entries_per_row=1)


def test_cache_from_another_module_or_tokenizer_is_refused(module, tmp_path):
    path = tmp_path / "c"
    build_graph_cache(module, TEXTS, path, max_tokens=8)
    other = _module(seed=1)
    with pytest.raises(GraphCacheMismatch) as error:
        GraphCache.open(path, other)
    message = str(error.value)
    ours, theirs = module_identity(module), module_identity(other)
    assert "another module" in message
    assert ours["variables_sha256"][:12] in message and theirs["variables_sha256"][:12] in message
    with pytest.raises(GraphCacheMismatch, match="another tokenizer") as error:
        GraphCache.open(path, _module(seed=0, lowercase=False))
    assert '"lowercase": true' in str(error.value) and '"lowercase": false' in str(error.value)
    # open_or_build never rebuilds over it silently either.
    with pytest.raises(GraphCacheMismatch):
        open_or_build_graph_cache(other, TEXTS, path, max_tokens=8)


def test_other_settings_or_texts_are_refused(module, tmp_path):
    path = tmp_path / "c"
    cache, built = open_or_build_graph_cache(module, TEXTS, path, max_tokens=8)
    assert built
    again, built = open_or_build_graph_cache(module, TEXTS, path, max_tokens=8)
    assert not built and len(again) == len(cache)
    with pytest.raises(GraphCacheMismatch, match="max_tokens"):
        GraphCache.open(path, module, max_tokens=4)
    with pytest.raises(GraphCacheMismatch, match="top_k"):
        GraphCache.open(path, module, top_k=3)
    with pytest.raises(GraphCacheMismatch, match="other examples"):
        GraphCache.open(path, module, texts=TEXTS[::-1])


def test_written_atomically_and_never_over_other_files(module, tmp_path, monkeypatch):
    path = tmp_path / "c"
    first = build_graph_cache(module, TEXTS[:2], path, max_tokens=8)
    assert len(first) == 2
    # A crash mid-build leaves the previous cache whole and no temporary directory.
    import glomo_tf.transfer.graph_cache as graph_cache

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(graph_cache.np, "save", broken)
    with pytest.raises(OSError):
        build_graph_cache(module, TEXTS, path, max_tokens=8)
    monkeypatch.undo()
    assert len(GraphCache(path)) == 2 and sorted(os.listdir(tmp_path)) == ["c"]
    second = build_graph_cache(module, TEXTS, path, max_tokens=8)
    assert len(second) == 4
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("x")
    with pytest.raises(ValueError, match="not a graph cache"):
        build_graph_cache(module, TEXTS, tmp_path / "other", max_tokens=8)
    assert (tmp_path / "other" / "keep.txt").exists()


def test_damaged_caches_are_named(module, tmp_path):
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        GraphCache(tmp_path / "missing")
    path = tmp_path / "c"
    build_graph_cache(module, TEXTS, path, max_tokens=8)
    os.remove(path / "cols.npy")
    with pytest.raises(FileNotFoundError, match="cols.npy"):
        GraphCache(path)
    (path / "manifest.json").write_text(json.dumps({"format_version": 99}))
    with pytest.raises(ValueError, match="format_version"):
        GraphCache(path)


def test_bad_arguments(module, tmp_path):
    for kwargs, match in (({"max_tokens": 0}, "max_tokens"), ({"top_k": 0}, "top_k"),
                          ({"value_dtype": "int8"}, "value_dtype")):
        kwargs = {"max_tokens": 8, **kwargs}
        with pytest.raises(ValueError, match=match):
            build_graph_cache(module, TEXTS, tmp_path / "c", **kwargs)
