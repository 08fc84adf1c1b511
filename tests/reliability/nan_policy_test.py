"""A non-finite loss: `on_nan="stop"` ends the run keeping the last good checkpoint (CLI: exit 1
and one line); `on_nan="skip"` rewinds, replays and skips exactly the bad batch."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from glomo_tf.cli import main
from glomo_tf.configs import save_configs
from glomo_tf.models.glomo_pretrainer import GLoMoPretrainer
from glomo_tf.training.checkpoints import CheckpointManager
from glomo_tf.training.pretraining import pretrain
from glomo_tf.training.step_log import read_step_log
from tests.training.corpus_fixtures import tiny_model_config, tiny_train_config, write_text_corpus

# A checkpoint step (checkpoint_every=2): the bad step's epoch end must not save its weights.
BAD_STEP = 4


@pytest.fixture
def nan_at_step(monkeypatch):
    """Makes the loss (and so every gradient) NaN at global step BAD_STEP, weights intact before it."""
    compute_loss = GLoMoPretrainer.compute_loss

    def poisoned(self, *args, **kwargs):
        loss = compute_loss(self, *args, **kwargs)
        if kwargs.get("training", True) is False:
            return loss
        bad = tf.equal(tf.cast(self.optimizer.iterations, tf.int64), BAD_STEP - 1)
        return loss * tf.where(bad, tf.constant(float("nan")), tf.constant(1.0))

    monkeypatch.setattr(GLoMoPretrainer, "compute_loss", poisoned)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_text_corpus(tmp_path_factory.mktemp("corpus") / "corpus.txt")


def _finite_checkpoints(checkpoint_dir):
    manager = CheckpointManager(checkpoint_dir)
    steps = []
    for step, path in manager.checkpoints():
        import h5py

        with h5py.File(os.path.join(path, "model.h5")) as f:
            assert all(np.all(np.isfinite(f[k][()])) for k in f if f[k].dtype.kind == "f"), path
        steps.append(step)
    return steps


@pytest.mark.slow
def test_stop_keeps_the_last_good_checkpoint_and_says_so(nan_at_step, corpus, tmp_path, capsys):
    config = tmp_path / "config.json"
    save_configs(config, tiny_model_config(), tiny_train_config(steps=6, image_every=0))
    out = tmp_path / "run"
    code = main(["pretrain", "--corpus", corpus, "--config", str(config), "--out", str(out), "--quiet",
                 "--strategy", "cpu"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("glomo")]
    assert code == 1
    assert len(err) == 1 and f"non-finite loss at step {BAD_STEP}" in err[0] and "ckpt-00000002" in err[0]
    assert "--on-nan skip" in err[0]
    assert _finite_checkpoints(out / "checkpoints") == [2]
    log = read_step_log(out / "losses.tsv")
    assert [(s, status) for s, _, status in log] == [(1, "ok"), (2, "ok"), (3, "ok"), (4, "nan")]


@pytest.mark.slow
def test_skip_skips_exactly_the_bad_batch(nan_at_step, corpus, tmp_path):
    with pytest.warns(UserWarning, match=f"Non-finite loss at step {BAD_STEP}: skipping"):
        result = pretrain(corpus, tmp_path / "skip", tiny_model_config(),
                          tiny_train_config(steps=6, image_every=0, on_nan="skip"),
                          progress=False, strategy=tf.distribute.get_strategy())
    assert result.stopped == "steps" and result.final_step == 6 and result.skipped_steps == [BAD_STEP]
    log = read_step_log(result.loss_log_path)
    assert [s for s, _, _ in log] == [1, 2, 3, 4, 5, 6]  # none repeated by the replay
    assert [status for _, _, status in log] == ["ok", "ok", "ok", "skipped", "ok", "ok"]
    assert all(np.isfinite(loss) for s, loss, _ in log if s != BAD_STEP)
    assert all(np.all(np.isfinite(keras.ops.convert_to_numpy(v))) for v in result.model.variables)
    assert _finite_checkpoints(result.checkpoint_dir)[-1] == 6
    state = CheckpointManager(result.checkpoint_dir).peek()[1]
    assert state["extra_state"]["skipped_steps"] == [BAD_STEP]


def test_on_nan_is_validated():
    with pytest.raises(ValueError, match="on_nan"):
        tiny_train_config(on_nan="ignore")
