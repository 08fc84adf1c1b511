"""`startup_logs.silence()`: TensorFlow's import writes nothing to stderr, unless it fails."""

import os
import subprocess
import sys
import textwrap

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _python(code, tmp_path, **env):
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    environment.update(PYTHONPATH=os.pathsep.join([str(tmp_path), REPO]), **env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=environment, cwd=tmp_path, timeout=300)


def test_a_quiet_import_of_tensorflow_writes_nothing_to_stderr(tmp_path):
    done = _python("""
        import os, sys
        from glomo_tf import startup_logs
        startup_logs.silence()
        import tensorflow as tf
        print(float(tf.reduce_sum(tf.ones(3))))  # device start-up logs too
        print(tf.__spec__.loader is tf.__loader__, type(tf.__loader__).__name__ != "_QuietLoader")
        print("after", file=sys.stderr)
        """, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3.0", "True", "True"]
    assert done.stderr == "after\n"


def test_a_failing_import_replays_what_it_wrote(tmp_path):
    # A stand-in `tensorflow` that logs from C level (fd 2) and then fails to import.
    package = tmp_path / "tensorflow"
    package.mkdir()
    (package / "__init__.py").write_text(
        "import os\nos.write(2, b'native start-up line\\n')\nraise ImportError('broken build')\n")
    done = _python("""
        from glomo_tf import startup_logs
        startup_logs.silence()
        startup_logs.silence()  # idempotent
        try:
            import tensorflow
        except ImportError as error:
            print("caught", error)
        """, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "caught broken build"
    assert done.stderr == "native start-up line\n"


def test_other_imports_are_untouched(tmp_path):
    done = _python("""
        import sys
        from glomo_tf import startup_logs
        startup_logs.silence()
        import json
        print(json.__loader__.__class__.__name__, len([f for f in sys.meta_path
                                                        if type(f).__name__ == "_QuietFinder"]))
        """, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["SourceFileLoader", "1"]
