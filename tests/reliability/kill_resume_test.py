"""kill -9 of `glomo pretrain` at a random step, then `--resume` (after corrupting the newest
checkpoint, so the fallback is exercised too): the loss log and the final weights equal an
uninterrupted run's bit for bit.

Only the killed run is a subprocess (a kill needs one); the reference and the resume run the
same command line in this process (`glomo_tf.cli.main`), which saves two TensorFlow start-ups
and checks that the steps of two processes agree bit for bit. `bench/faults.py` kills 5 times.
"""

import os
import random
import warnings

import pytest

from glomo_tf.cli import main
from glomo_tf.training.checkpoints import CheckpointManager
from tests.reliability import harness
from tests.training.corpus_fixtures import write_text_corpus

STEPS = 10


@pytest.mark.slow
def test_kill_at_a_random_step_then_resume_equals_an_uninterrupted_run(tmp_path):
    corpus = write_text_corpus(tmp_path / "corpus.txt")
    reference = tmp_path / "reference"
    assert main(harness.pretrain_argv(corpus, reference, STEPS)[3:]) == 0

    target = random.Random().randint(5, STEPS - 2)
    run = tmp_path / "run"
    killed_at = harness.kill_at_step(harness.pretrain_argv(corpus, run, STEPS), run, target)
    assert killed_at is not None, "the run finished before it could be killed"
    manager = CheckpointManager(run / "checkpoints")
    listed = manager.checkpoints()
    assert listed and listed[-1][0] <= killed_at
    if len(listed) >= 2:
        # Truncate the newest checkpoint: resume must warn and fall back to the previous one.
        model_file = os.path.join(listed[-1][1], "model.h5")
        with open(model_file, "r+b") as f:
            f.truncate(os.path.getsize(model_file) // 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(harness.pretrain_argv(corpus, run, STEPS, extra=["--resume"])[3:]) == 0
    if len(listed) >= 2:
        assert any("Skipping unusable checkpoint" in str(w.message) and "checksum" in str(w.message)
                   for w in caught)

    losses_equal, weights_equal, problems = harness.compare_runs(reference, run)
    assert harness.logged_steps(run) == list(range(1, STEPS + 1)), problems
    assert losses_equal and weights_equal, f"killed at step {killed_at}: {problems}"
