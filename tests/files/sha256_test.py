"""`sha256_of`: the SHA-256 of a file, whatever its size."""

import hashlib

from glomo_tf.files.sha256 import sha256_of


def test_matches_hashlib_on_empty_small_and_multi_block_files(tmp_path):
    for size in (0, 5, 3 * 2**20 + 7):
        path = tmp_path / f"f{size}"
        data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
        path.write_bytes(data)
        assert sha256_of(path) == hashlib.sha256(data).hexdigest()
        assert sha256_of(str(path)) == sha256_of(path)
