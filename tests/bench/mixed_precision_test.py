"""bench/mixed_precision.py's arguments and its short-budget paths (figures are not asserted)."""

import pytest

from bench import mixed_precision


def test_curve_steps_zero_measures_throughput_only(capsys):
    mixed_precision.main(["--config", "tiny", "--length", "16", "--batch", "1", "--rounds", "1",
                          "--matmul-size", "128", "--curve-steps", "0", "--no-write"])
    out = capsys.readouterr().out
    assert "bf16 ÷ fp32 tokens/s" in out
    assert "Loss curves" not in out


def test_a_curve_shorter_than_its_smoothing_window():
    # 3 steps < the 10-step smoothing and the 20-step final mean: both shrink to the run.
    part = mixed_precision.loss_curve_report([0], steps=3, batch=2)
    assert "final loss (last 3 steps)" in part
    assert part.count("| float32 | 0 |") == 1 and part.count("| mixed_bfloat16 | 0 |") == 1


@pytest.mark.parametrize("argv", [
    ["--curve-steps", "-1"],
    ["--skip-throughput", "--curve-steps", "0"],
    ["--seeds", "0,x"],
    ["--batch", "0"],
])
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        mixed_precision.main(argv + ["--no-write"])
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err
