"""Callbacks of `finetune`: validation scores, the best model's checkpoint, the lr-floor stop,
the state that lets a killed run resume."""

import json
import os
import shutil
import time

import keras
import numpy as np

from glomo_tf.files.atomic_write import atomic_path, write_json


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


# The counters each tracked callback keeps across epochs, by class name. Their
# `on_train_begin` resets them, so a resumed run sets them again afterwards.
_TRACKED_STATE = {
    "BestModelCheckpoint": ("best", "best_epoch"),
    "EarlyStopping": ("wait", "best", "best_epoch", "stopped_epoch"),
    "ReduceLROnPlateau": ("wait", "best", "cooldown_counter"),
    "StopBelowLearningRate": ("initial",),
}
STATE_FILE = "state.json"


class ResumableTraining(keras.callbacks.Callback):
    """The whole training state after every epoch, so a killed `fit` continues where it
    stopped: weights and optimizer slots, learning rate, the epoch, the logs so far, the
    best epoch's weights and the counters of the stopping callbacks.

    Like `keras.callbacks.BackupAndRestore`, and also the callbacks' state, which that one
    does not keep (a resumed early stopping would otherwise start its patience again and
    a resumed best-model checkpoint forget its best). Every epoch's state is committed by
    one atomic write of `state.json`, which names its weights files (written before it),
    so a kill at any moment leaves the previous state whole. Put it last in the callback
    list, and call `load(model)` before `fit(..., initial_epoch=...)`.

    A resumed run is the same training, not the same numbers: the data order and the
    dropout draws of the epochs after the resume start again from the seed.

    Args:
        directory: this run's state folder (nothing else may write there).
        identity: a JSON-able description of the run (its config); a state saved by a run
            of another identity is refused, never used.
        tracked: the callbacks whose counters travel with the state (any of
            `BestModelCheckpoint`, `EarlyStopping`, `ReduceLROnPlateau`,
            `StopBelowLearningRate`; others are ignored).

    Attributes:
        history: every epoch's logs, those before the resume included.
        resumed_at: the epochs (0-based, the first not yet trained) runs resumed at.
        seconds_before: training seconds of the earlier processes, up to their last
            saved epoch (work after it was lost and is not counted).

    Example:

    ```python
    state = ResumableTraining("~/runs/sst2-s0", {"config": config.to_dict()}, [best, stop])
    first = state.load(model)                 # 0 when nothing was saved yet
    model.fit(data, epochs=20, initial_epoch=first, callbacks=[best, stop, state])
    state.finish()                            # the run is done: its state is deleted
    ```
    """

    def __init__(self, directory, identity, tracked=()):
        super().__init__()
        self.directory = os.path.expanduser(os.fspath(directory))
        self.identity = json.loads(json.dumps(identity))  # as it will read back
        self.tracked = [c for c in tracked if type(c).__name__ in _TRACKED_STATE]
        self.history = {}
        self.resumed_at = []
        self.seconds_before = 0.0
        self._started = None
        self._restore = None
        self._best_file = None

    @property
    def state_path(self):
        return os.path.join(self.directory, STATE_FILE)

    def _refuse(self, why):
        raise ValueError(f"Cannot resume from {self.directory}: {why}. Delete that folder to "
                         "start the run afresh.")

    def load(self, model):
        """Restores a saved state into `model` (built, compiled); returns the epoch to
        start at: 0 when nothing was saved."""
        if not os.path.exists(self.state_path):
            return 0
        try:
            with open(self.state_path, encoding="utf-8") as f:
                state = json.load(f)
            epoch = int(state["epoch"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            self._refuse(f"its {STATE_FILE} is unreadable ({error})")
        if state.get("identity") != self.identity:
            self._refuse("it holds the state of another run (saved identity "
                         f"{json.dumps(state.get('identity'), sort_keys=True)[:300]}, this run "
                         f"{json.dumps(self.identity, sort_keys=True)[:300]})")
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        best_weights = None
        try:
            if state.get("best_weights"):
                model.load_weights(os.path.join(self.directory, state["best_weights"]))
                best_weights = [np.array(w) for w in model.get_weights()]
            model.load_weights(os.path.join(self.directory, state["weights"]))
        except (OSError, ValueError, KeyError) as error:
            self._refuse(f"its weights do not load ({error})")
        model.optimizer.learning_rate = state["learning_rate"]
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.resumed_at = list(state["resumed_at"]) + [epoch]
        self.seconds_before = float(state["seconds"])
        self._best_file = state.get("best_weights")
        self._restore = (state["callbacks"], best_weights)
        return epoch

    def on_train_begin(self, logs=None):
        self._started = time.time()
        if self._restore is None:
            return
        saved, best_weights = self._restore
        for callback, values in zip(self.tracked, saved):
            for name, value in values.items():
                setattr(callback, name, value)
            if best_weights is not None:
                if type(callback).__name__ == "BestModelCheckpoint":
                    callback._weights = best_weights
                elif getattr(callback, "restore_best_weights", False):
                    callback.best_weights = best_weights
        self._restore = None

    def _callback_state(self, callback):
        values = {}
        for name in _TRACKED_STATE[type(callback).__name__]:
            value = getattr(callback, name)
            values[name] = value if value is None or isinstance(value, int) else float(value)
        return values

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        os.makedirs(self.directory, exist_ok=True)
        weights = f"epoch-{epoch + 1:04d}.weights.h5"
        with atomic_path(os.path.join(self.directory, weights), suffix=".weights.h5") as temp:
            self.model.save_weights(temp)
        best = next((c for c in self.tracked if type(c).__name__ == "BestModelCheckpoint"), None)
        if best is not None and best.best_epoch == epoch + 1:
            self._best_file = weights  # this epoch is the best: its file is kept as such
        write_json(self.state_path, {
            "identity": self.identity, "epoch": epoch + 1, "weights": weights,
            "best_weights": self._best_file, "history": self.history,
            "resumed_at": self.resumed_at,
            "seconds": self.seconds_before + time.time() - self._started,
            "learning_rate": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
            "callbacks": [self._callback_state(c) for c in self.tracked]})
        for name in os.listdir(self.directory):  # only after the new state is committed
            if name.endswith(".weights.h5") and name not in (weights, self._best_file):
                os.remove(os.path.join(self.directory, name))

    def finish(self):
        """Deletes the state: the run has finished and its result is out."""
        shutil.rmtree(self.directory, ignore_errors=True)
