import contextlib
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import config as tf_config

from glomo_tf.configs import load_configs
from glomo_tf.data.vocabulary import load_vocabulary
from glomo_tf.training.checkpoints import CheckpointManager, CheckpointMismatchError
from glomo_tf.training.pretraining import pretrain
from tests.training.corpus_fixtures import tiny_model_config, tiny_train_config, write_text_corpus

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@contextlib.contextmanager
def op_determinism():
    # Process-wide; switched off again so later tests may use unseeded random ops.
    was_enabled = tf_config.is_op_determinism_enabled()
    tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        if not was_enabled:
            tf_config.disable_op_determinism()


def _run(corpus, out_dir, resume=False, **train_overrides):
    with op_determinism():
        return pretrain(corpus, str(out_dir), tiny_model_config(), tiny_train_config(**train_overrides),
                        resume=resume, progress=False, strategy=tf.distribute.get_strategy())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_text_corpus(tmp_path_factory.mktemp("corpus") / "corpus.txt")


@pytest.fixture(scope="module")
def straight(corpus, tmp_path_factory):
    return _run(corpus, tmp_path_factory.mktemp("straight"), steps=4)


def _events(log_dir):
    tags = {}
    for root, _, files in os.walk(log_dir):
        for name in files:
            for event in tf.compat.v1.train.summary_iterator(os.path.join(root, name)):
                for value in event.summary.value:
                    tags.setdefault(value.tag, set()).add(event.step)
    return tags


@pytest.mark.slow
def test_run_writes_vocabulary_config_checkpoints_and_tensorboard(straight):
    out = straight.out_dir
    vocabulary = load_vocabulary(os.path.join(out, "vocab.txt"))
    assert vocabulary[0] == "<unk>" and "cat" in vocabulary
    model_config, train_config = load_configs(os.path.join(out, "config.json"))
    assert model_config.vocabulary_size == len(vocabulary) == straight.model_config.vocabulary_size
    assert train_config.steps == 4
    manager = CheckpointManager(straight.checkpoint_dir)
    assert [s for s, _ in manager.checkpoints()] == [2, 4]  # keep_checkpoints=2
    assert straight.checkpoint_path == manager.latest_path() and manager.latest_path().endswith("ckpt-00000004")
    assert straight.final_step == 4 and straight.stopped == "steps"
    assert sorted(straight.step_losses) == [1, 2, 3, 4]
    assert all(np.isfinite(list(straight.step_losses.values())))
    assert len(straight.history["val_loss"]) == 2  # validate_every=2
    tags = _events(os.path.join(out, "logs", "steps"))
    assert tags["loss"] == tags["learning_rate"] == tags["tokens_per_second"] == {1, 2, 3, 4}
    assert tags["val_loss"] == {2, 4}
    assert tags["graphs"] == {2, 4}  # image_every=2
    assert any("loss" in tag for tag in _events(os.path.join(out, "logs", "train")))


