import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from glomo_tf.export import graph_module
from glomo_tf.export.graph_module import (
    CONFIG_FILENAME,
    FORMAT_VERSION,
    export_graph_module,
    load_graph_module,
)
from tests.export import graph_contract, tiny_module
from tests.export.tiny_module import MAX_LENGTH, TEXTS, VOCABULARY

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def exported():
    return tiny_module.exported_module()


@pytest.fixture(scope="module")
def module(exported):
    return load_graph_module(exported[1])


def check_contract(outputs, config):
    graph_contract.check_graph_contract(
        outputs["tokens"].numpy(), outputs["mask"].numpy(), outputs["graphs"].numpy(),
        config["num_layers"], config["num_heads"], config["max_length"])


def test_layout_and_config(exported, module):
    model, path = exported
    for name in ("saved_model.pb", "variables/variables.index", "assets/vocabulary.txt",
                 f"assets/{CONFIG_FILENAME}"):
        assert os.path.isfile(os.path.join(path, name)), name
    config = module.config
    c = model.glomo_config
    assert config["format_version"] == FORMAT_VERSION
    assert (config["hidden_dim"], config["num_layers"], config["num_heads"],
            config["sparse_mode"]) == (c.hidden_dim, c.num_layers, c.num_heads, c.sparse_mode)
    assert config["vocabulary_size"] == len(VOCABULARY)
    assert config["max_length"] == MAX_LENGTH
    assert config["tokenizer"]["lowercase"] is True
    assert module.vocabulary == VOCABULARY
    # Only the embedding and the two graph predictors: no decoder or feature predictor.
    names = [v.name for v in module.variables]
    assert names and not any("decoder" in n or "feature_predictor" in n for n in names)
    expected = sum(len(layer.variables) for layer in [model.embedding]
                   + list(model.graph_predictors.values()))
    assert len(names) == expected
    assert len(module.module.trainable_variables) == 0


def test_graphs_meet_contract_and_are_not_zero(module):
    outputs = module.graphs(TEXTS)
    check_contract(outputs, module.config)
    mask = outputs["mask"].numpy()
    assert mask.sum(axis=1).tolist() == [8, 7, 1, 0]  # first text truncated to max_length
    assert outputs["tokens"].numpy()[1, :7].tolist() == [
        b"a", b"cat", b"sat", b"on", b"the", b"mat", b"."]
    assert outputs["ids"].numpy()[1, :3].tolist() == [7, 2, 3]
    graphs = outputs["graphs"].numpy()
    row_sums = graphs[0].sum(-1)
    # Sparse (mode 4) rows may be empty, but many real rows are distributions in both
    # directions.
    assert np.mean(np.abs(row_sums[0, :, :, 1:] - 1) < 1e-4) > 0.2
    assert np.mean(np.abs(row_sums[1, :, :, :-1] - 1) < 1e-4) > 0.2


def test_loaded_equals_in_memory(exported, module):
    model, _ = exported
    outputs = module.graphs(TEXTS)
    expected = model.predict_graphs(
        {"token_ids": outputs["ids"], "padding_mask": outputs["mask"] > 0})
    np.testing.assert_allclose(outputs["graphs"].numpy(), np.asarray(expected), atol=1e-5)
    from_ids = module.graphs_from_ids(outputs["ids"], outputs["mask"])["graphs"]
    np.testing.assert_allclose(from_ids.numpy(), outputs["graphs"].numpy(), atol=1e-6)
    tokenized = module.tokenize(TEXTS)
    for key in ("tokens", "ids", "mask"):
        np.testing.assert_array_equal(tokenized[key].numpy(), outputs[key].numpy())


