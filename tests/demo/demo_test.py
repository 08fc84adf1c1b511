"""`glomo demo` end to end on tiny budgets (the real budgets are measured in bench/demo.py)."""

import os
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest

from glomo_tf.demo.planted_task import MaskedConv1D, make_planted_task
from tests.layer_test_case import run_layer_test
from glomo_tf.training.synthetic_corpus import make_language


@pytest.fixture(scope="module")
def planted_module(tmp_path_factory):
    """An untrained tiny module over the planted language (the plumbing needs no training)."""
    from glomo_tf.configs import GLoMoConfig
    from glomo_tf.data.word_tokenizer import GLoMoWordTokenizer
    from glomo_tf.export.graph_module import export_graph_module
    from glomo_tf.models.glomo_pretrainer import GLoMoPretrainer

    sizes = dict(hidden_dim=8, head_dim=4, cnn_layers=1, sequence_length=32, num_sampled_positions=4)
    vocabulary = ["<unk>"] + list(make_language(GLoMoConfig.tiny(**sizes)).words)
    config = GLoMoConfig.tiny(vocabulary_size=len(vocabulary), **sizes)
    model = GLoMoPretrainer(config, seed=0)
    path = tmp_path_factory.mktemp("demo") / "module"
    return export_graph_module(model, GLoMoWordTokenizer(vocabulary), str(path), max_length=32)


def test_planted_task_labels_depend_only_on_which_trigger_comes_first():
    from glomo_tf.configs import GLoMoConfig

    language = make_language(GLoMoConfig.tiny())
    texts, labels = make_planted_task(language, 400, seed=3)
    assert len(texts) == 400 and set(labels.tolist()) == {0, 1}
    assert 0.4 < labels.mean() < 0.6
    triggers = {t: (c, k) for (c, k), t in np.ndenumerate(language.triggers)}
    special = set(triggers) | set(language.answers.ravel()) | set(language.markers) \
        | {language.opener}
    for text, label in zip(texts, labels):
        words = text.split()
        assert len(words) == language.document_length
        # Two fillers at each edge: no dependency word next to the conv's zero padding.
        assert not special & set(words[:2] + words[-2:])
        opened = [triggers[words[j]] for j in range(1, len(words)) if words[j - 1] == language.opener]
        answered = [words[i + 1] for i, w in enumerate(words) if w in language.markers]
        assert len(opened) == 2 and len(answered) == 2 and opened[0][0] == opened[1][0]
        # Word after the first marker vs its own trigger's answer: the label, and only it.
        # Both labels hold the same two answers, so the bag of words is the same.
        own = [language.answers[c, k] for c, k in opened]
        assert sorted(answered) == sorted(own) and own[0] != own[1]
        first_answer = next(i + 1 for i, w in enumerate(words) if w in language.markers)
        second_opener = max(j for j, w in enumerate(words) if w == language.opener)
        assert second_opener - first_answer >= 3, "the blocks must not share a window"
        assert (answered == own) == bool(label)


def test_run_demo_prints_a_table_and_writes_a_heatmap(planted_module, tmp_path):
    from glomo_tf.demo.run import DemoConfig, run_demo

    lines = []
    config = DemoConfig(train_examples=64, test_examples=32, epochs=1, batch_size=16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_demo(str(tmp_path / "out"), module=planted_module, config=config,
                          progress=False, log=lines.append)
    # Keras warned on every run about a Conv1D dropping the mask and an ignored shuffle=True.
    keras_warnings = [str(w.message) for w in caught if "keras" in w.filename]
    assert not keras_warnings, keras_warnings
    assert set(result.accuracies) == {"none", "uniform", "graphs"}
    assert all(0.0 <= a <= 1.0 for a in result.accuracies.values())
    assert 0.0 <= result.recovery <= 1.0 and 0.0 < result.recovery_chance < 0.5
    assert os.path.getsize(result.heatmap_path) > 1000
    table = result.table()
    assert "feature only" in table and "uniform graph" in table and "GLoMo graphs" in table
    assert any("recovery" in line for line in lines)


def test_masked_conv_zeroes_padding_and_keeps_the_mask(tmp_path):
    run_layer_test(MaskedConv1D, {"filters": 3, "kernel_size": 3, "padding": "same"},
                   np.ones((2, 5, 4), "float32"), (2, 5, 3), 2, tmp_path=tmp_path)
    x = np.random.default_rng(0).normal(size=(1, 4, 2)).astype("float32")
    mask = np.array([[True, True, True, False]])
    conv = MaskedConv1D(2, 3, padding="same")
    padded_away = np.concatenate([x[:, :3], np.zeros((1, 1, 2), "float32")], axis=1)
    np.testing.assert_allclose(conv(x, mask=mask), conv(padded_away), atol=1e-6)
    inputs = keras.Input((4, 2))
    masked = keras.layers.Masking()(inputs)
    assert MaskedConv1D(2, 3, padding="same")(masked)._keras_mask is not None


def test_module_of_another_language_is_refused(tmp_path):
    from glomo_tf.demo.run import DemoConfig, run_demo
    from tests.export.tiny_module import exported_module

    with pytest.raises(ValueError, match="not pretrained on the planted language"):
        run_demo(str(tmp_path), module=exported_module()[1], config=DemoConfig(epochs=1),
                 progress=False, log=lambda *_: None)


def test_cli_errors_are_one_line(tmp_path):
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    missing = subprocess.run([sys.executable, "-m", "glomo_tf", "demo", "--module",
                              str(tmp_path / "nope")], capture_output=True, text=True, env=env)
    assert missing.returncode == 2
    assert "not found" in missing.stderr and "Traceback" not in missing.stderr
    bad = subprocess.run([sys.executable, "-m", "glomo_tf", "demo", "--epochs", "0"],
                         capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "--epochs must be >= 1" in bad.stderr
