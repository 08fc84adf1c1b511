"""Hostile text through every text entry point: the graph module, the data readers, the CLI.

No crash, finite outputs, graph rows summing to 1 or 0, tokens consistent with the mask.
Example counts are kept moderate for CI; `bench/faults.py` runs many more.
"""

import contextlib
import gzip
import io
import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from glomo_tf.cli import main
from glomo_tf.data.text_readers import FORMATS, CorpusReader
from tests.export import graph_contract, tiny_module
from tests.reliability import hostile_text

FUZZ = settings(max_examples=int(os.environ.get("GLOMO_FUZZ_EXAMPLES", "25")), deadline=None, database=None,
                suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def module():
    from glomo_tf.export.graph_module import load_graph_module

    return load_graph_module(tiny_module.exported_module()[1])


def check_module_outputs(module, texts):
    """Asserts the contract of `module.graphs(texts)` and its agreement with `tokenize`."""
    outputs = {k: v.numpy() for k, v in module.graphs(texts).items()}
    config = module.config
    graph_contract.check_graph_contract(outputs["tokens"], outputs["mask"], outputs["graphs"],
                                        config["num_layers"], config["num_heads"], config["max_length"])
    ids, mask = outputs["ids"], outputs["mask"]
    assert ids.shape == mask.shape and len(ids) == len(texts)
    assert np.all((ids >= 0) & (ids < config["vocabulary_size"]))
    assert np.all(ids[mask == 0] == 0)
    tokenized = {k: v.numpy() for k, v in module.tokenize(texts).items()}
    for key in ("tokens", "ids", "mask"):
        np.testing.assert_array_equal(tokenized[key], outputs[key])
    # A token is the vocabulary word of its id, or an unknown word (id 0).
    for token, i in zip(outputs["tokens"][mask == 1], ids[mask == 1]):
        assert i == 0 or module.vocabulary[i].encode("utf-8") == token
    return outputs


@FUZZ
@given(st.lists(hostile_text.texts, min_size=1, max_size=3))
@example(["", " \t\n", "\x00", "\x00\x00 the \x00 cat"])
@example([b"\xff\xfe\xfd", b"the caf\xe9 cat", "😀👍🏽 the 猫 cat"])
@example(["the cat " * 20_000, "w" * 50_000])
@example(["a\ud800b the \udcff cat"])
def test_module_graphs_and_tokenize(module, texts):
    check_module_outputs(module, texts)


@FUZZ
@given(hostile_text.texts)
def test_module_single_text_equals_its_row_in_a_batch(module, text):
    alone = module.graphs([text])
    batched = module.graphs([text, "the big red dog saw the cat ."])
    t = alone["mask"].shape[1]
    np.testing.assert_array_equal(alone["mask"].numpy()[0], batched["mask"].numpy()[0, :t])
    np.testing.assert_allclose(alone["graphs"].numpy()[0], batched["graphs"].numpy()[0, ..., :t, :t], atol=1e-5)


def _to_bytes(text):
    return text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")


@FUZZ
@given(st.lists(hostile_text.texts, max_size=6), st.sampled_from([f for f in FORMATS if f != "imdb"]),
       st.booleans())
@example([b"\xff\n\x00\n\n<doc id='1'>\n\xfe\n"], "auto", False)
@example(["= Title =", "\x00", " = = h = = ", "x" * 100_000], "wikitext", True)
def test_corpus_reader_and_vocabulary(tmp_path_factory, documents, fmt, compressed):
    check_reader(tmp_path_factory.mktemp("corpus"), documents, fmt, compressed)


def check_reader(directory, documents, fmt, compressed):
    """Reads hostile documents back, builds, saves and reloads a vocabulary, tokenizes."""
    from glomo_tf.data.vocabulary import build_vocabulary, load_vocabulary, save_vocabulary
    from glomo_tf.data.word_tokenizer import GLoMoWordTokenizer

    data = b"\n".join(_to_bytes(d) for d in documents)
    path = os.path.join(directory, "corpus.txt.gz" if compressed else "corpus.txt")
    with (gzip.open if compressed else open)(path, "wb") as f:
        f.write(data)
    read = list(CorpusReader(path, format=fmt, allow_empty=True))
    assert all(isinstance(d, str) and d for d in read)
    if not any(d.strip() for d in read):
        with pytest.raises(ValueError):
            list(CorpusReader(path, format=fmt))
        return
    try:
        vocabulary = build_vocabulary(read, progress=False, lowercase=True)
    except ValueError as error:  # documented: nothing but whitespace-like characters
        assert "only hold `<unk>`" in str(error)
        return
    save_vocabulary(vocabulary, directory / "vocab.txt")
    assert load_vocabulary(directory / "vocab.txt") == vocabulary
    tokenizer = GLoMoWordTokenizer(vocabulary, lowercase=True, sequence_length=16)
    ids = tokenizer.tokenize(read).numpy()
    assert ids.shape == (len(read), 16)
    assert np.all((ids >= 0) & (ids < len(vocabulary)))


# Every subcommand, with the place a user's string goes marked TEXT (paths too: a typo or
# a pasted string is a path that does not exist).
CLI_TEMPLATES = [
    ["pretrain", "--corpus", "TEXT", "--out", "OUT"],
    ["pretrain", "--corpus", "synthetic", "--out", "OUT", "--config", "TEXT"],
    ["pretrain", "--corpus", "synthetic", "--out", "OUT", "--steps", "TEXT"],
    ["export", "TEXT", "OUT"],
    ["graphs", "TEXT", "the cat"],
    ["finetune", "--task", "sst2", "--graphs", "TEXT"],
    ["demo", "--module", "TEXT", "--out", "OUT"],
    ["TEXT"],
]


@FUZZ
@given(st.sampled_from(CLI_TEMPLATES), hostile_text.strings)
@example(["pretrain", "--corpus", "TEXT", "--out", "OUT"], "\x00")
@example(["graphs", "TEXT", "the cat"], "a\udcff\udcfe")
@example(["export", "TEXT", "OUT"], "")
def test_cli_bad_strings_exit_2_with_one_line(tmp_path_factory, template, text):
    check_cli_bad_string(tmp_path_factory.mktemp("cwd"), template, text)


def check_cli_bad_string(cwd, template, text):
    if text and os.path.lexists(os.path.join(cwd, text)) or text.strip() in ("-h", "--help"):
        return
    argv = [text if a == "TEXT" else str(cwd / "out") if a == "OUT" else a for a in template]
    old, err = os.getcwd(), io.StringIO()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
    finally:
        os.chdir(old)
    err = err.getvalue()
    # What the real stderr (errors="backslashreplace") could not print would raise here.
    err.encode("utf-8")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (argv, err)
    assert len(lines) == 1 and lines[0].startswith("glomo") and "Traceback" not in err, err


@settings(max_examples=int(os.environ.get("GLOMO_FUZZ_RENDER_EXAMPLES", "4")), deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(hostile_text.strings.filter(lambda t: len(t) < 5_000))
@example("$x$ costs $5 and \\frac{a}{ $")
@example("\x00 😀 猫 \ud800")
def test_cli_graphs_draws_any_text(tmp_path_factory, text):
    check_cli_graphs(tmp_path_factory.mktemp("png") / "graphs.png", text)


def check_cli_graphs(out, text):
    if text.startswith("-"):
        text = " " + text  # else argparse reads it as an option
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Glyph .* missing from font")
        code = main(["graphs", tiny_module.exported_module()[1], text, "--out", str(out)])
    err = err.getvalue()
    if code == 2:  # documented: text without a token (empty, whitespace, ignorable code points)
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and "has no tokens" in lines[0], err
        return
    assert code == 0, err
    assert out.stat().st_size > 0
