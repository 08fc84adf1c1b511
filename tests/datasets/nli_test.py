import io
import json
import lzma
import tarfile

import pytest

from glomo_tf.datasets.nli import label_id, load_esnli, load_nli_jsonl, load_nli_protocol


def _jsonl(path, rows, xz=False):
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)
    if xz:
        path.write_bytes(lzma.compress(text.encode()))
    else:
        path.write_text(text)
    return path


GENERATIVE = [
    {"premise": "p0", "hypothesis": "h0", "label": "entailment"},
    {"premise": "p1", "hypothesis": "h1", "label": "neutral"},
    {"premise": "p2", "hypothesis": "h2", "label": "contradiction"},
    {"premise": "p3", "hypothesis": "h3", "label": "maybe"},
    {"premise": "p4", "hypothesis": "h4", "label": 7},
    {"premise": "p5", "hypothesis": "h5", "label": 2},
    "not json",
]


def test_generative_nli_jsonl(tmp_path):
    ex = load_nli_jsonl(_jsonl(tmp_path / "dev.jsonl.xz", GENERATIVE, xz=True))
    assert ex.premises == ["p0", "p1", "p2", "p5"] and ex.hypotheses[-1] == "h5"
    assert ex.labels.tolist() == [0, 1, 2, 2]
    assert ex.skipped == {"bad_label": 2, "malformed": 1}


def test_release_jsonl(tmp_path):
    rows = [
        {"sentence1": "A man.", "sentence2": "A person.", "gold_label": "entailment", "pairID": "1"},
        {"sentence1": "A dog.", "sentence2": "A cat.", "gold_label": "-", "pairID": "2"},
        {"sentence1": "A dog.", "sentence2": "An animal.", "gold_label": "neutral", "pairID": "3"},
    ]
    ex = load_nli_jsonl(_jsonl(tmp_path / "snli_1.0_dev.jsonl", rows))
    assert ex.premises == ["A man.", "A dog."] and ex.labels.tolist() == [0, 1]
    assert ex.skipped == {"no_gold_label": 1}


def _esnli_archive(path):
    files = {
        "s1.dev": "A b .\nC d .\n", "s2.dev": "E .\nF .\n", "labels.dev": "neutral\nentailment\n",
        "s1.test": "G .\nH .\nI .\n", "s2.test": "J .\nK .\nL .\n",
        "labels.test": "contradiction\nbogus\nentailment\n",
    }
    with tarfile.open(path, "w:xz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"dataset/eSNLI/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_esnli_archive_and_folder(tmp_path):
    archive = _esnli_archive(tmp_path / "esnli_tokenized_snli_dev_test.tar.xz")
    dev = load_esnli("dev", archive)
    assert dev.premises == ["A b .", "C d ."] and dev.labels.tolist() == [1, 0]
    test = load_esnli("test", tmp_path)
    assert test.labels.tolist() == [2, 0] and test.skipped == {"bad_label": 1}
    folder = tmp_path / "plain" / "eSNLI"
    folder.mkdir(parents=True)
    for name, text in (("s1.dev", "x\n"), ("s2.dev", "y\n"), ("labels.dev", "neutral\n")):
        (folder / name).write_text(text)
    assert load_esnli("dev", tmp_path / "plain").hypotheses == ["y"]
    (folder / "s2.dev").write_text("y\nz\n")
    with pytest.raises(ValueError, match="disagree in length"):
        load_esnli("dev", tmp_path / "plain")


def test_reduced_protocol(tmp_path):
    (tmp_path / "snli").mkdir()
    (tmp_path / "mnli").mkdir()
    _esnli_archive(tmp_path / "snli" / "esnli_tokenized_snli_dev_test.tar.xz")
    _jsonl(tmp_path / "mnli" / "mnli_dev_matched.generative-nli.jsonl.xz", GENERATIVE[:3] + GENERATIVE[5:6], xz=True)
    splits = load_nli_protocol("reduced-v1", root=tmp_path)
    assert len(splits["train"]) == 4 and splits["train"].labels.tolist() == [1, 0, 2, 0]
    assert splits["validation"].premises == ["p0", "p1"]
    assert splits["test"].premises == ["p2", "p5"]


def test_paper_protocol_names_missing_files(tmp_path):
    (tmp_path / "mnli").mkdir()
    _jsonl(tmp_path / "mnli" / "multinli_1.0_train.jsonl", GENERATIVE[:1])
    with pytest.raises(FileNotFoundError, match="multinli_1.0_dev_matched.jsonl.*dev_mismatched"):
        load_nli_protocol("paper", root=tmp_path)
    for split in ("dev_matched", "dev_mismatched"):
        _jsonl(tmp_path / "mnli" / f"multinli_1.0_{split}.jsonl", GENERATIVE[1:2])
    splits = load_nli_protocol("paper", root=tmp_path)
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [1, 1, 1]
    with pytest.raises(ValueError, match="unknown NLI protocol"):
        load_nli_protocol("full", root=tmp_path)


def test_label_id():
    assert [label_id(x) for x in ("Entailment", "neutral ", 2, 3, True, None)] == [0, 1, 2, None, None, None]
