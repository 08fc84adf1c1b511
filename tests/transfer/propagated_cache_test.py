"""PropagatedCache: equal to GraphTransfer's candidates on the module's graphs (float32 exact,
float16 within its rounding), keyed and refused across modules, features, settings and
texts, bad input counted, damage named."""

import json
import os

import numpy as np
import pytest

from glomo_tf.features.glove import GloVeEmbedding
from glomo_tf.layers.graph_transfer import GraphTransfer
from glomo_tf.transfer.graph_cache import GraphCacheMismatch
from glomo_tf.transfer.propagated_cache import (
    PropagatedCache,
    build_propagated_cache,
    features_identity,
    open_or_build_propagated_cache,
)
from tests.export.tiny_module import VOCABULARY
from tests.transfer.graph_cache_test import TEXTS, _module


def _glove(seed=0, words=("the", "cat", "dog", "sat", "mat", ".", "big", "ran")):
    rng = np.random.default_rng(seed)
    return GloVeEmbedding(list(words), rng.normal(size=(len(words), 3)).astype("float32"))


@pytest.fixture(scope="module")
def module():
    return _module()


def _expected(module, glove, texts, max_tokens, hierarchical=True):
    """`Γ^c H` of each text, computed directly: the module's dense graphs, one text at a time."""
    import tensorflow as tf

    out = []
    for text in texts:
        tokens = module.tokenize([text])
        n = min(int(tokens["mask"].numpy().sum()), max_tokens)
        graphs = module.graphs_from_ids(tokens["ids"].numpy()[:, :n],
                                        tokens["mask"].numpy()[:, :n])["graphs"]
        h = glove(tf.constant(tokens["tokens"].numpy()[:, :n]))
        layer = GraphTransfer(hierarchical=hierarchical, num_graph_layers=graphs.shape[2],
                              num_heads=graphs.shape[3])
        out.append(np.transpose(np.asarray(layer.propagate(h, graphs)), (0, 2, 1, 3, 4))[0])
    return out


def test_float32_cache_equals_the_candidates_on_the_modules_graphs(module, tmp_path):
    glove = _glove()
    cache = build_propagated_cache(module, glove, TEXTS, tmp_path / "c", max_tokens=6,
                                   value_dtype="float32", batch_size=2)
    assert cache.counts == {"kept": 4, "truncated": 2, "empty": 1, "all_unknown": 1}
    assert cache.source_index.tolist() == [0, 1, 4, 5]
    assert cache.lengths.tolist() == [6, 6, 1, 4]
    # L 2, K 2 (tiny module), hierarchical: G^1, G^2, Λ^2 per head.
    assert (cache.candidates, cache.dim) == (6, 3)
    expected = _expected(module, glove, [TEXTS[i] for i in cache.source_index], 6)
    batch = cache.batch(np.arange(len(cache)))["propagated"]
    assert batch.shape == (4, 6, 2, 6, 3) and batch.dtype == np.float32
    for b, want in enumerate(expected):
        # Built in length-sorted batches of 2, yet equal: padding does not leak.
        np.testing.assert_allclose(batch[b, : len(want)], want, rtol=1e-5, atol=1e-6)
        assert not batch[b, len(want):].any()
    assert cache.manifest["tokens"] == 17 and cache.nbytes > 17 * 2 * 6 * 3 * 4


def test_float16_within_its_rounding_and_other_candidates(module, tmp_path):
    glove = _glove()
    cache = build_propagated_cache(module, glove, TEXTS[:2], tmp_path / "c", max_tokens=8,
                                   hierarchical=False)
    assert cache.value_dtype == "float16" and cache.candidates == 4
    batch = cache.batch([0, 1])["propagated"]
    assert batch.dtype == np.float16
    for b, want in enumerate(_expected(module, glove, TEXTS[:2], 8, hierarchical=False)):
        got = batch[b, : len(want)].astype(np.float32)
        np.testing.assert_allclose(got, want, rtol=2 ** -10, atol=1e-4 * np.abs(want).max())


def test_another_module_features_settings_or_texts_are_refused(module, tmp_path):
    path = tmp_path / "c"
    glove = _glove()
    open_or_build_propagated_cache(module, glove, TEXTS, path, max_tokens=8)
    cache, built = open_or_build_propagated_cache(module, _glove(), TEXTS, path, max_tokens=8)
    assert not built and len(cache) == 4  # same vectors: reused
    with pytest.raises(GraphCacheMismatch, match="another module"):
        PropagatedCache.open(path, _module(seed=1), glove)
    with pytest.raises(GraphCacheMismatch, match="another tokenizer"):
        PropagatedCache.open(path, _module(lowercase=False), glove)
    with pytest.raises(GraphCacheMismatch, match="other features.*weights_sha256"):
        PropagatedCache.open(path, module, _glove(seed=1))
    with pytest.raises(GraphCacheMismatch, match="other settings.*hierarchical"):
        PropagatedCache.open(path, module, glove, hierarchical=False)
    with pytest.raises(GraphCacheMismatch, match="other settings.*value_dtype"):
        PropagatedCache.open(path, module, glove, value_dtype="float32")
    with pytest.raises(GraphCacheMismatch, match="other examples"):
        PropagatedCache.open(path, module, glove, texts=TEXTS[:3])


def test_trainable_features_cannot_be_cached(module, tmp_path):
    import keras

    trainable = keras.layers.Embedding(len(VOCABULARY), 3)
    trainable.build((None, None))
    with pytest.raises(ValueError, match="needs frozen features"):
        features_identity(trainable)
    with pytest.raises(ValueError, match="needs frozen features"):
        build_propagated_cache(module, trainable, TEXTS, tmp_path / "c", max_tokens=8)
    assert not os.path.exists(tmp_path / "c")


def test_damaged_caches_and_bad_arguments_are_named(module, tmp_path):
    path = tmp_path / "c"
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        PropagatedCache(path)
    build_propagated_cache(module, _glove(), TEXTS, path, max_tokens=8)
    np.save(path / "propagated.npy", np.zeros((3, 2, 6, 3), np.float16))
    with pytest.raises(ValueError, match="damaged: propagated.npy has shape"):
        PropagatedCache(path)
    os.remove(path / "offsets.npy")
    with pytest.raises(FileNotFoundError, match="offsets.npy"):
        PropagatedCache(path)
    (path / "manifest.json").write_text(json.dumps({"format_version": 99}))
    with pytest.raises(ValueError, match="format_version"):
        PropagatedCache(path)
    for kwargs, match in (({"max_tokens": 0}, "max_tokens"),
                          ({"max_tokens": 8, "value_dtype": "int8"}, "value_dtype")):
        with pytest.raises(ValueError, match=match):
            build_propagated_cache(module, _glove(), TEXTS, tmp_path / "d", **kwargs)
    (tmp_path / "other").mkdir()
    with pytest.raises(ValueError, match="not a graph cache"):
        build_propagated_cache(module, _glove(), TEXTS, tmp_path / "other", max_tokens=8)
