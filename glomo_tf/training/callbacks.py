"""Keras callbacks of a pretraining run: lr schedule, stopping, checkpoints, TensorBoard summaries.

Steps are counted by `model.optimizer.iterations` (the global step, restored from a
checkpoint), never by Keras' per-fit batch index, because one run may be several `fit`
calls (see `glomo_tf.training.pretraining`) and a resumed run starts mid-way.
"""

import math
import time

import keras
import numpy as np
import tensorflow as tf

from glomo_tf.training.graph_plots import figure_to_png, plot_graphs


def global_step(model):
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


def current_learning_rate(model):
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


class PlateauLRHalving(keras.callbacks.ReduceLROnPlateau):
    """`ReduceLROnPlateau` on `val_loss` counted in validations, that survives several fits.

    Differences from the stock callback, both needed by the released schedule ("halve
    the lr after `patience` validations in a row without improvement"):
    - epochs without a validation (a `fit` epoch is a checkpoint/validation interval)
      are ignored instead of warned about, so `patience` counts validations;
    - the state (`best`, `wait`, `cooldown_counter`) is kept across `fit` calls and can
      be saved in a checkpoint (`get_state` / `set_state`), so a resumed run halves the
      lr at the same step as an uninterrupted one.

    Args:
        patience: validations without improvement before the lr is multiplied by `factor`.
        factor: multiplier (released: 0.5).
        **kwargs: passed to `keras.callbacks.ReduceLROnPlateau`.
    """

    def __init__(self, patience=3, factor=0.5, **kwargs):
        kwargs.setdefault("monitor", "val_loss")
        kwargs.setdefault("min_lr", 0.0)
        super().__init__(patience=patience, factor=factor, **kwargs)
        self._reset()

    def on_train_begin(self, logs=None):
        pass  # The stock callback resets here; the schedule spans every fit of the run.

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or self.monitor not in logs:
            return
        super().on_epoch_end(epoch, logs)

    def get_state(self):
        best = None if self.best is None else float(self.best)
        return {"best": best, "wait": int(self.wait), "cooldown_counter": int(self.cooldown_counter)}

    def set_state(self, state):
        best = state.get("best")
        self.best = None if best is None else float(best)
        self.wait = int(state.get("wait", 0))
        self.cooldown_counter = int(state.get("cooldown_counter", 0))


class StopBelowLearningRate(keras.callbacks.Callback):
    """Stops training once the learning rate falls below `threshold` (released: 1% of start).

    Args:
        threshold: absolute learning rate.

    Attributes:
        stopped: True once it has stopped a fit.
    """

    def __init__(self, threshold):
        super().__init__()
        self.threshold = float(threshold)
        self.stopped = False

    def on_epoch_end(self, epoch, logs=None):
        if current_learning_rate(self.model) < self.threshold:
            self.stopped = True
            self.model.stop_training = True


class StepLossRecorder(keras.callbacks.Callback):
    """Records the loss of every step, keyed by global step.

    Keras reports the running mean of the loss since the start of the `fit` epoch; the
    loss of step k of an epoch is `k * mean_k - (k - 1) * mean_{k-1}` (all batches have the
    same size, so the mean is unweighted).

    Args:
        log: optional `glomo_tf.training.step_log.StepLossLog`: every step is also appended
            there, and the file is fsynced at each epoch end (before `PeriodicCheckpoint`
            writes, which must come later in the callback list).

    Attributes:
        losses: `{global_step: loss}`.
    """

    def __init__(self, log=None):
        super().__init__()
        self.losses = {}
        self.log = log

    def on_epoch_begin(self, epoch, logs=None):
        self._count, self._mean = 0, 0.0

    def on_train_batch_end(self, batch, logs=None):
        if not logs or "loss" not in logs:
            return
        mean = float(logs["loss"])
        self._count += 1
        step = global_step(self.model)
        self.losses[step] = self._count * mean - (self._count - 1) * self._mean
        self._mean = mean
        if self.log is not None:
            self.log.append(step, self.losses[step])

    def on_epoch_end(self, epoch, logs=None):
        if self.log is not None:
            self.log.sync()


