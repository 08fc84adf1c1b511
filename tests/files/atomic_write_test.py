"""`atomic_write`: the target is the old file or the whole new one; no temporary is left."""

import json
import os

import pytest

from glomo_tf.files.atomic_write import (
    atomic_path,
    atomic_write,
    temporary_name,
    write_json,
    write_text,
)


def test_writes_text_bytes_and_json(tmp_path):
    path = tmp_path / "out.txt"
    write_text(path, "héllo\n")
    assert path.read_text(encoding="utf-8") == "héllo\n"
    with atomic_write(path, "wb") as f:
        f.write(b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    write_json(tmp_path / "m.json", {"b": 1, "a": [1.5]})
    text = (tmp_path / "m.json").read_text()
    assert json.loads(text) == {"a": [1.5], "b": 1} and text.endswith("\n")
    assert text.index('"a"') < text.index('"b"')
    assert sorted(os.listdir(tmp_path)) == ["m.json", "out.txt"]


def test_a_failing_write_keeps_the_old_file_and_leaves_nothing(tmp_path):
    path = tmp_path / "precious.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as f:
            f.write("half of the new")
            f.flush()
            raise RuntimeError("disk on fire")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["precious.txt"]


def test_temporary_names_are_hidden_distinct_and_beside_the_target(tmp_path):
    names = {temporary_name(tmp_path / "x.json") for _ in range(5)}
    assert len(names) == 5
    for name in names:
        assert os.path.dirname(name) == str(tmp_path)
        assert os.path.basename(name).startswith(".x.json.") and name.endswith(".tmp")


def test_append_or_read_modes_are_refused(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        with atomic_write(tmp_path / "x", "a"):
            pass


def test_atomic_path_for_writers_that_take_a_path(tmp_path):
    path = tmp_path / "best.weights.h5"
    path.write_bytes(b"old")
    with atomic_path(path, suffix=".weights.h5") as temp:
        assert temp.endswith(".weights.h5") and os.path.dirname(temp) == str(tmp_path)
        assert not os.path.exists(temp)
        with open(temp, "wb") as f:
            f.write(b"new")
    assert path.read_bytes() == b"new"
    with pytest.raises(RuntimeError):
        with atomic_path(path) as temp:
            with open(temp, "wb") as f:
                f.write(b"half")
            raise RuntimeError("writer failed")
    assert path.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["best.weights.h5"]
