"""Atomic, self-checking pretraining checkpoints: keep the last k, resume from the newest good one.

Layout under a checkpoint directory (`out_dir/checkpoints`):

```
latest                  # the name of the newest checkpoint, replaced atomically
ckpt-00000200/
  model.h5              # every model variable, BatchNorm statistics and SeedGenerator states
  optimizer.h5          # every optimizer variable: iterations, learning rate, slots
  state.json            # format_version, step, SHA-256 of the two files, model fingerprint,
                        # callback state
ckpt-00000100/ ...
```

Why not `model.save_weights`: Keras saves only the weights of layers, and the position
sampler's `SeedGenerator` state is a model variable outside any layer's weights, so a run
resumed from `save_weights` would draw other positions than the uninterrupted run. The
files here hold `model.variables` and `optimizer.variables` in their (deterministic)
creation order, with each variable's path and shape kept as attributes and checked on load.

A checkpoint is written into a hidden temporary directory which is then renamed into
place (`os.replace`), and only then does `latest` move, so a crash at any point leaves
the previous checkpoint intact. On load every file's SHA-256 is checked; a corrupt or
truncated checkpoint is skipped with a warning and the previous one is used. A checkpoint
of another `format_version` or of another model (config, vocabulary) is an error naming
both sides, never silently skipped. Checkpoints written before `format_version` existed
have the layout of version 1 and are read as such.
"""

import dataclasses
import json
import os
import re
import shutil
import warnings

import h5py
import numpy as np

from glomo_tf.files.sha256 import sha256_of

FORMAT_VERSION = 1
LATEST = "latest"
STATE = "state.json"
MODEL_FILE = "model.h5"
OPTIMIZER_FILE = "optimizer.h5"
_NAME = re.compile(r"^ckpt-(\d{8})$")
# Leftovers of a process killed while saving: a half-written checkpoint, a checkpoint
# moved aside to be replaced by a new one of the same step, a half-written `latest`.
_LEFTOVER = re.compile(r"^(?:\.tmp-ckpt-\d{8}|(ckpt-\d{8})\.old|latest\.tmp)-(\d+)$")


class CheckpointMismatchError(ValueError):
    """The checkpoint belongs to another model (other config or vocabulary)."""


class CheckpointCorruptError(ValueError):
    """A checkpoint's files are missing, truncated or do not match their checksums."""


@dataclasses.dataclass
class RestoredCheckpoint:
    """What `CheckpointManager.restore` loaded.

    Attributes:
        step: the global step the checkpoint was taken at.
        path: its directory.
        extra_state: the JSON-serialisable dict passed to `save` (e.g. callback state).
    """

    step: int
    path: str
    extra_state: dict


def _write_variables(path, variables):
    with h5py.File(path, "w") as f:
        for index, variable in enumerate(variables):
            dataset = f.create_dataset(f"{index:05d}", data=np.asarray(variable.numpy()))
            dataset.attrs["path"] = variable.path


def read_variables(path, variables, what):
    """Assigns `variables` the values `_write_variables` stored in `path`, all or none.

    Raises `CheckpointMismatchError` (a ValueError), naming `what` ("model", "optimizer"),
    when the file's variable count or any shape differs from `variables`.
    """
    with h5py.File(path, "r") as f:
        if len(f) != len(variables):
            raise CheckpointMismatchError(
                f"{what} in {path} has {len(f)} variables, the model has {len(variables)}."
            )
        values = []
        for index, variable in enumerate(variables):
            value = f[f"{index:05d}"][()]
            if tuple(value.shape) != tuple(variable.shape):
                raise CheckpointMismatchError(
                    f"{what} variable {index} ({variable.path}) has shape {tuple(variable.shape)} "
                    f"but the checkpoint holds {tuple(value.shape)}."
                )
            values.append(value)
    # Assigned only once everything has been read, so a bad file leaves the model untouched.
    for variable, value in zip(variables, values):
        variable.assign(value)


