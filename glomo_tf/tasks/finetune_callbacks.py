"""Callbacks of `finetune`: validation scores, the best model's checkpoint, the lr-floor stop."""

import os

import keras
import numpy as np

from glomo_tf.files.atomic_write import atomic_path


class ValidationScores(keras.callbacks.Callback):
    """Adds scores computed outside Keras (e.g. SQuAD's EM/F1) to every epoch's logs.

    Put it first in the callback list: later callbacks (early stopping, checkpoints) see
    the scores under their names.

    Args:
        compute: a function of no argument returning a dict `{"val_f1": ..., ...}`.

    Example:

    ```python
    model.fit(data, callbacks=[ValidationScores(lambda: {"val_f1": f1(model)}),
                               keras.callbacks.EarlyStopping("val_f1", mode="max")])
    ```
    """

    def __init__(self, compute):
        super().__init__()
        self.compute = compute

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update({k: float(v) for k, v in self.compute().items()})


class BestModelCheckpoint(keras.callbacks.Callback):
    """Keeps the weights of the best epoch by `monitor` (higher is better), in memory and,
    with `path`, as a `.weights.h5` file written to a temporary name and renamed, so a
    kill mid-write leaves the previous best intact.

    Args:
        monitor: the logs key (e.g. `"val_accuracy"`, `"val_f1"`).
        path: optional file path ending in `.weights.h5`.

    Attributes:
        best: the best value seen (None before the first epoch); best_epoch: 1-based.

    Example:

    ```python
    best = BestModelCheckpoint("val_accuracy", "run/best.weights.h5")
    model.fit(data, validation_data=val, epochs=5, callbacks=[best])
    best.restore(model)           # the best-on-validation weights
    ```
    """

    def __init__(self, monitor, path=None):
        super().__init__()
        if path is not None and not os.fspath(path).endswith(".weights.h5"):
            raise ValueError(f"BestModelCheckpoint: path must end in .weights.h5, got {path!r}.")
        self.monitor = monitor
        self.path = None if path is None else os.fspath(path)
        self.best = None
        self.best_epoch = None
        self._weights = None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise ValueError(
                f"BestModelCheckpoint: no {self.monitor!r} in the epoch's logs (keys "
                f"{sorted(logs or {})}); is there validation data?")
        value = float(value)
        if self.best is not None and not value > self.best:
            return
        self.best, self.best_epoch = value, epoch + 1
        self._weights = [np.array(w) for w in self.model.get_weights()]
        if self.path is not None:
            folder = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(folder, exist_ok=True)
            with atomic_path(self.path, suffix=".weights.h5") as temp:
                self.model.save_weights(temp)

    def restore(self, model=None):
        """Sets the best weights on `model` (default the trained one); no-op before any."""
        if self._weights is not None:
            (model or self.model).set_weights(self._weights)


class StopBelowLearningRate(keras.callbacks.Callback):
    """Stops training once the learning rate is below `fraction` of its start (the
    released rule's end, after `ReduceLROnPlateau` halvings).

    Example:

    ```python
    callbacks = [keras.callbacks.ReduceLROnPlateau("val_f1", mode="max", factor=0.5,
                                                   patience=3),
                 StopBelowLearningRate(0.01)]
    ```
    """

    def __init__(self, fraction=0.01):
        super().__init__()
        if not 0.0 < float(fraction) < 1.0:
            raise ValueError(f"StopBelowLearningRate: fraction must be in (0, 1), got {fraction!r}.")
        self.fraction = float(fraction)
        self.initial = None

    def _lr(self):
        return float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_train_begin(self, logs=None):
        self.initial = self._lr()

    def on_epoch_end(self, epoch, logs=None):
        if self._lr() < self.fraction * self.initial:
            self.model.stop_training = True
