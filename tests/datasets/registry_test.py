import hashlib
import io
import zipfile

import pytest

from glomo_tf.datasets import registry
from glomo_tf.datasets.registry import REGISTRY, DataFile, DataSetEntry, Upstream, fetch


def test_registry_covers_the_staged_data():
    names = set(REGISTRY)
    assert {"imdb", "imdb-unsup", "ptb", "wikitext-2", "wikipedia", "squad-dev", "mnli-dev-matched",
            "snli-dev", "esnli", "sst2", "elmo-fixtures"} <= names
    for entry in REGISTRY.values():
        for f in entry.files:
            assert len(f.sha256) == 64 and not f.path.startswith("/")
    assert REGISTRY["squad-dev"].upstream[0].sha256.startswith("95aa6a52")
    assert REGISTRY["imdb"].upstream[0].sha256.startswith("c40f74a1")


def test_unknown_name():
    with pytest.raises(ValueError, match="unknown data set 'nope'"):
        fetch("nope")


def _install(monkeypatch, entry):
    monkeypatch.setitem(REGISTRY, entry.name, entry)


def test_present_file_returned_and_verified(monkeypatch, tmp_path):
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "a.txt").write_bytes(b"data")
    good = hashlib.sha256(b"data").hexdigest()
    _install(monkeypatch, DataSetEntry("toy", "toy", "toy", (DataFile("toy/a.txt", good),)))
    assert fetch("toy", root=tmp_path, verify=True) == tmp_path / "toy"
    _install(monkeypatch, DataSetEntry("toy", "toy", "toy", (DataFile("toy/a.txt", "1" * 64),)))
    assert fetch("toy", root=tmp_path) == tmp_path / "toy"  # lazy: not hashed
    with pytest.raises(ValueError, match="SHA-256 mismatch"):
        fetch("toy", root=tmp_path, verify=True)


def test_missing_without_upstream(monkeypatch, tmp_path):
    _install(monkeypatch, DataSetEntry("toy", "toy", "toy", (DataFile("toy/a.txt", "1" * 64),)))
    with pytest.raises(FileNotFoundError, match="no download URL"):
        fetch("toy", root=tmp_path)


def test_downloads_and_extracts_zip(monkeypatch, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("SST-2/dev.tsv", "sentence\tlabel\ngood .\t1\n")
    src = tmp_path / "SST-2.zip"
    src.write_bytes(buf.getvalue())
    up = Upstream(src.as_uri(), hashlib.sha256(buf.getvalue()).hexdigest(), "toy/SST-2.zip",
                  (("SST-2/dev.tsv", "toy/dev.tsv"),))
    _install(monkeypatch, DataSetEntry("toy", "toy", "toy", (DataFile("toy/dev.tsv.xz", "1" * 64),), (up,)))
    root = tmp_path / "data"
    assert fetch("toy", root=root, progress=False) == root / "toy"
    assert (root / "toy" / "dev.tsv").read_text().endswith("good .\t1\n")


def test_offline_error_names_the_data_set(monkeypatch, tmp_path):
    up = Upstream((tmp_path / "gone.json").as_uri(), None, "toy/x.json")
    _install(monkeypatch, DataSetEntry("toy", "toy", "toy", (), (up,)))
    with pytest.raises(ConnectionError, match="'toy' is not in"):
        fetch("toy", root=tmp_path, progress=False)
    assert registry.get_entry("toy").upstream == (up,)