def _process_alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def describe_mismatch(expected, found):
    """One line naming the fingerprint entries that differ (for error messages)."""
    keys = sorted(set(expected) | set(found))
    parts = []
    for key in keys:
        a, b = expected.get(key), found.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            inner = [f"{k} {b.get(k)!r} there vs {a.get(k)!r} here"
                     for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
            parts.append(f"{key}: " + ", ".join(inner))
        else:
            parts.append(f"{key} {_short(b)} there vs {_short(a)} here")
    return "; ".join(parts) or "fingerprints differ"


def _short(value):
    text = repr(value)
    return text if len(text) <= 20 else text[:17] + "...'"


def check_format_version(state, path):
    """Raises `CheckpointMismatchError` naming both versions if `state` is of another format."""
    found = state.get("format_version", 1)
    if found != FORMAT_VERSION:
        raise CheckpointMismatchError(
            f"{path} is a checkpoint of format_version {found!r}; this version of glomo_tf "
            f"reads format_version {FORMAT_VERSION}."
        )


class CheckpointManager:
    """Saves and restores pretraining checkpoints in one directory.

    Args:
        directory: where the checkpoints live (created on first save).
        keep: how many of the newest checkpoints to keep (older ones are deleted
            after a newer one is safely in place).
        fingerprint: JSON-serialisable dict identifying the model (config and vocabulary
            hash); stored in every checkpoint and compared on restore.

    Example:
    ```python
    manager = CheckpointManager("run/checkpoints", keep=3, fingerprint={"model": cfg})
    manager.save(model, step=100, extra_state={"plateau": {...}})
    restored = manager.restore(model)          # None when there is no checkpoint
    restored.step, restored.extra_state
    ```
    """

    def __init__(self, directory, keep=3, fingerprint=None):
        if not isinstance(keep, int) or keep < 1:
            raise ValueError(f"`keep` must be an integer >= 1, got {keep!r}.")
        self.directory = os.fspath(directory)
        self.keep = keep
        self.fingerprint = fingerprint or {}

    # Listing -----------------------------------------------------------------------

    def checkpoints(self):
        """`[(step, path)]` of every complete-looking checkpoint, oldest first."""
        if not os.path.isdir(self.directory):
            return []
        found = []
        for name in os.listdir(self.directory):
            match = _NAME.match(name)
            path = os.path.join(self.directory, name)
            if match and os.path.isdir(path):
                found.append((int(match.group(1)), path))
        return sorted(found)

    def tidy(self):
        """Cleans up after a process killed while saving (called by `save` and `restore`).

        Half-written temporaries of dead processes are deleted. A checkpoint that was moved
        aside to be replaced by a new one of the same step, when the new one never arrived,
        is renamed back. Returns the names put back.
        """
        if not os.path.isdir(self.directory):
            return []
        recovered = []
        for name in sorted(os.listdir(self.directory)):
            match = _LEFTOVER.match(name)
            if not match or _process_alive(int(match.group(2))):
                continue
            path = os.path.join(self.directory, name)
            original = match.group(1)
            if original and not os.path.exists(os.path.join(self.directory, original)):
                os.replace(path, os.path.join(self.directory, original))
                recovered.append(original)
            elif os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.remove(path)
        return recovered

    def latest_path(self):
        """The checkpoint `latest` points at, else the newest directory, else None."""
        pointer = os.path.join(self.directory, LATEST)
        if os.path.isfile(pointer):
            with open(pointer) as f:
                name = f.read().strip()
            path = os.path.join(self.directory, name)
            if _NAME.match(name) and os.path.isdir(path):
                return path
        listed = self.checkpoints()
        return listed[-1][1] if listed else None

    def read_state(self, path):
        """The `state.json` of a checkpoint, after checking its files' checksums."""
        state_path = os.path.join(path, STATE)
        try:
            with open(state_path) as f:
                state = json.load(f)
        except (OSError, json.JSONDecodeError) as error:
            raise CheckpointCorruptError(f"{state_path} is unreadable: {error}") from None
        for name, expected in state.get("sha256", {}).items():
            file_path = os.path.join(path, name)
            if not os.path.isfile(file_path):
                raise CheckpointCorruptError(f"{file_path} is missing.")
            if sha256_of(file_path) != expected:
                raise CheckpointCorruptError(f"{file_path} does not match its checksum (truncated or corrupt).")
        if set(state.get("sha256", {})) != {MODEL_FILE, OPTIMIZER_FILE}:
            raise CheckpointCorruptError(f"{state_path} does not list the model and optimizer files.")
        return state

    def check_fingerprint(self, state, path):
        """Raises `CheckpointMismatchError` unless `state` is this format and this model's."""
        check_format_version(state, path)
        found = state.get("fingerprint", {})
        if found != self.fingerprint:
            raise CheckpointMismatchError(
                f"{path} holds a checkpoint of another model ({describe_mismatch(self.fingerprint, found)}); "
                "use another output directory or the matching config and vocabulary."
            )

    # Saving ------------------------------------------------------------------------

    def save(self, model, step, extra_state=None):
        """Writes checkpoint `step` atomically, moves `latest`, prunes old ones.

        The optimizer must be built (it is once `fit` ran a step). Returns the path.
        """
        step = int(step)
        os.makedirs(self.directory, exist_ok=True)
        self.tidy()
        name = f"ckpt-{step:08d}"
        final = os.path.join(self.directory, name)
        temp = os.path.join(self.directory, f".tmp-{name}-{os.getpid()}")
        shutil.rmtree(temp, ignore_errors=True)
        os.makedirs(temp)
        try:
            _write_variables(os.path.join(temp, MODEL_FILE), model.variables)
            _write_variables(os.path.join(temp, OPTIMIZER_FILE), model.optimizer.variables)
            state = {
                "format_version": FORMAT_VERSION,
                "step": step,
                "fingerprint": self.fingerprint,
                "extra_state": extra_state or {},
                "sha256": {f: sha256_of(os.path.join(temp, f)) for f in (MODEL_FILE, OPTIMIZER_FILE)},
            }
            with open(os.path.join(temp, STATE), "w") as f:
                json.dump(state, f, indent=2, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            if os.path.exists(final):
                # Same step saved again (e.g. the final checkpoint of a resumed run): move the
                # old one aside first, since a directory cannot be replaced by a rename.
                stale = f"{final}.old-{os.getpid()}"
                os.replace(final, stale)
                os.replace(temp, final)
                shutil.rmtree(stale, ignore_errors=True)
            else:
                os.replace(temp, final)
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
        self._write_latest(name)
        self._prune(keep_path=final)
        return final

    def _write_latest(self, name):
        pointer = os.path.join(self.directory, LATEST)
        temp = f"{pointer}.tmp-{os.getpid()}"
        with open(temp, "w") as f:
            f.write(name + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, pointer)

    def validation_losses(self):
        """`{step: val_loss}` of the checkpoints whose state records one (saved right after
        a validation)."""
        losses = {}
        for step, path in self.checkpoints():
            try:
                with open(os.path.join(path, STATE)) as f:
                    value = json.load(f).get("extra_state", {}).get("val_loss")
            except (OSError, json.JSONDecodeError, AttributeError):
                continue
            if isinstance(value, (int, float)):
                losses[step] = float(value)
        return losses

    def best_path(self):
        """The checkpoint with the lowest recorded validation loss, or None if none has one."""
        losses = self.validation_losses()
        if not losses:
            return None
        step = min(losses, key=lambda s: (losses[s], -s))
        return os.path.join(self.directory, f"ckpt-{step:08d}")

    def _prune(self, keep_path):
        listed = self.checkpoints()
        # The best-on-validation checkpoint is kept besides the newest `keep`: it is the one
        # to export, and the newest ones may be worse.
        best = self.best_path()
        for _, path in listed[: max(0, len(listed) - self.keep)]:
            if path not in (keep_path, best):
                shutil.rmtree(path, ignore_errors=True)

    # Restoring -----------------------------------------------------------------------

    def restore(self, model):
        """Loads the newest good checkpoint into `model` and its optimizer.

        Starts at `latest`; a corrupt or truncated checkpoint is skipped with a warning and
        the next older one is tried. The optimizer is built first if needed, so its slots
        exist to receive the saved values.

        Returns:
            A `RestoredCheckpoint`, or None if the directory holds no checkpoint at all.

        Raises:
            CheckpointMismatchError: the newest readable checkpoint belongs to another model.
            CheckpointCorruptError: checkpoints exist but none of them is readable.
        """
        self.tidy()
        candidates = [path for _, path in reversed(self.checkpoints())]
        latest = self.latest_path()
        if latest in candidates:
            # Newer directories than `latest` can only come from an interrupted save.
            candidates = candidates[candidates.index(latest):]
        if not candidates:
            return None
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        problems = []
        for path in candidates:
            try:
                state = self.read_state(path)
                self.check_fingerprint(state, path)
                read_variables(os.path.join(path, MODEL_FILE), model.variables, "model")
                read_variables(os.path.join(path, OPTIMIZER_FILE), model.optimizer.variables, "optimizer")
            except CheckpointMismatchError:
                raise
            except (CheckpointCorruptError, OSError, KeyError, ValueError) as error:
                warnings.warn(f"Skipping unusable checkpoint {path}: {error}", stacklevel=2)
                problems.append(f"{os.path.basename(path)}: {error}")
                continue
            return RestoredCheckpoint(int(state["step"]), path, state.get("extra_state", {}))
        raise CheckpointCorruptError(
            f"No usable checkpoint in {self.directory}: " + "; ".join(problems)
        )

    def peek(self):
        """`(step, state)` of the newest readable checkpoint without loading it, or None."""
        for _, path in reversed(self.checkpoints()):
            try:
                state = self.read_state(path)
            except CheckpointCorruptError:
                continue
            return int(state["step"]), state
        return None
