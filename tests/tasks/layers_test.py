"""The task layers: shapes, weight counts, `.keras` round trips, hand-computed outputs."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from glomo_tf.tasks.character_cnn import CharacterCNN
from glomo_tf.tasks.masked_pooling import MaskedPooling
from glomo_tf.tasks.soft_alignment import SoftAlignment
from glomo_tf.tasks.transfer_encoder import TransferEncoder
from glomo_tf.tasks.trilinear_attention import TrilinearAttention
from tests.layer_test_case import run_layer_test

RNG = np.random.default_rng(0)
X = RNG.normal(size=(2, 4, 3)).astype("float32")
Q = RNG.normal(size=(2, 3, 3)).astype("float32")


def test_masked_pooling(tmp_path):
    run_layer_test(MaskedPooling, {}, X, (2, 6), 0, tmp_path=tmp_path)
    mask = np.array([[1, 1, 0, 0], [0, 0, 0, 0]])
    out = MaskedPooling()(X, mask=mask).numpy()
    np.testing.assert_allclose(out[0, :3], X[0, :2].mean(0), rtol=1e-6)
    np.testing.assert_allclose(out[0, 3:], X[0, :2].max(0), rtol=1e-6)
    np.testing.assert_array_equal(out[1], 0.0)  # an empty sequence pools to zeros


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_soft_alignment_by_hand():
    a, b = X[:1], Q[:1]
    b_mask = np.array([[1, 1, 0]])
    m_a, m_b = SoftAlignment()(a, b, np.ones((1, 4)), b_mask)
    scores = a[0] @ b[0].T
    aligned = _softmax(scores[:, :2]) @ b[0, :2]
    expected = np.concatenate([a[0], aligned, a[0] - aligned, a[0] * aligned], -1)
    np.testing.assert_allclose(m_a.numpy()[0], expected, rtol=1e-5, atol=1e-6)
    assert m_b.shape == (1, 3, 12)
    np.testing.assert_array_equal(m_b.numpy()[0, 2], 0.0)


def test_trilinear_bi_attention(tmp_path):
    layer, _ = run_layer_test(TrilinearAttention, {}, (X, Q), (2, 4, 12), 3, tmp_path=tmp_path)
    w_c, w_q, w_cq = (RNG.normal(size=3).astype("float32") for _ in range(3))
    layer = TrilinearAttention()
    layer(X, Q)
    layer.set_weights([w_c, w_q, w_cq])
    out = layer(X, Q).numpy()[0]
    c, q = X[0], Q[0]
    s = (c @ w_c)[:, None] + (q @ w_q)[None, :] + (c * w_cq) @ q.T
    a = _softmax(s) @ q
    b = _softmax(s.max(1)) @ c
    expected = np.concatenate([c, a, c * a, c * b[None]], -1)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_trilinear_self_attention_masks_the_diagonal(tmp_path):
    run_layer_test(TrilinearAttention, {"self_attention": True}, X, (2, 4, 9), 3,
                   tmp_path=tmp_path)
    layer = TrilinearAttention(self_attention=True)
    layer(X)
    w = [np.zeros(3, "float32")] * 3
    layer.set_weights(w)  # all scores 0: uniform over the other real tokens
    mask = np.array([[1, 1, 1, 0], [1, 1, 1, 1]])
    out = layer(X, context_mask=mask).numpy()
    np.testing.assert_allclose(out[0, 0, 3:6], X[0, 1:3].mean(0), rtol=1e-5)
    np.testing.assert_array_equal(out[0, 3], 0.0)


def test_character_cnn(tmp_path):
    tokens = tf.constant([["the", "cat", ""], ["a", "", ""]])
    layer = CharacterCNN(char_dim=2, filters=3, width=2, max_chars=6)
    out = layer(tokens)
    assert out.shape == (2, 3, 3) and len(layer.trainable_weights) == 3
    np.testing.assert_array_equal(out.numpy()[:, 2], 0.0)
    # Hand-set: embeddings = id, kernel sums two chars -> max over windows of id pairs.
    emb = np.repeat(np.arange(262, dtype="float32")[:, None], 2, axis=1) / 100
    kernel = np.zeros((2, 2, 3), "float32")
    kernel[:, 0, 0] = 1.0
    layer.set_weights([emb, kernel, np.zeros(3, "float32")])
    ids = [259, ord("a") + 1, 260, 261, 261, 261]  # <bow> a <eow> pad ...
    expected = max(ids[k] + ids[k + 1] for k in range(5)) / 100
    np.testing.assert_allclose(layer(tokens).numpy()[1, 0, 0], expected, rtol=1e-6)
    clone = CharacterCNN.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="max_chars"):
        CharacterCNN(width=5, max_chars=4)


GRAPHS = np.tril(np.ones((4, 4), "float32"), -1)
GRAPHS = GRAPHS / np.maximum(GRAPHS.sum(-1, keepdims=True), 1)
GRAPHS = np.broadcast_to(GRAPHS, (2, 2, 2, 2, 4, 4)).copy()


@pytest.mark.parametrize("transfer, width, weights", [
    ("none", 8, 6), ("uniform", 8, 10), ("embeddings", 8, 19), ("rnn", 16, 19)])
def test_transfer_encoder_shapes_and_weights(transfer, width, weights, tmp_path):
    run_layer_test(TransferEncoder, {"hidden_dim": 4, "transfer": transfer}, (X, GRAPHS),
                   (2, 4, width), weights, tmp_path=tmp_path if transfer == "rnn" else None)


def test_transfer_encoder_is_a_bigru_plus_graph_transfer():
    """Feature-only equals a plain BiGRU with the same weights; GLoMo adds GraphTransfer."""
    plain = TransferEncoder(hidden_dim=4, transfer="none")
    glomo = TransferEncoder(hidden_dim=4, transfer="embeddings")
    mask = np.array([[1, 1, 1, 0], [1, 1, 1, 1]])
    out_plain = plain(X, mask=mask).numpy()
    reference = keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True))
    reference(X)
    reference.set_weights(plain.rnn.get_weights())
    expected = reference(X, mask=mask.astype(bool)).numpy() * mask[..., None]
    np.testing.assert_allclose(out_plain, expected, atol=1e-6)
    out_glomo = glomo(X, graphs=GRAPHS, mask=mask).numpy()
    transferred = glomo.graph_transfer(X, graphs=GRAPHS, mask=mask)
    expected = glomo.rnn(transferred, mask=mask.astype(bool)).numpy() * mask[..., None]
    np.testing.assert_allclose(out_glomo, expected, atol=1e-6)
    with pytest.raises(ValueError, match="needs `graphs`"):
        TransferEncoder(hidden_dim=4, transfer="embeddings")(X)
    with pytest.raises(ValueError, match="unknown transfer"):
        TransferEncoder(hidden_dim=4, transfer="graphs")
