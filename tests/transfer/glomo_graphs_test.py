import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from glomo_tf.layers.graph_transfer import GraphTransfer
from glomo_tf.transfer.glomo_graphs import GLoMoGraphs
from tests.export import tiny_module
from tests.export.tiny_module import MAX_LENGTH, TEXTS, VOCABULARY

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def exported():
    return tiny_module.exported_module()


@pytest.fixture(scope="module")
def layer(exported):
    # Loading a SavedModel takes seconds: tests that only call the layer share one.
    return GLoMoGraphs(exported[1])


def run_layer_test(init_kwargs, inputs, expected_shapes):
    """Builds `GLoMoGraphs(**init_kwargs)`, calls it, checks output shapes and weights."""
    layer = GLoMoGraphs(**init_kwargs)
    outputs = layer(inputs)
    assert {k: tuple(v.shape) for k, v in outputs.items()} == expected_shapes
    # The module's weights are not Keras weights of the layer: frozen and not in .keras.
    assert layer.trainable is False
    assert len(layer.trainable_weights) == 0 and len(layer.non_trainable_weights) == 0
    assert len(layer.module_variables) > 0
    spec = layer.compute_output_spec(
        keras.KerasTensor(inputs.shape, "string") if not isinstance(inputs, dict)
        else {k: keras.KerasTensor(v.shape, "int32") for k, v in inputs.items()})
    for key, value in outputs.items():
        assert spec[key].dtype == value.dtype.name
        assert all(s in (None, v) for s, v in zip(spec[key].shape, value.shape)), key
    return layer, outputs


def test_text_and_id_inputs(exported, layer):
    _, path = exported
    _, out = run_layer_test(
        {"handle": path}, tf.constant(TEXTS),
        {"tokens": (4, 8), "ids": (4, 8), "mask": (4, 8), "graphs": (4, 2, 2, 2, 8, 8)})
    from_ids = layer({"token_ids": out["ids"], "padding_mask": out["mask"]})
    assert set(from_ids) == {"graphs"}
    np.testing.assert_allclose(from_ids["graphs"].numpy(), out["graphs"].numpy(), atol=1e-6)
    column = layer(tf.constant(TEXTS)[:, None])
    np.testing.assert_array_equal(column["graphs"].numpy(), out["graphs"].numpy())
    short = layer({"ids": np.array([[1, 2, 3]]), "mask": np.array([[1, 1, 0]])})["graphs"]
    assert short.shape == (1, 2, 2, 2, 3, 3) and np.all(short.numpy()[..., 2, :] == 0)
    assert layer.vocabulary == VOCABULARY
    assert layer.max_length == MAX_LENGTH


def test_matches_the_pretrained_model(exported, layer):
    model, _ = exported
    out = layer(tf.constant(TEXTS))
    expected = model.predict_graphs({"token_ids": out["ids"], "padding_mask": out["mask"] > 0})
    np.testing.assert_allclose(out["graphs"].numpy(), np.asarray(expected), atol=1e-5)
    assert np.abs(out["graphs"].numpy()).sum() > 0


def test_token_inputs_give_the_graphs_of_the_split_text(exported, layer):
    _, path = exported
    from_text = layer(tf.constant(TEXTS))
    words = tf.ragged.constant(tiny_module.make_tokenizer().split(TEXTS), dtype=tf.string)
    for tokens in (words, words.to_tensor(default_value="")):
        from_tokens = layer({"tokens": tokens})
        assert set(from_tokens) == {"tokens", "ids", "mask", "graphs"}
        for key in from_tokens:
            np.testing.assert_array_equal(from_tokens[key].numpy(), from_text[key].numpy(), key)
    # In a functional model, words the task split itself in, graphs aligned to them out.
    words_in = keras.Input(shape=(None,), dtype="string")
    out = layer({"tokens": words_in})
    assert out["graphs"].shape[2:4] == (2, 2) and out["ids"].dtype == "int32"
    model = keras.Model(words_in, out["graphs"])
    graphs = model(tf.constant([["The", "Cat", "sat"], ["a", "dog", ""]]))
    direct = layer({"tokens": tf.constant([["the", "cat", "sat"], ["a", "dog", ""]])})
    np.testing.assert_array_equal(np.asarray(graphs), direct["graphs"].numpy())
    with pytest.raises(ValueError, match=r"'tokens': tf.string \[batch, T\]"):
        layer({"tokens": tf.constant(["a", "b"])})
    with pytest.raises(ValueError, match=r"'tokens': tf.string \[batch, T\]"):
        layer({"tokens": tf.constant([[1, 2]])})


def test_bad_inputs(layer, tmp_path):
    with pytest.raises(ValueError, match="tf.string"):
        layer(tf.constant([1, 2]))
    with pytest.raises(ValueError, match=r"\[batch\] or \[batch, 1\]"):
        layer(tf.constant([["a", "b"]]))
    with pytest.raises(ValueError, match="token_ids"):
        layer({"words": tf.constant([[1]])})
    with pytest.raises(ValueError, match="integers"):
        layer({"token_ids": tf.constant([[1.0]])})
    with pytest.raises(FileNotFoundError, match="missing_module"):
        GLoMoGraphs(str(tmp_path / "missing_module"))


