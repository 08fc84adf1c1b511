"""A checkpoint or module of another format version or vocabulary: a clear error naming both."""

import hashlib
import json
import os
import shutil

import pytest

from glomo_tf.training.checkpoints import FORMAT_VERSION, CheckpointManager, CheckpointMismatchError
from tests.reliability.atomic_writes_test import FakeModel


def _rewrite_state(path, **changes):
    state_path = os.path.join(path, "state.json")
    with open(state_path) as f:
        state = json.load(f)
    state.update(changes)
    with open(state_path, "w") as f:
        json.dump(state, f)


def test_checkpoint_of_another_format_version_is_refused_naming_both(tmp_path):
    manager = CheckpointManager(tmp_path, fingerprint={"vocabulary_sha256": "a" * 64})
    manager.save(FakeModel(1.0), 1)
    path = manager.save(FakeModel(2.0), 2)
    _rewrite_state(path, format_version=FORMAT_VERSION + 98)
    # Not skipped as if corrupt (that would silently train from the older checkpoint).
    with pytest.raises(CheckpointMismatchError,
                       match=rf"format_version {FORMAT_VERSION + 98}.*reads format_version {FORMAT_VERSION}"):
        manager.restore(FakeModel(0.0))


def test_checkpoint_without_format_version_reads_as_version_1(tmp_path):
    manager = CheckpointManager(tmp_path)
    path = manager.save(FakeModel(1.0), 1)
    state = json.load(open(os.path.join(path, "state.json")))
    del state["format_version"]
    json.dump(state, open(os.path.join(path, "state.json"), "w"))
    assert manager.restore(FakeModel(0.0)).step == 1


def test_checkpoint_of_another_vocabulary_names_both_hashes(tmp_path):
    theirs, ours = hashlib.sha256(b"old").hexdigest(), hashlib.sha256(b"new").hexdigest()
    CheckpointManager(tmp_path, fingerprint={"vocabulary_sha256": theirs}).save(FakeModel(1.0), 1)
    with pytest.raises(CheckpointMismatchError) as error:
        CheckpointManager(tmp_path, fingerprint={"vocabulary_sha256": ours}).restore(FakeModel(0.0))
    message = str(error.value)
    assert "vocabulary_sha256" in message and theirs[:12] in message and ours[:12] in message


def _fake_run(tmp_path, vocabulary, checkpoint_vocabulary, format_version=FORMAT_VERSION):
    """A run directory whose checkpoint fingerprint names `checkpoint_vocabulary`."""
    from glomo_tf.configs import GLoMoConfig, PretrainConfig, save_configs
    from glomo_tf.data.vocabulary import save_vocabulary
    from glomo_tf.training.pretraining import vocabulary_fingerprint

    config = GLoMoConfig.tiny(vocabulary_size=len(vocabulary), hidden_dim=8, num_heads=2, head_dim=4,
                              cnn_layers=1, num_layers=1, sequence_length=8, num_sampled_positions=2)
    save_configs(tmp_path / "config.json", config, PretrainConfig())
    save_vocabulary(vocabulary, tmp_path / "vocab.txt")
    manager = CheckpointManager(tmp_path / "checkpoints", fingerprint={
        "model": config.to_dict(), "vocabulary_sha256": vocabulary_fingerprint(checkpoint_vocabulary)})
    path = manager.save(FakeModel(1.0), 5)
    _rewrite_state(path, format_version=format_version)
    return path


def test_export_refuses_a_checkpoint_of_another_vocabulary_or_format(tmp_path):
    from glomo_tf.export.run_checkpoint import load_run

    _fake_run(tmp_path, ["<unk>", "the", "cat"], ["<unk>", "a", "dog"])
    with pytest.raises(ValueError, match=r"another vocabulary.*vocab\.txt.*vocabulary_sha256 \w{12} .* vs \w{12}"):
        load_run(tmp_path)
    shutil.rmtree(tmp_path / "checkpoints")
    _fake_run(tmp_path, ["<unk>", "the", "cat"], ["<unk>", "the", "cat"], format_version=7)
    with pytest.raises(ValueError, match=rf"format_version 7.*format_version {FORMAT_VERSION}"):
        load_run(tmp_path)


@pytest.fixture(scope="module")
def module_path():
    from tests.export import tiny_module

    return tiny_module.exported_module()[1]


def test_module_of_another_format_version_or_vocabulary(module_path, tmp_path):
    from glomo_tf.export.graph_module import CONFIG_FILENAME, FORMAT_VERSION as MODULE_VERSION, load_graph_module

    copy = tmp_path / "module"
    shutil.copytree(module_path, copy)
    vocabulary_file = copy / "assets" / "vocabulary.txt"
    words = vocabulary_file.read_text().split("\n")
    words[1], words[2] = words[2], words[1]  # same size, other ids
    vocabulary_file.write_text("\n".join(words))
    with pytest.raises(ValueError, match=r"vocabulary\.txt is not the vocabulary .*\w{12} vs \w{12}"):
        load_graph_module(copy)

    config_file = copy / "assets" / CONFIG_FILENAME
    config = json.loads(config_file.read_text())
    config["format_version"] = MODULE_VERSION + 1
    config_file.write_text(json.dumps(config))
    with pytest.raises(ValueError, match=rf"{CONFIG_FILENAME} has format_version {MODULE_VERSION + 1}.*"
                                         rf"reads format_version {MODULE_VERSION}"):
        load_graph_module(copy)
