"""Task models × transfer modes: build, one training step, shapes, and fair baselines."""

import keras
import numpy as np
import pytest

from glomo_tf.layers.graph_transfer import GraphTransfer
from glomo_tf.tasks.finetune_config import FinetuneConfig
from glomo_tf.tasks.nli_model import build_nli_model
from glomo_tf.tasks.squad_model import build_squad_model
from glomo_tf.tasks.text_classifier import build_text_classifier

MODES = ("none", "uniform", "embeddings", "rnn")
TEXTS = np.array(["a good movie .", "the film was bad , bad", ""], dtype=object)


def _config(task, transfer):
    return FinetuneConfig(task=task, transfer=transfer, hidden_dim=4, char_filters=4,
                          char_dim=2, char_width=3, max_chars=8, dropout=0.1)


def _train_step(model, inputs, targets, loss):
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss, run_eagerly=True)
    before = [w.copy() for w in model.get_weights()]
    model.train_on_batch(inputs, targets)
    return any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))


def _build(task, transfer, graphs_layer, glove_layer_factory):
    config = _config(task, transfer)
    builder = {"sst2": build_text_classifier, "nli": build_nli_model,
               "squad": build_squad_model}[task]
    return builder(config, graphs_layer, glove_layer_factory())


SCE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


@pytest.mark.parametrize("transfer", MODES)
def test_text_classifier(transfer, graphs_layer, glove_layer_factory):
    model = _build("sst2", transfer, graphs_layer, glove_layer_factory)
    logits = model({"text": TEXTS})
    assert logits.shape == (3, 2) and np.all(np.isfinite(logits.numpy()))
    assert _train_step(model, {"text": TEXTS}, np.array([1, 0, 1]), SCE)


@pytest.mark.parametrize("transfer", MODES)
def test_nli_model(transfer, graphs_layer, glove_layer_factory):
    model = _build("nli", transfer, graphs_layer, glove_layer_factory)
    inputs = {"premise": TEXTS, "hypothesis": TEXTS[::-1].copy()}
    assert model(inputs).shape == (3, 3)
    assert _train_step(model, inputs, np.array([0, 1, 2]), SCE)


@pytest.mark.parametrize("transfer", MODES)
def test_squad_model(transfer, graphs_layer, glove_layer_factory):
    model = _build("squad", transfer, graphs_layer, glove_layer_factory)
    inputs = {"context": np.array(["the cat sat on the mat .", "a dog ran"], dtype=object),
              "question": np.array(["who sat ?", "what ran ?"], dtype=object)}
    out = model(inputs)
    assert out["start"].shape == (2, 7) and out["end"].shape == (2, 7)
    assert np.all(out["start"].numpy()[1, 3:] <= -1e8)  # padded context positions
    targets = {"start": np.array([1, 1]), "end": np.array([1, 1])}
    assert _train_step(model, inputs, targets, {"start": SCE, "end": SCE})


def _graph_transfer_weights(model):
    layers = [layer for layer in model._flatten_layers() if isinstance(layer, GraphTransfer)]
    return sum(len(layer.weights) for layer in layers), \
        sum(int(np.prod(w.shape)) for layer in layers for w in layer.weights)


@pytest.mark.parametrize("task", ["sst2", "nli", "squad"])
def test_modes_differ_only_in_the_transfer_layer(task, graphs_layer, glove_layer_factory):
    models = {mode: _build(task, mode, graphs_layer, glove_layer_factory) for mode in MODES}
    tensors = {mode: len(m.weights) for mode, m in models.items()}
    params = {mode: m.count_params() for mode, m in models.items()}
    for mode in MODES[1:]:
        count, _ = _graph_transfer_weights(models[mode])
        assert count > 0
        assert tensors[mode] - tensors["none"] == count
    # uniform and embeddings both feed [H; g] to the BiGRU: parameters differ by the
    # GraphTransfer layers' alone (mixture weights and the wider gate input).
    diff = _graph_transfer_weights(models["embeddings"])[1] \
        - _graph_transfer_weights(models["uniform"])[1]
    assert params["embeddings"] - params["uniform"] == diff
    # The frozen parts (GloVe table, the module) are not trainable.
    none = models["none"]
    glove = [w for w in none.non_trainable_weights if "table" in w.path]
    assert glove and not any("table" in w.path for w in none.trainable_weights)
