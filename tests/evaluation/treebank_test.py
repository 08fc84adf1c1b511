import gzip
import hashlib
import lzma

import pytest

from glomo_tf.datasets import registry
from glomo_tf.datasets.registry import REGISTRY, DataSetEntry, Upstream
from glomo_tf.evaluation import treebank
from glomo_tf.evaluation.treebank import (
    base_relation,
    fetch_ewt_dev,
    parse_conllu,
    read_conllu,
    split_halves,
)
from tests.evaluation import conllu_samples

ROW = "{i}\t{form}\t_\t_\t_\t_\t{head}\t{rel}\t_\t_\n"


def test_reads_integer_id_words_and_skips_multiword_tokens_and_empty_nodes():
    sentences = parse_conllu(conllu_samples.treebank())
    assert len(sentences) == 4
    s2 = sentences[1]
    assert s2.words == ("A", "big", "dog", "ran", ".")  # no "Abig", no empty node 3.1
    assert s2.heads == (3, 3, 4, 0, 4)
    assert s2.relations == ("det", "amod", "nsubj", "root", "punct")
    assert s2.sent_id == "s2" and s2.text == "A big dog ran ." and len(s2) == 5


@pytest.mark.parametrize("suffix", [".conllu", ".conllu.xz", ".conllu.gz"])
def test_reads_plain_and_compressed_files(tmp_path, suffix):
    data = conllu_samples.treebank().encode()
    path = tmp_path / f"tb{suffix}"
    path.write_bytes({".conllu": data, ".conllu.xz": lzma.compress(data),
                      ".conllu.gz": gzip.compress(data)}[suffix])
    sentences = read_conllu(path)
    assert [s.sent_id for s in sentences] == ["s1", "s2", "s3", "s4"]
    assert [s.sent_id for s in read_conllu(path, max_sentences=2)] == ["s1", "s2"]


def test_base_relation_and_halves():
    assert base_relation("nmod:poss") == "nmod" and base_relation("obj") == "obj"
    assert split_halves([1, 2, 3]) == ([1, 2], [3])
    assert split_halves([1, 2, 3, 4]) == ([1, 2], [3, 4])


def test_bad_files_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="treebank not found"):
        read_conllu(tmp_path / "missing.conllu")
    with pytest.raises(ValueError, match="is a directory"):
        read_conllu(tmp_path)
    corrupt = tmp_path / "corrupt.conllu.xz"
    corrupt.write_bytes(lzma.compress(conllu_samples.treebank().encode())[:60])
    with pytest.raises(ValueError, match="corrupt.conllu.xz"):
        read_conllu(corrupt)
    empty = tmp_path / "empty.conllu"
    empty.write_text("")
    with pytest.raises(ValueError, match="no CoNLL-U sentences"):
        read_conllu(empty)
    binary = tmp_path / "binary.conllu"
    binary.write_bytes(b"\xff\xfe\x00garbage\n")
    with pytest.raises(ValueError, match="binary.conllu"):
        read_conllu(binary)
    with pytest.raises(ValueError, match="max_sentences"):
        parse_conllu(conllu_samples.treebank(), max_sentences=0)


@pytest.mark.parametrize("rows, message", [
    ([("a", 5, "det"), ("b", 0, "root")], "has head 5"),
    ([("a", 1, "det"), ("b", 0, "root")], "has head 1"),
    ([("a", "_", "det"), ("b", 0, "root")], "has head None"),
    ([("a", 2, "_"), ("b", 0, "root")], "no dependency relation"),
])
def test_bad_trees_name_the_sentence_and_word(rows, message):
    text = "# sent_id = bad-1\n" + "".join(
        ROW.format(i=i, form=f, head=h, rel=r) for i, (f, h, r) in enumerate(rows, 1)) + "\n"
    with pytest.raises(ValueError, match=f"sentence 1 \\(sent_id bad-1\\).*{message}"):
        parse_conllu(text, source="x.conllu")
    skipped_id = ROW.format(i=1, form="a", head=0, rel="root") + ROW.format(
        i=3, form="b", head=1, rel="dep") + "\n"
    with pytest.raises(ValueError, match="ids must run 1..2"):
        parse_conllu(skipped_id)


def test_registry_pins_the_ud_release():
    entry = REGISTRY[treebank.EWT_DEV]
    assert entry.files[0].path == "ud_english_ewt/en_ewt-ud-dev.conllu.xz"
    (upstream,) = entry.upstream
    assert "UD_English-EWT/r2.16/en_ewt-ud-dev.conllu" in upstream.url
    assert upstream.sha256.startswith("531a54ff90d6ab12")


def test_fetch_ewt_dev_prefers_the_staged_copy_else_downloads_and_checks(monkeypatch,
                                                                         tmp_path):
    source = conllu_samples.write(tmp_path / "upstream.conllu")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    real = REGISTRY[treebank.EWT_DEV]

    def install(sha256):
        up = Upstream(source.as_uri(), sha256, real.upstream[0].save_as)
        monkeypatch.setitem(registry.REGISTRY, treebank.EWT_DEV,
                            DataSetEntry(real.name, real.folder, real.description,
                                         real.files, (up,)))

    install("0" * 64)
    with pytest.raises(ValueError, match="SHA-256 mismatch"):
        fetch_ewt_dev(root=tmp_path / "data", progress=False)
    assert not (tmp_path / "data" / "ud_english_ewt" / "en_ewt-ud-dev.conllu").exists()
    install(digest)
    path = fetch_ewt_dev(root=tmp_path / "data", progress=False)
    assert path == tmp_path / "data" / "ud_english_ewt" / "en_ewt-ud-dev.conllu"
    assert len(read_conllu(path)) == 4
    # A staged copy is used as it is (nothing downloaded).
    staged = tmp_path / "staged" / "ud_english_ewt"
    staged.mkdir(parents=True)
    conllu_samples.write(staged / "en_ewt-ud-dev.conllu.xz")
    assert fetch_ewt_dev(root=tmp_path / "staged") == staged / "en_ewt-ud-dev.conllu.xz"
    assert not (staged / "en_ewt-ud-dev.conllu").exists()


def test_the_staged_ewt_dev_file_reads_as_published():
    """The shared data's copy: 2,001 sentences, 25,147 words (its README). Like the other
    real-data tests (tests/datasets/real_data_test.py), skipped where it is not staged."""
    from glomo_tf.datasets.data_dir import data_dir

    path = data_dir() / treebank.EWT_DEV_FILE
    if not path.is_file():
        pytest.skip(f"real data not present: {path}")
    sentences = read_conllu(path)
    assert len(sentences) == 2001
    assert sum(len(s) for s in sentences) == 25147