class PeriodicCheckpoint(keras.callbacks.Callback):
    """Saves a checkpoint at the end of every `fit` epoch whose global step is a multiple of `every`.

    A non-finite loss (the run is about to be stopped by `TerminateOnNaN`) never
    overwrites the last good checkpoint.

    Args:
        manager: a `glomo_tf.training.checkpoints.CheckpointManager`.
        every: checkpoint interval in steps.
        extra_state_fn: zero-argument function returning the JSON state to store
            alongside (e.g. the lr schedule's state).

    Attributes:
        last_saved_step: global step of the last checkpoint written (or None).
    """

    def __init__(self, manager, every, extra_state_fn=None):
        super().__init__()
        self.manager = manager
        self.every = int(every)
        self.extra_state_fn = extra_state_fn or dict
        self.last_saved_step = None

    def on_epoch_end(self, epoch, logs=None):
        step = global_step(self.model)
        if step % self.every == 0:
            self.save(step, logs)

    def save(self, step, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            return None
        if not all(np.all(np.isfinite(keras.ops.convert_to_numpy(v))) for v in self.model.trainable_variables):
            return None
        extra_state = dict(self.extra_state_fn())
        val_loss = (logs or {}).get("val_loss")
        if val_loss is not None and math.isfinite(float(val_loss)):
            # Lets the manager keep, and `glomo export --checkpoint best` find, the best one.
            extra_state["val_loss"] = float(val_loss)
        path = self.manager.save(self.model, step, extra_state)
        self.last_saved_step = step
        return path


class PretrainingSummaries(keras.callbacks.Callback):
    """TensorBoard scalars per step and graph heatmaps of a fixed window.

    Every `log_every` steps: `loss` (this step's), `learning_rate` and `tokens_per_second`
    (since the previous log). At every validation: `val_loss`, at its global step. Every
    `image_every` steps: the heatmaps of `model.predict_graphs(window)` (`plot_graphs`),
    as a `tf.summary.image`. All at the global step, so resumed runs continue the curves.

    Args:
        log_dir: the TensorBoard directory for these summaries.
        log_every: steps between scalar summaries.
        tokens_per_step: global batch size x T.
        image_every: steps between heatmaps; 0 disables them.
        window: int ids `[1, T]`, the fixed (validation) window whose graphs are drawn.
        tokens: the `T` token strings of `window`, for the axis labels.
    """

    def __init__(self, log_dir, log_every, tokens_per_step, image_every=0, window=None, tokens=None):
        super().__init__()
        self.log_dir = log_dir
        self.log_every = int(log_every)
        self.tokens_per_step = int(tokens_per_step)
        self.image_every = int(image_every or 0)
        self.window = window
        self.tokens = tokens
        self._writer = None
        self._count, self._mean = 0, 0.0

    @property
    def writer(self):
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        return self._writer

    def on_train_begin(self, logs=None):
        self._last_time = time.perf_counter()
        self._last_step = global_step(self.model)

    def on_epoch_begin(self, epoch, logs=None):
        self._count, self._mean = 0, 0.0

    def on_train_batch_end(self, batch, logs=None):
        step = global_step(self.model)
        loss = None
        if logs and "loss" in logs:
            mean = float(logs["loss"])
            self._count += 1
            loss = self._count * mean - (self._count - 1) * self._mean
            self._mean = mean
        if step % self.log_every == 0:
            now = time.perf_counter()
            elapsed = max(now - self._last_time, 1e-9)
            rate = (step - self._last_step) * self.tokens_per_step / elapsed
            self._last_time, self._last_step = now, step
            with self.writer.as_default(step=step):
                if loss is not None:
                    tf.summary.scalar("loss", loss)
                tf.summary.scalar("learning_rate", current_learning_rate(self.model))
                tf.summary.scalar("tokens_per_second", rate)
        if self.image_every and self.window is not None and step % self.image_every == 0:
            self.write_graph_image(step)

    def on_epoch_end(self, epoch, logs=None):
        if logs and "val_loss" in logs:
            with self.writer.as_default(step=global_step(self.model)):
                tf.summary.scalar("val_loss", float(logs["val_loss"]))

    def write_graph_image(self, step):
        graphs = keras.ops.convert_to_numpy(self.model.predict_graphs(self.window))[0]
        fig = plot_graphs(graphs, self.tokens, title=f"step {step}")
        image = tf.image.decode_png(figure_to_png(fig), channels=4)
        with self.writer.as_default(step=step):
            tf.summary.image("graphs", image[None])

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.flush()

    def close(self):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class LiveRowsMonitor(keras.callbacks.Callback):
    """Adds the live-row fraction of the graphs to the logs at every validation.

    On fixed validation windows, in inference mode (BatchNorm running statistics, as the
    exported module runs), after each epoch whose logs hold `val_loss`:
    `logs["val_live_rows"]` (overall, so the validation line and TensorBoard show it)
    and, in `log_dir`, one TensorBoard scalar per direction, layer and head
    (`live_rows/forward/layer_1/head_0`, ...). See `glomo_tf.layers.live_rows`.

    Args:
        windows: int ids `[B, T]` (no padding, like pretraining windows).
        log_dir: where the per-head scalars go (None: only the overall log entry).

    Attributes:
        history: `[(global step, [2, L, K] numpy fractions)]`.
    """

    def __init__(self, windows, log_dir=None):
        super().__init__()
        self.windows = windows
        self.log_dir = log_dir
        self.history = []
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or "val_loss" not in logs:
            return
        from glomo_tf.layers.live_rows import live_row_fractions

        fractions = keras.ops.convert_to_numpy(
            live_row_fractions(self.model.predict_graphs(self.windows, training=False)))
        step = global_step(self.model)
        self.history.append((step, fractions))
        logs["val_live_rows"] = float(fractions.mean())
        if self.log_dir is None:
            return
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default(step=step):
            for d, direction in enumerate(("forward", "backward")):
                for layer in range(fractions.shape[1]):
                    for head in range(fractions.shape[2]):
                        tf.summary.scalar(f"live_rows/{direction}/layer_{layer + 1}/head_{head}",
                                          fractions[d, layer, head])
            tf.summary.scalar("live_rows/all", fractions.mean())
        self._writer.flush()

    def close(self):
        if self._writer is not None:
            self._writer.close()
