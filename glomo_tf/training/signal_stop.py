"""Stopping a pretraining run cleanly on SIGTERM / SIGINT.

A run killed at the end of a session, by a scheduler or by Ctrl-C would otherwise lose
every step since its last periodic checkpoint (up to `checkpoint_every`, 500 steps or
about 9 minutes for `glomo_wiki` on 2 cores). `StopOnSignal` turns the signal into a clean
stop: the handler only records it, the batch in progress (or a checkpoint being written)
completes, and the next batch end raises `TrainingInterrupted` out of `fit`, so the run
writes a checkpoint at the step reached and `--resume` continues from exactly there.

`fit` is left by an exception rather than `model.stop_training` because Keras still runs
the epoch's validation after a `stop_training` break: a validation of a partial epoch
would be logged off the validation grid and counted by the lr schedule, and a resumed
run would then differ from an uninterrupted one.
"""

import signal
import threading

import keras


class TrainingInterrupted(Exception):
    """Raised out of `fit` at a batch end after a stop signal; `signal_name` says which."""

    def __init__(self, signal_name):
        super().__init__(f"training interrupted by {signal_name}")
        self.signal_name = signal_name


class StopOnSignal(keras.callbacks.Callback):
    """Records SIGTERM / SIGINT and ends `fit` at the next batch end.

    Use it as a context manager around the whole training loop (a run may be several
    `fit` calls): the handlers are installed on entry and the previous ones restored on
    exit, so a signal between two fits is recorded too (check `received` before each
    fit). A second signal while stopping goes to the previous handler, so an impatient
    second Ctrl-C still ends the process at once. Outside the main thread (where Python
    cannot install handlers) it does nothing.

    Args:
        signals: the signal numbers to catch.

    Attributes:
        received: the name of the first signal caught ("SIGTERM", ...), or None.

    Example:

    ```python
    stop = StopOnSignal()
    with stop:
        try:
            model.fit(data, epochs=10, callbacks=[stop])
        except TrainingInterrupted:
            save_checkpoint(model)   # then exit; a resumed run continues from here
    ```
    """

    def __init__(self, signals=(signal.SIGTERM, signal.SIGINT)):
        super().__init__()
        self.signals = tuple(signals)
        self.received = None
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for number in self.signals:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc_info):
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}
        return False

    def _handle(self, number, frame):
        if self.received is None:
            self.received = signal.Signals(number).name
            return
        previous = self._previous.get(number)
        if callable(previous):
            previous(number, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(number, signal.SIG_DFL)
            signal.raise_signal(number)

    def on_train_batch_end(self, batch, logs=None):
        if self.received is not None:
            raise TrainingInterrupted(self.received)