def test_an_already_loaded_module_is_lent_not_reloaded(exported, layer, tmp_path, monkeypatch):
    from glomo_tf.transfer import glomo_graphs

    monkeypatch.setattr(glomo_graphs, "load_graph_module",
                        lambda path: pytest.fail(f"module loaded again from {path}"))
    lent = GLoMoGraphs(exported[1], graph_module=layer._graph_module)
    assert lent._graph_module is layer._graph_module
    assert lent.get_config()["handle"] == layer.handle and "graph_module" not in lent.get_config()
    np.testing.assert_array_equal(lent(tf.constant(TEXTS))["graphs"], layer(tf.constant(TEXTS))["graphs"])
    with pytest.raises(TypeError, match="GraphModule"):
        GLoMoGraphs(exported[1], graph_module=layer)
    other = tmp_path / "other_module"
    other.mkdir()
    with pytest.raises(ValueError, match="other_module"):
        GLoMoGraphs(str(other), graph_module=layer._graph_module)


def build_downstream_model(path):
    text = keras.Input(shape=(), dtype="string", name="text")
    glomo = GLoMoGraphs(path, name="glomo")(text)
    features = keras.layers.Embedding(len(VOCABULARY), 4, name="embedding")(glomo["ids"])
    fused = GraphTransfer(mode="graphs", num_mixtures=1, name="transfer")(
        features, graphs=glomo["graphs"], mask=glomo["mask"])
    pooled = keras.layers.GlobalAveragePooling1D()(fused)
    logits = keras.layers.Dense(2, name="classifier")(pooled)
    model = keras.Model(text, logits)
    model.compile(optimizer=keras.optimizers.Adam(0.05),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


# No empty text here: GraphTransfer passes on the Keras mask, and a masked average over
# a sequence without tokens is 0/0 (the module itself returns zeros for "").
TRAIN_TEXTS = ["The big red dog saw the cat", "a cat sat on the mat .", "dog", "it ran , and ran"]


def _dataset():
    return tf.data.Dataset.from_tensor_slices(
        (TRAIN_TEXTS, np.array([0, 1, 0, 1], "int32"))).batch(2)


def build_ids_model(path):
    """The same model fed ids + mask tokenized in the input pipeline (multi-replica)."""
    ids = keras.Input(shape=(None,), dtype="int32", name="ids")
    mask = keras.Input(shape=(None,), dtype="int32", name="mask")
    graphs = GLoMoGraphs(path, name="glomo")({"ids": ids, "mask": mask})["graphs"]
    features = keras.layers.Embedding(len(VOCABULARY), 4)(ids)
    fused = GraphTransfer(mode="graphs", num_mixtures=1)(features, graphs=graphs, mask=mask)
    logits = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling1D()(fused))
    model = keras.Model({"ids": ids, "mask": mask}, logits)
    model.compile(optimizer=keras.optimizers.Adam(0.05),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


@pytest.mark.slow
def test_downstream_model_trains_with_adam_and_round_trips(exported, tmp_path):
    _, path = exported
    model = build_downstream_model(path)
    glomo = model.get_layer("glomo")
    module_before = [v.numpy().copy() for v in glomo.module_variables]
    embedding_before = model.get_layer("embedding").embeddings.numpy().copy()
    assert not any("glomo" in w.path for w in model.trainable_weights)

    history = model.fit(_dataset(), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.allclose(model.get_layer("embedding").embeddings.numpy(), embedding_before)
    for before, variable in zip(module_before, glomo.module_variables):
        np.testing.assert_array_equal(variable.numpy(), before)

    saved = tmp_path / "downstream.keras"
    model.save(saved)
    restored = keras.saving.load_model(saved)
    assert restored.get_layer("glomo").get_config()["handle"] == path
    probe = tf.constant(["the cat sat on the mat .", "dog"])
    expected = model(probe).numpy()
    np.testing.assert_allclose(restored(probe).numpy(), expected, atol=1e-6)

    # The module's variables are tracked through the layer, so a TF SavedModel of the
    # downstream model carries them (untracked, they would be saved as zeros or fail).
    model.export(str(tmp_path / "serving"), verbose=False)
    serving = tf.saved_model.load(str(tmp_path / "serving"))  # kept: owns the variables
    served = serving.serve(probe)
    np.testing.assert_allclose(served.numpy(), expected, atol=1e-6)


TWO_CPUS = """
import sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, sys.argv[2])
from tests.transfer.glomo_graphs_test import _dataset, build_ids_model
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert strategy.num_replicas_in_sync == 2
with strategy.scope():
    model = build_ids_model(sys.argv[1])
layer = model.get_layer("glomo")
data = _dataset().map(lambda text, y: (layer.tokenize(text), y))
loss = model.fit(data, epochs=1, verbose=0).history["loss"][0]
assert np.isfinite(loss), loss
print("OK", loss)
"""


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(exported, tmp_path):
    _, path = exported
    script = tmp_path / "two_cpus.py"
    script.write_text(TWO_CPUS)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    result = subprocess.run([sys.executable, str(script), path, REPO], capture_output=True,
                            text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "OK" in result.stdout
