"""StopOnSignal: a signal ends `fit` at the next batch end, by exception, and only there."""

import os
import signal

import keras
import numpy as np
import pytest

from glomo_tf.training.signal_stop import StopOnSignal, TrainingInterrupted


class _SignalAtBatch(keras.callbacks.Callback):
    def __init__(self, batch, number=signal.SIGTERM):
        super().__init__()
        self.batch, self.number, self.ended = batch, number, []

    def on_train_batch_end(self, batch, logs=None):
        self.ended.append(batch)
        if batch == self.batch:
            os.kill(os.getpid(), self.number)


def _fit(callbacks, epochs=2):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.ones((8, 3), "float32"), np.zeros((8, 1), "float32")
    # 4 batches per epoch, validation after each: a stop_training break would still validate.
    return model.fit(x, y, batch_size=2, epochs=epochs, validation_data=(x, y), verbose=0,
                     callbacks=callbacks)


def test_a_signal_ends_fit_after_the_batch_in_progress_and_the_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM)
    stop, trigger = StopOnSignal(), _SignalAtBatch(1)
    with stop:
        assert signal.getsignal(signal.SIGTERM) == stop._handle
        with pytest.raises(TrainingInterrupted, match="SIGTERM") as raised:
            _fit([trigger, stop])
    assert raised.value.signal_name == "SIGTERM" and stop.received == "SIGTERM"
    assert trigger.ended == [0, 1]  # batch 1 completed; no further batch and no validation
    assert signal.getsignal(signal.SIGTERM) == before


def test_without_a_signal_fit_runs_to_the_end():
    stop = StopOnSignal()
    with stop:
        history = _fit([stop])
    assert stop.received is None and len(history.history["val_loss"]) == 2


def test_a_second_signal_goes_to_the_previous_handler():
    seen = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: seen.append(number))
    try:
        stop = StopOnSignal(signals=(signal.SIGINT,))
        with stop:
            os.kill(os.getpid(), signal.SIGINT)
            assert stop.received == "SIGINT" and seen == []
            os.kill(os.getpid(), signal.SIGINT)
            assert seen == [signal.SIGINT]
    finally:
        signal.signal(signal.SIGINT, previous)
