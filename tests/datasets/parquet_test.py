import struct

import pytest

from glomo_tf.datasets.parquet import _decode_rle_bitpacked, read_string_column, snappy_decompress


def test_snappy_literal_and_overlapping_copy():
    # "abcabcabca": literal "abc" then a copy of length 7 at offset 3 (tag kind 1).
    block = bytes([10, (3 - 1) << 2]) + b"abc" + bytes([((7 - 4) << 2) | 1, 3])
    assert snappy_decompress(block) == b"abcabcabca"
    with pytest.raises(ValueError, match="corrupt Snappy"):
        snappy_decompress(bytes([5, (3 - 1) << 2]) + b"abc")


def test_rle_bitpacked_hybrid():
    # A run of 3 fives (header 3<<1, 1-byte value), then one bit-packed group of 8
    # 3-bit values 0..7 (header 1<<1|1, 3 bytes).
    packed = sum(v << (3 * i) for i, v in enumerate(range(8))).to_bytes(3, "little")
    buf = bytes([3 << 1, 5, (1 << 1) | 1]) + packed
    assert _decode_rle_bitpacked(buf, 3, 11).tolist() == [5, 5, 5, 0, 1, 2, 3, 4, 5, 6, 7]


def test_not_parquet(tmp_path):
    (tmp_path / "x.parquet").write_bytes(b"nope" + struct.pack("<I", 0))
    with pytest.raises(ValueError, match="not a Parquet file"):
        read_string_column(tmp_path / "x.parquet")
    with pytest.raises(FileNotFoundError):
        read_string_column(tmp_path / "absent.parquet")
