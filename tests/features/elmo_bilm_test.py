import json
import math
import os
import tarfile
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from glomo_tf.features.elmo_bilm import (
    ElmoBiLM,
    LSTMCellWithProjection,
    sentences_to_character_ids,
    tokens_to_character_ids,
    word_to_character_ids,
)

TINY = dict(
    lstm_dim=6,
    projection_dim=3,
    num_layers=2,
    filters=[[1, 2], [2, 3]],
    char_embedding_dim=2,
    num_highway=1,
    max_characters_per_token=8,
)
# char embedding 1 + CNN 2x2 + highway 4 + token projection 2 + 4 cells x 3.
TINY_NUM_WEIGHTS = 1 + 4 + 4 + 2 + 12
SENTENCES = [["The", "cat", "sat", "."], ["Hi", "é!"], ["a"]]


def _run_layer_test(init_kwargs, character_ids, expected_shape, expected_weights):
    """Builds `ElmoBiLM(**init_kwargs)`, checks the output shapes and weight counts."""
    layer = ElmoBiLM(**init_kwargs)
    out = layer(character_ids)
    assert tuple(out["lm_embeddings"].shape) == expected_shape
    assert tuple(out["mask"].shape) == expected_shape[:1] + expected_shape[2:3]
    assert len(layer.weights) == expected_weights
    assert len(layer.trainable_weights) == expected_weights
    return layer, out


def _tiny_ids(sentences=SENTENCES):
    return sentences_to_character_ids(sentences, TINY["max_characters_per_token"])


# --- character ids -------------------------------------------------------


def test_word_to_character_ids_by_hand():
    # bytes + 1, between <bow> 258+1 and <eow> 259+1, padded with 260+1.
    assert word_to_character_ids("ab", 6).tolist() == [259, 98, 99, 260, 261, 261]
    # "é" is two UTF-8 bytes, 0xC3 0xA9.
    assert word_to_character_ids("é", 5).tolist() == [259, 196, 170, 260, 261]
    # Truncated to max - 2 bytes, end-of-word marker kept.
    assert word_to_character_ids("abcdef", 5).tolist() == [259, 98, 99, 100, 260]
    assert word_to_character_ids("<S>", 5).tolist() == [259, 257, 260, 261, 261]
    assert word_to_character_ids("</S>", 5).tolist() == [259, 258, 260, 261, 261]


def test_tensorflow_and_python_character_ids_agree():
    tokens = [["The", "cat", "<S>", "é!", "x" * 20], ["Hi", "</S>", "", "", ""]]
    expected = sentences_to_character_ids([tokens[0], tokens[1][:2]], 8)
    actual = tokens_to_character_ids(tf.constant(tokens), 8).numpy()
    np.testing.assert_array_equal(actual, expected)
    assert actual.dtype == np.int32


def test_character_id_errors():
    with pytest.raises(ValueError, match="list of token lists"):
        sentences_to_character_ids("The cat")
    with pytest.raises(ValueError, match="max_characters_per_token"):
        word_to_character_ids("a", 2)
    with pytest.raises(ValueError, match="string tensor"):
        tokens_to_character_ids(tf.constant([[1, 2]]))


# --- the cell ------------------------------------------------------------


def test_lstm_cell_with_projection_hand_set_weights():
    cell = LSTMCellWithProjection(1, projection_units=1, cell_clip=0.5, proj_clip=0.3)
    cell.build((None, 1))
    assert len(cell.weights) == 3
    # kernel rows: [x; h_prev], columns: gates i, j, f, o (TF1 order).
    cell.kernel.assign(np.array([[0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]], "float32"))
    cell.bias.assign(np.array([1.0, 0.0, -1.0, 0.0], "float32"))
    cell.projection_kernel.assign(np.array([[-2.0]], "float32"))
    x, h0, c0 = 0.25, 0.1, 0.2
    h, (h_state, c) = cell(np.array([[x]], "float32"), [np.array([[h0]], "float32"), np.array([[c0]], "float32")])
    sig = lambda v: 1.0 / (1.0 + math.exp(-v))  # noqa: E731
    c_expected = sig(-1.0 + 1.0) * c0 + sig(1.0) * math.tanh(2.0 * x)  # forget bias +1
    c_expected = min(max(c_expected, -0.5), 0.5)
    h_expected = -2.0 * sig(h0) * math.tanh(c_expected)
    h_expected = min(max(h_expected, -0.3), 0.3)
    np.testing.assert_allclose(c, [[c_expected]], atol=1e-6)
    np.testing.assert_allclose(h, [[h_expected]], atol=1e-6)
    np.testing.assert_allclose(h_state, h, atol=0)


