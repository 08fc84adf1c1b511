import json
import os

import keras
import numpy as np
import pytest

from glomo_tf.models.glomo_pretrainer import GLoMoPretrainer
from glomo_tf.training.checkpoints import (
    CheckpointCorruptError,
    CheckpointManager,
    CheckpointMismatchError,
)
from tests.training.corpus_fixtures import tiny_model_config

FINGERPRINT = {"model": "a"}


def _trained_model(steps, seed=0):
    """A model whose variables and optimizer state look trained for `steps` steps.

    Values are set directly instead of by `fit`, which would trace a train function
    (slow) and is not what these tests are about.
    """
    model = GLoMoPretrainer(tiny_model_config(), seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.optimizer.build(model.trainable_variables)
    rng = np.random.default_rng(seed + 100)
    for variable in list(model.variables) + list(model.optimizer.variables):
        if "int" in str(variable.dtype):
            value = np.full(variable.shape, steps) if variable.path.endswith("iteration") else (
                rng.integers(0, 1000, variable.shape))
            variable.assign(value.astype(variable.dtype))
        else:
            variable.assign(rng.normal(size=variable.shape).astype(variable.dtype))
    return model


def _values(variables):
    return [keras.ops.convert_to_numpy(v) for v in variables]


def test_restore_brings_back_weights_seeds_and_optimizer_slots(tmp_path):
    trained = _trained_model(2)
    manager = CheckpointManager(tmp_path, keep=2, fingerprint=FINGERPRINT)
    manager.save(trained, step=2, extra_state={"plateau": {"wait": 1}})

    fresh = GLoMoPretrainer(tiny_model_config(), seed=7)
    fresh.compile(optimizer=keras.optimizers.Adam(1e-2))
    restored = CheckpointManager(tmp_path, fingerprint=FINGERPRINT).restore(fresh)
    assert restored.step == 2 and restored.extra_state == {"plateau": {"wait": 1}}
    # The position sampler's SeedGenerator state is a model variable (not a layer weight).
    paths = [v.path for v in fresh.variables]
    assert any("position_seed" in p for p in paths)
    for a, b in zip(_values(trained.variables), _values(fresh.variables)):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(_values(trained.optimizer.variables), _values(fresh.optimizer.variables)):
        np.testing.assert_array_equal(a, b)
    assert int(fresh.optimizer.iterations.numpy()) == 2


def test_keeps_the_last_k_and_moves_latest(tmp_path):
    model = _trained_model(1)
    manager = CheckpointManager(tmp_path, keep=2, fingerprint=FINGERPRINT)
    for step in (1, 2, 3):
        manager.save(model, step)
    assert [s for s, _ in manager.checkpoints()] == [2, 3]
    assert open(tmp_path / "latest").read().strip() == "ckpt-00000003"
    assert manager.save(model, 3).endswith("ckpt-00000003")  # Re-saving a step replaces it.
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp") or ".old-" in n]


def test_corrupt_latest_falls_back_to_the_previous_one(tmp_path):
    model = _trained_model(1)
    manager = CheckpointManager(tmp_path, keep=3, fingerprint=FINGERPRINT)
    manager.save(model, 1)
    manager.save(model, 2)
    path = tmp_path / "ckpt-00000002" / "model.h5"
    path.write_bytes(path.read_bytes()[:100])  # Truncated, as by a crash mid-copy.
    # A half-written temporary directory from an interrupted save is ignored.
    os.makedirs(tmp_path / ".tmp-ckpt-00000003-1")
    with pytest.warns(UserWarning, match="ckpt-00000002"):
        restored = manager.restore(model)
    assert restored.step == 1
    (tmp_path / "ckpt-00000001" / "state.json").write_text("{")
    with pytest.warns(UserWarning), pytest.raises(CheckpointCorruptError, match="No usable checkpoint"):
        manager.restore(model)


def test_another_models_checkpoint_is_refused(tmp_path):
    model = _trained_model(1)
    CheckpointManager(tmp_path, fingerprint={"model": {"hidden_dim": 16}}).save(model, 1)
    other = CheckpointManager(tmp_path, fingerprint={"model": {"hidden_dim": 32}})
    with pytest.raises(CheckpointMismatchError, match="hidden_dim 16 there vs 32 here"):
        other.restore(model)


def test_empty_directory_and_bad_keep(tmp_path):
    model = _trained_model(0)
    assert CheckpointManager(tmp_path / "none").restore(model) is None
    assert CheckpointManager(tmp_path / "none").peek() is None
    with pytest.raises(ValueError, match="keep"):
        CheckpointManager(tmp_path, keep=0)
    state = json.loads(json.dumps({"sha256": {}}))
    os.makedirs(tmp_path / "ckpt-00000005")
    (tmp_path / "ckpt-00000005" / "state.json").write_text(json.dumps(state))
    with pytest.raises(CheckpointCorruptError):
        CheckpointManager(tmp_path).read_state(str(tmp_path / "ckpt-00000005"))


def test_best_on_validation_is_kept_and_found(tmp_path):
    from glomo_tf.export.run_checkpoint import resolve_checkpoint

    model = _trained_model(1)
    manager = CheckpointManager(tmp_path / "checkpoints", keep=2, fingerprint=FINGERPRINT)
    for step, val_loss in ((1, 5.0), (2, 3.0), (3, 4.0), (4, 4.5), (5, None)):
        manager.save(model, step, {} if val_loss is None else {"val_loss": val_loss})
    # The last 2 and the best (step 2) survive pruning.
    assert [s for s, _ in manager.checkpoints()] == [2, 4, 5]
    assert manager.best_path().endswith("ckpt-00000002")
    assert resolve_checkpoint(tmp_path, "best").endswith("ckpt-00000002")
    assert resolve_checkpoint(tmp_path, "latest").endswith("ckpt-00000005")
    assert resolve_checkpoint(tmp_path, "4").endswith("ckpt-00000004")
    with pytest.raises(FileNotFoundError, match="kept steps: 2, 4, 5"):
        resolve_checkpoint(tmp_path, "3")


def test_read_variables_refuses_a_mismatch_and_assigns_nothing(tmp_path):
    # The one reader of checkpoint weights, used by resume and by `glomo export`.
    from glomo_tf.training.checkpoints import _write_variables, read_variables

    variables = [keras.Variable(np.arange(6.0).reshape(2, 3)), keras.Variable(np.ones(4))]
    path = str(tmp_path / "model.h5")
    _write_variables(path, variables)
    fresh = [keras.Variable(np.zeros((2, 3))), keras.Variable(np.zeros(4))]
    read_variables(path, fresh, "model")
    np.testing.assert_array_equal(_values(fresh)[0], np.arange(6.0).reshape(2, 3))

    other_shape = [keras.Variable(np.full((2, 3), 7.0)), keras.Variable(np.full(5, 7.0))]
    with pytest.raises(CheckpointMismatchError, match=r"model variable 1 .* shape \(5,\) but the checkpoint holds \(4,\)"):
        read_variables(path, other_shape, "model")
    assert all((v == 7.0).all() for v in _values(other_shape))  # nothing assigned
    with pytest.raises(CheckpointMismatchError, match=r"optimizer in .* has 2 variables, the model has 1"):
        read_variables(path, fresh[:1], "optimizer")
