"""Tests for `ElmoHubEmbedding` against small modules written here.

`tensorflow_hub` 0.16 no longer has the TF1 export API (`hub.create_module_spec`),
so the fake modules are written the way TF1 Hub modules are stored on disk: a TF1
SavedModel (graph mode, `tf.compat.v1.saved_model.Builder`, empty tag set, real
variables) plus the `tfhub_module.pb` marker, which makes `hub.load` take its TF1
path (`load_v1_in_v2`) exactly as for google/elmo/3.
"""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from glomo_tf.features.elmo_hub import ElmoHubEmbedding

VOCAB_BUCKETS, WORD_DIM = 7, 2
_RNG = np.random.default_rng(0)
TABLE = _RNG.normal(size=(VOCAB_BUCKETS, WORD_DIM)).astype("float32")
W1 = _RNG.normal(size=(WORD_DIM, 2 * WORD_DIM)).astype("float32")
W2 = _RNG.normal(size=(2 * WORD_DIM, 2 * WORD_DIM)).astype("float32")
TOKENS = [["the", "cat", "sat"], ["a", "dog", ""]]


def _write_fake_elmo_module(path, signature="tokens", drop_outputs=()):
    """A TF1-format Hub module with google/elmo/3's `tokens` signature layout."""
    graph = tf.Graph()
    with graph.as_default():
        tokens = tf.compat.v1.placeholder(tf.string, [None, None], name="tokens")
        sequence_len = tf.compat.v1.placeholder(tf.int32, [None], name="sequence_len")
        table = tf.compat.v1.get_variable("word_table", initializer=TABLE)
        w1 = tf.compat.v1.get_variable("w1", initializer=W1)
        w2 = tf.compat.v1.get_variable("w2", initializer=W2)
        mask = tf.sequence_mask(sequence_len, tf.shape(tokens)[1], dtype=tf.float32)[..., None]
        word = tf.gather(table, tf.strings.to_hash_bucket_fast(tokens, VOCAB_BUCKETS)) * mask
        lstm1 = tf.tanh(tf.einsum("btd,de->bte", word, w1)) * mask
        lstm2 = tf.tanh(tf.einsum("btd,de->bte", lstm1, w2)) * mask
        elmo = (tf.concat([word, word], -1) + lstm1 + lstm2) / 3.0
        outputs = {
            "word_emb": word,
            "lstm_outputs1": lstm1,
            "lstm_outputs2": lstm2,
            "elmo": elmo,
            "default": tf.reduce_mean(elmo, axis=1),
            "sequence_len": sequence_len,
        }
        info = tf.compat.v1.saved_model.utils.build_tensor_info
        signature_def = tf.compat.v1.saved_model.signature_def_utils.build_signature_def(
            inputs={"tokens": info(tokens), "sequence_len": info(sequence_len)},
            outputs={k: info(v) for k, v in outputs.items() if k not in drop_outputs},
            method_name="tensorflow/serving/predict",
        )
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            builder = tf.compat.v1.saved_model.Builder(str(path))
            builder.add_meta_graph_and_variables(sess, tags=[], signature_def_map={signature: signature_def})
            builder.save()
    # The ModuleDef proto {format: FORMAT_V3}: marks the folder as a TF1 Hub module.
    with open(os.path.join(path, "tfhub_module.pb"), "wb") as f:
        f.write(b"\x08\x03")
    return str(path)


@pytest.fixture(scope="module")
def module_path(tmp_path_factory):
    return _write_fake_elmo_module(tmp_path_factory.mktemp("hub") / "elmo")


def _expected_layers(tokens):
    """The fake module's three layers, computed outside the module."""
    tokens = np.array(tokens)
    mask = (tokens != "").astype("float32")[..., None]
    ids = tf.strings.to_hash_bucket_fast(tokens, VOCAB_BUCKETS).numpy()
    word = TABLE[ids] * mask
    lstm1 = np.tanh(word @ W1) * mask
    lstm2 = np.tanh(lstm1 @ W2) * mask
    return np.stack([np.concatenate([word, word], -1), lstm1, lstm2], axis=1)


