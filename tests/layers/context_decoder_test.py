import numpy as np
import pytest

from glomo_tf.layers.context_decoder import ContextDecoder
from tests.layer_test_case import run_layer_test
from tests.layers.feature_predictor_test import _numpy_gru


def test_layer_basics(tmp_path):
    run_layer_test(
        ContextDecoder,
        dict(context_length=3, num_layers=2),
        (np.random.rand(4, 6).astype("float32"), np.random.rand(4, 2, 6).astype("float32")),
        expected_output_shape=(4, 3, 6),
        expected_num_trainable_weights=6,
        tmp_path=tmp_path,
    )


def test_matches_numpy_reference():
    decoder = ContextDecoder(context_length=3, num_layers=2)
    rng = np.random.RandomState(0)
    f = rng.randn(5, 4).astype("float32")
    nxt = rng.randn(5, 2, 4).astype("float32")
    got = np.asarray(decoder(f, nxt))
    # Teacher forcing: inputs [0, E(x_{t+1}), E(x_{t+2})]; every layer starts from f.
    seq = np.concatenate([np.zeros((5, 1, 4)), nxt], axis=1)
    for gru in decoder.grus:
        h, outs = f.astype("float64"), []
        for step in range(3):
            h = _numpy_gru(gru.cell, seq[:, step], h)
            outs.append(h)
        seq = np.stack(outs, axis=1)
    np.testing.assert_allclose(got, seq, atol=1e-5)


def test_first_step_sees_only_the_feature():
    decoder = ContextDecoder(context_length=3)
    f = np.random.rand(2, 4).astype("float32")
    a = np.asarray(decoder(f, np.zeros((2, 2, 4), "float32")))
    b = np.asarray(decoder(f, np.ones((2, 2, 4), "float32")))
    np.testing.assert_allclose(a[:, 0], b[:, 0], atol=1e-6)
    assert not np.allclose(a[:, 1], b[:, 1])


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        ContextDecoder(context_length=0)
