"""finetune's callbacks: the best weights kept and written atomically, the lr-floor stop."""

import keras
import numpy as np
import pytest

from glomo_tf.tasks.finetune_callbacks import (
    BestModelCheckpoint,
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
