"""bench/planted_family.py: a tiny end-to-end run (real pretraining, export, scoring), the
window count by hand, variants and bad arguments."""

import json

import numpy as np
import pytest

from bench import planted_family
from glomo_tf.configs import PretrainConfig


@pytest.mark.slow
def test_main_runs_one_shape_end_to_end(tmp_path, capsys):
    results = planted_family.main([
        "--steps", "2", "--shapes", "issue48", "--lines", "300", "--test-lines", "8",
        "--out", str(tmp_path), "--no-write"])
    assert len(results) == 1
    r = results[0]
    assert (r["shape"], r["variant"], r["sequence_length"], r["windows"]) == (
        "issue48", "default", 32, "stream")
    assert r["steps"] == 2 and r["stopped"] == "steps" and r["halvings"] == 0
    assert r["learning_rate"][0] == PretrainConfig.for_model("tiny").learning_rate
    for key in ("recovery", "untrained", "most_recent_trigger", "chance", "pairs_whole",
                "cue_rows_with_trigger"):
        assert 0.0 <= r[key] <= 1.0
    # 4 scored lines, 2 to 4 pairs each.
    assert 8 <= r["scored_rows"] <= 16
    run = tmp_path / "issue48"
    assert (run / "train.txt").read_text().count("\n") == 300
    assert (run / "train.txt.parents.jsonl").is_file()
    assert (run / "module" / "saved_model.pb").is_file()
    assert (run / "untrained" / "saved_model.pb").is_file()
    assert json.loads((tmp_path / "planted_family.json").read_text()) == json.loads(
        json.dumps(results))
    out = capsys.readouterr().out
    assert "| issue48 | default | 32 | 2 (steps) |" in out
    assert "| issue48 | 48 | 2–4 | 4 | 4–20 | yes | 136 |" in out


def test_window_statistics_by_hand():
    # Two lines of 8 words, windows of T = 4, D = 1 (the loss at window positions 0..2).
    # Arcs (trigger, cue): line 0 (1, 2) and (3, 4); line 1 (0, 3) and (4, 6).
    parents = -np.ones((2, 8), int)
    parents[0, 2], parents[0, 4], parents[1, 3], parents[1, 6] = 1, 3, 0, 4

    def stats(T, **train):
        result = planted_family.window_statistics(parents, T, 1, PretrainConfig(**train))
        return None if result is None else (result["pairs_whole"],
                                            result["cue_rows_with_trigger"])

    # Stream windows start at 0, 4, 8, 12. Pairs whole: (1, 2) and line 1's (4, 6) =
    # global (12, 14); (3, 4) is cut; (0, 3) puts its cue at 3, where no loss is taken.
    # Cue rows: (1, 2) in window 0, (3, 4) in window 4 (without its trigger), (4, 6) in 12.
    assert stats(4) == (0.5, 2 / 3)
    # Document windows start at 0, 2, 4 of each line. Cue rows: (1, 2) in 0 (with) and 2
    # (without); (3, 4) in 2 (with) and 4 (without); (0, 3) in 2 (without); (4, 6) in 4.
    assert stats(4, windows="documents") == (0.75, 0.5)
    # A stream window every token: (3, 4) is whole in the one at 3, still not (0, 3);
    # 5 of 10 cue rows hold their trigger.
    assert stats(4, window_stride=1) == (0.75, 0.5)
    # Lines shorter than the document windows give none.
    assert stats(9, windows="documents") == (0.0, 0.0)
    assert stats(4, window_stride=3, window_stride_jitter=1) is None


def test_variants():
    assert planted_family.parse_variant("default") == {}
    assert planted_family.parse_variant("sequence_length=64,windows=documents") == {
        "sequence_length": 64, "windows": "documents"}
    model_config, train_config = planted_family.configs(
        300, planted_family.parse_variant("sequence_length=64,window_stride=16"))
    assert model_config.sequence_length == 64 and train_config.window_stride == 16
    assert train_config.steps == 300 and train_config.optimizer == "adam"
    model_config, train_config = planted_family.configs(300, {})
    assert model_config.sequence_length == 32 and train_config.window_stride is None
    with pytest.raises(ValueError, match="KEY=VALUE"):
        planted_family.parse_variant("nonsense=1")


@pytest.mark.parametrize("argv", [
    ["--shapes", "nowhere"],
    ["--steps", "0"],
    ["--variants", "lr"],
    ["--variants", "windows=sideways"],
])
def test_bad_arguments_exit_2(argv, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        planted_family.main(argv + ["--out", str(tmp_path), "--no-write"])
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