def _run_layer_test(init_kwargs, tokens, expected_shape, expected_weights):
    """Builds `ElmoHubEmbedding(**init_kwargs)`, checks output shape and weight counts."""
    layer = ElmoHubEmbedding(**init_kwargs)
    out = layer(tf.constant(tokens))
    assert tuple(out.shape) == expected_shape
    assert len(layer.weights) == expected_weights
    assert len(layer.trainable_weights) == expected_weights
    return layer, out


def test_output_modes_shapes_and_weights(module_path):
    _run_layer_test({"handle": module_path}, TOKENS, (2, 3, 4), 2)
    _run_layer_test({"handle": module_path, "output_mode": "layers"}, TOKENS, (2, 3, 3, 4), 0)
    _run_layer_test({"handle": module_path, "output_mode": "elmo"}, TOKENS, (2, 3, 4), 0)


def test_layers_match_the_module_computation(module_path):
    layer = ElmoHubEmbedding(module_path, output_mode="layers")
    expected = _expected_layers(TOKENS)
    np.testing.assert_allclose(layer(tf.constant(TOKENS)), expected, atol=1e-5)
    # An explicit sequence_len shorter than the tokens masks the rest.
    short = layer(tf.constant(TOKENS), sequence_len=tf.constant([1, 2])).numpy()
    np.testing.assert_allclose(short[0, :, 0], expected[0, :, 0], atol=1e-5)
    assert np.all(short[0, :, 1:] == 0)
    elmo = ElmoHubEmbedding(module_path, output_mode="elmo")(tf.constant(TOKENS))
    np.testing.assert_allclose(elmo, expected.mean(axis=1), atol=1e-5)


def test_mix_with_hand_set_weights(module_path):
    layer = ElmoHubEmbedding(module_path)
    layer(tf.constant(TOKENS))
    layer.mix.layer_logits.assign([0.0, np.log(2.0), 0.0])  # softmax: 1/4, 1/2, 1/4
    layer.mix.scale.assign(3.0)
    expected = _expected_layers(TOKENS)
    expected = 3.0 * (0.25 * expected[:, 0] + 0.5 * expected[:, 1] + 0.25 * expected[:, 2])
    np.testing.assert_allclose(layer(tf.constant(TOKENS)), expected, atol=1e-5)


def test_gradients_reach_the_mix_only(module_path):
    layer = ElmoHubEmbedding(module_path)
    tokens = tf.constant(TOKENS)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(tokens) ** 2)
    grads = tape.gradient(loss, layer.trainable_variables)
    assert len(grads) == 2 and all(g is not None for g in grads)
    # The module's own variables are not this layer's weights.
    assert {v.path.split("/")[-1] for v in layer.weights} == {"layer_logits", "scale"}


def test_keras_save_load_round_trip(module_path, tmp_path):
    inputs = keras.Input((None,), dtype="string")
    layer = ElmoHubEmbedding(module_path)
    model = keras.Model(inputs, layer(inputs))
    layer.mix.layer_logits.assign([0.5, -0.5, 1.0])
    path = tmp_path / "elmo_hub.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    tokens = tf.constant(TOKENS)
    np.testing.assert_allclose(restored(tokens), model(tokens), atol=1e-6)
    config = restored.layers[-1].get_config()
    assert config["handle"] == module_path and config["output_mode"] == "mix"


def test_bad_modules_and_inputs_raise_clear_errors(module_path, tmp_path):
    no_tokens = _write_fake_elmo_module(tmp_path / "no_tokens", signature="default")
    with pytest.raises(ValueError, match="no signature 'tokens'"):
        ElmoHubEmbedding(no_tokens)
    no_elmo = _write_fake_elmo_module(tmp_path / "no_elmo", drop_outputs=("elmo",))
    with pytest.raises(ValueError, match=r"lacks the output\(s\) \['elmo'\]"):
        ElmoHubEmbedding(no_elmo)
    with pytest.raises(FileNotFoundError, match="no TF-Hub module"):
        ElmoHubEmbedding(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="output_mode"):
        ElmoHubEmbedding(module_path, output_mode="all")
    with pytest.raises(ValueError, match="strings"):
        ElmoHubEmbedding(module_path)(tf.constant([[1, 2]]))