@pytest.mark.slow
def test_hand_set_weights_give_uniform_causal_graphs(tmp_path):
    """Zero key/query kernels, biases u, v and threshold bias u.v - 1: every allowed entry
    has affinity ReLU(1)^2 = 1, so forward row i is 1/i on j < i and backward row i is
    1/(n - 1 - i) on j > i, whatever the embedding."""
    model = tiny_module.make_model(perturb=False)
    for predictor in model.graph_predictors.values():
        width = predictor.query_dense.kernel.shape[1]
        u = np.full(width, 0.5, "float32")
        v = np.full(width, 0.25, "float32")
        predictor.query_dense.kernel.assign(np.zeros(predictor.query_dense.kernel.shape))
        predictor.key_dense.kernel.assign(np.zeros(predictor.key_dense.kernel.shape))
        predictor.query_dense.bias.assign(u)
        predictor.key_dense.bias.assign(v)
        predictor.threshold_kernel.assign(np.zeros(predictor.threshold_kernel.shape))
        score = 0.5 * 0.25 * predictor.head_dim
        predictor.threshold_bias.assign(np.full(predictor.num_layers, score - 1.0))
    path = export_graph_module(model, tiny_module.make_tokenizer(), tmp_path / "uniform",
                               max_length=MAX_LENGTH)
    out = load_graph_module(path).graphs(["a cat sat on", "dog ran"])
    assert out["ids"].numpy().tolist() == [[7, 2, 3, 4], [8, 10, 0, 0]]
    assert out["mask"].numpy().tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    expected = np.zeros((2, 2, 4, 4), "float32")
    for b, n in enumerate((4, 2)):
        for i in range(n):
            expected[b, 0, i, :i] = 1.0 / i if i else 0.0
            expected[b, 1, i, i + 1:n] = 1.0 / (n - 1 - i) if i < n - 1 else 0.0
    graphs = out["graphs"].numpy()
    for layer in range(2):
        for head in range(2):
            np.testing.assert_allclose(graphs[:, :, layer, head], expected, atol=1e-6)


def test_graphs_do_not_depend_on_batch_padding(module):
    alone = module.graphs(["a cat sat"])["graphs"].numpy()[0]
    padded = module.graphs(["a cat sat", "the big red dog saw it ."])["graphs"].numpy()[0]
    np.testing.assert_allclose(padded[..., :3, :3], alone, atol=1e-5)


def test_truncation_keeps_first_tokens(module):
    words = [w for w in VOCABULARY[1:] if w.isalpha()]
    text = " ".join(words * 2)
    outputs = module.graphs([text])
    assert outputs["mask"].shape == (1, MAX_LENGTH)
    assert [t.decode() for t in outputs["tokens"].numpy()[0]] == words[:MAX_LENGTH]
    ids = np.arange(1, 13, dtype="int32")[None] % len(VOCABULARY)
    graphs = module.graphs_from_ids(ids, np.ones_like(ids))["graphs"]
    assert graphs.shape[-1] == MAX_LENGTH


def test_empty_and_invalid_utf8(module):
    outputs = module.graphs(["", "   "])
    assert outputs["mask"].shape == (2, 1)
    assert np.all(outputs["mask"].numpy() == 0)
    assert np.all(outputs["graphs"].numpy() == 0)
    empty_batch = module.graphs(tf.constant([], tf.string))
    assert empty_batch["graphs"].shape[0] == 0
    outputs = module.graphs([b"the caf\xe9 \xff cat"])
    tokens = [t.decode("utf-8") for t in outputs["tokens"].numpy()[0]]
    assert tokens[0] == "the" and tokens[-1] == "cat" and "\ufffd" in tokens
    check_contract(outputs, module.config)
    masked = module.graphs_from_ids([[0, 0]], [[0, 0]])["graphs"].numpy()
    assert masked.shape[-1] == 2 and np.all(masked == 0)


def test_bad_inputs_name_the_signature(module):
    with pytest.raises(ValueError, match=r"tf\.string \[batch\]"):
        module.graphs(tf.constant([1, 2]))
    with pytest.raises(ValueError, match=r"tf\.string \[batch\]"):
        module.graphs([["a", "b"]])
    with pytest.raises(ValueError, match="wrap it in a list"):
        module.graphs("one string")
    with pytest.raises(ValueError, match=r"graphs_from_ids\(ids: tf.int32"):
        module.graphs_from_ids([1, 2, 3])
    with pytest.raises(ValueError, match=r"graphs_from_ids\(ids: tf.int32"):
        module.graphs_from_ids([[1.5, 2.0]])
    with pytest.raises(ValueError, match="differ"):
        module.graphs_from_ids([[1, 2]], [[1, 1, 1]])
    with pytest.raises(tf.errors.InvalidArgumentError, match="vocabulary_size"):
        module.graphs_from_ids([[1, 99]], [[1, 1]])
    # The raw SavedModel functions reject wrong dtypes with their signature in the message.
    with pytest.raises((TypeError, ValueError), match="string"):
        module.module.graphs(tf.constant([1, 2]))


