import lzma

import pytest

from glomo_tf.datasets.sst2 import load_sst2


def _write(tmp_path, name, text):
    path = tmp_path / name
    if name.endswith(".xz"):
        path.write_bytes(lzma.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def test_dev_from_xz_folder(tmp_path):
    _write(tmp_path, "dev.tsv.xz", "sentence\tlabel\ngood film \t1\nbad\t0\nbroken row\nodd\t2\n\t1\n")
    split = load_sst2("validation", path=tmp_path)
    assert split.sentences == ["good film ", "bad"]
    assert split.labels.tolist() == [1, 0] and str(split.labels.dtype) == "int32"
    assert split.skipped == {"wrong_field_count": 1, "bad_label": 1, "empty": 1}


def test_test_split_unlabelled(tmp_path):
    path = _write(tmp_path, "test.tsv", "index\tsentence\n0\tfine .\n1\tmeh .\n")
    split = load_sst2("test", path=path)
    assert split.sentences == ["fine .", "meh ."] and split.labels is None


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown SST-2 split"):
        load_sst2("dev2", path=tmp_path)
    with pytest.raises(FileNotFoundError, match="train.tsv"):
        load_sst2("train", path=tmp_path)
    path = _write(tmp_path, "train.tsv", "a\tb\n")
    with pytest.raises(ValueError, match="header"):
        load_sst2("train", path=path)
