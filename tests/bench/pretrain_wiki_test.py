"""bench/pretrain_wiki.py: the speed is taken over the newest stretch one process ran."""

from bench.pretrain_wiki import newest_stretch


def test_newest_stretch_skips_a_stop_and_the_steps_logged_twice():
    # Steps every 25 at 10 s each up to 200 (0..200 at wall 0..80); the run stops, steps
    # 125-200 were past the last checkpoint and are logged again after --resume, 1000 s on.
    first = [(s, s * 0.4, 0.0) for s in range(0, 201, 25)]
    second = [(s, 1000.0 + (s - 125) * 0.4, 0.0) for s in range(125, 401, 25)]
    assert newest_stretch(first + second) == ((150, 1010.0), (400, 1110.0))


def test_newest_stretch_of_one_uninterrupted_run_drops_only_its_first_interval():
    losses = [(s, 5.0 + s * 0.5, 0.0) for s in range(0, 101, 25)]
    assert newest_stretch(losses) == ((25, 17.5), (100, 55.0))
    assert newest_stretch(losses[:2]) == ((0, 5.0), (25, 17.5))
