"""finetune's callbacks: the best weights kept and written atomically, the lr-floor stop,
the training state a killed run resumes from."""

import keras
import numpy as np
import pytest

from glomo_tf.tasks.finetune_callbacks import (
    BestModelCheckpoint,
    ResumableTraining,
    StopBelowLearningRate,
    ValidationScores,
)


def _model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


def test_best_weights_are_kept_written_and_restored(tmp_path):
    model = _model()
    path = tmp_path / "best.weights.h5"
    best = BestModelCheckpoint("val_score", str(path))
    best.set_model(model)
    scores = [0.2, 0.5, 0.4]
    snapshots = []
    for epoch, score in enumerate(scores):
        model.set_weights([w + 1.0 for w in model.get_weights()])
        snapshots.append(model.get_weights())
        best.on_epoch_end(epoch, {"val_score": score})
    assert best.best == 0.5 and best.best_epoch == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.weights.h5"]
    best.restore()
    for a, b in zip(model.get_weights(), snapshots[1]):
        np.testing.assert_array_equal(a, b)
    fresh = _model()
    fresh.load_weights(str(path))
    for a, b in zip(fresh.get_weights(), snapshots[1]):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="val_score"):
        best.on_epoch_end(3, {"loss": 1.0})
    with pytest.raises(ValueError, match="weights.h5"):
        BestModelCheckpoint("val_score", str(tmp_path / "best.h5"))


def test_halving_stops_below_one_percent_and_scores_reach_the_logs():
    keras.utils.set_random_seed(0)
    x, y = np.ones((4, 2), "float32"), np.ones((4, 1), "float32")
    model = _model()
    logs_seen = []

    class Spy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs_seen.append(dict(logs))

    history = model.fit(x, y, epochs=50, verbose=0, callbacks=[
        ValidationScores(lambda: {"val_score": 1.0}),  # never improves after the first
        keras.callbacks.ReduceLROnPlateau("val_score", mode="max", factor=0.5, patience=1),
        StopBelowLearningRate(0.01), Spy()])
    # lr 0.1 halves every 2nd epoch after the first: below 0.001 after 7 halvings.
    assert len(history.history["loss"]) < 50
    assert float(model.optimizer.learning_rate) < 0.001
    assert all(logs["val_score"] == 1.0 for logs in logs_seen)
    with pytest.raises(ValueError, match="fraction"):
        StopBelowLearningRate(1.5)


class Killed(Exception):
    pass


class KillAt(keras.callbacks.Callback):
    """Raises at the end of epoch `epoch` (0-based), before later callbacks see it."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Killed()


class Snapshots(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def _resumable_run(directory, scores, identity=None):
    """A model and the stopping callbacks of `finetune`, fed scripted validation scores."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
    scores = iter(scores)
    best = BestModelCheckpoint("val_score")
    stop = keras.callbacks.EarlyStopping("val_score", mode="max", patience=2)
    halve = keras.callbacks.ReduceLROnPlateau("val_score", mode="max", factor=0.5, patience=1)
    tracked = [ValidationScores(lambda: {"val_score": next(scores)}), best, stop, halve]
    state = ResumableTraining(directory, identity or {"run": 1}, tracked)
    return model, best, state, tracked


def test_a_killed_fit_resumes_with_its_weights_optimizer_and_patience(tmp_path):
    x, y = np.ones((8, 2), "float32"), np.ones((8, 1), "float32")
    directory = tmp_path / "state"
    model, best, state, callbacks = _resumable_run(directory, [0.5, 0.3, 0.2])
    snapshots = Snapshots()
    with pytest.raises(Killed):
        model.fit(x, y, batch_size=4, epochs=6, verbose=0,
                  callbacks=callbacks + [snapshots, KillAt(1), state])
    # Epoch 0 was saved; the kill came at the end of epoch 1, before its state.
    assert sorted(p.name for p in directory.iterdir()) == ["epoch-0001.weights.h5", "state.json"]

    resumed, best, state, callbacks = _resumable_run(directory, [0.3, 0.2, 0.1, 0.1])
    assert state.load(resumed) == 1 and state.resumed_at == [1]
    for a, b in zip(resumed.get_weights(), snapshots.weights[0]):
        np.testing.assert_array_equal(a, b)
    assert int(resumed.optimizer.iterations) == 2          # 8 examples / batch 4, one epoch
    history = resumed.fit(x, y, batch_size=4, epochs=6, initial_epoch=1, verbose=0,
                          callbacks=callbacks + [state])
    # The patience carried over: scores 0.5 | 0.3, 0.2 stop after two epochs without gain
    # (a fresh EarlyStopping would have counted 0.3 as its best and gone on).
    assert len(history.history["loss"]) == 2
    assert state.history["val_score"] == [0.5, 0.3, 0.2]
    assert (best.best, best.best_epoch) == (0.5, 1)
    for a, b in zip(best._weights, snapshots.weights[0]):   # the best epoch's weights
        np.testing.assert_array_equal(a, b)
    # ReduceLROnPlateau halved once per epoch without gain after its patience of 1.
    assert float(resumed.optimizer.learning_rate) == pytest.approx(0.025)
    assert sorted(p.name for p in directory.iterdir()) == [
        "epoch-0001.weights.h5", "epoch-0003.weights.h5", "state.json"]  # best + latest
    state.finish()
    assert not directory.exists()


def test_a_state_of_another_run_or_a_corrupt_one_is_refused(tmp_path):
    x, y = np.ones((4, 2), "float32"), np.ones((4, 1), "float32")
    directory = tmp_path / "state"
    model, _, state, callbacks = _resumable_run(directory, [0.5])
    model.fit(x, y, epochs=1, verbose=0, callbacks=callbacks + [state])
    other, _, state, _ = _resumable_run(directory, [], identity={"run": 2})
    with pytest.raises(ValueError, match="another run.*Delete that folder"):
        state.load(other)
    (directory / "epoch-0001.weights.h5").write_bytes(b"not hdf5")
    _, _, state, _ = _resumable_run(directory, [])
    with pytest.raises(ValueError, match="weights do not load"):
        state.load(other)
    (directory / "state.json").write_text("{truncated")
    with pytest.raises(ValueError, match="unreadable"):
        state.load(other)
    empty, _, state, _ = _resumable_run(tmp_path / "nothing_yet", [])
    assert state.load(empty) == 0 and state.resumed_at == []