def test_graphs_from_tokens_equals_graphs_of_the_split_text(exported, module):
    model, _ = exported
    texts = TEXTS + ["The Cat saw 1999 dogs ."]
    from_text = module.graphs(texts)
    split = tiny_module.make_tokenizer().split(texts)
    from_tokens = module.graphs_from_tokens(split)
    for key in ("tokens", "ids", "mask", "graphs"):
        np.testing.assert_array_equal(from_tokens[key].numpy(), from_text[key].numpy(), key)
    check_contract(from_tokens, module.config)
    # Loaded module vs the model in memory, on ids the module looked up itself.
    expected = model.predict_graphs(
        {"token_ids": from_tokens["ids"], "padding_mask": from_tokens["mask"] > 0})
    np.testing.assert_allclose(from_tokens["graphs"].numpy(), np.asarray(expected), atol=1e-5)
    # The serving signature gives the same outputs.
    served = module.module.signatures["graphs_from_tokens"](
        tokens=tf.constant([["a", "cat", "sat"], ["dog", "", ""]]))
    direct = module.graphs_from_tokens([["a", "cat", "sat"], ["dog"]])
    for key in ("tokens", "ids", "mask", "graphs"):
        np.testing.assert_array_equal(served[key].numpy(), direct[key].numpy(), key)


def test_graphs_from_tokens_normalises_but_does_not_split(module):
    out = module.graphs_from_tokens([["The", "CAT", "1999", "N", "don't"], ["Ｄｏｇ"], []])
    tokens = out["tokens"].numpy()
    assert tokens[0].tolist() == [b"the", b"cat", b"N", b"N", b"don't"]
    assert tokens[1].tolist() == [b"dog", b"", b"", b"", b""]
    assert out["ids"].numpy()[0].tolist() == [1, 2, 9, 9, 0]  # "don't" stays one (unknown) word
    assert out["mask"].numpy().tolist() == [[1] * 5, [1, 0, 0, 0, 0], [0] * 5]
    assert np.all(out["graphs"].numpy()[2] == 0)
    # Truncation to max_length, and T >= 1 for an empty batch row set.
    long = module.graphs_from_tokens([["a"] * (MAX_LENGTH + 3)])
    assert long["mask"].numpy().sum() == MAX_LENGTH
    assert module.graphs_from_tokens(tf.zeros((2, 0), tf.string))["graphs"].shape[-1] == 1
    # A word of default-ignorable code points only is kept as given, still a real position.
    zero_width = module.graphs_from_tokens([["cat", "\u200b", "sat"]])
    assert zero_width["mask"].numpy().tolist() == [[1, 1, 1]]
    assert zero_width["tokens"].numpy()[0, 1] == "\u200b".encode()
    # Ragged input is padded with "".
    ragged = module.graphs_from_tokens(tf.ragged.constant([["a", "cat"], ["dog"]]))
    assert ragged["mask"].numpy().tolist() == [[1, 1], [1, 0]]


def test_graphs_from_tokens_rejects_bad_inputs(module):
    for bad in (["a", "cat"], tf.constant(["a", "cat"]), tf.constant([[1, 2]]), "cat"):
        with pytest.raises(ValueError, match=r"graphs_from_tokens\(tokens: tf.string"):
            module.graphs_from_tokens(bad)
    with pytest.raises(ValueError, match="padding '' must come after the words"):
        module.graphs_from_tokens([["a", "", "cat"]])
    with pytest.raises(tf.errors.InvalidArgumentError, match="must come after the words"):
        module.module.graphs_from_tokens(tf.constant([["a", "", "cat"]]))


class _WithoutTokenFunction:
    """A loaded module as one exported before graphs_from_tokens existed."""

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        if name == "graphs_from_tokens":
            raise AttributeError(name)
        return getattr(self._module, name)


def test_modules_without_graphs_from_tokens_load_and_rebuild_it(exported, module,
                                                                 monkeypatch):
    _, path = exported
    real_load = tf.saved_model.load
    monkeypatch.setattr(tf.saved_model, "load",
                        lambda p: _WithoutTokenFunction(real_load(p)))
    old = load_graph_module(path)
    assert not old.has_token_function and module.has_token_function
    words = [["The", "big", "dog", "1999"], ["a", "cat"], []]
    expected, rebuilt = module.graphs_from_tokens(words), old.graphs_from_tokens(words)
    for key in ("tokens", "ids", "mask", "graphs"):
        np.testing.assert_array_equal(rebuilt[key].numpy(), expected[key].numpy(), key)
    # A tokenizer glomo_tf cannot rebuild: a clear error, not a wrong normalisation.
    foreign = graph_module.GraphModule(
        old.path, old.module, dict(old.config, tokenizer={"class": "SentencePiece"}))
    with pytest.raises(ValueError, match="without graphs_from_tokens.*re-export"):
        foreign.graphs_from_tokens(words)


