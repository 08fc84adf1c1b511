import io
import tarfile

import numpy as np
import pytest

from glomo_tf.datasets.imdb import clean_review, load_imdb

REVIEWS = {
    "aclImdb/train/pos/0_9.txt": "Great film.<br /><br />Loved it.",
    "aclImdb/train/pos/1_7.txt": "Good.",
    "aclImdb/train/neg/0_2.txt": "Bad<br/>film.",
    "aclImdb/train/neg/1_1.txt": "  <br />  ",  # empty after cleaning
    "aclImdb/train/unsup/0_0.txt": "Unlabelled.",
    "aclImdb/test/pos/0_10.txt": "Test pos.",
    "aclImdb/test/neg/0_3.txt": "Test neg.",
    "aclImdb/train/urls_pos.txt": "http://x\n",
    "aclImdb/README": "readme",
}


def _tarball(tmp_path, name="aclImdb_v1.tar.gz"):
    path = tmp_path / name
    with tarfile.open(path, "w:gz") as tar:
        for member, text in REVIEWS.items():
            data = text.encode()
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _folder(tmp_path):
    for member, text in REVIEWS.items():
        p = tmp_path / member
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp_path / "aclImdb"


@pytest.mark.parametrize("source", ["tarball", "tarball_folder", "extracted", "extracted_parent"])
def test_train_split(tmp_path, source):
    if source == "tarball":
        path = _tarball(tmp_path)
    elif source == "tarball_folder":
        _tarball(tmp_path)
        path = tmp_path
    elif source == "extracted":
        path = _folder(tmp_path)
    else:
        _folder(tmp_path)
        path = tmp_path
    split = load_imdb("train", path=path)
    assert split.texts == ["Bad film.", "Great film.  Loved it.", "Good."]
    np.testing.assert_array_equal(split.labels, [0, 1, 1])
    np.testing.assert_array_equal(split.ratings, [2, 9, 7])
    assert split.ids == [0, 0, 1]
    assert split.skipped == {"empty": 1}


def test_test_and_unsup_splits(tmp_path):
    path = _tarball(tmp_path)
    test = load_imdb("test", path=path)
    assert test.texts == ["Test neg.", "Test pos."] and test.labels.tolist() == [0, 1]
    unsup = load_imdb("unsup", path=path)
    assert unsup.texts == ["Unlabelled."] and unsup.labels.tolist() == [-1]


def test_limit_stops_early(tmp_path):
    split = load_imdb("train", path=_tarball(tmp_path), limit=1)
    assert split.texts == ["Great film.  Loved it."]


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="unknown IMDB split"):
        load_imdb("dev", path=tmp_path)
    with pytest.raises(FileNotFoundError, match="no IMDB data"):
        load_imdb("train", path=tmp_path)


def test_clean_review():
    assert clean_review("a<br />b<BR>c<br/>") == "a b c"
