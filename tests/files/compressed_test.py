"""`open_binary` / `open_text`: one opener for plain, .xz, .gz, .bz2 and .zip files."""

import bz2
import gzip
import lzma
import zipfile

import pytest

from glomo_tf.files.compressed import open_binary, open_text, strip_compression

TEXT = "première ligne\r\nsecond line\n"


@pytest.fixture
def variants(tmp_path):
    data = TEXT.encode("utf-8")
    paths = {"plain": tmp_path / "a.txt"}
    paths["plain"].write_bytes(data)
    for name, compress in (("a.txt.xz", lzma.compress), ("a.txt.gz", gzip.compress),
                           ("a.txt.bz2", bz2.compress), ("A.TXT.GZ", gzip.compress)):
        paths[name] = tmp_path / name
        paths[name].write_bytes(compress(data))
    paths["zip"] = tmp_path / "a.zip"
    with zipfile.ZipFile(paths["zip"], "w") as archive:
        archive.writestr("README", "not this one")
        archive.writestr("glove/a.txt", data)
    return paths


def test_every_variant_reads_the_same_bytes_and_text(variants):
    for path in variants.values():
        with open_binary(path) as f:
            assert f.read() == TEXT.encode("utf-8"), path
        with open_text(path) as f:
            assert f.read() == TEXT, path  # newline="" keeps \r\n
        with open_text(path, newline=None) as f:
            assert f.read().splitlines() == ["première ligne", "second line"]


def test_bad_bytes_strict_or_replaced(tmp_path):
    path = tmp_path / "bad.txt.gz"
    path.write_bytes(gzip.compress(b"ok \xff\n"))
    with open_text(path, errors="replace") as f:
        assert f.read() == "ok \ufffd\n"
    with open_text(path) as f, pytest.raises(UnicodeDecodeError):
        f.read()


def test_missing_file_and_zip_without_text(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.txt"):
        open_binary(tmp_path / "absent.txt")
    with pytest.raises(FileNotFoundError):
        open_text(tmp_path)  # a directory is no file
    archive = tmp_path / "images.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a.png", b"1")
        z.writestr("b.png", b"2")
    with pytest.raises(ValueError, match="no .txt member"):
        open_binary(archive)


def test_strip_compression():
    assert strip_compression("wiki.train.tokens.xz") == "wiki.train.tokens"
    assert strip_compression("A.TXT.GZ") == "A.TXT"
    assert strip_compression("plain.txt") == "plain.txt"