# --- the biLM ------------------------------------------------------------


def test_tiny_bilm_shapes_weights_and_mask():
    ids = _tiny_ids()
    _, out = _run_layer_test(TINY, ids, (3, 3, 4, 6), TINY_NUM_WEIGHTS)
    np.testing.assert_array_equal(out["mask"], [[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]])
    emb = out["lm_embeddings"].numpy()
    assert np.all(emb[1, :, 2:] == 0) and np.all(emb[2, :, 1:] == 0)
    # Layer 0 is the token representation twice.
    np.testing.assert_allclose(emb[:, 0, :, :3], emb[:, 0, :, 3:])
    # No LSTM projection when projection_dim == lstm_dim; 4 + 7 + 4 * 2 weights.
    _run_layer_test(
        dict(TINY, lstm_dim=3, num_highway=0, filters=[[1, 3]]), ids, (3, 3, 4, 6), 1 + 2 + 8
    )


def test_a_sentence_does_not_depend_on_its_batch():
    bilm = ElmoBiLM(**TINY)
    batched = bilm(_tiny_ids())["lm_embeddings"].numpy()
    for b, sentence in enumerate(SENTENCES):
        alone = bilm(_tiny_ids([sentence]))["lm_embeddings"].numpy()[0]
        np.testing.assert_allclose(batched[b, :, : len(sentence)], alone, atol=1e-5)


def test_empty_sentences_are_well_defined():
    bilm = ElmoBiLM(**TINY)
    out = bilm(_tiny_ids([[], ["a", "b"]]))
    np.testing.assert_array_equal(out["mask"], [[False, False], [True, True]])
    assert np.all(out["lm_embeddings"].numpy()[0] == 0)
    assert tuple(bilm(_tiny_ids([[], []]))["lm_embeddings"].shape) == (2, 3, 0, 6)


def _hand_set_bilm(use_skip_connections):
    """A biLM whose every number can be followed by hand (see the test)."""
    bilm = ElmoBiLM(
        lstm_dim=1,
        projection_dim=1,
        num_layers=2,
        cell_clip=1.5,
        proj_clip=0.9,
        use_skip_connections=use_skip_connections,
        char_embedding_dim=1,
        filters=[[1, 1]],
        num_highway=0,
        max_characters_per_token=6,
    )
    bilm.build((None, None, 6))
    embedding = np.zeros((262, 1), "float32")
    embedding[ord("a") + 1, 0] = 1.0
    embedding[ord("b") + 1, 0] = 2.0
    bilm.char_embedding.assign(embedding)
    bilm.cnn_kernels[0].assign(np.ones((1, 1, 1), "float32"))
    bilm.cnn_biases[0].assign(np.zeros((1,), "float32"))
    # Gates i, f, o saturated open (bias 100): c_t = clip(c_{t-1} + tanh(x_t)),
    # h_t = clip(tanh(c_t)).
    for rnn in bilm.forward_rnns + bilm.backward_rnns:
        rnn.cell.kernel.assign(np.array([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]], "float32"))
        rnn.cell.bias.assign(np.array([100.0, 0.0, 100.0, 100.0], "float32"))
    return bilm


