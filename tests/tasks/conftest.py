"""A tiny graph module and tiny on-disk data sets for the task tests (built once per session)."""

import json
import os

import numpy as np
import pytest

VOCABULARY = ["<unk>", "the", "a", "cat", "dog", "sat", "ran", "on", "mat", "good", "bad",
              "movie", "film", ".", ",", "N", "is", "was", "who", "what", "?"]
MAX_LENGTH = 48
GLOVE_WORDS = ["the", "a", "cat", "dog", "sat", "ran", "good", "bad", "movie", "film", ".",
               "is", "was", "who", "?", "n"]

POSITIVE = ["a good movie .", "the film is good", "good good film", "the cat is good ."]
NEGATIVE = ["a bad movie .", "the film was bad", "bad bad film", "the dog is bad ."]


@pytest.fixture(scope="session")
def graph_module_dir(tmp_path_factory):
    from glomo_tf.configs import GLoMoConfig
    from glomo_tf.data.word_tokenizer import GLoMoWordTokenizer
    from glomo_tf.export.graph_module import export_graph_module
    from glomo_tf.models.glomo_pretrainer import GLoMoPretrainer

    config = GLoMoConfig.tiny(vocabulary_size=len(VOCABULARY), hidden_dim=8, head_dim=4,
                              cnn_layers=1, sequence_length=8, num_sampled_positions=4)
    model = GLoMoPretrainer(config, seed=0)
    model.predict_graphs({"token_ids": np.ones((1, 4), "int32"),
                          "padding_mask": np.ones((1, 4), bool)})
    path = tmp_path_factory.mktemp("module") / "glomo"
    export_graph_module(model, GLoMoWordTokenizer(VOCABULARY), str(path), max_length=MAX_LENGTH)
    return str(path)


@pytest.fixture(scope="session")
def glove_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("glove") / "glove.tiny.txt"
    rng = np.random.default_rng(0)
    with open(path, "w", encoding="utf-8") as f:
        for word in GLOVE_WORDS:
            vector = rng.normal(size=6).round(4)
            if word == "good":
                vector[0] = 3.0
            if word == "bad":
                vector[0] = -3.0
            f.write(word + " " + " ".join(str(v) for v in vector) + "\n")
    return str(path)


def _write_tsv(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        f.write("sentence\tlabel\n")
        for sentence, label in rows:
            f.write(f"{sentence}\t{label}\n")


@pytest.fixture(scope="session")
def data_root(tmp_path_factory):
    """SST-2, IMDB, NLI and SQuAD in the staged layouts, a few examples each, with bad rows."""
    root = tmp_path_factory.mktemp("data")
    # SST-2: a bad label and an empty sentence (the loader skips both).
    (root / "sst2").mkdir()
    rows = [(t, 1) for t in POSITIVE] + [(t, 0) for t in NEGATIVE]
    _write_tsv(root / "sst2" / "train.tsv", rows * 2 + [("odd", 7), (" ", 1), ("?!", 1)])
    _write_tsv(root / "sst2" / "dev.tsv", rows)
    # IMDB: an aclImdb/ folder; one review is only a line break (empty after cleaning).
    for split in ("train", "test"):
        for label, texts in (("pos", POSITIVE), ("neg", NEGATIVE)):
            folder = root / "imdb" / "aclImdb" / split / label
            folder.mkdir(parents=True)
            for i, text in enumerate(texts):
                rating = 8 if label == "pos" else 2
                long_text = " ".join([text] * (20 if i == 0 else 1))  # one over-long review
                (folder / f"{i}_{rating}.txt").write_text(long_text, encoding="utf-8")
    (root / "imdb" / "aclImdb" / "train" / "neg" / "9_1.txt").write_text("<br />")
    # NLI reduced-v1: e-SNLI dev/test files and the MNLI dev-matched jsonl.
    esnli = root / "snli" / "dataset" / "eSNLI"
    esnli.mkdir(parents=True)
    pairs = [("the cat sat on the mat .", "a cat sat .", "entailment"),
             ("the dog ran .", "the cat sat .", "contradiction"),
             ("a dog ran on the mat .", "the dog is good .", "neutral"),
             ("the cat is good .", "the cat is bad .", "contradiction")]
    for split in ("dev", "test"):
        for part, column in (("s1", 0), ("s2", 1), ("labels", 2)):
            (esnli / f"{part}.{split}").write_text(
                "\n".join(p[column] for p in pairs) + "\n", encoding="utf-8")
    (root / "mnli").mkdir()
    lines = [json.dumps({"premise": p, "hypothesis": h, "label": lab}) for p, h, lab in pairs]
    lines.append(json.dumps({"premise": "a cat", "hypothesis": "a dog", "label": "maybe"}))
    (root / "mnli" / "mnli_dev_matched.generative-nli.jsonl").write_text(
        "\n".join(lines * 2) + "\n", encoding="utf-8")
    # SQuAD reduced-v1 needs 48 articles; each holds one paragraph.
    (root / "squad_v1.1").mkdir()
    (root / "squad_v1.1" / "dev-v1.1.json").write_text(
        json.dumps({"version": "1.1", "data": squad_articles(48)}), encoding="utf-8")
    return str(root)


def squad_articles(count):
    articles = []
    for k in range(count):
        context = "The cat sat on the mat . The dog ran in 1990 , who was good ?"
        qas = [
            {"id": f"q{k}a", "question": "Who sat on the mat ?",
             "answers": [{"text": "The cat", "answer_start": 0}]},
            {"id": f"q{k}b", "question": "What ran ?",
             "answers": [{"text": "dog", "answer_start": context.index("dog")}]},
        ]
        if k % 7 == 0:  # an answer that is not where it claims to be
            qas.append({"id": f"q{k}c", "question": "What ?",
                        "answers": [{"text": "zebra", "answer_start": 3}]})
        if k % 5 == 0:  # an over-long context
            long_context = " ".join(["the cat sat ."] * 20)
            articles.append({"title": f"article_{k:02d}", "paragraphs": [
                {"context": context, "qas": qas},
                {"context": long_context, "qas": [
                    {"id": f"q{k}long", "question": "Who sat ?",
                     "answers": [{"text": "cat", "answer_start": 4}]}]}]})
            continue
        articles.append({"title": f"article_{k:02d}", "paragraphs": [
            {"context": context, "qas": qas}]})
    return articles


@pytest.fixture(scope="session", autouse=True)
def _quiet():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session", autouse=True)
def _graph_cache_dir(tmp_path_factory):
    # Runs without out_dir / graph_cache_dir would otherwise cache under ~/.cache.
    previous = os.environ.get("GLOMO_CACHE_DIR")
    os.environ["GLOMO_CACHE_DIR"] = str(tmp_path_factory.mktemp("graph_cache"))
    yield
    if previous is None:
        os.environ.pop("GLOMO_CACHE_DIR", None)
    else:
        os.environ["GLOMO_CACHE_DIR"] = previous


@pytest.fixture(scope="session")
def graphs_layer(graph_module_dir):
    from glomo_tf.transfer.glomo_graphs import GLoMoGraphs

    return GLoMoGraphs(graph_module_dir)


@pytest.fixture(scope="session")
def glove_layer_factory(glove_file):
    from glomo_tf.tasks.token_features import glove_features

    return lambda: glove_features(glove_file)[0]
