import io
import lzma
import os
import tarfile

import pytest

from glomo_tf.data.text_readers import CorpusReader, ReadStats, decode_utf8, iter_documents

WIKI_DOCS = (
    '<doc id="1" url="http://x/1" title="Alpha">\nAlpha\n\nAlpha is first.\nIt has two lines.\n</doc>\n'
    '<doc id="2" url="http://x/2" title="Beta">\nBeta\n\nBeta is second.\n</doc>\n'
)

WIKITEXT = (
    " \n = Homarus = \n \n Homarus is a lobster . \n \n = = Description = = \n \n"
    " It grows to 60 @,@ 000 cm @-@ long . \n \n = Second article = \n \n Text two . \n"
)


def _write(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _tar(path, members: dict, mode: str):
    with tarfile.open(path, mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_lines_and_paragraphs(tmp_path):
    path = _write(tmp_path / "c.txt", b"first doc\n\n  second doc  \nthird\n\n\nfourth\n")
    assert list(iter_documents(path, format="lines")) == ["first doc", "second doc", "third", "fourth"]
    assert list(iter_documents(path, format="paragraphs")) == [
        "first doc",
        "second doc\nthird",
        "fourth",
    ]
    assert list(iter_documents(path)) == list(iter_documents(path, format="lines"))


def test_wikiextractor_single_file_drops_title(tmp_path):
    path = _write(tmp_path / "wiki_00", WIKI_DOCS.encode())
    stats = ReadStats()
    docs = list(iter_documents(path, stats=stats))
    assert docs == ["Alpha is first.\nIt has two lines.", "Beta is second."]
    assert stats.documents == 2 and stats.files == 1 and stats.bytes == len(WIKI_DOCS.encode())


def test_wikiextractor_directory_tree_sorted(tmp_path):
    _write(tmp_path / "AB" / "wiki_00", WIKI_DOCS.replace("Alpha", "Gamma").encode())
    _write(tmp_path / "AA" / "wiki_01", WIKI_DOCS.encode())
    docs = list(iter_documents(tmp_path, format="wikiextractor"))
    assert docs[0].startswith("Alpha") and docs[2].startswith("Gamma") and len(docs) == 4


@pytest.mark.parametrize("suffix,mode", [(".tar.xz", "w:xz"), (".tar.gz", "w:gz")])
def test_wikiextractor_archive_streams_members(tmp_path, suffix, mode):
    archive = _tar(
        tmp_path / f"wiki{suffix}",
        {"text/AA/wiki_00": WIKI_DOCS.encode(), "text/AA/wiki_01": WIKI_DOCS.encode()},
        mode,
    )
    reader = CorpusReader(archive)
    assert len(list(reader)) == 4
    assert reader.stats.files == 2
    # Re-iterable: a second pass reads the archive again.
    assert list(reader)[1] == "Beta is second."
    assert not any(p.name.startswith("wiki_") for p in tmp_path.iterdir())


def test_wikitext_articles_headings_and_unescape(tmp_path):
    path = _write(tmp_path / "wiki.valid.tokens.xz", lzma.compress(WIKITEXT.encode()))
    docs = list(iter_documents(path))
    assert docs == [
        "Homarus is a lobster .\nDescription\nIt grows to 60,000 cm-long .",
        "Text two .",
    ]
    raw = list(iter_documents(path, wikitext_unescape=False))
    assert "60 @,@ 000" in raw[0]


def test_ptb_lines_are_sentences(tmp_path):
    path = _write(tmp_path / "ptb.valid.txt", b" the cat sat \n N dogs <unk> \n")
    assert list(iter_documents(path)) == ["the cat sat", "N dogs <unk>"]


def test_imdb_folder_and_tarball(tmp_path):
    reviews = {
        # The real tarballs start with the README: it must not be read as text.
        "aclImdb/README": b"Large Movie Review Dataset v1.0\n",
        "aclImdb/train/pos/0_9.txt": b"Great film.<br /><br />Loved it.",
        "aclImdb/train/neg/1_2.txt": b"Bad<br/>film.",
        "aclImdb/train/unsup/2_0.txt": b"Unlabelled review.",
        "aclImdb/train/urls_pos.txt": b"http://not-a-review\n",
        "aclImdb/imdb.vocab": b"the\nfilm\n",
    }
    for name, data in reviews.items():
        _write(tmp_path / "folder" / name, data)
    expected = {"Great film. Loved it.", "Bad film.", "Unlabelled review."}
    assert set(iter_documents(tmp_path / "folder")) == expected
    assert set(iter_documents(tmp_path / "folder" / "aclImdb" / "train")) == expected
    assert list(iter_documents(tmp_path / "folder", imdb_subsets=["train/unsup"])) == [
        "Unlabelled review."
    ]
    archive = _tar(tmp_path / "aclImdb_v1.tar.gz", reviews, "w:gz")
    assert set(iter_documents(archive)) == expected


def test_invalid_utf8_is_replaced_and_counted(tmp_path):
    # \xff and a truncated 3-byte sequence are invalid; the genuine U+FFFD is not counted.
    path = _write(tmp_path / "bad.txt", b"ok \xff text\nmore \xe2\x82 x \xef\xbf\xbd\n")
    stats = ReadStats()
    docs = list(iter_documents(path, stats=stats))
    assert docs == ["ok \ufffd text", "more \ufffd x \ufffd"]
    assert stats.replaced_characters == 2
    reader = CorpusReader(path)
    list(reader)
    assert reader.stats.replaced_characters == 2


def test_decode_utf8_counts_exactly():
    stats = ReadStats()
    assert decode_utf8(b"a\xc3\xa9\xe2\xef\xbf\xbd", stats) == "a\u00e9\ufffd\ufffd"
    assert stats.replaced_characters == 1 and stats.bytes == 7


def test_missing_path_names_it(tmp_path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        iter_documents(missing)


def test_empty_corpus_raises(tmp_path):
    path = _write(tmp_path / "empty.txt", b"\n   \n\n")
    with pytest.raises(ValueError, match="corpus .* is empty"):
        list(iter_documents(path))
    assert list(iter_documents(path, allow_empty=True)) == []
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(ValueError, match="is empty"):
        list(CorpusReader(tmp_path / "emptydir"))


def test_unknown_format():
    with pytest.raises(ValueError, match="Unknown format"):
        CorpusReader(os.getcwd(), format="xml")


def _data_dir():
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "..", "..", "shared", "data")
    return os.environ.get("GLOMO_DATA_DIR", default)


def test_real_wikitext2_valid():
    path = os.path.join(_data_dir(), "wikitext-2", "wiki.valid.tokens.xz")
    if not os.path.exists(path):
        pytest.skip(f"WikiText-2 valid not found at {path}")
    reader = CorpusReader(path)
    docs = list(reader)
    # 60 top-level `= Title =` lines in the published valid split.
    assert len(docs) == 60
    assert docs[0].startswith("Homarus gammarus , known as the European lobster")
    assert reader.stats.replaced_characters == 0
    assert reader.stats.bytes == 1_121_681
    assert sum(len(d.split()) for d in docs) > 190_000
