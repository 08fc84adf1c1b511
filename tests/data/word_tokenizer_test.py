import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from glomo_tf.data.word_tokenizer import GLoMoWordTokenizer

VOCAB = ["<unk>", "the", "cat", "sat", "N", ".", ",", "'", "don", "t", "straße", "strasse"]


def ids_of(tokens):
    return [VOCAB.index(t) if t in VOCAB else 0 for t in tokens]


def run_layer_test(init_kwargs, inputs, expected_output_shape, expected_num_weights, tmp_path):
    """Builds the layer from kwargs, checks shape/weights, and a `.keras` round trip."""
    layer = GLoMoWordTokenizer(**init_kwargs)
    outputs = layer(inputs)
    assert tuple(np.shape(outputs)) == expected_output_shape
    assert len(layer.weights) == expected_num_weights

    restored = GLoMoWordTokenizer.from_config(layer.get_config())
    assert restored.get_config() == layer.get_config()

    text = keras.Input(shape=(), dtype="string")
    model = keras.Model(text, layer(text))
    path = os.path.join(tmp_path, "tokenizer.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(loaded.predict(tf.constant(inputs), verbose=0), outputs)
    loaded_layer = loaded.layers[-1]
    assert isinstance(loaded_layer, GLoMoWordTokenizer)
    assert loaded_layer.get_vocabulary() == layer.get_vocabulary()
    return layer


def test_layer_contract_and_keras_round_trip(tmp_path):
    run_layer_test(
        {"vocabulary": VOCAB, "sequence_length": 5},
        ["The cat sat.", "a cat"],
        expected_output_shape=(2, 5),
        expected_num_weights=0,
        tmp_path=tmp_path,
    )


def test_hand_computed_ids():
    tokenizer = GLoMoWordTokenizer(VOCAB, splitting="punctuation")
    text = "The CAT sat in 1999, 3.14 a4 don't."
    expected_tokens = ["the", "cat", "sat", "in", "N", ",", "N", "N", "don", "'", "t", "."]
    assert tokenizer.split([text]) == [expected_tokens]
    assert tokenizer([text]) == [ids_of(expected_tokens)]
    # Index 4 is "N", 0 is the unknown "in".
    assert tokenizer([text])[0][:5] == [1, 2, 3, 0, 4]


def test_options_digits_and_case_off():
    tokenizer = GLoMoWordTokenizer(VOCAB, lowercase=False, replace_digits=False)
    assert tokenizer.split(["The cat 1999s"]) == [["The", "cat", "1999s"]]
    assert tokenizer(["The cat"]) == [[0, 2]]


def test_literal_unk_and_N_survive_lowercasing():
    tokenizer = GLoMoWordTokenizer(VOCAB)
    assert tokenizer.split(["<unk> N cats"]) == [["<unk>", "N", "cats"]]
    assert tokenizer(["<unk> N cats"]) == [[0, 4, 0]]


def test_unicode_normalisation_and_casefold():
    tokenizer = GLoMoWordTokenizer(VOCAB)
    # NFKC case folding maps ß to ss; a decomposed é and a composed é become equal.
    assert tokenizer.split(["STRASSE Straße", "e\u0301 \u00e9"]) == [
        ["strasse", "strasse"],
        ["\u00e9", "\u00e9"],
    ]


def test_empty_whitespace_and_invalid_utf8():
    tokenizer = GLoMoWordTokenizer(VOCAB)
    assert tokenizer(["", "   \t\n", "\u200b"]) == [[], [], []]
    out = tokenizer.split([b"the \xff\xfe cat"])
    assert out == [["the", "\ufffd", "\ufffd", "cat"]]
    assert tokenizer([b"the \xff cat"]) == [[1, 0, 2]]


@pytest.mark.parametrize("space", ["\u0085", "\u00a0", "\u1680", "\u2028", "\u2029", "\u3000"])
def test_non_ascii_white_space_splits_on_whole_characters(space):
    # tf-text's WhitespaceTokenizer alone cut U+0085/U+1680/U+2028/U+2029 after their
    # first byte: "the\x85cat" gave b"the\xc2" (invalid UTF-8) + "cat".
    tokenizer = GLoMoWordTokenizer(VOCAB)
    out = tokenizer.split([f"the{space}cat {space}sat{space}"])
    assert out == [["the", "cat", "sat"]]
    assert tokenizer([f"the{space}cat"]) == [[1, 2]]


def test_scalar_input_and_dense_padding():
    tokenizer = GLoMoWordTokenizer(VOCAB, sequence_length=4)
    np.testing.assert_array_equal(tokenizer("the cat"), [1, 2, 0, 0])
    np.testing.assert_array_equal(
        tokenizer(["the cat sat . the", ""]), [[1, 2, 3, 5], [0, 0, 0, 0]]
    )
    packed = tokenizer.tokenize_with_padding_mask(["<unk> cat", "the"])
    np.testing.assert_array_equal(packed["token_ids"], [[0, 2, 0, 0], [1, 0, 0, 0]])
    np.testing.assert_array_equal(
        packed["padding_mask"], [[True, True, False, False], [True, False, False, False]]
    )


def test_max_length_keeps_first_tokens():
    tokenizer = GLoMoWordTokenizer(VOCAB, max_length=2)
    assert tokenizer(["the cat sat", "cat"]) == [[1, 2], [2]]
    assert tokenizer.split(["the cat sat"]) == [["the", "cat"]]


def test_detokenize_and_lookups():
    tokenizer = GLoMoWordTokenizer(VOCAB)
    assert tokenizer.detokenize([[1, 2, 3], [4]]) == ["the cat sat", "N"]
    assert tokenizer.detokenize(tf.constant([1, 0])) == "the <unk>"
    assert tokenizer.vocabulary_size() == len(VOCAB)
    assert tokenizer.get_vocabulary() == VOCAB
    assert tokenizer.id_to_token(2) == "cat"
    assert tokenizer.token_to_id("cat") == 2
    assert tokenizer.token_to_id("dog") == 0
    with pytest.raises(ValueError, match="must be in"):
        tokenizer.id_to_token(len(VOCAB))


def test_tf_function_and_tf_data():
    tokenizer = GLoMoWordTokenizer(VOCAB)

    @tf.function
    def encode(texts):
        return tokenizer(texts)

    out = encode(tf.constant(["the cat", "sat ."]))
    assert isinstance(out, tf.RaggedTensor)
    assert out.to_list() == [[1, 2], [3, 5]]
    dataset = tf.data.Dataset.from_tensor_slices(["the cat", "dog"]).batch(2).map(tokenizer)
    assert next(iter(dataset)).to_list() == [[1, 2], [0]]
    dataset = tf.data.Dataset.from_tensor_slices(["The cat"]).batch(1).map(tokenizer.split)
    assert next(iter(dataset)).to_list() == [[b"the", b"cat"]]


def test_saved_model_export(tmp_path):
    tokenizer = GLoMoWordTokenizer(VOCAB)
    module = tf.Module()
    module.tokenizer = tokenizer
    module.encode = tf.function(
        lambda texts: {
            "ids": tokenizer.tokenize(texts).to_tensor(),
            "tokens": tokenizer.split(texts).to_tensor(),
        },
        input_signature=[tf.TensorSpec([None], tf.string)],
    )
    path = str(tmp_path / "saved")
    tf.saved_model.save(module, path)
    reloaded = tf.saved_model.load(path)
    out = reloaded.encode(tf.constant(["The cat sat", "dog"]))
    np.testing.assert_array_equal(out["ids"], [[1, 2, 3], [0, 0, 0]])
    assert out["tokens"].numpy()[0].tolist() == [b"the", b"cat", b"sat"]


def test_vocabulary_file_and_assets(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("".join(t + "\n" for t in VOCAB), encoding="utf-8")
    tokenizer = GLoMoWordTokenizer(str(path))
    assert tokenizer.get_vocabulary() == VOCAB
    assets = tmp_path / "assets"
    assets.mkdir()
    tokenizer.save_assets(str(assets))
    restored = GLoMoWordTokenizer.from_config(tokenizer.get_config())
    with pytest.raises(ValueError, match="no vocabulary"):
        restored(["the"])
    restored.load_assets(str(assets))
    assert restored(["the cat"]) == [[1, 2]]


@pytest.mark.parametrize(
    "vocabulary,match",
    [
        (["the", "<unk>"], "Index 0"),
        (["<unk>", "a", "a"], "Duplicate"),
        (["<unk>"], "at least one word"),
        ([], "at least one word"),
    ],
)
def test_bad_vocabulary(vocabulary, match):
    with pytest.raises(ValueError, match=match):
        GLoMoWordTokenizer(vocabulary)


def test_bad_arguments():
    with pytest.raises(ValueError, match="sequence_length"):
        GLoMoWordTokenizer(VOCAB, sequence_length=0)
    with pytest.raises(ValueError, match="normalization_form"):
        GLoMoWordTokenizer(VOCAB, normalization_form="NFX")
    with pytest.raises(ValueError, match="integer dtype"):
        GLoMoWordTokenizer(VOCAB, dtype="float32")
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        GLoMoWordTokenizer("missing.txt")


@pytest.mark.parametrize("text, words", [
    ("I don't know.", ["i", "do", "n't", "know", "."]),
    ("It's what we're, they'll, I'd, I'm, you've", ["it", "'s", "what", "we", "'re", ",",
     "they", "'ll", ",", "i", "'d", ",", "i", "'m", ",", "you", "'ve"]),
    ("can’t", ["ca", "n’t"]),
    ("Jennifer M. Anderson of the U.S. e.g., Mr. Smith Inc.",
     ["jennifer", "m.", "anderson", "of", "the", "u.s.", "e.g.", ",", "mr.", "smith", "inc."]),
    ("the end.", ["the", "end", "."]),
    ("a day -- well... wow!! ?! :)", ["a", "day", "--", "well", "...", "wow", "!!", "?!", ":)"]),
    ("1,000 and 3.5 at 10:30", ["N", "and", "N", "at", "N"]),
    ("see http://www.example.com/a?b=c. or mail jo.doe@mail.example.org",
     ["see", "http://www.example.com/a?b=c", ".", "or", "mail", "jo.doe@mail.example.org"]),
    ("a 15-year term (sic)", ["a", "N", "-", "year", "term", "(", "sic", ")"]),
    ("resume.doc", ["resume.doc"]),
])
def test_english_splitting_follows_ud_conventions(text, words):
    assert GLoMoWordTokenizer(replace_digits=True).split(text) == words


def test_whitespace_splitting_keeps_pretokenized_words():
    tokenizer = GLoMoWordTokenizer(splitting="whitespace")
    assert tokenizer.split(["do n't @-@ <unk> U.S.\u2028x"]) == [["do", "n't", "@-@", "<unk>", "u.s.", "x"]]


def test_offsets_point_into_the_raw_text():
    tokenizer = GLoMoWordTokenizer(lowercase=True)
    text = "Ｉ don't\u00a0see U.S. ﬁne."
    words, starts, ends = tokenizer.split_with_offsets(text)
    raw = text.encode("utf-8")
    pieces = [raw[s:e].decode("utf-8") for s, e in zip(starts.numpy(), ends.numpy())]
    assert pieces == ["Ｉ", "do", "n't", "see", "U.S.", "ﬁne", "."]
    assert words == ["i", "do", "n't", "see", "u.s.", "fine", "."]


@pytest.mark.parametrize("splitting", ["english", "punctuation"])
def test_one_long_run_of_words_beside_many_pieces_stays_small(splitting):
    # A piece of 100,000 emoji (100,000 words) next to a text of 50,000 pieces: the offsets
    # must not go through a dense [pieces, words per piece] tensor (40 GB here).
    tokenizer = GLoMoWordTokenizer(splitting=splitting)
    texts = ["😀" * 100_000, "猫 " * 50_000 + "the end"]
    words, starts, ends = tokenizer.split_with_offsets(texts)
    assert [len(row) for row in words] == [100_000, 50_002]
    assert int(starts[1][-1]) == len(("猫 " * 50_000 + "the ").encode("utf-8"))
    assert int(ends[0][-1]) == len(texts[0].encode("utf-8"))


def test_config_without_splitting_means_the_legacy_rule():
    config = GLoMoWordTokenizer(VOCAB).get_config()
    assert config["splitting"] == "english"
    del config["splitting"]
    legacy = GLoMoWordTokenizer.from_config({**config, "vocabulary": VOCAB})
    assert legacy.splitting == "punctuation"
    assert legacy.split("don't") == ["don", "'", "t"]
    with pytest.raises(ValueError, match="splitting"):
        GLoMoWordTokenizer(splitting="spaces")


def test_normalize_tokens_keeps_shape():
    tokenizer = GLoMoWordTokenizer()
    out = tokenizer.normalize_tokens(tf.constant([["The", "1990s"], ["N", ""]]))
    assert out.numpy().tolist() == [[b"the", b"N"], [b"N", b""]]
