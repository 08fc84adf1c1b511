"""TensorFlow's start-up log lines, kept out of the `glomo` command's output.

`import tensorflow` logs oneDNN and CUDA notices through abseil before `absl::InitializeLog()`
is called, and abseil writes every such line to stderr whatever `TF_CPP_MIN_LOG_LEVEL` says
(abseil-cpp pull 1718/1957, tensorflow pull 102212: unmerged upstream). So `silence()`
- sets `TF_CPP_MIN_LOG_LEVEL=3`, which holds for every C++ line logged after the import;
- writes file descriptor 2 into a temporary file while the `tensorflow` package itself is
  imported (nothing else), and replays it if that import fails, so no error is lost;
- lowers TensorFlow's and absl's Python loggers to errors once TensorFlow is loaded.

`glomo --verbose` (or `--debug`) skips all of it.

Example:
>>> from glomo_tf import startup_logs
>>> startup_logs.silence()  # before anything imports TensorFlow
"""

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import sys
import tempfile

_TENSORFLOW = "tensorflow"


@contextlib.contextmanager
def _stderr_into_file():
    """File descriptor 2 (C++ and Python writers alike) goes to a temporary file."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield sink
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def _quiet_python_loggers():
    logging.getLogger(_TENSORFLOW).setLevel(logging.ERROR)
    absl_logging = sys.modules.get("absl.logging")
    if absl_logging is not None:
        absl_logging.set_verbosity(absl_logging.ERROR)


class _QuietLoader(importlib.abc.Loader):
    """The real loader of `tensorflow`, run with stderr captured."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        # Put the real loader back first: nothing after the import should see this one.
        module.__loader__ = module.__spec__.loader = self._loader
        error = None
        with _stderr_into_file() as sink:
            try:
                self._loader.exec_module(module)
            except BaseException as caught:  # replayed below, once stderr is back
                error = caught
                sink.seek(0)
                replay = sink.read()
        if error is not None:
            sys.stderr.write(replay.decode("utf-8", "replace"))
            raise error
        _quiet_python_loggers()


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` as the other finders do, and hands it the quiet loader."""

    def find_spec(self, name, path=None, target=None):
        if name != _TENSORFLOW:
            return None
        sys.meta_path.remove(self)  # once, and not for the find_spec below
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def silence():
    """Keeps TensorFlow's start-up and info/warning logs off stderr from now on.

    Idempotent. If TensorFlow is already imported, only the later logs are affected.
    """
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if _TENSORFLOW in sys.modules:
        _quiet_python_loggers()
    elif not any(isinstance(finder, _QuietFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())
