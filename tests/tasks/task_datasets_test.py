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
