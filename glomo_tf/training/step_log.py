"""The per-step loss log of a pretraining run (`out_dir/losses.tsv`), kill-safe.

The loss trajectory of a run must survive `kill -9`: TensorBoard event files are
append-only and keep the steps a killed run did after its last checkpoint, so a resumed
run would show them twice. This log is the exact record instead:

```
step	loss	status
1	5.2983173665480364	ok
2	5.2764129638671875	ok
3	nan	skipped
```

- one line per optimizer step, `loss` as Python's `repr(float)` (round-trips exactly);
- `status` is `ok`, `nan` (non-finite loss, training stopped) or `skipped` (non-finite
  loss, the batch was skipped: `PretrainConfig.on_nan="skip"`);
- each line is written with a single `write` to a file opened in append mode, so a
  killed process leaves whole lines, plus at most one partial last line;
- the file is fsynced before each checkpoint, so every step up to a checkpoint is on
  disk when the checkpoint is;
- on resume from step `s` (or after rewinding to it) the log is cut back to the steps
  `<= s` (partial lines dropped) and rewritten atomically (temporary file, `os.replace`);
  the resumed run then appends the steps it runs, so no step is repeated or missing.
"""

import math
import os

HEADER = "step\tloss\tstatus\n"
STATUSES = ("ok", "nan", "skipped")


def read_step_log(path):
    """`[(step, loss, status)]` of the complete lines of a loss log (no file: `[]`).

    A partial last line (a killed write) and lines that do not parse are ignored.
    """
    if not os.path.isfile(path):
        return []
    with open(path, "rb") as f:
        data = f.read()
    rows = []
    for raw in data.split(b"\n")[:-1]:  # the part after the last newline is incomplete
        parts = raw.decode("utf-8", "replace").split("\t")
        if len(parts) != 3 or parts[2] not in STATUSES:
            continue
        try:
            rows.append((int(parts[0]), float(parts[1]), parts[2]))
        except ValueError:
            continue  # the header, or a damaged line
    return rows


class StepLossLog:
    """Appends one line per step to `path`; `truncate(step)` rewinds it atomically.

    Args:
        path: the log file (`out_dir/losses.tsv`).

    Example:
    ```python
    log = StepLossLog("run/losses.tsv")
    log.truncate(0)          # fresh run: header only
    log.append(1, 5.29)
    log.sync()               # before writing a checkpoint
    log.close()
    read_step_log("run/losses.tsv")   # [(1, 5.29, "ok")]
    ```
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self._fd = None

    def truncate(self, step):
        """Keeps only the complete lines of steps `<= step` (rewritten atomically)."""
        self.close()
        kept = [row for row in read_step_log(self.path) if row[0] <= step]
        from glomo_tf.files.atomic_write import atomic_write

        with atomic_write(self.path, newline="\n") as f:
            f.write(HEADER + "".join(_line(*row) for row in kept))
        return kept

    def append(self, step, loss, status=None):
        """Writes one step's line (one `write` call: a kill cannot split it)."""
        loss = float(loss)
        if status is None:
            status = "ok" if math.isfinite(loss) else "nan"
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}.")
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(self._fd, _line(int(step), loss, status).encode("utf-8"))

    def sync(self):
        if self._fd is not None:
            os.fsync(self._fd)

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _line(step, loss, status):
    return f"{step}\t{loss!r}\t{status}\n"
