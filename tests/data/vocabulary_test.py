import collections
import os

import pytest

from glomo_tf.data.vocabulary import (
    build_vocabulary,
    count_tokens,
    load_vocabulary,
    save_vocabulary,
    vocabulary_from_counts,
)
from glomo_tf.data.word_tokenizer import GLoMoWordTokenizer

DOCS = ["b a c a", "The b a. 1999", "d c <unk>"]


def test_counts_use_the_tokenizer_split():
    counts = count_tokens(DOCS, progress=False, batch_size=2)
    assert counts == collections.Counter(
        {"a": 3, "b": 2, "c": 2, "the": 1, ".": 1, "N": 1, "d": 1, "<unk>": 1}
    )
    cased = count_tokens(DOCS, lowercase=False, replace_digits=False, progress=False)
    assert cased["The"] == 1 and cased["1999"] == 1


def test_top_n_with_alphabetical_ties_and_unk_first():
    vocab = build_vocabulary(DOCS, max_size=4, progress=False)
    # a:3, then b and c tie at 2 (alphabetical), then the count-1 tie: ".", "N", "d", "the".
    assert vocab == ["<unk>", "a", "b", "c", "."]
    assert build_vocabulary(DOCS, min_count=2, progress=False) == ["<unk>", "a", "b", "c"]
    full = build_vocabulary(DOCS, max_size=None, progress=False)
    assert full.count("<unk>") == 1 and len(full) == 8


def test_uses_a_given_tokenizer_and_ignores_its_truncation():
    tokenizer = GLoMoWordTokenizer(None, lowercase=False, max_length=1)
    vocab = build_vocabulary(["The The the"], tokenizer=tokenizer, progress=False)
    assert vocab == ["<unk>", "The", "the"]
    with pytest.raises(ValueError, match="not both"):
        build_vocabulary(DOCS, tokenizer=tokenizer, lowercase=True, progress=False)


def test_progress_bar_runs(capsys):
    build_vocabulary(iter(DOCS), progress=True, batch_size=1)
    assert "3" in capsys.readouterr().out


def test_empty_documents_raise():
    with pytest.raises(ValueError, match="vocabulary would only hold"):
        build_vocabulary(["", "  "], progress=False)
    with pytest.raises(ValueError, match="strings"):
        build_vocabulary([1, 2], progress=False)


def test_vocabulary_from_counts_validation():
    with pytest.raises(ValueError, match="max_size"):
        vocabulary_from_counts(collections.Counter(a=1), max_size=0)
    with pytest.raises(ValueError, match="min_count"):
        vocabulary_from_counts(collections.Counter(a=1), min_count=0)


def test_save_and_load_round_trip_atomic(tmp_path):
    path = tmp_path / "sub" / "vocab.txt"
    vocab = ["<unk>", "a", "straße", "N"]
    save_vocabulary(vocab, path)
    assert load_vocabulary(path) == vocab
    assert path.read_bytes() == "<unk>\na\nstraße\nN\n".encode("utf-8")
    # Overwrite in place; no temp file is left behind.
    save_vocabulary(["<unk>", "b"], path)
    assert load_vocabulary(path) == ["<unk>", "b"]
    assert os.listdir(path.parent) == ["vocab.txt"]


def test_failed_save_keeps_old_file(tmp_path):
    path = tmp_path / "vocab.txt"
    save_vocabulary(["<unk>", "a"], path)
    with pytest.raises(ValueError, match="one per line"):
        save_vocabulary(["<unk>", "a\nb"], path)
    with pytest.raises(ValueError, match="Index 0"):
        save_vocabulary(["a", "<unk>"], path)
    assert load_vocabulary(path) == ["<unk>", "a"]
    assert os.listdir(tmp_path) == ["vocab.txt"]


@pytest.mark.parametrize(
    "content,match",
    [
        (b"", "is empty"),
        (b"\n\n", "is empty"),
        (b"the\n<unk>\n", "Index 0"),
        (b"<unk>\na\na\n", "Duplicate"),
        (b"<unk>\n", "at least one word"),
        (b"<unk>\n\xff\n", "not valid UTF-8"),
    ],
)
def test_load_bad_files(tmp_path, content, match):
    path = tmp_path / "vocab.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        load_vocabulary(path)


def test_load_missing_and_crlf(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.txt"):
        load_vocabulary(tmp_path / "absent.txt")
    path = tmp_path / "crlf.txt"
    path.write_bytes(b"<unk>\r\na\r\n")
    assert load_vocabulary(path) == ["<unk>", "a"]
