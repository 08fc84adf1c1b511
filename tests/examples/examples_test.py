"""Smoke tests: every script in examples/ runs to the end with its tiny flags.

Each script runs in a fresh subprocess, as a user would start it; the checks are its exit
status and the line that reports its result. `transfer_from_hub.py` exports a graph module
that `tune_transfer.py` then reuses (one export instead of two).
"""

import os
import re
import subprocess
import sys

import pytest

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEOUT_S = 600


def run_example(name, *flags):
    """Runs `examples/NAME` with `flags`; returns its stdout (fails on a non-zero exit)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow",
               PYTHONPATH=REPOSITORY + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run(
        [sys.executable, os.path.join(REPOSITORY, "examples", name), *flags],
        cwd=REPOSITORY, env=env, capture_output=True, text=True, timeout=TIMEOUT_S,
    )
    assert done.returncode == 0, f"{name} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def transfer_run(tmp_path_factory):
    """`(stdout, module path)` of transfer_from_hub.py with its tiny flags."""
    out = tmp_path_factory.mktemp("transfer")
    stdout = run_example("transfer_from_hub.py", "--pretrain-steps", "2", "--examples", "64",
                         "--epochs", "1", "--eager", "--export-to", str(out))
    return stdout, out / "module"


@pytest.mark.slow
def test_compose_layers_trains_and_round_trips_keras_file(tmp_path):
    stdout = run_example("compose_layers.py", "--examples", "64", "--epochs", "1",
                         "--length", "8", "--eager", "--out", str(tmp_path))
    assert re.search(r"test accuracy: \d+\.\d%", stdout), stdout
    assert "same predictions" in stdout, stdout
    assert (tmp_path / "repeat_detector.keras").is_file()


@pytest.mark.slow
def test_transfer_from_hub_exports_loads_and_trains(transfer_run):
    stdout, module = transfer_run
    assert (module / "saved_model.pb").is_file()
    # hub.load(path).graphs on 2 texts: [batch 2, 2 directions, L 2, K 4, T, T].
    assert re.search(r"graphs \(2, 2, 2, 4, (\d+), \1\)", stdout), stdout
    assert re.search(r"downstream test accuracy \(graphs\): \d+\.\d%", stdout), stdout


@pytest.mark.slow
def test_tune_transfer_runs_two_trials(transfer_run, tmp_path):
    _, module = transfer_run
    stdout = run_example("tune_transfer.py", "--module", str(module), "--examples", "64",
                         "--epochs", "1", "--eager", "--out", str(tmp_path))
    assert "trials run: 2" in stdout, stdout
    best = re.search(r"best hyperparameters: \{'num_mixtures': (\d)", stdout)
    assert best and 1 <= int(best.group(1)) <= 3, stdout
    assert (tmp_path / "tune_transfer").is_dir()


def test_examples_reject_a_missing_module(tmp_path):
    env = dict(os.environ, PYTHONPATH=REPOSITORY)
    for name in ("transfer_from_hub.py", "tune_transfer.py"):
        done = subprocess.run(
            [sys.executable, os.path.join(REPOSITORY, "examples", name), "--module",
             str(tmp_path / "missing")],
            cwd=REPOSITORY, env=env, capture_output=True, text=True, timeout=TIMEOUT_S,
        )
        assert done.returncode == 2, done.stderr
        assert "no such directory" in done.stderr