@pytest.mark.parametrize("use_skip_connections", [False, True])
def test_bilm_hand_set_weights(use_skip_connections):
    bilm = _hand_set_bilm(use_skip_connections)
    sentences = [["ab", "a", "c"], ["a"]]
    out = bilm(sentences_to_character_ids(sentences, 6))
    emb = out["lm_embeddings"].numpy()

    def lstm(xs):
        c, hs = 0.0, []
        for x in xs:
            c = min(max(c + math.tanh(x), -1.5), 1.5)
            hs.append(min(max(math.tanh(c), -0.9), 0.9))
        return hs

    for b, tokens in enumerate([[2.0, 1.0, 0.0], [1.0]]):
        # Token representation = max char embedding ("ab" -> 2, "a" -> 1, "c" -> 0);
        # <S> and </S> hold no "a"/"b", so they are 0 and add nothing.
        xs = [0.0] + tokens + [0.0]
        n = len(tokens)
        fw1 = lstm(xs)
        bw1 = lstm(xs[::-1])[::-1]
        fw2, bw2 = lstm(fw1), lstm(bw1[::-1])[::-1]
        if use_skip_connections:
            fw2 = [a + b for a, b in zip(fw2, fw1)]
            bw2 = [a + b for a, b in zip(bw2, bw1)]
        expected = np.array(
            [
                [[x, x] for x in xs[1:-1]],
                [[f, g] for f, g in zip(fw1[1:-1], bw1[1:-1])],
                [[f, g] for f, g in zip(fw2[1:-1], bw2[1:-1])],
            ]
        )
        np.testing.assert_allclose(emb[b, :, :n], expected, atol=1e-5)
        assert np.all(emb[b, :, n:] == 0)


def test_states_carry_over_when_passed():
    bilm = ElmoBiLM(**TINY)
    ids = _tiny_ids()
    zero = bilm.get_initial_states(3)
    first = bilm(ids, initial_states=zero, return_states=True)
    assert len(first["states"]) == 8
    assert [tuple(s.shape) for s in first["states"][:2]] == [(3, 3), (3, 6)]
    np.testing.assert_allclose(first["lm_embeddings"], bilm(ids)["lm_embeddings"], atol=1e-6)
    second = bilm(ids, initial_states=first["states"])
    assert not np.allclose(second["lm_embeddings"][:, 1:], first["lm_embeddings"][:, 1:])
    np.testing.assert_allclose(second["lm_embeddings"][:, 0], first["lm_embeddings"][:, 0])
    with pytest.raises(ValueError, match="8 tensors"):
        bilm(ids, initial_states=zero[:4])


def test_hdf5_round_trip_and_clear_errors(tmp_path):
    source = ElmoBiLM(**TINY)
    ids = _tiny_ids()
    expected = source(ids)["lm_embeddings"]
    weights = tmp_path / "lm_weights.hdf5"
    source.save_lm_weights(weights)
    with h5py.File(weights, "r") as f:
        assert f["char_embed"].shape == (261, 2)
        assert f["CNN/W_cnn_1"].shape == (1, 2, 2, 3)
        assert f["RNN_1/RNN/MultiRNNCell/Cell1/LSTMCell/W_P_0"].shape == (6, 3)
    restored = ElmoBiLM(**TINY)
    restored.load_lm_weights(weights)
    np.testing.assert_allclose(restored(ids)["lm_embeddings"], expected, atol=1e-6)

    with h5py.File(weights, "a") as f:
        del f["RNN_0/RNN/MultiRNNCell/Cell1/LSTMCell/B"]
    with pytest.raises(ValueError, match=r"RNN_0/RNN/MultiRNNCell/Cell1/LSTMCell/B"):
        ElmoBiLM(**TINY).load_lm_weights(weights)
    with pytest.raises(ValueError, match="CNN_high_0/W_carry"):
        source.save_lm_weights(weights)
        ElmoBiLM(**dict(TINY, num_highway=0)).load_lm_weights(weights)
    with pytest.raises(ValueError, match="char_embed"):
        ElmoBiLM(**dict(TINY, char_embedding_dim=3)).load_lm_weights(weights)
    with pytest.raises(FileNotFoundError, match="nowhere.hdf5"):
        ElmoBiLM(**TINY).load_lm_weights(tmp_path / "nowhere.hdf5")


def test_from_files_reads_options_and_freezes(tmp_path):
    options = {
        "lstm": {"cell_clip": 3, "use_skip_connections": True, "n_layers": 2, "proj_clip": 3,
                 "projection_dim": 3, "dim": 6},
        "char_cnn": {"embedding": {"dim": 2}, "filters": [[1, 2], [2, 3]], "n_highway": 1,
                     "n_characters": 261, "max_characters_per_token": 8, "activation": "relu"},
    }
    path = tmp_path / "options.json"
    path.write_text(json.dumps(options))
    source = ElmoBiLM(**TINY)
    source.save_lm_weights(tmp_path / "w.hdf5")
    bilm = ElmoBiLM.from_files(str(path), str(tmp_path / "w.hdf5"))
    assert bilm.num_characters == 262 and bilm.trainable_weights == []
    np.testing.assert_allclose(
        bilm(_tiny_ids())["lm_embeddings"], source(_tiny_ids())["lm_embeddings"], atol=1e-6
    )
    with pytest.raises(ValueError, match="'lstm'"):
        ElmoBiLM.from_options({"char_cnn": {}})
    with pytest.raises(FileNotFoundError, match="options"):
        ElmoBiLM.from_files(str(tmp_path / "missing_options.json"))


