"""task_dataset: texts, targets and cached sparse graphs per batch, aligned with the texts."""

import numpy as np
import pytest

from glomo_tf.tasks.task_datasets import graph_input_name, task_dataset
from glomo_tf.transfer.graph_cache import build_graph_cache

TEXTS = ["a good movie .", "the film was bad", "the cat sat on the mat .", "good dog"]


@pytest.fixture(scope="module")
def cache(graphs_layer, tmp_path_factory):
    return build_graph_cache(graphs_layer._graph_module, TEXTS,
                             tmp_path_factory.mktemp("c") / "cache", max_tokens=16)


def test_batches_carry_each_examples_graphs(cache):
    ds = task_dataset({"text": TEXTS}, np.arange(4), 3, caches={"text": cache})
    batches = list(ds)
    assert [len(y) for _, y in batches] == [3, 1]
    inputs, labels = batches[0]
    assert inputs["text"].numpy().tolist() == [t.encode() for t in TEXTS[:3]]
    expected = cache.batch([0, 1, 2])
    for key, value in expected.items():
        np.testing.assert_array_equal(inputs[graph_input_name("text", key)].numpy(), value)


def test_shuffled_batches_stay_aligned(cache):
    ds = task_dataset({"text": TEXTS}, np.arange(4), 2, caches={"text": cache}, shuffle_seed=3)
    for inputs, labels in ds:
        expected = cache.batch(labels.numpy())
        np.testing.assert_array_equal(inputs["text_graph_values"].numpy(), expected["values"])
        assert inputs["text"].numpy().tolist() == [TEXTS[i].encode() for i in labels.numpy()]


def test_a_cache_of_other_examples_is_refused(cache):
    with pytest.raises(ValueError, match="filtered first"):
        task_dataset({"text": TEXTS[:3]}, np.arange(3), 2, caches={"text": cache})


LENGTHS = [3, 40, 5, 41, 4, 39, 6, 42, 2, 38]


def test_length_buckets_group_similar_lengths_and_keep_every_example():
    texts = ["x" * n for n in LENGTHS]
    ds = task_dataset({"text": texts}, np.arange(10), 4, shuffle_seed=0, length_buckets=2)
    seen = []
    for inputs, labels in ds:
        lengths = [len(t) for t in inputs["text"].numpy()]
        # Short (< 38) and long texts never share a batch: no batch pads 3 characters to 42.
        assert max(lengths) < 10 or min(lengths) >= 38
        assert [LENGTHS[i] for i in labels.numpy()] == lengths
        seen.extend(labels.numpy().tolist())
    assert sorted(seen) == list(range(10))
    # 5 short and 5 long texts in batches of 4: 2 batches per bucket, known in advance.
    assert int(ds.cardinality()) == len(list(ds)) == 4


def test_length_buckets_sum_the_inputs_and_stay_aligned_with_cached_graphs(cache):
    ds = task_dataset({"a": TEXTS, "b": TEXTS[::-1]}, np.arange(4), 2,
                      caches={"a": cache}, shuffle_seed=1, length_buckets=2)
    seen = []
    for inputs, labels in ds:
        expected = cache.batch(labels.numpy())
        np.testing.assert_array_equal(inputs["a_graph_values"].numpy(), expected["values"])
        assert inputs["b"].numpy().tolist() == [TEXTS[::-1][i].encode() for i in labels.numpy()]
        seen.extend(labels.numpy().tolist())
    assert sorted(seen) == [0, 1, 2, 3]


def test_length_bucket_boundaries():
    from glomo_tf.tasks.task_datasets import length_bucket_boundaries, text_lengths

    assert text_lengths({"a": ["ab", "c"], "b": ["", "def"]}).tolist() == [2, 4]
    # Quartiles of 1..8 are 2.75, 4.5, 6.25 -> boundaries 3, 5, 7.
    assert length_bucket_boundaries(np.arange(1, 9), 4) == [3, 5, 7]
    assert length_bucket_boundaries([5] * 10, 4) == [6]    # equal lengths: one bucket used
    assert length_bucket_boundaries([1, 2, 3], 1) == []
    with pytest.raises(ValueError, match="positive int"):
        length_bucket_boundaries([1, 2], 0)


def test_autotuning_changes_the_speed_not_the_batches(cache):
    batches = {}
    for autotune in (True, False):
        ds = task_dataset({"text": TEXTS}, np.arange(4), 2, caches={"text": cache},
                          shuffle_seed=5, autotune=autotune)
        # None: unset, TensorFlow's default (on).
        assert ds.options().autotune.enabled in ((None, True) if autotune else (False,))
        batches[autotune] = [(x["text"].numpy().tolist(), x["text_graph_values"].numpy().tolist(),
                              y.numpy().tolist()) for x, y in ds]
    assert batches[True] == batches[False]