@pytest.mark.slow
def test_resume_continues_at_the_same_step_and_data_position(straight, corpus, tmp_path):
    half = _run(corpus, tmp_path, steps=2)
    resumed = _run(corpus, tmp_path, steps=4, resume=True)
    assert resumed.initial_step == 2 and resumed.final_step == 4
    assert {**half.step_losses, **resumed.step_losses} == straight.step_losses
    assert half.history["val_loss"] + resumed.history["val_loss"] == straight.history["val_loss"]
    for a, b in zip(straight.model.variables, resumed.model.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


@pytest.mark.slow
def test_resume_from_a_checkpoint_between_validations(straight, corpus, tmp_path):
    # The 3-step run's final checkpoint (step 3) is off the 2-step validation grid.
    first = _run(corpus, tmp_path, steps=3)
    resumed = _run(corpus, tmp_path, steps=4, resume=True)
    assert resumed.initial_step == 3
    assert {**first.step_losses, **resumed.step_losses} == straight.step_losses
    assert first.history["val_loss"][0] == straight.history["val_loss"][0]
    assert resumed.history["val_loss"] == straight.history["val_loss"][1:]
    for a, b in zip(straight.model.variables, resumed.model.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


@pytest.mark.slow
def test_sigterm_mid_epoch_checkpoints_the_step_reached_and_resume_is_exact(
        straight, corpus, tmp_path, monkeypatch):
    import signal

    from glomo_tf.training.callbacks import StepLossRecorder, global_step

    record = StepLossRecorder.on_train_batch_end

    def record_then_signal(self, batch, logs=None):
        record(self, batch, logs)
        if global_step(self.model) == 3:  # mid-epoch: validation and checkpoints are every 2
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(StepLossRecorder, "on_train_batch_end", record_then_signal)
    before = signal.getsignal(signal.SIGTERM)
    stopped = _run(corpus, tmp_path, steps=4)
    monkeypatch.undo()
    assert signal.getsignal(signal.SIGTERM) == before
    assert stopped.stopped == "signal" and stopped.stop_signal == "SIGTERM"
    assert stopped.final_step == 3 and stopped.checkpoint_path.endswith("ckpt-00000003")
    assert len(stopped.history["val_loss"]) == 1  # step 2's; none for the partial epoch
    resumed = _run(corpus, tmp_path, steps=4, resume=True)
    assert resumed.initial_step == 3 and resumed.stopped == "steps"
    assert {**stopped.step_losses, **resumed.step_losses} == straight.step_losses
    assert stopped.history["val_loss"] + resumed.history["val_loss"] == straight.history["val_loss"]
    for a, b in zip(straight.model.variables, resumed.model.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


def test_out_dir_of_another_model_or_an_unfinished_run_is_refused(straight, corpus):
    out = straight.out_dir
    config_before = open(os.path.join(out, "config.json")).read()
    with pytest.raises(CheckpointMismatchError, match="another model.*hidden_dim"):
        pretrain(corpus, out, tiny_model_config(hidden_dim=32), tiny_train_config(), resume=True, progress=False)
    with pytest.raises(ValueError, match="already holds a checkpoint of this model"):
        pretrain(corpus, out, tiny_model_config(), tiny_train_config(), progress=False)
    assert open(os.path.join(out, "config.json")).read() == config_before


def test_bad_inputs_fail_before_training(corpus, tmp_path):
    with pytest.raises(FileNotFoundError, match="Corpus not found"):
        pretrain(str(tmp_path / "nope.txt"), tmp_path / "a", tiny_model_config(), tiny_train_config())
    with pytest.raises(FileNotFoundError, match="Nothing to resume"):
        pretrain(corpus, tmp_path / "b", tiny_model_config(), tiny_train_config(), resume=True)
    one_word = tmp_path / "one.txt"
    one_word.write_text("word word word\nword word\n")
    with pytest.raises(ValueError, match="Vocabulary too small"):
        pretrain(str(one_word), tmp_path / "c", tiny_model_config(), tiny_train_config(), progress=False)


@pytest.mark.slow
def test_synthetic_corpus(tmp_path):
    result = _run("synthetic", tmp_path, steps=2, image_every=0)
    assert os.path.isfile(tmp_path / "synthetic" / "train.txt")
    assert os.path.isfile(tmp_path / "synthetic" / "train.txt.parents.jsonl")
    assert result.final_step == 2 and len(result.history["val_loss"]) == 1
    first_document = open(tmp_path / "synthetic" / "train.txt").readline().split()
    assert len(first_document) == tiny_model_config().sequence_length  # One window per document.


@pytest.mark.slow
def test_nan_loss_stops_and_keeps_no_bad_checkpoint(corpus, tmp_path):
    result = _run(corpus, tmp_path, steps=4, optimizer="sgd", learning_rate=1e36, clipnorm=1e36, image_every=0)
    assert result.stopped == "nan"
    for step, path in CheckpointManager(result.checkpoint_dir).checkpoints():
        assert step < result.final_step


_MIRRORED_SCRIPT = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from glomo_tf.training.pretraining import pretrain
    from glomo_tf.training.strategy import make_strategy
    from tests.training.corpus_fixtures import tiny_model_config, tiny_train_config
    corpus, out = sys.argv[1], sys.argv[2]
    losses = {}
    for name, strategy in (("mirrored", make_strategy("mirrored")), ("default", tf.distribute.get_strategy())):
        result = pretrain(corpus, f"{out}/{name}", tiny_model_config(), tiny_train_config(steps=3, image_every=2),
                          strategy=strategy, progress=False)
        losses[name] = [result.step_losses[s] for s in sorted(result.step_losses)] + result.history["val_loss"]
        losses[name + "_replicas"] = strategy.num_replicas_in_sync
    print("LOSSES " + json.dumps(losses))
""")


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus_matches_the_default(corpus, tmp_path):
    # Logical devices must be configured before TensorFlow initialises them: a fresh process.
    env = {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", _MIRRORED_SCRIPT, corpus, str(tmp_path)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    line = [l for l in done.stdout.splitlines() if l.startswith("LOSSES ")][-1]
    losses = json.loads(line[len("LOSSES "):])
    assert losses["mirrored_replicas"] == 2 and losses["default_replicas"] == 1
    # Not bit-equal, and the cause is not pinned down yet: with tiny's embedding at +-0.5 the
    # two runs differed by 0.13% at step 0 and 0.84% at step 1 (measured; ~5e-4 at +-0.1).
    # A wrong split or loss scaling (e.g. summing replicas) would be off by 2x.
    np.testing.assert_allclose(losses["mirrored"], losses["default"], rtol=2e-2)


@pytest.mark.slow
def test_mixed_bfloat16_precision_trains_and_resumes_in_float32(corpus, tmp_path):
    result = _run(corpus, tmp_path, steps=2, image_every=0, precision="mixed_bfloat16")
    assert result.final_step == 2 and np.isfinite(result.history["loss"]).all()
    assert load_configs(str(tmp_path / "config.json"))[1].precision == "mixed_bfloat16"
    # float32 weights in the checkpoint: the same run continues in float32.
    resumed = _run(corpus, tmp_path, resume=True, steps=3, image_every=0)
    assert resumed.final_step == 3


def test_precision_is_validated():
    with pytest.raises(ValueError, match="precision"):
        tiny_train_config(precision="float16")


def test_released_windows_several_corpora_live_rows_and_best_checkpoint(tmp_path):
    from glomo_tf.export.run_checkpoint import resolve_checkpoint
    from tests.training.corpus_fixtures import tiny_model_config, tiny_train_config, write_text_corpus

    first = write_text_corpus(tmp_path / "a.txt", documents=20, words_per_document=40)
    second = write_text_corpus(tmp_path / "b.txt", documents=20, words_per_document=25)
    result = pretrain(
        [first, second], tmp_path / "run", tiny_model_config(sequence_length=16),
        tiny_train_config(windows="documents", window_stride=8, window_stride_jitter=2),
        progress=False)
    assert result.final_step == 4
    assert "val_live_rows" in result.history
    assert all(0.0 <= v <= 1.0 for v in result.history["val_live_rows"])
    assert resolve_checkpoint(result.out_dir, "best") is not None
    saved = json.load(open(result.config_path))["train"]
    assert saved["windows"] == "documents" and saved["splitting"] == "english"