def test_keras_save_load_round_trip(tmp_path):
    inputs = keras.Input((None, 8), dtype="int32")
    bilm = ElmoBiLM(**TINY)
    model = keras.Model(inputs, bilm(inputs)["lm_embeddings"])
    ids = _tiny_ids()
    path = tmp_path / "bilm.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_allclose(restored(ids), model(ids), atol=1e-6)
    assert restored.layers[1].get_config()["filters"] == TINY["filters"]


def test_bad_configuration_and_input_raise_clear_errors():
    with pytest.raises(ValueError, match="max_characters_per_token"):
        ElmoBiLM(**dict(TINY, filters=[[9, 2]]))
    with pytest.raises(ValueError, match="activation"):
        ElmoBiLM(**dict(TINY, activation="gelu"))
    with pytest.raises(ValueError, match=r"\[B, T, 8\]"):
        ElmoBiLM(**TINY)(np.zeros((2, 3, 50), "int32"))


# --- the released fixtures -----------------------------------------------

_REPO_ROOT = Path(__file__).resolve().parents[2]
_FIXTURES = {
    # archive, folder inside it, sentences file
    "bilm-tf": ("bilm-tf_fixtures.tar.gz", "tests/fixtures/model", "lm_embeddings_sentences.json"),
    "allennlp": ("allennlp_fixtures.tar.gz", "test_fixtures/elmo", "sentences.json"),
}


def _data_dir():
    configured = os.environ.get("GLOMO_DATA_DIR", "").strip()
    return Path(configured) if configured else _REPO_ROOT.parent / "shared" / "data"


@pytest.mark.parametrize("fixture", sorted(_FIXTURES))
def test_matches_reference_lm_embeddings(fixture, tmp_path):
    """Both reference test suites: 10 batches of 3 sentences, sentence k of batch i
    being `sentences[k][i]`, LSTM states carried from batch to batch (both
    reference biLMs are stateful), top layer compared."""
    archive_name, folder, sentences_name = _FIXTURES[fixture]
    archive = _data_dir() / "elmo" / archive_name
    if not archive.is_file():
        pytest.skip(f"ELMo fixtures not found at {archive} (set GLOMO_DATA_DIR)")
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(tmp_path, filter="data")
        else:  # Python < 3.10.12 has no extraction filters.
            tar.extractall(tmp_path)
    root = tmp_path / folder
    sentences = json.loads((root / sentences_name).read_text())
    bilm = ElmoBiLM.from_files(str(root / "options.json"), str(root / "lm_weights.hdf5"))
    assert len(bilm.weights) == 33
    run = tf.function(
        lambda ids, states: bilm(ids, initial_states=states, return_states=True),
        reduce_retracing=True,
    )
    batches = [[sentences[k][i].split() for k in range(3)] for i in range(10)]
    # One padded length for all batches: one trace (padding changes nothing, see
    # test_a_sentence_does_not_depend_on_its_batch).
    steps = max(len(s) for batch in batches for s in batch)
    states = bilm.get_initial_states(3)
    worst = 0.0
    for i, batch in enumerate(batches):
        ids = sentences_to_character_ids(batch)
        ids = np.pad(ids, [(0, 0), (0, steps - ids.shape[1]), (0, 0)])
        out = run(ids, states)
        states = out["states"]
        lm = out["lm_embeddings"].numpy()
        assert out["mask"].numpy().sum(axis=1).tolist() == [len(s) for s in batch]
        for k in range(3):
            with h5py.File(root / f"lm_embeddings_{k}.hdf5", "r") as f:
                ref = f[str(i)][...]
            ref = np.concatenate([ref[0], ref[1]], axis=-1)
            worst = max(worst, float(np.abs(lm[k, 2, : len(batch[k])] - ref).max()))
    assert worst <= 1e-4, f"max abs difference {worst}"