def test_shipped_module_without_the_function_matches_its_text_graphs():
    """glomo_planted_tiny was exported before graphs_from_tokens existed."""
    from glomo_tf.data.word_tokenizer import GLoMoWordTokenizer

    shipped = load_graph_module(os.path.join(REPO, "saved_models", "glomo_planted_tiny"))
    assert not shipped.has_token_function
    settings = {k: v for k, v in shipped.config["tokenizer"].items() if k != "class"}
    texts = ["The cat didn't sit on the mat in 1999.", "Ｆｕｌｌ width -- ok", ""]
    split = GLoMoWordTokenizer.from_config(settings).split(texts)
    from_text, from_tokens = shipped.graphs(texts), shipped.graphs_from_tokens(split)
    for key in ("tokens", "ids", "mask", "graphs"):
        np.testing.assert_array_equal(from_tokens[key].numpy(), from_text[key].numpy(), key)


def _copy(path, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(path, target)
    return target


def test_missing_or_corrupt_module_names_the_path(exported, tmp_path):
    _, path = exported
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_graph_module(tmp_path / "nowhere")

    broken = _copy(path, tmp_path)
    os.remove(broken / "variables" / "variables.index")
    with pytest.raises(FileNotFoundError, match=r"variables\.index"):
        load_graph_module(broken)

    shutil.rmtree(broken)
    broken = _copy(path, tmp_path)
    (broken / "saved_model.pb").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ValueError, match=str(broken)):
        load_graph_module(broken)

    shutil.rmtree(broken)
    broken = _copy(path, tmp_path)
    config_path = broken / "assets" / CONFIG_FILENAME
    config = json.loads(config_path.read_text())
    config["format_version"] = 99
    config_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"format_version 99.*format_version 1"):
        load_graph_module(broken)
    config_path.write_text("{not json")
    with pytest.raises(ValueError, match=CONFIG_FILENAME):
        load_graph_module(broken)
    os.remove(config_path)
    with pytest.raises(FileNotFoundError, match=CONFIG_FILENAME):
        load_graph_module(broken)


def test_export_rejects_bad_arguments(exported, tmp_path):
    model, _ = exported

    class NoUnk:
        def get_vocabulary(self):
            return ["the", "cat"]

    with pytest.raises(ValueError, match="<unk>"):
        export_graph_module(model, NoUnk(), tmp_path / "m")
    with pytest.raises(ValueError, match="max_length"):
        export_graph_module(model, tiny_module.make_tokenizer(), tmp_path / "m", max_length=0)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        export_graph_module(model, tiny_module.make_tokenizer(), tmp_path / "file")
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a GLoMo graph module"):
        export_graph_module(model, tiny_module.make_tokenizer(), tmp_path / "precious")
    assert (tmp_path / "precious" / "notes.txt").read_text() == "keep me"
    assert sorted(os.listdir(tmp_path)) == ["file", "precious"]


def test_failed_export_leaves_existing_module_intact(exported, tmp_path, monkeypatch):
    _, path = exported
    target = _copy(path, tmp_path)
    before = sorted(os.listdir(target))

    def fail(*args, **kwargs):
        raise RuntimeError("simulated crash while tracing")

    monkeypatch.setattr(graph_module._GraphModuleBuilder, "build", fail)
    with pytest.raises(RuntimeError, match="simulated"):
        export_graph_module(tiny_module.make_model(perturb=False), tiny_module.make_tokenizer(),
                            target)
    assert sorted(os.listdir(target)) == before
    assert sorted(os.listdir(tmp_path)) == ["copy"]  # no temporary directory left behind


