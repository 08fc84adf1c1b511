"""Fault injection for `glomo pretrain`: kill -9 at a step, resume, compare with a clean run.

Shared by `tests/reliability/kill_resume_test.py` (one kill, in CI time) and
`bench/faults.py` (several kills in one run). Runs the real command line in subprocesses,
with TF_DETERMINISTIC_OPS=1 so that two processes compute bit-identical steps on CPU.
"""

import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

from glomo_tf.training.checkpoints import CheckpointManager
from glomo_tf.training.step_log import read_step_log

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def environment():
    return {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_DETERMINISTIC_OPS": "1",
            "CUDA_VISIBLE_DEVICES": ""}


def pretrain_argv(corpus, out_dir, steps, checkpoint_every=2, extra=()):
    """`python -m glomo_tf pretrain ...` of a tiny model (a few ms per step)."""
    return [sys.executable, "-m", "glomo_tf", "pretrain", "--corpus", os.fspath(corpus), "--out", os.fspath(out_dir),
            "--config", "tiny", "--steps", str(steps), "--batch-size", "4", "--sequence-length", "12",
            "--validate-every", str(checkpoint_every), "--checkpoint-every", str(checkpoint_every),
            "--validation-steps", "1", "--keep-checkpoints", "2", "--image-every", "0", "--log-every", "1",
            "--seed", "3", "--quiet", *extra]


def run(argv, timeout=900):
    done = subprocess.run(argv, cwd=REPO, env=environment(), capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(argv[2:4])} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return done


def logged_steps(out_dir):
    return [row[0] for row in read_step_log(os.path.join(out_dir, "losses.tsv"))]


def kill_at_step(argv, out_dir, step, timeout=900, poll_s=0.005):
    """Starts `argv`, SIGKILLs it once its loss log reaches `step`; returns the last logged step.

    Returns None if the process ended by itself first (it was too quick to be killed).
    """
    log = os.path.join(out_dir, "losses.tsv")
    process = subprocess.Popen(argv, cwd=REPO, env=environment(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    try:
        while process.poll() is None and time.monotonic() < deadline:
            steps = [row[0] for row in read_step_log(log)] if os.path.exists(log) else []
            if steps and steps[-1] >= step:
                process.send_signal(signal.SIGKILL)
                process.wait()
                return steps[-1]
            time.sleep(poll_s)
        if process.poll() is None:
            raise TimeoutError(f"pretraining did not reach step {step} in {timeout} s")
        stderr = process.stderr.read()
        if process.returncode != 0:
            raise AssertionError(f"pretraining exited {process.returncode} before the kill:\n{stderr[-3000:]}")
        return None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()


def final_state(out_dir):
    """`{name: array}` of the newest checkpoint's model and optimizer variables."""
    path = CheckpointManager(os.path.join(out_dir, "checkpoints")).latest_path()
    arrays = {}
    for name in ("model.h5", "optimizer.h5"):
        with h5py.File(os.path.join(path, name), "r") as f:
            for key in f:
                # By creation index: variable paths get suffixes when one process builds
                # several models, and the checkpoint is read by index too.
                arrays[f"{name}/{key}"] = np.asarray(f[key][()])
    return os.path.basename(path), arrays


def compare_runs(reference_dir, out_dir):
    """`(losses_equal, weights_equal, problems)` of two run directories."""
    problems = []
    ref_log = read_step_log(os.path.join(reference_dir, "losses.tsv"))
    log = read_step_log(os.path.join(out_dir, "losses.tsv"))
    steps = [row[0] for row in log]
    if steps != sorted(set(steps)):
        problems.append(f"steps repeated or out of order: {steps}")
    losses_equal = ref_log == log
    if not losses_equal:
        diff = [(a, b) for a, b in zip(ref_log, log) if a != b][:3]
        problems.append(f"loss logs differ ({len(ref_log)} vs {len(log)} steps; first differences {diff})")
    ref_name, ref_arrays = final_state(reference_dir)
    name, arrays = final_state(out_dir)
    weights_equal = ref_name == name and ref_arrays.keys() == arrays.keys() and all(
        np.array_equal(ref_arrays[k], arrays[k]) for k in ref_arrays)
    if not weights_equal:
        problems.append(f"final checkpoints differ ({ref_name} vs {name})")
    return losses_equal, weights_equal, problems


def kill_and_resume(corpus, out_dir, steps, kill_steps, checkpoint_every=2):
    """Runs to `steps`, killed once at (or just after) each of `kill_steps`, resuming after each.

    Returns the list of steps at which the process was actually killed.
    """
    killed = []
    for target in kill_steps:
        has_checkpoint = CheckpointManager(os.path.join(out_dir, "checkpoints")).peek() is not None
        extra = ["--resume"] if has_checkpoint else []
        at = kill_at_step(pretrain_argv(corpus, out_dir, steps, checkpoint_every, extra), out_dir, target)
        if at is None:
            break  # finished before the kill
        killed.append(at)
    extra = ["--resume"] if CheckpointManager(os.path.join(out_dir, "checkpoints")).peek() is not None else []
    run(pretrain_argv(corpus, out_dir, steps, checkpoint_every, extra))
    return killed
