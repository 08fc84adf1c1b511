"""UntrainedGraphSource: the module's shape and tokenizer, a fresh predictor at initialisation."""

import numpy as np
import pytest

from glomo_tf.tasks.untrained_graphs import UntrainedGLoMoGraphs, UntrainedGraphSource
from glomo_tf.transfer.graph_cache import module_identity


@pytest.fixture(scope="module")
def module(graphs_layer):
    return graphs_layer._graph_module


# The conftest's module is itself an unperturbed seed-0 pretrainer: other seeds differ from it.
def test_shape_tokenizer_and_initial_batchnorm(module):
    source = UntrainedGraphSource(module, seed=3)
    tokens = source.tokenize(["the cat sat on the mat ."])
    assert tokens["ids"].numpy().tolist() == module.tokenize(
        ["the cat sat on the mat ."])["ids"].numpy().tolist()
    ids, mask = tokens["ids"].numpy(), tokens["mask"].numpy()
    graphs = source.graphs_from_ids(ids, mask)["graphs"].numpy()
    trained = module.graphs_from_ids(ids, mask)["graphs"].numpy()
    assert graphs.shape == trained.shape
    assert not np.allclose(graphs, trained)
    # Contract: forward rows only read the past, rows sum to 1 or 0.
    assert np.all(np.triu(graphs[0, 0, 0, 0]) == 0)
    sums = graphs.sum(-1)
    assert np.all(np.isclose(sums, 1.0, atol=1e-5) | np.isclose(sums, 0.0))
    stats = {v.path.rsplit("/", 1)[-1]: np.asarray(v) for v in source.variables
             if "moving" in v.path}
    assert stats and all(np.all(value == (0.0 if "mean" in name else 1.0))
                         for name, value in stats.items())


def test_identity_is_per_seed_and_not_the_modules(module):
    first, again, other = (UntrainedGraphSource(module, seed=s) for s in (1, 1, 2))
    assert module_identity(first) == module_identity(again)
    assert module_identity(first)["untrained_seed"] == 1
    assert module_identity(first)["variables_sha256"] != module_identity(other)["variables_sha256"]
    assert module_identity(first)["variables_sha256"] != module_identity(module)["variables_sha256"]
    assert module_identity(first)["tokenizer"] == module_identity(module)["tokenizer"]
    with pytest.raises(ValueError, match="seed"):
        UntrainedGraphSource(module, seed="0")


def test_layer_gives_the_sources_graphs_and_round_trips(graphs_layer, module, tmp_path):
    import keras

    layer = UntrainedGLoMoGraphs(graphs_layer.handle, seed=3)
    assert layer.weights == [] and not layer.trainable
    text = ["the cat sat on the mat .", "a dog"]
    out = layer(np.array(text))
    tokens = module.tokenize(text)
    expected = UntrainedGraphSource(module, seed=3).graphs_from_ids(tokens["ids"], tokens["mask"])
    config = module.config
    assert out["graphs"].shape == (2, 2, config["num_layers"], config["num_heads"], 7, 7)
    np.testing.assert_array_equal(out["graphs"].numpy(), expected["graphs"].numpy())
    np.testing.assert_array_equal(out["ids"].numpy(), tokens["ids"].numpy())
    ids_only = layer({"ids": tokens["ids"], "mask": tokens["mask"]})
    np.testing.assert_array_equal(ids_only["graphs"].numpy(), expected["graphs"].numpy())
    with pytest.raises(ValueError, match="pre-split"):
        layer({"tokens": tokens["tokens"]})

    inputs = keras.Input(shape=(), dtype="string")
    model = keras.Model(inputs, layer(inputs)["graphs"])
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.layers[-1].get_config()["seed"] == 3
    np.testing.assert_array_equal(loaded(np.array(text)).numpy(), expected["graphs"].numpy())