@pytest.mark.slow
def test_export_from_checkpoint_replaces_module_atomically(exported, tmp_path):
    import keras

    from glomo_tf.configs import PretrainConfig, save_configs
    from glomo_tf.data.vocabulary import save_vocabulary
    from glomo_tf.export.graph_module import export_from_checkpoint
    from glomo_tf.training.checkpoints import CheckpointManager

    old_model, old_path = exported
    run = tmp_path / "run"
    run.mkdir()
    model = tiny_module.make_model(seed=1)
    model.compile(optimizer="sgd")
    save_configs(str(run / "config.json"), model.glomo_config,
                 PretrainConfig(lowercase=True, replace_digits=True))
    save_vocabulary(VOCABULARY, run / "vocab.txt")
    model.optimizer.build(model.trainable_variables)
    CheckpointManager(str(run / "checkpoints"),
                      fingerprint={"model": model.glomo_config.to_dict()}).save(model, step=1)

    target = _copy(old_path, tmp_path)
    export_from_checkpoint(run, target, max_length=MAX_LENGTH)
    assert sorted(p for p in os.listdir(tmp_path)) == ["copy", "run"]
    new = load_graph_module(target)
    outputs = new.graphs(TEXTS[:2])
    expected = model.predict_graphs(
        {"token_ids": outputs["ids"], "padding_mask": outputs["mask"] > 0})
    np.testing.assert_allclose(outputs["graphs"].numpy(), np.asarray(expected), atol=1e-5)
    old = old_model.predict_graphs(
        {"token_ids": outputs["ids"], "padding_mask": outputs["mask"] > 0})
    assert np.abs(np.asarray(old) - outputs["graphs"].numpy()).max() > 1e-3
    assert isinstance(model, keras.Model)

    with pytest.raises(FileNotFoundError, match="vocab.txt"):
        os.remove(run / "vocab.txt")
        export_from_checkpoint(run, tmp_path / "other")


FRESH_PROCESS = """
import json, os, sys
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401
import tensorflow_hub as hub

{contract}

path = sys.argv[1]
module = hub.load(path)
with open(module.config_file.asset_path.numpy().decode()) as f:
    config = json.load(f)
out = module.graphs(tf.constant({texts!r}))
check_graph_contract(out["tokens"].numpy(), out["mask"].numpy(), out["graphs"].numpy(),
                     config["num_layers"], config["num_heads"], config["max_length"])
assert np.abs(out["graphs"].numpy()).sum() > 0
serving = module.signatures["serving_default"](text=tf.constant({texts!r}))
np.testing.assert_allclose(serving["graphs"].numpy(), out["graphs"].numpy(), atol=1e-6)
np.save(os.path.join(sys.argv[2], "graphs.npy"), out["graphs"].numpy())
np.save(os.path.join(sys.argv[2], "ids.npy"), out["ids"].numpy())
np.save(os.path.join(sys.argv[2], "mask.npy"), out["mask"].numpy())
mods = sorted(m for m in sys.modules if m.split(".")[0] in ("glomo_tf", "keras", "keras_hub"))
print("IMPORTED", mods)
"""


@pytest.mark.slow
def test_fresh_process_loads_with_hub_only_and_saved_model_cli_lists_signatures(
        exported, tmp_path):
    model, path = exported
    with open(graph_contract.__file__) as f:
        contract = f.read()
    script = tmp_path / "load.py"
    script.write_text(FRESH_PROCESS.format(contract=contract, texts=TEXTS))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    # Both processes spend most of their time importing TensorFlow: run them side by side.
    fresh = subprocess.Popen([sys.executable, str(script), path, str(tmp_path)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env, cwd=tmp_path)
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    show = None
    if os.path.exists(cli):
        show = subprocess.Popen([cli, "show", "--dir", path, "--all"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
    stdout, stderr = fresh.communicate(timeout=300)
    assert fresh.returncode == 0, stderr[-3000:]
    assert "'glomo_tf" not in stdout and "IMPORTED" in stdout
    graphs = np.load(tmp_path / "graphs.npy")
    expected = model.predict_graphs({"token_ids": np.load(tmp_path / "ids.npy"),
                                     "padding_mask": np.load(tmp_path / "mask.npy") > 0})
    np.testing.assert_allclose(graphs, np.asarray(expected), atol=1e-5)

    if show is None:
        pytest.skip("saved_model_cli is not installed beside this Python")
    out, err = show.communicate(timeout=300)
    assert show.returncode == 0, err[-3000:]
    for name in ("serving_default", "graphs", "graphs_from_ids", "tokenize",
                 "graphs_from_tokens"):
        assert f"signature_def['{name}']" in out, name
    assert "name: serving_default_text:0" in out
    for output in ("outputs['graphs']", "outputs['tokens']", "outputs['mask']"):
        assert output in out
