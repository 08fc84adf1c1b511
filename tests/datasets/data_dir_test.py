from pathlib import Path

import importlib

data_dir_module = importlib.import_module("glomo_tf.datasets.data_dir")
from glomo_tf.datasets.data_dir import data_dir


def test_env_var_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("GLOMO_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path


def test_shared_data_beside_repo(monkeypatch, tmp_path):
    monkeypatch.delenv("GLOMO_DATA_DIR", raising=False)
    repo = tmp_path / "main"
    (tmp_path / "shared" / "data").mkdir(parents=True)
    monkeypatch.setattr(data_dir_module, "_REPO_ROOT", repo)
    assert data_dir() == tmp_path / "shared" / "data"


def test_cache_fallback(monkeypatch, tmp_path):
    monkeypatch.setenv("GLOMO_DATA_DIR", "")
    monkeypatch.setattr(data_dir_module, "_REPO_ROOT", tmp_path / "main")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_dir() == Path(tmp_path / "home" / ".cache" / "glomo_tf" / "data")
