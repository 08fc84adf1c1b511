import hashlib

import pytest

from glomo_tf.datasets.download import download
from glomo_tf.files.sha256 import sha256_of


def _source(tmp_path, content=b"hello glomo\n" * 1000):
    src = tmp_path / "src.bin"
    src.write_bytes(content)
    return src, hashlib.sha256(content).hexdigest()


def test_good_checksum(tmp_path):
    src, digest = _source(tmp_path)
    dest = tmp_path / "out" / "copy.bin"
    assert download(src.as_uri(), dest, digest, progress=False) == dest
    assert dest.read_bytes() == src.read_bytes()
    assert sha256_of(dest) == digest
    assert sorted(p.name for p in dest.parent.iterdir()) == ["copy.bin"]


def test_bad_checksum_keeps_old_file(tmp_path):
    src, _ = _source(tmp_path)
    dest = tmp_path / "copy.bin"
    dest.write_bytes(b"old good file")
    with pytest.raises(ValueError, match="SHA-256 mismatch"):
        download(src.as_uri(), dest, "0" * 64, progress=False)
    assert dest.read_bytes() == b"old good file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.bin", "src.bin"]  # no temporary


def test_missing_source_is_connection_error(tmp_path):
    with pytest.raises(ConnectionError, match="could not download"):
        download((tmp_path / "absent").as_uri(), tmp_path / "x", None, progress=False)
    assert not (tmp_path / "x").exists()
    assert not list(tmp_path.iterdir())


def test_no_pinned_checksum_downloads(tmp_path):
    src, _ = _source(tmp_path, b"abc")
    dest = download(src.as_uri(), tmp_path / "d.bin", None, progress=False)
    assert dest.read_bytes() == b"abc"
