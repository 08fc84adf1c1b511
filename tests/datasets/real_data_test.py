"""Smoke tests on the staged data folder; each skips when its files are absent."""

import numpy as np
import pytest

from glomo_tf.datasets.data_dir import data_dir


def _need(*relpaths):
    root = data_dir()
    missing = [p for p in relpaths if not (root / p).is_file()]
    if missing:
        pytest.skip(f"real data not present under {root}: {missing}")
    return root


def test_sst2_dev():
    root = _need("sst2/dev.tsv.xz")
    from glomo_tf.datasets.sst2 import load_sst2

    dev = load_sst2("dev", root / "sst2")
    assert len(dev.sentences) == 872 and np.bincount(dev.labels).tolist() == [428, 444]


def test_mnli_dev_matched():
    root = _need("mnli/mnli_dev_matched.generative-nli.jsonl.xz")
    from glomo_tf.datasets.nli import load_nli_jsonl

    ex = load_nli_jsonl(root / "mnli/mnli_dev_matched.generative-nli.jsonl.xz")
    assert len(ex) == 9815 and np.bincount(ex.labels).tolist() == [3479, 3123, 3213]
    assert ex.premises[0] == "The new rights are nice enough"


def test_reduced_nli_protocol():
    root = _need("mnli/mnli_dev_matched.generative-nli.jsonl.xz", "snli/esnli_tokenized_snli_dev_test.tar.xz")
    from glomo_tf.datasets.nli import load_nli_protocol

    splits = load_nli_protocol("reduced-v1", root)
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [19666, 4907, 4908]


def test_squad_dev_and_reduced_split():
    root = _need("squad_v1.1/dev-v1.1.json.xz")
    from glomo_tf.datasets.squad import REDUCED_V1_TEST_TITLES, load_squad, load_squad_protocol

    dev = load_squad(root / "squad_v1.1")
    assert len(dev.examples) == 10570 and len(dev.data) == 48 and dev.skipped == {}
    splits = load_squad_protocol("reduced-v1", root)
    assert tuple(a["title"] for a in splits["test"].data) == tuple(
        t for t in (a["title"] for a in dev.data) if t in REDUCED_V1_TEST_TITLES
    )
    assert set(a["title"] for a in splits["test"].data) == set(REDUCED_V1_TEST_TITLES)
    assert (len(splits["train"].examples), len(splits["test"].examples)) == (8239, 2331)


def test_imdb_first_reviews():
    root = _need("imdb/aclImdb_labeled_train_test.tar.gz", "imdb/aclImdb_train_unsup.tar.gz")
    from glomo_tf.datasets.imdb import load_imdb

    train = load_imdb("train", root / "imdb", limit=3)
    assert len(train.texts) == 3 and set(train.labels.tolist()) <= {0, 1}
    assert all("<br" not in t for t in train.texts)
    unsup = load_imdb("unsup", root / "imdb", limit=2)
    assert unsup.labels.tolist() == [-1, -1]
